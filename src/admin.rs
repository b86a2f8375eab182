//! `mirrorwatch status`: asks a running daemon's `/api/v1/status` and
//! prints one line per address (state, site, target, problems, since),
//! for a shell prompt or a Nagios check. Exit 0 when every address is
//! `up`, 1 when any is not (`degraded`, `down`, or `unknown` before its
//! first round), 2 when the daemon cannot be asked or its answer is not a
//! status document.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The part of the status document the command reads.
#[derive(Debug, Deserialize)]
pub struct Status {
    pub sites: Vec<Site>,
}

#[derive(Debug, Deserialize)]
pub struct Site {
    pub name: String,
    pub targets: Vec<Target>,
    /// Site-level problems (`blocked_somewhere`); absent from older daemons.
    #[serde(default)]
    pub problems: Vec<SiteProblem>,
}

#[derive(Debug, Deserialize)]
pub struct Target {
    pub url: String,
    /// Where it is probed from; absent from older daemons (this machine).
    #[serde(default = "local")]
    pub vantage: String,
    pub state: String,
    pub since: Option<String>,
    #[serde(default)]
    pub problems: Vec<Problem>,
}

#[derive(Debug, Deserialize)]
pub struct SiteProblem {
    pub kind: String,
    pub detail: String,
}

fn local() -> String {
    crate::config::LOCAL_VANTAGE.to_string()
}

#[derive(Debug, Deserialize)]
pub struct Problem {
    pub kind: String,
}

/// What went wrong asking the daemon (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("building the HTTP client: {0}")]
    Client(String),
    #[error("{url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} did not answer a status document: {why}")]
    Document { url: String, why: String },
}

/// The largest status document read (a daemon watching 10,000 addresses
/// answers a few megabytes).
pub const MAX_DOCUMENT: usize = 64 << 20;

/// How to reach the daemon.
pub struct Ask<'a> {
    /// Base URL, e.g. `http://127.0.0.1:9874/`.
    pub base: url::Url,
    pub ca_file: Option<&'a Path>,
    /// Basic auth (user, password).
    pub auth: Option<(String, String)>,
    pub timeout: Duration,
}

/// Fetches and parses `/api/v1/status`; also returns the raw JSON.
pub async fn fetch(ask: &Ask<'_>) -> Result<(Status, serde_json::Value), AskError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(path) = ask.ca_file {
        crate::ground::files::add_trust_anchors(path, &mut roots)
            .map_err(|e| AskError::Client(e.to_string()))?;
    }
    let tls = rustls::ClientConfig::builder_with_provider(crate::ground::crypto::provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| AskError::Client(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .timeout(ask.timeout)
        .build()
        .map_err(|e| AskError::Client(e.to_string()))?;
    let url = ask
        .base
        .join("api/v1/status")
        .map_err(|e| AskError::Client(e.to_string()))?;
    let shown = url.to_string();
    let mut request = client.get(url);
    if let Some((user, password)) = &ask.auth {
        request = request.basic_auth(user, Some(password));
    }
    let unreachable = |e: reqwest::Error| AskError::Unreachable {
        url: shown.clone(),
        why: crate::ground::text::error_chain(&e),
    };
    let mut response = request.send().await.map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(AskError::Status {
            url: shown,
            status: response.status().as_u16(),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len().saturating_add(chunk.len()) > MAX_DOCUMENT {
            return Err(AskError::Document {
                url: shown,
                why: "larger than 64 MiB".into(),
            });
        }
        body.extend_from_slice(&chunk);
    }
    let document = |why: serde_json::Error| AskError::Document {
        url: shown.clone(),
        why: why.to_string(),
    };
    let raw: serde_json::Value = serde_json::from_slice(&body).map_err(document)?;
    let status: Status = serde_json::from_value(raw.clone()).map_err(document)?;
    Ok((status, raw))
}

/// The exit code for a status document: 0 when every address is up.
pub fn exit_code(status: &Status) -> u8 {
    let all_up = status
        .sites
        .iter()
        .flat_map(|s| &s.targets)
        .all(|t| t.state == "up");
    if all_up { 0 } else { 1 }
}

/// One JSON object per address: site, url, state, problem kinds, since.
pub fn json_lines(status: &Status) -> Vec<String> {
    status
        .sites
        .iter()
        .flat_map(|site| {
            site.targets.iter().map(move |t| {
                serde_json::json!({
                    "site": site.name,
                    "url": t.url,
                    "vantage": t.vantage,
                    "state": t.state,
                    "problems": t.problems.iter().map(|p| p.kind.as_str()).collect::<Vec<_>>(),
                    "since": t.since,
                })
                .to_string()
            })
        })
        .collect()
}

/// One line per address, states aligned; coloured with ANSI escapes when
/// `colour`. Outside text is shown without control characters.
pub fn render(status: &Status, colour: bool) -> String {
    let clean = |s: &str| crate::ground::text::clip(s, 200);
    let mut rows = Vec::new();
    for site in &status.sites {
        for t in &site.targets {
            let problems: Vec<String> = t.problems.iter().map(|p| clean(&p.kind)).collect();
            let url = if t.vantage == crate::config::LOCAL_VANTAGE {
                clean(&t.url)
            } else {
                format!("{} from {}", clean(&t.url), clean(&t.vantage))
            };
            rows.push((
                clean(&t.state),
                clean(&site.name),
                url,
                if problems.is_empty() {
                    "-".to_string()
                } else {
                    problems.join(",")
                },
                t.since.as_deref().map(clean).unwrap_or_else(|| "-".into()),
            ));
        }
    }
    let width = |f: fn(&(String, String, String, String, String)) -> &String| {
        rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0)
    };
    let (ws, wn, wu) = (width(|r| &r.0), width(|r| &r.1), width(|r| &r.2));
    let mut out = String::new();
    for (state, site, url, problems, since) in &rows {
        let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w - s.chars().count()));
        let shown_state = pad(state, ws);
        let shown_state = if colour {
            let code = match state.as_str() {
                "up" => "32",
                "degraded" => "33",
                "down" => "31",
                _ => "90",
            };
            format!("\x1b[{code}m{shown_state}\x1b[0m")
        } else {
            shown_state
        };
        out.push_str(&format!(
            "{shown_state}  {}  {}  {problems}  since {since}\n",
            pad(site, wn),
            pad(url, wu)
        ));
    }
    if rows.is_empty() {
        out.push_str("no addresses watched\n");
    }
    for site in &status.sites {
        for p in &site.problems {
            out.push_str(&format!(
                "site {}: {}: {}\n",
                clean(&site.name),
                clean(&p.kind),
                clean(&p.detail)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Status {
        serde_json::from_str(
            r#"{"sites":[{"name":"presstv","targets":[
                {"url":"https://www.presstv.ir/","role":"main","state":"up","since":"2026-12-01T10:00:00Z","problems":[]},
                {"url":"https://www.presstv.co.uk/","role":"mirror","state":"degraded","since":"2026-12-01T11:00:00Z",
                 "problems":[{"kind":"content_stale","severity":"warning","detail":"x","since":"2026-12-01T11:00:00Z"},
                             {"kind":"tls_expiring","severity":"warning","detail":"y","since":"2026-12-01T11:00:00Z"}]}]}]}"#,
        )
        .expect("document")
    }

    #[test]
    fn one_aligned_line_per_address_without_colour() {
        let text = render(&doc(), false);
        assert_eq!(
            text,
            "up        presstv  https://www.presstv.ir/     -  since 2026-12-01T10:00:00Z\n\
             degraded  presstv  https://www.presstv.co.uk/  content_stale,tls_expiring  since 2026-12-01T11:00:00Z\n"
        );
        assert!(!text.contains('\x1b'));
    }

    #[test]
    fn colour_marks_states_and_exit_code_follows_them() {
        let s = doc();
        let text = render(&s, true);
        assert!(text.starts_with("\x1b[32mup      \x1b[0m"), "{text:?}");
        assert!(text.contains("\x1b[33mdegraded\x1b[0m"), "{text:?}");
        assert_eq!(exit_code(&s), 1);
        let mut all_up = doc();
        all_up.sites[0].targets.truncate(1);
        assert_eq!(exit_code(&all_up), 0);
        all_up.sites[0].targets[0].state = "unknown".into();
        assert_eq!(exit_code(&all_up), 1, "not yet checked is not up");
    }

    #[test]
    fn a_vantage_is_named_and_a_site_problem_follows_the_addresses() {
        let s: Status = serde_json::from_str(
            r#"{"sites":[{"name":"news","problems":[{"kind":"blocked_somewhere","severity":"warning","detail":"m.test down from uk (tls_invalid); reachable from local"}],
               "targets":[
                {"url":"https://m.test/","vantage":"local","state":"up","since":"2026-12-01T10:00:00Z","problems":[]},
                {"url":"https://m.test/","vantage":"uk","state":"down","since":"2026-12-01T10:00:00Z","problems":[{"kind":"tls_invalid"}]}]}]}"#,
        )
        .expect("document");
        assert_eq!(
            render(&s, false),
            "up    news  https://m.test/          -  since 2026-12-01T10:00:00Z\n\
             down  news  https://m.test/ from uk  tls_invalid  since 2026-12-01T10:00:00Z\n\
             site news: blocked_somewhere: m.test down from uk (tls_invalid); reachable from local\n"
        );
        assert_eq!(
            json_lines(&s)[1],
            r#"{"problems":["tls_invalid"],"since":"2026-12-01T10:00:00Z","site":"news","state":"down","url":"https://m.test/","vantage":"uk"}"#
        );
    }

    #[test]
    fn hostile_text_cannot_drive_the_terminal() {
        let mut s = doc();
        s.sites[0].name = "evil\x1b]0;pwned\x07".into();
        let text = render(&s, false);
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
    }
}
