//! One DNS question over UDP to one server, for the plain `IP[:PORT]`
//! resolvers: a fresh socket on a kernel-chosen port, a random query ID,
//! hickory-proto for the wire format, and nothing else. The full resolver
//! stack costs several times the query itself (about a sixth of a whole
//! probe's CPU in `bench/run`), and a plain resolver needs none of it.
//!
//! Replies are accepted only from the server (the socket is connected), with
//! the query's ID and question; anything else is ignored until the deadline.
//! A truncated reply returns [`Reply::Truncated`], and the caller asks again
//! through hickory-resolver, which retries over TCP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout_at};

/// Largest reply read; EDNS advertises this much.
const MAX_REPLY: u16 = 1232;

/// What the server said.
pub enum Reply {
    /// A reply with this code and these answers (`ttl` is the smallest
    /// among the records of the asked type).
    Answer {
        rcode: ResponseCode,
        records: Vec<RData>,
        ttl: Option<u32>,
    },
    /// The answer did not fit: ask over TCP.
    Truncated,
    /// Nothing usable before the deadline.
    Timeout,
    /// The socket failed (unreachable port, no route).
    Failed(String),
}

/// Asks `server` for `name`/`rtype`, waiting at most until `deadline`.
pub async fn ask(server: SocketAddr, name: &str, rtype: RecordType, deadline: Instant) -> Reply {
    match timeout_at(deadline, exchange(server, name, rtype)).await {
        Err(_) => Reply::Timeout,
        Ok(Err(e)) => Reply::Failed(e),
        Ok(Ok(reply)) => reply,
    }
}

async fn exchange(server: SocketAddr, name: &str, rtype: RecordType) -> Result<Reply, String> {
    let qname = Name::from_ascii(name).map_err(|e| format!("invalid name {name}: {e}"))?;
    let id: u16 = rand::random();
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(MAX_REPLY);
    msg.set_edns(edns);
    let wire = msg.to_vec().map_err(|e| e.to_string())?;
    let local: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let sock = UdpSocket::bind((local, 0))
        .await
        .map_err(|e| e.to_string())?;
    sock.connect(server).await.map_err(|e| e.to_string())?;
    sock.send(&wire).await.map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; usize::from(MAX_REPLY)];
    loop {
        let n = sock.recv(&mut buf).await.map_err(|e| e.to_string())?;
        let Ok(reply) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let ours = reply.metadata.id == id
            && reply.metadata.message_type == MessageType::Response
            && reply
                .queries
                .first()
                .is_some_and(|q| q.query_type() == rtype && *q.name() == qname);
        if !ours {
            continue;
        }
        if reply.metadata.truncation {
            return Ok(Reply::Truncated);
        }
        let mut ttl: Option<u32> = None;
        let records = reply
            .answers
            .iter()
            .filter(|r| r.record_type() == rtype)
            .map(|r| {
                ttl = Some(ttl.map_or(r.ttl, |t| t.min(r.ttl)));
                r.data.clone()
            })
            .collect();
        return Ok(Reply::Answer {
            rcode: reply.metadata.response_code,
            records,
            ttl,
        });
    }
}
