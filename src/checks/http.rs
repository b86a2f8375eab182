//! HTTP check: GET every configured path on one good address, following
//! redirects (at most [`MAX_REDIRECTS`]), timing each phase, and reading the
//! body up to `max_body_bytes` *after* decompression.
//!
//! A mirror's redirect that leaves its registered domain is recorded and not
//! followed: the hop itself is the finding, and fetching another site's page
//! would only blur it.

use std::io;
use std::net::IpAddr;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::{BodyStream, Empty};
use hyper::client::conn::http1::{Builder, SendRequest};
use hyper::header::{
    ACCEPT, ACCEPT_ENCODING, ACCEPT_LANGUAGE, CONTENT_ENCODING, HOST, LOCATION, USER_AGENT,
};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use tokio_util::io::StreamReader;
use url::Url;

use super::connect::Pool;
use super::net::{self, Stream};
use super::proxy::Dest;
use super::{Flow, Round, RoundReport, dns};
use crate::config::{Role, host_label};
use crate::ground::domain::registered_domain;
use crate::ground::hash::{Digest, Digester};
use crate::ground::text::fmt_secs;

pub const MAX_REDIRECTS: usize = 10;
/// Cap on response head size (status line and headers).
const MAX_HEAD_BYTES: usize = 64 * 1024;

/// One redirect followed (or, when offsite from a mirror, recorded).
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    pub url: String,
    pub status: u16,
    pub location: String,
    /// The location leaves the target's registered domain.
    pub offsite: bool,
}

/// Where a fetch got stuck or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailStage {
    Connect,
    Tls,
    Request,
    ResponseHeaders,
    Body,
    Redirect,
}

/// The result of fetching one path.
#[derive(Debug, Clone, Serialize)]
pub struct HttpReport {
    pub path: String,
    /// The address the (first) request went to.
    pub ip: Option<IpAddr>,
    /// Final status, `None` when no response arrived.
    pub status: Option<u16>,
    pub redirects: Vec<Hop>,
    pub final_url: String,
    pub body_bytes: u64,
    /// The body was longer than `max_body_bytes` (after decompression).
    pub truncated: bool,
    pub content_encoding: Option<String>,
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_stage: Option<FailStage>,
    /// The failure was silence until the deadline, not an error.
    pub stalled: bool,
    /// When the first request was sent and when the last response ended:
    /// the page was generated inside this window (parity's freshness rule
    /// orders main and mirror fetches by it).
    #[serde(with = "crate::ground::time::rfc3339")]
    pub requested_at: std::time::SystemTime,
    #[serde(with = "crate::ground::time::rfc3339")]
    pub received_at: std::time::SystemTime,
    /// The decoded body (not serialized; for parity and fingerprints).
    #[serde(skip)]
    pub body: Bytes,
    /// BLAKE3 of `body`, computed while it streamed in (parity reuses an
    /// analysis when a page's digest is unchanged). `None` without a body.
    #[serde(skip)]
    pub body_digest: Option<Digest>,
}

/// Aborts spawned connection drivers when the round ends.
#[derive(Default)]
struct Drivers(Vec<JoinHandle<()>>);

impl Drop for Drivers {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

struct Failure {
    stage: FailStage,
    stalled: bool,
    message: String,
}

/// The HTTP stage.
pub async fn run(round: &Round<'_>, report: &mut RoundReport, mut pool: Pool) -> Flow {
    let mut drivers = Drivers::default();
    let mut origin: Option<SendRequest<Empty<Bytes>>> = None;
    // Exact, as the board keeps the report (see `connect::run`).
    report.http.reserve_exact(round.target.paths.len());
    for (i, path) in round.target.paths.iter().enumerate() {
        let fetched = fetch(round, path, &mut pool, &mut origin, &mut drivers).await;
        if i == 0 {
            report.timings.ttfb = fetched.1;
            report.timings.transfer = fetched.2;
        }
        report.http.push(fetched.0);
    }
    Flow::Continue
}

/// Fetches one path; returns the report, ttfb and transfer seconds of the
/// last request.
async fn fetch(
    round: &Round<'_>,
    path: &str,
    pool: &mut Pool,
    origin: &mut Option<SendRequest<Empty<Bytes>>>,
    drivers: &mut Drivers,
) -> (HttpReport, f64, f64) {
    let target = &round.target.url;
    let mut url = target.join(path).unwrap_or_else(|_| target.clone());
    let mut out = HttpReport {
        path: path.to_string(),
        ip: pool.preferred.first().and_then(Dest::ip),
        status: None,
        redirects: Vec::new(),
        final_url: url.to_string(),
        body_bytes: 0,
        truncated: false,
        content_encoding: None,
        content_type: None,
        error: None,
        failed_stage: None,
        stalled: false,
        requested_at: std::time::SystemTime::now(),
        received_at: std::time::SystemTime::now(),
        body: Bytes::new(),
        body_digest: None,
    };
    let (mut ttfb, mut transfer) = (0.0, 0.0);
    let fail = |out: &mut HttpReport, f: Failure| {
        out.error = Some(f.message);
        out.failed_stage = Some(f.stage);
        out.stalled = f.stalled;
    };
    loop {
        let same_origin = url.scheme() == target.scheme() && host_label(&url) == host_label(target);
        let result = if same_origin {
            match origin_sender(round, pool, origin, drivers).await {
                Ok(sender) => request(round, sender, &url).await,
                Err(f) => Err(f),
            }
        } else {
            match other_sender(round, &url, drivers).await {
                Ok(mut sender) => request(round, &mut sender, &url).await,
                Err(f) => Err(f),
            }
        };
        let (response, first_byte) = match result {
            Ok(r) => r,
            Err(f) => {
                if same_origin {
                    *origin = None;
                }
                fail(&mut out, f);
                break;
            }
        };
        ttfb = first_byte;
        let status = response.status();
        out.status = Some(status.as_u16());
        out.final_url = url.to_string();
        if status.is_redirection() {
            if let Some(next) = next_hop(round, &url, &response, &mut out) {
                if out.redirects.len() > MAX_REDIRECTS {
                    fail(
                        &mut out,
                        Failure {
                            stage: FailStage::Redirect,
                            stalled: false,
                            message: format!("more than {MAX_REDIRECTS} redirects"),
                        },
                    );
                    break;
                }
                if same_origin {
                    // The body is not read; the connection cannot be reused.
                    *origin = None;
                }
                url = next;
                continue;
            }
            if out.error.is_some() || out.redirects.last().is_some_and(|h| h.offsite) {
                break;
            }
        }
        let started = Instant::now();
        out.content_encoding = response
            .headers()
            .get(CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_ascii_lowercase());
        out.content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match read_body(round, response, out.content_encoding.as_deref()).await {
            Ok((body, digest, truncated)) => {
                out.body_bytes = body.len() as u64;
                out.truncated = truncated;
                out.body = body;
                out.body_digest = digest;
                if truncated && same_origin {
                    *origin = None;
                }
            }
            Err(f) => {
                if same_origin {
                    *origin = None;
                }
                fail(&mut out, f);
            }
        }
        transfer = started.elapsed().as_secs_f64();
        break;
    }
    out.received_at = std::time::SystemTime::now();
    (out, ttfb, transfer)
}

/// Records a redirect hop; returns the next URL to follow, or `None` when
/// the redirect is not followed (no/invalid Location, or offsite from a mirror).
fn next_hop(
    round: &Round<'_>,
    url: &Url,
    response: &hyper::Response<hyper::body::Incoming>,
    out: &mut HttpReport,
) -> Option<Url> {
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    let status = response.status().as_u16();
    let own = registered_domain(round.target.url.host_str().unwrap_or_default());
    let mirror = round.target.role == Role::Mirror;
    match resolve_redirect(url, location, &own) {
        Redirect::Invalid => None,
        Redirect::OtherScheme { shown, scheme } => {
            // Only http and https are followed. From a mirror the hop
            // leaves the mirror (redirect_offsite); from main it is an
            // HTTP error.
            out.redirects.push(Hop {
                url: url.to_string(),
                status,
                location: shown.clone(),
                offsite: mirror,
            });
            if !mirror {
                out.error = Some(format!(
                    "redirect ({status}) to the unsupported scheme `{scheme}:` ({shown}); only http and https are followed"
                ));
                out.failed_stage = Some(FailStage::Redirect);
            }
            None
        }
        Redirect::Web { next, offsite } => {
            out.redirects.push(Hop {
                url: url.to_string(),
                status,
                location: next.to_string(),
                offsite,
            });
            (!(offsite && mirror)).then_some(next)
        }
    }
}

/// Where a redirect's `Location` leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// An http(s) URL; `offsite` when outside `own_domain`.
    Web { next: Url, offsite: bool },
    /// Any other scheme (ftp, file, javascript, wss, ...): never followed.
    /// `shown` is the URL cut to 200 characters.
    OtherScheme { shown: String, scheme: String },
    /// Not a URL at all: the 3xx stands as the final answer.
    Invalid,
}

/// Resolves `location` against `from` (a relative, scheme-relative or
/// absolute reference, as browsers do).
pub fn resolve_redirect(from: &Url, location: &str, own_domain: &str) -> Redirect {
    let Ok(next) = from.join(location) else {
        return Redirect::Invalid;
    };
    if !matches!(next.scheme(), "http" | "https") {
        return Redirect::OtherScheme {
            shown: next.as_str().chars().take(200).collect(),
            scheme: next.scheme().chars().take(40).collect(),
        };
    }
    let Some(host) = next.host_str().filter(|h| !h.is_empty()) else {
        return Redirect::Invalid;
    };
    let offsite = registered_domain(host) != own_domain;
    Redirect::Web { next, offsite }
}

/// A ready sender to the target's own origin: the pooled verified stream
/// first, then a fresh dial to a good address.
async fn origin_sender<'s>(
    round: &Round<'_>,
    pool: &mut Pool,
    origin: &'s mut Option<SendRequest<Empty<Bytes>>>,
    drivers: &mut Drivers,
) -> Result<&'s mut SendRequest<Empty<Bytes>>, Failure> {
    if origin
        .as_ref()
        .is_some_and(|s| !s.is_ready() && s.is_closed())
    {
        *origin = None;
    }
    if origin.is_none() {
        let ip = pool.preferred.first().cloned().ok_or(Failure {
            stage: FailStage::Connect,
            stalled: false,
            message: "no good address".into(),
        })?;
        let stream = match pool.streams.remove(&ip) {
            Some(s) => s,
            None => redial(round, &ip, &round.target.url).await?,
        };
        *origin = Some(handshake(round, stream, drivers).await?);
    }
    origin.as_mut().ok_or(Failure {
        stage: FailStage::Connect,
        stalled: false,
        message: "no connection".into(),
    })
}

/// A one-off sender to another origin (a redirect hop).
async fn other_sender(
    round: &Round<'_>,
    url: &Url,
    drivers: &mut Drivers,
) -> Result<SendRequest<Empty<Bytes>>, Failure> {
    let host = url.host_str().unwrap_or_default();
    let dest = if let Some(name) = round.proxied_name(host) {
        name
    } else {
        let ip = dns::resolve_any(round, host).await.ok_or_else(|| Failure {
            stage: FailStage::Redirect,
            stalled: false,
            message: format!("redirect target {host} does not resolve"),
        })?;
        Dest::Ip(ip)
    };
    let stream = redial(round, &dest, url).await?;
    handshake(round, stream, drivers).await
}

async fn redial(round: &Round<'_>, dest: &Dest, url: &Url) -> Result<Stream, Failure> {
    let (host, port, tls) = round.endpoint(url);
    let dialed = net::dial(dest, port, host, tls, round.proxy, round.deadline).await;
    let good = dialed.good();
    if let Some(t) = dialed.tls.as_ref().filter(|_| !good) {
        return Err(Failure {
            stage: FailStage::Tls,
            stalled: t.handshake == super::tls::Handshake::Stalled,
            message: t
                .error
                .clone()
                .or_else(|| t.validation_error.clone())
                .unwrap_or_else(|| "TLS failed".into()),
        });
    }
    match dialed.stream {
        Some(s) if good => Ok(s),
        _ => Err(Failure {
            stage: FailStage::Connect,
            stalled: dialed.tcp.stalled,
            message: dialed.tcp.error.unwrap_or_else(|| "connect failed".into()),
        }),
    }
}

async fn handshake(
    round: &Round<'_>,
    stream: Stream,
    drivers: &mut Drivers,
) -> Result<SendRequest<Empty<Bytes>>, Failure> {
    let io = TokioIo::new(stream);
    let result = timeout_at(
        round.deadline,
        Builder::new().max_buf_size(MAX_HEAD_BYTES).handshake(io),
    )
    .await;
    match result {
        Ok(Ok((sender, conn))) => {
            drivers.0.push(tokio::spawn(async move {
                let _ = conn.await;
            }));
            Ok(sender)
        }
        Ok(Err(e)) => Err(Failure {
            stage: FailStage::Request,
            stalled: false,
            message: format!("HTTP handshake: {e}"),
        }),
        Err(_) => Err(Failure {
            stage: FailStage::Request,
            stalled: true,
            message: "HTTP handshake stalled".into(),
        }),
    }
}

/// Sends a GET for `url` and waits for the response head; returns it with
/// the time to first byte in seconds.
async fn request(
    round: &Round<'_>,
    sender: &mut SendRequest<Empty<Bytes>>,
    url: &Url,
) -> Result<(hyper::Response<hyper::body::Incoming>, f64), Failure> {
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let req = Request::get(path)
        .header(HOST, host_label(url))
        .header(USER_AGENT, round.target.settings.user_agent.as_str())
        .header(
            ACCEPT,
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .header(ACCEPT_LANGUAGE, "en-US,en;q=0.9")
        .header(ACCEPT_ENCODING, "gzip, br")
        .body(Empty::<Bytes>::new())
        .map_err(|e| Failure {
            stage: FailStage::Request,
            stalled: false,
            message: format!("building request: {e}"),
        })?;
    let start = Instant::now();
    let exchange = async {
        sender.ready().await?;
        sender.send_request(req).await
    };
    match timeout_at(round.deadline, exchange).await {
        Ok(Ok(r)) => Ok((r, start.elapsed().as_secs_f64())),
        Ok(Err(e)) => Err(Failure {
            stage: FailStage::ResponseHeaders,
            stalled: false,
            message: format!("HTTP request failed: {e}"),
        }),
        Err(_) => Err(Failure {
            stage: FailStage::ResponseHeaders,
            stalled: true,
            message: format!(
                "response stalled: no HTTP response headers after {}",
                fmt_secs(start.elapsed())
            ),
        }),
    }
}

/// Reads the body through the right decoder, never keeping more than
/// `max_body_bytes` of decoded output, and digests what it keeps as it
/// arrives (so no second pass over the page is needed for the digest).
async fn read_body(
    round: &Round<'_>,
    response: hyper::Response<hyper::body::Incoming>,
    encoding: Option<&str>,
) -> Result<(Bytes, Option<Digest>, bool), Failure> {
    use async_compression::tokio::bufread::{BrotliDecoder, GzipDecoder, ZlibDecoder};
    let max = round.target.settings.max_body_bytes;
    let keep = usize::try_from(max).unwrap_or(usize::MAX);
    // Room for the whole body at once when its length is announced and it
    // arrives as is (never past what is kept, whatever the header says),
    // else a first 16 KiB: grown from empty, the buffer's reallocations
    // and copies were ~2% of the daemon's CPU at 10,000 addresses. One
    // byte more than announced, so the read that finds the end has room
    // and does not grow the buffer.
    let announced = hyper::body::Body::size_hint(response.body()).exact();
    let start_with = match (encoding, announced) {
        (None, Some(n)) => usize::try_from(n).unwrap_or(usize::MAX).saturating_add(1),
        _ => 16 * 1024,
    }
    .min(keep.saturating_add(1));
    let frames = BodyStream::new(response.into_body())
        .try_filter_map(|frame| futures_util::future::ready(Ok(frame.into_data().ok())))
        .map_err(io::Error::other);
    let raw = StreamReader::new(frames);
    let mut decoded: Box<dyn AsyncRead + Unpin + Send> = match encoding {
        Some("gzip" | "x-gzip") => Box::new(GzipDecoder::new(raw)),
        Some("br") => Box::new(BrotliDecoder::new(raw)),
        Some("deflate") => Box::new(ZlibDecoder::new(raw)),
        _ => Box::new(raw),
    };
    let mut buf = Vec::with_capacity(start_with);
    // Only pages parity compares, or whose announcements are read, are
    // digested.
    let mut digest = (round.target.compared || round.target.announces).then(Digester::default);
    let start = Instant::now();
    let mut limited = (&mut decoded).take(max.saturating_add(1));
    // Digested in runs of at least 64 KiB while the bytes are still in
    // cache: BLAKE3 hashes many 1 KiB chunks at once only when given them
    // together (TLS records arrive 16 KiB at a time or less).
    const RUN: usize = 64 * 1024;
    let mut hashed = 0;
    let read = async {
        loop {
            if limited.read_buf(&mut buf).await? == 0 {
                return Ok::<_, io::Error>(());
            }
            let upto = buf.len().min(keep);
            if upto.saturating_sub(hashed) >= RUN
                && let (Some(d), Some(run)) = (digest.as_mut(), buf.get(hashed..upto))
            {
                d.update(run);
                hashed = upto;
            }
        }
    };
    match timeout_at(round.deadline, read).await {
        Ok(Ok(())) => {
            let truncated = buf.len() > keep;
            buf.truncate(keep);
            if let (Some(d), Some(rest)) = (digest.as_mut(), buf.get(hashed..)) {
                d.update(rest);
            }
            Ok((Bytes::from(buf), digest.map(|d| d.finish()), truncated))
        }
        Ok(Err(e)) => Err(Failure {
            stage: FailStage::Body,
            stalled: false,
            message: format!("reading body: {e}"),
        }),
        Err(_) => Err(Failure {
            stage: FailStage::Body,
            stalled: true,
            message: format!(
                "body transfer stalled after {} ({} bytes read)",
                fmt_secs(start.elapsed()),
                buf.len()
            ),
        }),
    }
}

/// Whether `status` is accepted: in `expect` when given, else any 2xx.
pub fn status_ok(status: u16, expect: &[u16]) -> bool {
    if expect.is_empty() {
        StatusCode::from_u16(status).is_ok_and(|s| s.is_success())
    } else {
        expect.contains(&status)
    }
}
