//! Vantage proxies for the world: a SOCKS5 server (RFC 1928, with RFC 1929
//! username/password) and an HTTP CONNECT proxy, on loopback. Each can play
//! a censoring network ([`Censor`]): refuse a destination, reset a TLS
//! connection whose ClientHello names a host (SNI filtering), divert a name
//! to another server (an interception box), or say a name does not exist.
//! Names resolve from the world's zone, never from the system.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::dns::Zone;

/// What a censoring network does to some destinations. Names are host
/// names (lower case); `refuse` also takes IP addresses as text.
#[derive(Debug, Clone, Default)]
pub struct Censor {
    /// Refused outright (SOCKS5 "not allowed by ruleset", HTTP 403).
    pub refuse: HashSet<String>,
    /// The tunnel opens, then a ClientHello naming the host is reset.
    pub reset_sni: HashSet<String>,
    /// Connections to the name go to this address instead.
    pub divert: HashMap<String, SocketAddr>,
    /// The name "does not exist" (SOCKS5 host unreachable, HTTP 502).
    pub nxdomain: HashSet<String>,
}

/// Which protocol a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Socks5,
    Connect,
}

/// A running proxy; stops when dropped.
pub struct ProxyServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

struct State {
    flavour: Flavour,
    zone: Arc<Zone>,
    auth: Option<(String, String)>,
    censor: Mutex<Censor>,
    down: AtomicBool,
}

impl Drop for ProxyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ProxyServer {
    /// Starts a proxy on 127.0.0.1 resolving from `zone`; with `auth`, it
    /// demands that user and password.
    pub async fn start(
        flavour: Flavour,
        zone: Arc<Zone>,
        auth: Option<(String, String)>,
        censor: Censor,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            flavour,
            zone,
            auth,
            censor: Mutex::new(censor),
            down: AtomicBool::new(false),
        });
        let task = tokio::spawn(accept_loop(listener, state.clone()));
        Ok(Self { addr, state, task })
    }

    /// The proxy URL mirrorwatch is given (`socks5h://` or `http://`),
    /// with `auth` as user and password.
    pub fn url(&self, auth: Option<(&str, &str)>) -> String {
        let scheme = match self.state.flavour {
            Flavour::Socks5 => "socks5h",
            Flavour::Connect => "http",
        };
        let user = auth.map(|(u, p)| format!("{u}:{p}@")).unwrap_or_default();
        format!("{scheme}://{user}{}", self.addr)
    }

    /// A down proxy accepts TCP and closes at once, before any handshake.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// Changes what the proxy censors.
    pub fn censor(&self, f: impl FnOnce(&mut Censor)) {
        f(&mut self.state.censor.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if state.down.load(Ordering::SeqCst) {
            drop(client);
            continue;
        }
        let state = state.clone();
        tokio::spawn(async move {
            let served = match state.flavour {
                Flavour::Socks5 => socks5(client, &state).await,
                Flavour::Connect => connect(client, &state).await,
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, "world proxy connection ended");
            }
        });
    }
}

/// Where a request goes, after the censor had its say.
enum Route {
    To(SocketAddr, Option<String>),
    Refused,
    NoSuchHost,
    Unreachable,
}

fn route(state: &State, host: &str, port: u16) -> Route {
    let host = host.to_ascii_lowercase();
    let censor = state
        .censor
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if censor.refuse.contains(&host) {
        return Route::Refused;
    }
    if censor.nxdomain.contains(&host) {
        return Route::NoSuchHost;
    }
    let sni = censor.reset_sni.iter().find(|h| **h == host).cloned();
    if let Some(addr) = censor.divert.get(&host) {
        return Route::To(*addr, sni);
    }
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) => ip,
        Err(_) => match state.zone.hosts.get(&host).and_then(|ips| ips.first()) {
            Some(ip) => *ip,
            None => return Route::NoSuchHost,
        },
    };
    if !ip.is_loopback() {
        // The world never leaves the machine.
        return Route::Unreachable;
    }
    Route::To(SocketAddr::new(ip, port), sni)
}

/// Relays both ways; with `reset_on`, a first client chunk naming that host
/// (a ClientHello's SNI) resets the connection instead.
async fn relay(
    mut client: TcpStream,
    mut upstream: TcpStream,
    reset_on: Option<String>,
) -> std::io::Result<()> {
    if let Some(host) = reset_on {
        let mut first = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), client.read(&mut first))
            .await
            .unwrap_or(Ok(0))?;
        if memchr::memmem::find(&first[..n], host.as_bytes()).is_some() {
            let _ = client.set_zero_linger();
            return Ok(());
        }
        upstream.write_all(&first[..n]).await?;
    }
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
    Ok(())
}

async fn socks5(mut c: TcpStream, state: &State) -> std::io::Result<()> {
    let mut head = [0u8; 2];
    c.read_exact(&mut head).await?;
    let mut methods = vec![0u8; usize::from(head[1])];
    c.read_exact(&mut methods).await?;
    let want = if state.auth.is_some() { 2 } else { 0 };
    if head[0] != 5 || !methods.contains(&want) {
        c.write_all(&[5, 0xff]).await?;
        return Ok(());
    }
    c.write_all(&[5, want]).await?;
    if let Some((user, pass)) = &state.auth {
        let ver = c.read_u8().await?;
        let ulen = c.read_u8().await?;
        let mut u = vec![0u8; usize::from(ulen)];
        c.read_exact(&mut u).await?;
        let plen = c.read_u8().await?;
        let mut p = vec![0u8; usize::from(plen)];
        c.read_exact(&mut p).await?;
        let ok = ver == 1 && u == user.as_bytes() && p == pass.as_bytes();
        c.write_all(&[1, u8::from(!ok)]).await?;
        if !ok {
            return Ok(());
        }
    }
    let mut req = [0u8; 4];
    c.read_exact(&mut req).await?;
    let host = match req[3] {
        1 => {
            let mut b = [0u8; 4];
            c.read_exact(&mut b).await?;
            IpAddr::from(b).to_string()
        }
        4 => {
            let mut b = [0u8; 16];
            c.read_exact(&mut b).await?;
            IpAddr::from(b).to_string()
        }
        3 => {
            let len = c.read_u8().await?;
            let mut b = vec![0u8; usize::from(len)];
            c.read_exact(&mut b).await?;
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => {
            c.write_all(&[5, 8, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
            return Ok(());
        }
    };
    let port = c.read_u16().await?;
    if req[1] != 1 {
        c.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Ok(());
    }
    let reply = |code: u8| [5, code, 0, 1, 0, 0, 0, 0, 0, 0];
    match route(state, &host, port) {
        Route::Refused => c.write_all(&reply(2)).await,
        Route::NoSuchHost => c.write_all(&reply(4)).await,
        Route::Unreachable => c.write_all(&reply(3)).await,
        Route::To(addr, sni) => {
            let Ok(upstream) = TcpStream::connect(addr).await else {
                return c.write_all(&reply(5)).await;
            };
            c.write_all(&reply(0)).await?;
            relay(c, upstream, sni).await
        }
    }
}

async fn connect(mut c: TcpStream, state: &State) -> std::io::Result<()> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 {
            return Ok(());
        }
        head.push(c.read_u8().await?);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let (Some("CONNECT"), Some(authority)) = (words.next(), words.next()) else {
        return c
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            .await;
    };
    if let Some((user, pass)) = &state.auth {
        use base64::Engine as _;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let sent = text.lines().any(|l| {
            l.split_once(':').is_some_and(|(name, value)| {
                name.eq_ignore_ascii_case("proxy-authorization")
                    && value.trim() == format!("Basic {token}")
            })
        });
        if !sent {
            return c
                .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n")
                .await;
        }
    }
    let Some((host, port)) = authority.rsplit_once(':') else {
        return c.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    };
    let host = host.trim_matches(|ch| ch == '[' || ch == ']');
    let port: u16 = port.parse().unwrap_or(443);
    match route(state, host, port) {
        Route::Refused => c.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n").await,
        Route::NoSuchHost | Route::Unreachable => {
            c.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await
        }
        Route::To(addr, sni) => {
            let Ok(upstream) = TcpStream::connect(addr).await else {
                return c.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
            };
            c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                .await?;
            relay(c, upstream, sni).await
        }
    }
}
