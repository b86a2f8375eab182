//! The world's DNS: an authoritative server for `*.test` names
//! (hickory-server on 127.0.0.1:0, UDP and TCP), and the same zone with some
//! answers replaced, for the "tampering resolver".

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{
    Header, HeaderCounts, Message, MessageType, Metadata, OpCode, ResponseCode,
};
use hickory_proto::rr::rdata::{A, AAAA, NS};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use hickory_server::Server;
use hickory_server::net::runtime::Time;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use crate::ground::domain::registered_domain;

/// Names and their addresses, lower-case without the trailing dot.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    pub hosts: HashMap<String, Vec<IpAddr>>,
}

pub(super) struct Handler {
    zone: Arc<Zone>,
    /// Registered domains of the zone's hosts (they answer NS).
    domains: HashSet<String>,
}

impl Handler {
    /// A handler answering from `zone`.
    pub(super) fn new(zone: Arc<Zone>) -> Self {
        let domains = zone.hosts.keys().map(|h| registered_domain(h)).collect();
        Self { zone, domains }
    }

    /// The reply to one wire-format query (for the hand-made DoH server):
    /// `None` when it is not a query.
    pub(super) fn reply_to(&self, query: &[u8]) -> Option<Vec<u8>> {
        let q = Message::from_vec(query).ok()?;
        let question = q.queries.first()?.clone();
        let (rcode, data) = self.answer(&question.name().to_string(), question.query_type());
        let mut reply = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        reply.metadata.response_code = rcode;
        reply.metadata.recursion_available = true;
        reply.add_query(question.clone());
        for d in data {
            reply.add_answer(Record::from_rdata(question.name().clone(), 30, d));
        }
        reply.to_vec().ok()
    }

    fn answer(&self, name: &str, qtype: RecordType) -> (ResponseCode, Vec<RData>) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(ips) = self.zone.hosts.get(&name) {
            let data = ips
                .iter()
                .filter_map(|ip| match (ip, qtype) {
                    (IpAddr::V4(v4), RecordType::A) => Some(RData::A(A(*v4))),
                    (IpAddr::V6(v6), RecordType::AAAA) => Some(RData::AAAA(AAAA(*v6))),
                    _ => None,
                })
                .collect();
            return (ResponseCode::NoError, data);
        }
        if self.domains.contains(&name) {
            let data = match qtype {
                RecordType::NS => Name::from_ascii(format!("ns1.{name}."))
                    .map(|n| vec![RData::NS(NS(n))])
                    .unwrap_or_default(),
                _ => Vec::new(),
            };
            return (ResponseCode::NoError, data);
        }
        (ResponseCode::NXDomain, Vec::new())
    }
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.authoritative = true;
        meta.recursion_available = true;
        let (rcode, records) = match request.request_info() {
            Ok(info) => {
                let qname = info.query.name().to_string();
                let (rcode, data) = self.answer(&qname, info.query.query_type());
                let owner = Name::from(info.query.name().clone());
                let records: Vec<Record> = data
                    .into_iter()
                    .map(|d| Record::from_rdata(owner.clone(), 30, d))
                    .collect();
                (rcode, records)
            }
            Err(_) => (ResponseCode::FormErr, Vec::new()),
        };
        meta.response_code = rcode;
        let msg = MessageResponseBuilder::new(&request.queries, None).build(
            meta,
            records.iter(),
            std::iter::empty(),
            std::iter::empty(),
            std::iter::empty(),
        );
        match response.send_response(msg).await {
            Ok(info) => info,
            Err(e) => {
                tracing::debug!(error = %e, "world DNS: sending response failed");
                let mut failed = Metadata::response_from_request(&request.metadata);
                failed.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata: failed,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

/// A running DNS server; stops when dropped.
pub struct DnsServer {
    pub addr: SocketAddr,
    _server: Server<Handler>,
}

/// Starts DNS over TLS on `dot` and DNS over HTTPS (HTTP/2, path
/// `/dns-query`) on `doh`, answering from `zone`, with `tls` (its ALPN is
/// set here: `dot`, and `h2`).
pub fn serve_encrypted(
    zone: Arc<Zone>,
    tls: &rustls::ServerConfig,
    dot: tokio::net::TcpListener,
    doh: tokio::net::TcpListener,
) -> std::io::Result<DnsServer> {
    let addr = dot.local_addr()?;
    let mut server = Server::new(Handler::new(zone));
    let mut dot_tls = tls.clone();
    dot_tls.alpn_protocols = vec![b"dot".to_vec()];
    server.register_tls_listener_with_tls_config(dot, Duration::from_secs(5), Arc::new(dot_tls))?;
    let mut doh_tls = tls.clone();
    doh_tls.alpn_protocols = vec![b"h2".to_vec()];
    server.register_https_listener_with_tls_config(
        doh,
        Duration::from_secs(5),
        Arc::new(doh_tls),
        None,
        "/dns-query".into(),
    )?;
    Ok(DnsServer {
        addr,
        _server: server,
    })
}

/// Starts a server for `zone` on 127.0.0.1 (UDP and TCP on the same port).
pub async fn serve(zone: Zone) -> std::io::Result<DnsServer> {
    let zone = Arc::new(zone);
    for _ in 0..20 {
        match serve_on(zone.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await {
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => continue,
            other => return other,
        }
    }
    Err(std::io::Error::other(
        "no free port pair for the world's DNS",
    ))
}

/// Starts a server for `zone` on `addr` (UDP, and TCP on the port UDP got).
pub async fn serve_on(zone: Arc<Zone>, addr: SocketAddr) -> std::io::Result<DnsServer> {
    let udp = tokio::net::UdpSocket::bind(addr).await?;
    let addr = udp.local_addr()?;
    let tcp = tokio::net::TcpListener::bind(addr).await?;
    let mut server = Server::new(Handler::new(zone));
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 65535);
    Ok(DnsServer {
        addr,
        _server: server,
    })
}
