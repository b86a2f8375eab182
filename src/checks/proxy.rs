//! Tunnels through a vantage's proxy: SOCKS5 (tokio-socks) or HTTP
//! `CONNECT`. Once open, a tunnel is a plain TCP stream to the destination,
//! so TLS and HTTP run over it exactly as they do from this machine.
//!
//! A failure is sorted by whose fact it is: the proxy's (unreachable,
//! credentials refused, not speaking its protocol: the vantage is down and
//! its round shows nothing about the site) or the destination's as seen
//! from the vantage (the proxy answered that it could not or would not
//! connect, or said nothing before the deadline).

use std::io;
use std::net::IpAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};

use crate::config::{Proxy, ProxyKind};

/// Where a connection goes: an address, or a name the proxy resolves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(untagged)]
pub enum Dest {
    Ip(IpAddr),
    Name(String),
}

impl std::fmt::Display for Dest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dest::Ip(ip) => write!(f, "{ip}"),
            Dest::Name(n) => f.write_str(n),
        }
    }
}

impl Dest {
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Dest::Ip(ip) => Some(*ip),
            Dest::Name(_) => None,
        }
    }

    /// `host:port` as a CONNECT request writes it.
    fn authority(&self, port: u16) -> String {
        match self {
            Dest::Ip(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            other => format!("{other}:{port}"),
        }
    }
}

/// Why a tunnel did not open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelError {
    /// The proxy itself failed: the vantage is down.
    Vantage(String),
    /// The proxy answered that it could not or would not connect.
    Refused(String),
    /// Nothing came back before the deadline.
    Stalled(String),
}

/// The largest CONNECT response head read.
const MAX_HEAD: usize = 8 * 1024;

/// Opens a tunnel to `dest:port` through `proxy`, all before `deadline`.
pub async fn open(
    proxy: &Proxy,
    dest: &Dest,
    port: u16,
    deadline: Instant,
) -> Result<TcpStream, TunnelError> {
    let tcp = match timeout_at(deadline, TcpStream::connect(proxy.addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            return Err(TunnelError::Vantage(format!(
                "proxy {proxy} unreachable: {e}"
            )));
        }
        Err(_) => {
            return Err(TunnelError::Vantage(format!(
                "proxy {proxy} did not accept TCP before the deadline"
            )));
        }
    };
    let _ = tcp.set_nodelay(true);
    let handshake = async {
        match proxy.kind {
            ProxyKind::Socks5 | ProxyKind::Socks5h => socks5(tcp, proxy, dest, port).await,
            ProxyKind::HttpConnect => connect(tcp, proxy, dest, port).await,
        }
    };
    match timeout_at(deadline, handshake).await {
        Ok(r) => r,
        Err(_) => Err(TunnelError::Stalled(format!(
            "proxy {proxy} gave no answer for {} before the deadline",
            dest.authority(port)
        ))),
    }
}

async fn socks5(
    tcp: TcpStream,
    proxy: &Proxy,
    dest: &Dest,
    port: u16,
) -> Result<TcpStream, TunnelError> {
    use tokio_socks::Error as E;
    use tokio_socks::tcp::Socks5Stream;
    let result = match (dest, &proxy.auth) {
        (Dest::Ip(ip), None) => Socks5Stream::connect_with_socket(tcp, (*ip, port)).await,
        (Dest::Name(n), None) => Socks5Stream::connect_with_socket(tcp, (n.as_str(), port)).await,
        (Dest::Ip(ip), Some((u, p))) => {
            Socks5Stream::connect_with_password_and_socket(tcp, (*ip, port), u, p).await
        }
        (Dest::Name(n), Some((u, p))) => {
            Socks5Stream::connect_with_password_and_socket(tcp, (n.as_str(), port), u, p).await
        }
    };
    let target = dest.authority(port);
    match result {
        Ok(s) => Ok(s.into_inner()),
        // Reply codes about the destination: the vantage's network speaks.
        Err(
            e @ (E::GeneralSocksServerFailure
            | E::ConnectionNotAllowedByRuleset
            | E::NetworkUnreachable
            | E::HostUnreachable
            | E::ConnectionRefused
            | E::TtlExpired),
        ) => Err(TunnelError::Refused(format!(
            "proxy {proxy} answered for {target}: {}",
            e.to_string().to_lowercase()
        ))),
        Err(E::Io(e)) => Err(TunnelError::Vantage(format!(
            "proxy {proxy} broke off the SOCKS5 handshake: {e}"
        ))),
        Err(e) => Err(TunnelError::Vantage(format!(
            "proxy {proxy} refused the SOCKS5 handshake: {}",
            e.to_string().to_lowercase()
        ))),
    }
}

async fn connect(
    mut tcp: TcpStream,
    proxy: &Proxy,
    dest: &Dest,
    port: u16,
) -> Result<TcpStream, TunnelError> {
    use base64::Engine as _;
    let target = dest.authority(port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some((u, p)) = &proxy.auth {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    let broke =
        |e: io::Error| TunnelError::Vantage(format!("proxy {proxy} broke off CONNECT: {e}"));
    tcp.write_all(request.as_bytes()).await.map_err(broke)?;
    // Byte by byte, so nothing past the head (the destination's first
    // bytes) is consumed here.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD {
            return Err(TunnelError::Vantage(format!(
                "proxy {proxy} sent a CONNECT answer over {MAX_HEAD} bytes"
            )));
        }
        let b = tcp.read_u8().await.map_err(broke)?;
        head.push(b);
    }
    match parse_status(&head) {
        Some((200..=299, _)) => Ok(tcp),
        Some((407, _)) => Err(TunnelError::Vantage(format!(
            "proxy {proxy} requires other credentials (407)"
        ))),
        Some((code, reason)) => Err(TunnelError::Refused(format!(
            "proxy {proxy} answered CONNECT {target} with {code} {reason}"
        ))),
        None => Err(TunnelError::Vantage(format!(
            "proxy {proxy} did not answer CONNECT in HTTP"
        ))),
    }
}

/// The status code and (bounded, printable) reason of an HTTP/1.x
/// response head.
pub fn parse_status(head: &[u8]) -> Option<(u16, String)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end_matches('\r');
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 {
        return None;
    }
    let code: u16 = code.parse().ok()?;
    if !(100..=599).contains(&code) {
        return None;
    }
    let reason: String = parts
        .next()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect();
    Some((code, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status(b"HTTP/1.1 200 Connection established\r\n\r\n"),
            Some((200, "Connection established".into()))
        );
        assert_eq!(
            parse_status(b"HTTP/1.0 403\r\n\r\n"),
            Some((403, String::new()))
        );
        for bad in [
            &b"SSH-2.0-x\r\n"[..],
            b"HTTP/1.1 20 x\r\n",
            b"HTTP/1.1 999 x\r\n",
            b"",
            b"\xff\xfe",
        ] {
            assert_eq!(parse_status(bad), None);
        }
        assert_eq!(Dest::Ip("::1".parse().unwrap()).authority(443), "[::1]:443");
        assert_eq!(Dest::Name("a.test".into()).authority(80), "a.test:80");
    }

    proptest::proptest! {
        #[test]
        fn any_head_parses_or_not_without_panic(head in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Some((code, reason)) = parse_status(&head) {
                proptest::prop_assert!((100..=599).contains(&code));
                proptest::prop_assert!(reason.chars().count() <= 80);
            }
        }
    }
}
