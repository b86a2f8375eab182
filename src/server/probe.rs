//! `GET /probe?target=URL[&vantage=NAME]`: one round on demand, answered
//! in the Prometheus text format with blackbox_exporter's `probe_success`
//! and `probe_duration_seconds` beside mirrorwatch's own series for that
//! address, so a Prometheus job that probes through blackbox_exporter can
//! move over one job at a time. It makes the daemon fetch any URL it is
//! given, so it is off unless `[server] probe_endpoint = true`. Each probe
//! is bounded by `[defaults] timeout` (plus the pipeline's backstop), and
//! at most [`MAX_IN_FLIGHT`] run at once; more get 503.

use std::collections::HashMap;
use std::sync::RwLock;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::AppState;
use crate::config::{Config, Settings, Vantage};

/// Probes running at once, at most.
pub const MAX_IN_FLIGHT: usize = 4;

/// What `/probe` rounds use: `[defaults]` and the vantages, by label.
#[derive(Clone)]
struct Setup {
    defaults: Settings,
    vantages: Vec<Vantage>,
}

/// The endpoint's state, set from each config the daemon applies.
pub struct ProbeEndpoint {
    setup: RwLock<Option<Setup>>,
    slots: Semaphore,
}

impl Default for ProbeEndpoint {
    fn default() -> Self {
        Self {
            setup: RwLock::new(None),
            slots: Semaphore::new(MAX_IN_FLIGHT),
        }
    }
}

impl ProbeEndpoint {
    /// Turns the endpoint on or off, and takes the config's defaults and
    /// vantages.
    pub fn configure(&self, config: &Config) {
        let setup = config.server.probe_endpoint.then(|| Setup {
            defaults: Settings {
                failure_threshold: 1,
                success_threshold: 1,
                ..config.defaults.clone()
            },
            vantages: config
                .vantages
                .iter()
                .map(|v| Vantage {
                    name: config.label_of(v).to_string(),
                    proxy: v.proxy.clone(),
                })
                .collect(),
        });
        *self.setup.write().unwrap_or_else(|p| p.into_inner()) = setup;
    }

    fn setup(&self) -> Option<Setup> {
        self.setup.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn text(code: StatusCode, body: String) -> Response {
    (code, body).into_response()
}

pub async fn handler(
    State(s): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(setup) = s.probe.setup() else {
        return text(
            StatusCode::NOT_FOUND,
            "the probe endpoint is off; set [server] probe_endpoint = true to serve it\n".into(),
        );
    };
    let Some(raw) = q.get("target") else {
        return text(
            StatusCode::BAD_REQUEST,
            "target parameter is missing\n".into(),
        );
    };
    let url = match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        _ => {
            return text(
                StatusCode::BAD_REQUEST,
                "target must be an http:// or https:// URL with a host\n".into(),
            );
        }
    };
    let vantage = match q.get("vantage") {
        None => setup.vantages.first().cloned(),
        Some(name) => setup.vantages.iter().find(|v| v.name == *name).cloned(),
    };
    let Some(vantage) = vantage else {
        let names: Vec<&str> = setup.vantages.iter().map(|v| v.name.as_str()).collect();
        return text(
            StatusCode::BAD_REQUEST,
            format!("unknown vantage; configured: {}\n", names.join(", ")),
        );
    };
    let Ok(_permit) = s.probe.slots.try_acquire() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{MAX_IN_FLIGHT} probes are already running; try again\n"),
        );
    };
    // The round runs on the rounds' runtime, not the server's thread, and
    // is cancelled if the client goes away.
    let round = tokio_util::task::AbortOnDropHandle::new(s.rounds.spawn(async move {
        let start = tokio::time::Instant::now();
        let (target, outcome) =
            crate::pipeline::once(url, None, setup.defaults, Some(vantage), None).await?;
        anyhow::Ok(crate::outputs::metrics::probe_text(
            &target,
            outcome,
            start.elapsed(),
        ))
    }));
    match round
        .await
        .unwrap_or_else(|e| Err(anyhow::anyhow!("the probe's task ended: {e}")))
    {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("probe failed: {e:#}\n"),
        ),
    }
}
