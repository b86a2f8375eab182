//! A loopback registry for the world: an RDAP server (with its bootstrap
//! file) and a WHOIS server in the `.ir` style, answering per registered
//! domain from [`Fixture`]s a test sets and changes: active, held,
//! expiring, moved to a seizure nameserver, not found, rate limited,
//! malformed, 5 MB, too slow. Every query is counted, so a test can show
//! what was (not) asked.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// What the registry answers for a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fixture {
    /// Active, expiring in a year, registrar "World Registrar".
    Active,
    ClientHold,
    ServerHold,
    /// Active, expiring in this many days.
    Expiring(u64),
    /// Active, but with another registrar and a seizure nameserver.
    Moved,
    NotFound,
    /// 429 with `Retry-After` in seconds.
    RateLimited(u64),
    Malformed,
    /// A 5 MB answer.
    Huge,
    /// Answers after 30 s.
    Slow,
}

#[derive(Default)]
struct Book {
    fixtures: HashMap<String, Fixture>,
    asked: HashMap<String, usize>,
    /// Expiry dates count from here, so an answer does not change with
    /// the second it is asked in (as a real registry's does not).
    epoch: u64,
}

/// The running registry; stops when dropped.
pub struct RegistryWorld {
    /// The RDAP server (`/dns.json`, `/nodns.json`, `/rdap/domain/NAME`).
    pub rdap: SocketAddr,
    /// The WHOIS server (port 43 protocol).
    pub whois: SocketAddr,
    book: Arc<Mutex<Book>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for RegistryWorld {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RegistryWorld {
    /// Starts both servers; a domain without a fixture is `Active`.
    pub async fn start(fixtures: &[(&str, Fixture)]) -> std::io::Result<Self> {
        let book = Arc::new(Mutex::new(Book {
            fixtures: fixtures
                .iter()
                .map(|(d, f)| (d.to_string(), f.clone()))
                .collect(),
            asked: HashMap::new(),
            epoch: now_s(),
        }));
        let http = TcpListener::bind("127.0.0.1:0").await?;
        let rdap = http.local_addr()?;
        let app = axum::Router::new()
            .route("/dns.json", get(bootstrap))
            .route("/nodns.json", get(bootstrap_without_test))
            .route("/rdap/domain/{name}", get(domain))
            .with_state((book.clone(), rdap));
        let whois_listener = TcpListener::bind("127.0.0.1:0").await?;
        let whois = whois_listener.local_addr()?;
        let tasks = vec![
            tokio::spawn(async move {
                let _ = axum::serve(http, app).await;
            }),
            tokio::spawn(serve_whois(whois_listener, book.clone())),
        ];
        Ok(Self {
            rdap,
            whois,
            book,
            tasks,
        })
    }

    /// A bootstrap file sending `.test` to this RDAP server.
    pub fn bootstrap_url(&self) -> String {
        format!("http://{}/dns.json", self.rdap)
    }

    /// A bootstrap file without `.test` (so `.test` goes to WHOIS).
    pub fn bootstrap_without_test_url(&self) -> String {
        format!("http://{}/nodns.json", self.rdap)
    }

    pub fn set(&self, domain: &str, fixture: Fixture) {
        self.book
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .fixtures
            .insert(domain.to_string(), fixture);
    }

    /// How often `domain` was asked (RDAP and WHOIS together).
    pub fn asked(&self, domain: &str) -> usize {
        self.book
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .asked
            .get(domain)
            .copied()
            .unwrap_or(0)
    }

    /// The `[registry]` section a daemon config needs for this world.
    pub fn config_section(&self) -> String {
        format!(
            "[registry]\nbootstrap_url = \"{}\"\ninterval = \"1h\"\ntimeout = \"1s\"\n",
            self.bootstrap_url()
        )
    }
}

type St = (Arc<Mutex<Book>>, SocketAddr);

async fn bootstrap(State((_, addr)): State<St>) -> Response {
    let body = format!(
        r#"{{"version":"1.0","publication":"2026-12-01T00:00:00Z","services":[[["test"],["http://{addr}/rdap/"]]]}}"#
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn bootstrap_without_test(State((_, addr)): State<St>) -> Response {
    let body = format!(r#"{{"services":[[["example"],["http://{addr}/rdap/"]]]}}"#);
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The domain's fixture and the world's epoch; counts the question.
fn fixture_of(book: &Mutex<Book>, name: &str) -> (Fixture, u64) {
    let mut b = book.lock().unwrap_or_else(|p| p.into_inner());
    *b.asked.entry(name.to_string()).or_default() += 1;
    (
        b.fixtures.get(name).cloned().unwrap_or(Fixture::Active),
        b.epoch,
    )
}

fn rdap_json(name: &str, statuses: &[&str], expiry: u64, registrar: &str, ns: &[String]) -> String {
    let expiry = crate::ground::time::unix_rfc3339(i64::try_from(expiry).unwrap_or(i64::MAX));
    serde_json::json!({
        "objectClassName": "domain",
        "ldhName": name,
        "status": statuses,
        "events": [
            {"eventAction": "registration", "eventDate": "2001-02-03T04:05:06Z"},
            {"eventAction": "expiration", "eventDate": expiry},
        ],
        "entities": [{
            "objectClassName": "entity",
            "roles": ["registrar"],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", registrar]]],
        }],
        "nameservers": ns.iter().map(|n| serde_json::json!({"objectClassName": "nameserver", "ldhName": n})).collect::<Vec<_>>(),
    })
    .to_string()
}

async fn domain(State((book, _)): State<St>, Path(name): Path<String>) -> Response {
    let name = name.to_ascii_lowercase();
    let ns = vec![format!("ns1.{name}"), format!("ns2.{name}")];
    let ok =
        |body: String| ([(header::CONTENT_TYPE, "application/rdap+json")], body).into_response();
    let active = ["active", "client transfer prohibited"];
    let (fixture, epoch) = fixture_of(&book, &name);
    let days = |n: u64| epoch + n * 86400;
    match fixture {
        Fixture::Active => ok(rdap_json(&name, &active, days(365), "World Registrar", &ns)),
        Fixture::ClientHold => ok(rdap_json(
            &name,
            &["client hold"],
            days(200),
            "World Registrar",
            &ns,
        )),
        Fixture::ServerHold => ok(rdap_json(
            &name,
            &["server hold"],
            days(200),
            "World Registrar",
            &ns,
        )),
        Fixture::Expiring(n) => ok(rdap_json(&name, &active, days(n), "World Registrar", &ns)),
        Fixture::Moved => ok(rdap_json(
            &name,
            &active,
            days(365),
            "Seizure Registrar",
            &[
                "ns1.seizedservers.com".to_string(),
                "ns2.seizedservers.com".to_string(),
            ],
        )),
        Fixture::NotFound => (StatusCode::NOT_FOUND, "{\"errorCode\":404}").into_response(),
        Fixture::RateLimited(secs) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            "slow down",
        )
            .into_response(),
        Fixture::Malformed => ok("{\"objectClassName\": \"domain\", \"status\": [".into()),
        Fixture::Huge => ok(format!(
            "{{\"objectClassName\":\"domain\",\"x\":\"{}\"}}",
            "a".repeat(5 << 20)
        )),
        Fixture::Slow => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            ok(rdap_json(&name, &active, days(365), "World Registrar", &ns))
        }
    }
}

/// One question per connection: a domain name and CRLF, answered in the
/// IRNIC style, then closed.
async fn serve_whois(listener: TcpListener, book: Arc<Mutex<Book>>) {
    loop {
        let Ok((mut s, _)) = listener.accept().await else {
            continue;
        };
        let book = book.clone();
        tokio::spawn(async move {
            let mut line = Vec::new();
            while !line.ends_with(b"\n") && line.len() < 256 {
                match s.read_u8().await {
                    Ok(b) => line.push(b),
                    Err(_) => return,
                }
            }
            let name = String::from_utf8_lossy(&line).trim().to_ascii_lowercase();
            let (fixture, epoch) = fixture_of(&book, &name);
            let expiry = |days: u64| {
                crate::ground::time::unix_rfc3339(i64::try_from(epoch + days * 86400).unwrap_or(0))
                    .get(..10)
                    .unwrap_or_default()
                    .to_string()
            };
            let record = |days: u64| {
                format!(
                    "% This is the World WHOIS server.\n%\n\ndomain:\t\t{name}\nascii:\t\t{name}\n\
                     remarks:\t(Domain Holder) World News\nnserver:\tns1.{name}\nnserver:\tns2.{name}\n\
                     last-updated:\t2026-01-01\nexpire-date:\t{}\nsource:\t\tWORLD # Filtered\n",
                    expiry(days)
                )
            };
            let answer = match fixture {
                Fixture::NotFound => "%ERROR:101: no entries found\n".to_string(),
                Fixture::Expiring(days) => record(days),
                _ => record(365),
            };
            let _ = s.write_all(answer.as_bytes()).await;
        });
    }
}
