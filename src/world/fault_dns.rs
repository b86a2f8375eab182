//! The fault world's lying resolver (see `faults`): what it does for each
//! name, over UDP and TCP. An honest authoritative server (`dns`) answers
//! every name beside it.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

use super::faults::LIVE;

/// What the fault resolver does for a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsFault {
    Silent,
    ServFail,
    Refused,
    /// The TC bit, no answer over UDP; TCP answers (on the resolver that
    /// has TCP) or is refused (on the UDP-only one).
    Truncated,
    /// `name → loop.name → name`, no address.
    CnameLoop,
    /// An A record owned by another name.
    WrongName,
    /// The right answer padded past 4 KiB, without the TC bit.
    Oversized,
    /// The right answer with another query ID.
    WrongId,
    /// The right answer from another source port.
    WrongPort,
    /// The first datagram of each query (by source and ID) is dropped, as
    /// a busy server's full socket buffer does; a copy sent again gets
    /// the right answer.
    Lossy,
}

/// The names the fault resolver lies about (each also served, honestly,
/// over HTTPS and by the authoritative resolver).
pub fn dns_hosts() -> Vec<(&'static str, DnsFault)> {
    vec![
        ("www.dns-silent.fault.test", DnsFault::Silent),
        ("www.dns-servfail.fault.test", DnsFault::ServFail),
        ("www.dns-refused.fault.test", DnsFault::Refused),
        ("www.dns-truncated.fault.test", DnsFault::Truncated),
        ("www.dns-cnameloop.fault.test", DnsFault::CnameLoop),
        ("www.dns-wrongname.fault.test", DnsFault::WrongName),
        ("www.dns-oversized.fault.test", DnsFault::Oversized),
        ("www.dns-wrongid.fault.test", DnsFault::WrongId),
        ("www.dns-wrongport.fault.test", DnsFault::WrongPort),
        ("www.dns-lossy.fault.test", DnsFault::Lossy),
    ]
}

/// The honest answer to `q`: 127.0.0.1 for A, nothing else.
fn honest(q: &Message, name: &Name, rtype: RecordType) -> Message {
    let mut r = reply_to(q, ResponseCode::NoError);
    if rtype == RecordType::A {
        r.add_answer(Record::from_rdata(name.clone(), 60, RData::A(A(LIVE))));
    }
    r
}

fn reply_to(q: &Message, rcode: ResponseCode) -> Message {
    let mut r = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.metadata.response_code = rcode;
    for query in &q.queries {
        r.add_query(query.clone());
    }
    r
}

/// The name `q` asks about, as the fault list spells it (lower case).
fn key_of(q: &Message) -> Option<String> {
    Some(q.queries.first()?.name().to_ascii().to_ascii_lowercase())
}

/// What the fault resolver does for the name `q` asks about.
fn fault_of(q: &Message, lies: &HashMap<String, DnsFault>) -> Option<DnsFault> {
    lies.get(&key_of(q)?).copied()
}

/// What the fault resolver sends (over UDP) for query `q`; `None`: nothing.
fn lie(q: &Message, lies: &HashMap<String, DnsFault>) -> Option<(Message, bool)> {
    let query = q.queries.first()?;
    let name = query.name().clone();
    let rtype = query.query_type();
    let key = key_of(q)?;
    let Some(&fault) = lies.get(&key) else {
        return Some((reply_to(q, ResponseCode::NXDomain), false));
    };
    let other_port = fault == DnsFault::WrongPort;
    let msg = match fault {
        DnsFault::Silent => return None,
        DnsFault::ServFail => reply_to(q, ResponseCode::ServFail),
        DnsFault::Refused => reply_to(q, ResponseCode::Refused),
        DnsFault::Truncated => {
            let mut r = reply_to(q, ResponseCode::NoError);
            r.metadata.truncation = true;
            r
        }
        DnsFault::CnameLoop => {
            let mut r = reply_to(q, ResponseCode::NoError);
            let looped = Name::from_ascii(format!("loop.{key}")).ok()?;
            r.add_answer(Record::from_rdata(
                name.clone(),
                60,
                RData::CNAME(CNAME(looped.clone())),
            ));
            r.add_answer(Record::from_rdata(
                looped,
                60,
                RData::CNAME(CNAME(name.clone())),
            ));
            r
        }
        DnsFault::WrongName => {
            let mut r = reply_to(q, ResponseCode::NoError);
            if rtype == RecordType::A {
                let other = Name::from_ascii("www.other.fault.test.").ok()?;
                r.add_answer(Record::from_rdata(
                    other,
                    60,
                    RData::A(A(Ipv4Addr::new(127, 0, 0, 9))),
                ));
            }
            r
        }
        DnsFault::Oversized => {
            let mut r = honest(q, &name, rtype);
            for i in 0..40 {
                let txt = TXT::new(vec![format!("{i:03}{}", "p".repeat(200))]);
                r.add_additional(Record::from_rdata(name.clone(), 60, RData::TXT(txt)));
            }
            r
        }
        DnsFault::WrongId => {
            let mut r = honest(q, &name, rtype);
            r.metadata.id = q.metadata.id.wrapping_add(1);
            r
        }
        DnsFault::WrongPort | DnsFault::Lossy => honest(q, &name, rtype),
    };
    Some((msg, other_port))
}

pub(super) async fn serve_dns_udp(sock: UdpSocket, lies: Arc<HashMap<String, DnsFault>>) {
    let mut buf = vec![0u8; 4096];
    let mut dropped = std::collections::HashSet::new();
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(q) = Message::from_vec(buf.get(..n).unwrap_or_default()) else {
            continue;
        };
        // Each query's first copy; the memory is bounded (a test sends far
        // fewer), past it every copy is answered.
        let lossy = fault_of(&q, &lies) == Some(DnsFault::Lossy);
        if lossy && dropped.len() < 4096 && dropped.insert((from, q.metadata.id)) {
            continue;
        }
        let Some((reply, other_port)) = lie(&q, &lies) else {
            continue;
        };
        let Ok(wire) = reply.to_vec() else { continue };
        if other_port {
            if let Ok(other) = UdpSocket::bind((LIVE, 0)).await {
                let _ = other.send_to(&wire, from).await;
            }
        } else {
            let _ = sock.send_to(&wire, from).await;
        }
    }
}

/// Over TCP the fault resolver tells the truth (the fallback a truncated
/// or oversized reply leads to), except for names it keeps silent on.
pub(super) async fn serve_dns_tcp(listener: TcpListener, lies: Arc<HashMap<String, DnsFault>>) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else {
            continue;
        };
        let lies = lies.clone();
        tokio::spawn(async move {
            let mut len = [0u8; 2];
            while tcp.read_exact(&mut len).await.is_ok() {
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if tcp.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let Ok(q) = Message::from_vec(&buf) else {
                    return;
                };
                let Some(query) = q.queries.first() else {
                    return;
                };
                if fault_of(&q, &lies) == Some(DnsFault::Silent) {
                    return;
                }
                let reply = honest(&q, &query.name().clone(), query.query_type());
                let Ok(wire) = reply.to_vec() else { return };
                let Ok(n) = u16::try_from(wire.len()) else {
                    return;
                };
                if tcp.write_all(&n.to_be_bytes()).await.is_err()
                    || tcp.write_all(&wire).await.is_err()
                {
                    return;
                }
            }
        });
    }
}
