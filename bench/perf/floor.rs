//! The floor: the least a client can do for one probe, with the same crates
//! mirrorwatch builds on and nothing else. Resolve A and AAAA over UDP (one
//! socket for the pair, as the daemon and glibc ask) through
//! the benchmark DNS (hand-built queries, hickory-proto only for the wire
//! format), TCP connect, a full TLS handshake (no resumption) verified against
//! the private CA, an HTTP/1.1 GET and the whole body read.
//!
//! Runs as its own process (`perf floor ...`), so its CPU time is its own; it
//! prints `cpu_seconds ok failed` after the last probe.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;

use crate::paced;
use crate::procs::cpu_seconds;

pub struct Args {
    pub dns: SocketAddr,
    pub ca: std::path::PathBuf,
    pub port: u16,
    pub names: usize,
    pub count: usize,
    pub rate: f64,
}

impl Args {
    pub fn parse(a: &[String]) -> anyhow::Result<Self> {
        let get = |i: usize| a.get(i).context("floor: missing argument");
        Ok(Self {
            dns: get(0)?.parse()?,
            ca: get(1)?.into(),
            port: get(2)?.parse()?,
            names: get(3)?.parse()?,
            count: get(4)?.parse()?,
            rate: get(5)?.parse()?,
        })
    }

    pub fn to_vec(&self) -> Vec<String> {
        vec![
            self.dns.to_string(),
            self.ca.display().to_string(),
            self.port.to_string(),
            self.names.to_string(),
            self.count.to_string(),
            self.rate.to_string(),
        ]
    }
}

pub fn main(args: Args) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let mut roots = rustls::RootCertStore::empty();
        let pem = std::fs::read(&args.ca)?;
        for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(&pem) {
            roots.add(cert?)?;
        }
        let mut config =
            rustls::ClientConfig::builder_with_provider(mirrorwatch::ground::crypto::provider())
                .with_safe_default_protocol_versions()?
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        let connector = TlsConnector::from(Arc::new(config));
        let (dns, port, names) = (args.dns, args.port, args.names);
        let before = cpu_seconds(std::process::id())?;
        let (ok, failed) = paced(args.count, args.rate, 64, move |i| {
            let connector = connector.clone();
            async move {
                let name = crate::world::BenchWorld::name(i % names);
                probe(&connector, dns, &name, port).await.is_ok()
            }
        })
        .await;
        let after = cpu_seconds(std::process::id())?;
        println!("{} {ok} {failed}", after - before);
        anyhow::Ok(())
    })
}

async fn probe(
    connector: &TlsConnector,
    dns: SocketAddr,
    name: &str,
    port: u16,
) -> anyhow::Result<usize> {
    let work = async {
        let ip = lookup(dns, name)
            .await?
            .into_iter()
            .next()
            .context("no address")?;
        let tcp = TcpStream::connect((ip, port)).await?;
        let server = ServerName::try_from(name.to_string())?;
        let tls = connector.connect(server, tcp).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let req = hyper::Request::get("/")
            .header(hyper::header::HOST, format!("{name}:{port}"))
            .body(Empty::<Bytes>::new())?;
        let resp = sender.send_request(req).await?;
        if !resp.status().is_success() {
            bail!("status {}", resp.status());
        }
        let mut body = resp.into_body();
        let mut n = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                n += data.len();
            }
        }
        Ok(n)
    };
    tokio::time::timeout(Duration::from_secs(10), work).await?
}

/// A and AAAA from one socket (one source port for the pair, as glibc's
/// stub resolver and the daemon ask), each question with its own ID.
async fn lookup(dns: SocketAddr, name: &str) -> anyhow::Result<Vec<IpAddr>> {
    let sock = UdpSocket::bind("127.0.0.1:0").await?;
    sock.connect(dns).await?;
    let first = rand_id();
    let ids = [first, first.wrapping_add(1)];
    for (id, rtype) in ids.into_iter().zip([RecordType::A, RecordType::AAAA]) {
        let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
        msg.metadata.recursion_desired = true;
        msg.add_query(Query::query(Name::from_ascii(name)?, rtype));
        sock.send(&msg.to_vec()?).await?;
    }
    let mut buf = [0u8; 1232];
    let mut out = Vec::new();
    let mut open = ids.to_vec();
    while !open.is_empty() {
        let n = sock.recv(&mut buf).await?;
        let answer = Message::from_vec(&buf[..n])?;
        let Some(at) = open.iter().position(|&id| id == answer.metadata.id) else {
            continue;
        };
        open.remove(at);
        out.extend(answer.answers.iter().filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        }));
    }
    // A first, as the daemon takes them.
    out.sort_by_key(|ip| ip.is_ipv6());
    Ok(out)
}

fn rand_id() -> u16 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::Instant::now()) as u16
}
