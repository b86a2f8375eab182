//! One DNS question over UDP to one server, for the plain `IP[:PORT]`
//! resolvers: a fresh socket on a kernel-chosen port, a random query ID,
//! hickory-proto for the wire format, and nothing else. The full resolver
//! stack costs several times the query itself (about a sixth of a whole
//! probe's CPU in `bench/run`), and a plain resolver needs none of it.
//!
//! Replies are accepted only from the server (the socket is connected), with
//! the query's ID and question; anything else is ignored until the deadline.
//! A datagram can be lost on the way there or back (a busy server's full
//! socket buffer does it): without a usable reply the same query is sent
//! again after each third of the time allowed, as stub resolvers do, so one
//! lost datagram is not taken for a resolver that does not answer.
//! Only records owned by the asked name, or by a name its CNAME chain
//! reaches (at most [`MAX_CNAMES`] hops, loops cut), count as answers: a
//! record for another name is never taken as the site's address.
//! A reply that does not fit (the TC bit, or a datagram that filled the
//! [`RECV_BUFFER`]) is asked again over TCP ([`ask_tcp`]), as RFC 7766
//! says, with the same checks and a 64 KiB cap.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

/// The payload EDNS advertises (the DNS flag day's safe size).
const MAX_REPLY: u16 = 1232;
/// What one read takes: servers that ignore EDNS may send more than
/// [`MAX_REPLY`]; a datagram that fills this buffer may have been cut by
/// the kernel and is treated as truncated.
pub const RECV_BUFFER: usize = 4096;
/// CNAME hops followed from the asked name.
pub const MAX_CNAMES: usize = 8;
/// Datagrams sent per question, spread evenly over its time.
const SENDS: u32 = 3;

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
    let [reply] = ask_each(server, name, [rtype], deadline).await;
    reply
}

/// A query for `name`/`rtype` with this ID: (name, wire bytes).
pub fn query_with_id(name: &str, rtype: RecordType, id: u16) -> Result<(Name, Vec<u8>), String> {
    let qname = Name::from_ascii(name).map_err(|e| format!("invalid name {name}: {e}"))?;
    let mut msg = Message::new(id, MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(qname.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(MAX_REPLY);
    msg.set_edns(edns);
    let wire = msg.to_vec().map_err(|e| e.to_string())?;
    Ok((qname, wire))
}

/// A query for `name`/`rtype` with a random ID: (id, name, wire bytes).
fn query(name: &str, rtype: RecordType) -> Result<(u16, Name, Vec<u8>), String> {
    let id: u16 = rand::random();
    let (qname, wire) = query_with_id(name, rtype, id)?;
    Ok((id, qname, wire))
}

/// A fresh UDP socket on a kernel-chosen port, connected to `server` (so
/// that only its datagrams are read).
async fn connected(server: SocketAddr) -> Result<UdpSocket, String> {
    let local: IpAddr = match server {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let sock = UdpSocket::bind((local, 0))
        .await
        .map_err(|e| e.to_string())?;
    sock.connect(server).await.map_err(|e| e.to_string())?;
    Ok(sock)
}

/// The two questions [`ask_both`] asks, in the order it answers them.
pub const BOTH: [RecordType; 2] = [RecordType::A, RecordType::AAAA];

/// Asks `server` for the A and the AAAA records of `name` from one socket,
/// as glibc's stub resolver does: one fresh source port for the pair.
/// Half the sockets of asking each apart: a socket's setup and teardown
/// were most of a question's cost.
pub async fn ask_both(server: SocketAddr, name: &str, deadline: Instant) -> [Reply; 2] {
    ask_each(server, name, BOTH, deadline).await
}

/// Asks `server` each of `rtypes` for `name` from one fresh socket, waiting
/// at most until `deadline`: each question with its own random ID (never
/// two the same), each reply matched by ID and question. A question still
/// unanswered is sent again after each third of the time, always with its
/// ID (a late reply to an earlier copy is as good); one without a usable
/// reply by `deadline` is a timeout. A datagram that fills the buffer
/// makes the question its ID names (else every open one)
/// [`Reply::Truncated`].
async fn ask_each<const N: usize>(
    server: SocketAddr,
    name: &str,
    rtypes: [RecordType; N],
    deadline: Instant,
) -> [Reply; N] {
    let resend = deadline.saturating_duration_since(Instant::now()) / SENDS;
    let mut got: [Option<Reply>; N] = std::array::from_fn(|_| None);
    let failed = match timeout_at(deadline, exchange(server, name, rtypes, resend, &mut got)).await
    {
        Ok(Err(e)) => Some(e),
        _ => None,
    };
    got.map(|r| r.unwrap_or_else(|| failed.clone().map_or(Reply::Timeout, Reply::Failed)))
}

/// [`ask_each`]'s exchange: each reply is written to `got` as it comes, so
/// that the deadline keeps what arrived before it.
async fn exchange<const N: usize>(
    server: SocketAddr,
    name: &str,
    rtypes: [RecordType; N],
    resend: std::time::Duration,
    got: &mut [Option<Reply>; N],
) -> Result<(), String> {
    let mut asked: Vec<(u16, Name, Vec<u8>)> = Vec::with_capacity(N);
    for rtype in rtypes {
        let id = loop {
            let id: u16 = rand::random();
            if asked.iter().all(|(other, _, _)| *other != id) {
                break id;
            }
        };
        let (qname, wire) = query_with_id(name, rtype, id)?;
        asked.push((id, qname, wire));
    }
    let sock = connected(server).await?;
    let mut buf = vec![0u8; RECV_BUFFER];
    for sent in 1..=SENDS {
        for ((_, _, wire), g) in asked.iter().zip(got.iter()) {
            if g.is_none() {
                sock.send(wire).await.map_err(|e| e.to_string())?;
            }
        }
        // The last copies wait for as long as the caller allows.
        let until = (sent < SENDS).then(|| Instant::now() + resend);
        while got.iter().any(Option::is_none) {
            let received = match until {
                Some(t) => match timeout_at(t, sock.recv(&mut buf)).await {
                    Ok(r) => r,
                    Err(_) => break,
                },
                None => sock.recv(&mut buf).await,
            };
            let n = received.map_err(|e| e.to_string())?;
            let bytes = buf.get(..n).unwrap_or_default();
            if n >= buf.len() {
                // Cut by the buffer: whatever it says, it is not whole.
                let id = bytes.first_chunk::<2>().map(|b| u16::from_be_bytes(*b));
                let named = asked.iter().position(|(i, _, _)| Some(*i) == id);
                for (i, g) in got.iter_mut().enumerate() {
                    if g.is_none() && named.is_none_or(|n| n == i) {
                        *g = Some(Reply::Truncated);
                    }
                }
                continue;
            }
            for (((id, qname, _), rtype), g) in asked.iter().zip(rtypes).zip(got.iter_mut()) {
                if g.is_none()
                    && let Some(reply) = parse(bytes, *id, qname, rtype)
                {
                    *g = Some(reply);
                    break;
                }
            }
        }
        if got.iter().all(Option::is_some) {
            break;
        }
    }
    Ok(())
}

/// A reply to the question `(id, qname, rtype)`; `None` for anything else
/// (garbage, another ID or question, a query).
pub fn parse(bytes: &[u8], id: u16, qname: &Name, rtype: RecordType) -> Option<Reply> {
    let reply = Message::from_vec(bytes).ok()?;
    let ours = reply.metadata.id == id
        && reply.metadata.message_type == MessageType::Response
        && reply
            .queries
            .first()
            .is_some_and(|q| q.query_type() == rtype && q.name() == qname);
    if !ours {
        return None;
    }
    if reply.metadata.truncation {
        return Some(Reply::Truncated);
    }
    let mut ttl: Option<u32> = None;
    let records = owned(&reply.answers, qname, rtype)
        .into_iter()
        .map(|r| {
            ttl = Some(ttl.map_or(r.ttl, |t| t.min(r.ttl)));
            r.data.clone()
        })
        .collect();
    Some(Reply::Answer {
        rcode: reply.metadata.response_code,
        records,
        ttl,
    })
}

/// Asks `server` over TCP (after a reply that did not fit UDP).
pub async fn ask_tcp(
    server: SocketAddr,
    name: &str,
    rtype: RecordType,
    deadline: Instant,
) -> Reply {
    match timeout_at(deadline, exchange_tcp(server, name, rtype)).await {
        Err(_) => Reply::Timeout,
        Ok(Err(e)) => Reply::Failed(e),
        Ok(Ok(reply)) => reply,
    }
}

async fn exchange_tcp(server: SocketAddr, name: &str, rtype: RecordType) -> Result<Reply, String> {
    let mut tcp = TcpStream::connect(server)
        .await
        .map_err(|e| format!("TCP to {server} (the UDP reply did not fit): {e}"))?;
    match exchange_stream(&mut tcp, name, rtype).await {
        // Truncated over TCP too: nothing more to try.
        Ok(Reply::Truncated) => Err(format!("{server} truncated its reply over TCP")),
        Ok(reply) => Ok(reply),
        Err(e) => Err(format!("TCP reply from {server}: {e}")),
    }
}

/// One question over a stream (TCP, or TLS for DNS over TLS), with the
/// two-byte length prefix of RFC 1035 4.2.2: the reply is at most 64 KiB.
pub async fn exchange_stream<S>(
    stream: &mut S,
    name: &str,
    rtype: RecordType,
) -> Result<Reply, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (id, qname, wire) = query(name, rtype)?;
    let len = u16::try_from(wire.len()).map_err(|_| "query too long".to_string())?;
    let mut out = Vec::with_capacity(wire.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&wire);
    stream.write_all(&out).await.map_err(|e| e.to_string())?;
    stream.flush().await.map_err(|e| e.to_string())?;
    let mut prefix = [0u8; 2];
    stream
        .read_exact(&mut prefix)
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream
        .read_exact(&mut buf)
        .await
        .map_err(|e| e.to_string())?;
    parse(&buf, id, &qname, rtype).ok_or_else(|| "a reply to another question".to_string())
}

/// The records of `rtype` that answer `qname`: owned by it or by a name
/// its CNAME chain reaches within [`MAX_CNAMES`] hops. Name comparison is
/// case-insensitive (hickory's `Name`).
pub fn owned<'a>(answers: &'a [Record], qname: &Name, rtype: RecordType) -> Vec<&'a Record> {
    let mut chain = vec![qname.clone()];
    for _ in 0..MAX_CNAMES {
        let Some(current) = chain.last() else { break };
        let next = answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if r.name == *current => Some(c.0.clone()),
            _ => None,
        });
        match next {
            Some(n) if !chain.contains(&n) => chain.push(n),
            _ => break,
        }
    }
    answers
        .iter()
        .filter(|r| r.record_type() == rtype && chain.contains(&r.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::rr::rdata::{A, CNAME};

    use super::*;

    fn rec(name: &str, data: RData) -> Record {
        Record::from_rdata(Name::from_ascii(name).expect("name"), 60, data)
    }

    fn a(last: u8) -> RData {
        RData::A(A(Ipv4Addr::new(127, 0, 0, last)))
    }

    fn cname(to: &str) -> RData {
        RData::CNAME(CNAME(Name::from_ascii(to).expect("name")))
    }

    fn ips(answers: &[Record], q: &str) -> Vec<RData> {
        let q = Name::from_ascii(q).expect("name");
        owned(answers, &q, RecordType::A)
            .into_iter()
            .map(|r| r.data.clone())
            .collect()
    }

    #[test]
    fn only_the_asked_name_and_its_cname_chain_count() {
        let answers = [
            rec("www.other.test.", a(9)),
            rec("WWW.Site.test.", cname("edge.cdn.test.")),
            rec("edge.cdn.test.", a(1)),
            rec("unrelated.cdn.test.", a(8)),
        ];
        assert_eq!(ips(&answers, "www.site.test."), vec![a(1)]);
        assert_eq!(ips(&answers, "www.nobody.test."), Vec::<RData>::new());
    }

    /// A reply to `q` (its ID and question) with these answers.
    fn reply(q: &Message, answers: Vec<Record>) -> Vec<u8> {
        let mut r = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        r.add_query(q.queries[0].clone());
        for a in answers {
            r.add_answer(a);
        }
        r.to_vec().expect("wire")
    }

    /// Both questions leave from one port, each with its own ID; replies
    /// are matched by ID and question whatever their order: a reply with
    /// one question's ID and the other's question counts for neither, and
    /// a lost question is sent again, alone, with the same ID.
    #[test]
    fn both_questions_share_a_socket_and_keep_their_own_replies() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let server = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            let addr = server.local_addr().expect("addr");
            let serve = async {
                let mut buf = [0u8; 512];
                let mut seen: Vec<(SocketAddr, RecordType, u16)> = Vec::new();
                let mut a_copies = 0;
                while seen.len() < 3 {
                    let (n, from) = server.recv_from(&mut buf).await.expect("recv");
                    let q = Message::from_vec(&buf[..n]).expect("query");
                    let rtype = q.queries[0].query_type();
                    seen.push((from, rtype, q.metadata.id));
                    let name = q.queries[0].name().clone();
                    if rtype == RecordType::AAAA {
                        // First a mix-up: the A question under AAAA's ID.
                        let mut wrong = Message::from_vec(&buf[..n]).expect("query");
                        wrong.queries[0].set_query_type(RecordType::A);
                        let lie = reply(&wrong, vec![Record::from_rdata(name, 60, a(9))]);
                        server.send_to(&lie, from).await.expect("send");
                        server
                            .send_to(&reply(&q, vec![]), from)
                            .await
                            .expect("send");
                    } else {
                        a_copies += 1;
                        // The first copy of A is lost.
                        if a_copies == 2 {
                            let answer = vec![Record::from_rdata(name, 60, a(7))];
                            server
                                .send_to(&reply(&q, answer), from)
                                .await
                                .expect("send");
                        }
                    }
                }
                seen
            };
            let deadline = Instant::now() + std::time::Duration::from_millis(1500);
            let (seen, [got_a, got_aaaa]) =
                tokio::join!(serve, ask_both(addr, "www.pair.test.", deadline));
            let records = |r: Reply| match r {
                Reply::Answer { records, .. } => records,
                _ => panic!("no answer"),
            };
            assert_eq!(records(got_a), vec![a(7)]);
            assert_eq!(records(got_aaaa), Vec::<RData>::new());
            let kinds: Vec<RecordType> = seen.iter().map(|s| s.1).collect();
            assert_eq!(kinds.iter().filter(|k| **k == RecordType::A).count(), 2);
            assert_eq!(kinds.iter().filter(|k| **k == RecordType::AAAA).count(), 1);
            assert!(seen.iter().all(|s| s.0 == seen[0].0), "one source port");
            let ids = |t| seen.iter().filter(move |s| s.1 == t).map(|s| s.2);
            let a_ids: Vec<u16> = ids(RecordType::A).collect();
            assert_eq!(a_ids[0], a_ids[1], "sent again with its ID");
            assert!(ids(RecordType::AAAA).all(|id| id != a_ids[0]));
        });
    }

    #[test]
    fn cname_loops_and_long_chains_end() {
        let looped = [
            rec("a.test.", cname("b.test.")),
            rec("b.test.", cname("a.test.")),
        ];
        assert_eq!(ips(&looped, "a.test."), Vec::<RData>::new());
        let mut long: Vec<Record> = (0..20)
            .map(|i| rec(&format!("n{i}.test."), cname(&format!("n{}.test.", i + 1))))
            .collect();
        long.push(rec("n20.test.", a(1)));
        long.push(rec("n3.test.", a(3)));
        assert_eq!(
            ips(&long, "n0.test."),
            vec![a(3)],
            "the chain stops after 8 hops"
        );
    }
}
