//! HTTP basic authentication (`[server.basic_auth]`), like Prometheus
//! exporter-toolkit's web config: users with bcrypt hashes. `/healthz` and
//! `/readyz` stay open so probes and systemd checks need no secret.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// Paths reachable without credentials.
pub const OPEN_PATHS: [&str; 2] = ["/healthz", "/readyz"];

/// Rejects requests without valid credentials when users are configured.
pub async fn require(
    State(users): State<Arc<BTreeMap<String, String>>>,
    req: Request,
    next: Next,
) -> Response {
    if users.is_empty() || OPEN_PATHS.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let creds = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        });
    let ok = match creds.and_then(|(user, pass)| users.get(&user).map(|h| (pass, h.clone()))) {
        // bcrypt is deliberately slow: keep it off the async workers.
        Some((pass, hash)) => {
            tokio::task::spawn_blocking(move || bcrypt::verify(pass, &hash).unwrap_or(false))
                .await
                .unwrap_or(false)
        }
        None => false,
    };
    if ok {
        return next.run(req).await;
    }
    let mut resp = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"mirrorwatch\""),
    );
    resp
}
