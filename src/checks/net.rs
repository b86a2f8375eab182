//! The one way mirrorwatch opens a connection: TCP to a given address (or
//! a tunnel through the vantage's proxy), then TLS when the scheme asks
//! for it. The connect stage and the HTTP stage both
//! dial through here, so phase timings mean the same thing everywhere.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::client::TlsStream;

use super::proxy::{self, Dest, TunnelError};
use super::tls::{self, Handshake, TlsReport, TlsSetup};
use crate::config::Proxy;
use crate::ground::text::fmt_secs;

/// A plain or TLS connection.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The TCP result for one address.
#[derive(Debug, Clone, Serialize)]
pub struct TcpReport {
    pub ok: bool,
    pub seconds: f64,
    /// Nothing came back (SYN unanswered) before the deadline.
    pub stalled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of dialing one address.
pub struct Dialed {
    pub tcp: TcpReport,
    pub tls: Option<TlsReport>,
    pub stream: Option<Stream>,
    /// The vantage's proxy itself failed: nothing here is about the site.
    pub vantage_fault: Option<String>,
}

impl Dialed {
    /// Usable for HTTP: connected, and when TLS was asked for, the chain is
    /// valid for the host.
    pub fn good(&self) -> bool {
        self.stream.is_some()
            && self
                .tls
                .as_ref()
                .is_none_or(|t| t.handshake == Handshake::Ok && t.valid)
    }
}

/// Connects to `dest:port` (directly, or through `via`), then (with `tls`)
/// handshakes with SNI `host`.
pub async fn dial(
    dest: &Dest,
    port: u16,
    host: &str,
    tls: Option<&TlsSetup>,
    via: Option<&Proxy>,
    deadline: Instant,
) -> Dialed {
    let start = Instant::now();
    let failed = |stalled: bool, error: String, vantage_fault: Option<String>| Dialed {
        tcp: TcpReport {
            ok: false,
            seconds: start.elapsed().as_secs_f64(),
            stalled,
            error: Some(error),
        },
        tls: None,
        stream: None,
        vantage_fault,
    };
    let tcp = match (via, dest) {
        (Some(p), _) => match proxy::open(p, dest, port, deadline).await {
            Ok(s) => s,
            Err(TunnelError::Vantage(e)) => return failed(false, e.clone(), Some(e)),
            Err(TunnelError::Refused(e)) => return failed(false, e, None),
            Err(TunnelError::Stalled(e)) => return failed(true, e, None),
        },
        (None, Dest::Name(n)) => {
            return failed(
                false,
                format!("{n} can only be reached through a proxy"),
                None,
            );
        }
        (None, Dest::Ip(ip)) => {
            let addr = SocketAddr::new(*ip, port);
            match timeout_at(deadline, TcpStream::connect(addr)).await {
                Err(_) => {
                    let waited: Duration = start.elapsed();
                    let why = format!("TCP connect to {addr} timed out after {}", fmt_secs(waited));
                    return failed(true, why, None);
                }
                Ok(Err(e)) => return failed(false, format!("TCP connect to {addr}: {e}"), None),
                Ok(Ok(s)) => s,
            }
        }
    };
    let _ = tcp.set_nodelay(true);
    let tcp_report = TcpReport {
        ok: true,
        seconds: start.elapsed().as_secs_f64(),
        stalled: false,
        error: None,
    };
    match tls {
        None => Dialed {
            tcp: tcp_report,
            tls: None,
            stream: Some(Stream::Plain(tcp)),
            vantage_fault: None,
        },
        Some(setup) => {
            let (report, stream) = tls::handshake(setup, tcp, host, deadline).await;
            Dialed {
                tcp: tcp_report,
                tls: Some(report),
                stream: stream.map(|s| Stream::Tls(Box::new(s))),
                vantage_fault: None,
            }
        }
    }
}
