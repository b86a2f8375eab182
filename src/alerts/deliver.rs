//! Notification delivery: drains the store's queue (oldest first), POSTs
//! each notification, deletes it on a 2xx, otherwise retries it later with
//! exponential backoff (1 s doubling to 5 min). Nothing is dropped: a
//! receiver that is down for hours gets everything, in order, once it is
//! back. Firing alerts are also re-sent to every Alertmanager each
//! `resend_interval`, with `endsAt` four intervals ahead, as Prometheus does,
//! so Alertmanager never times them out while mirrorwatch runs.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::{Alerts, ms};
use crate::config::ReceiverKind;
use crate::outputs::metrics::Metrics;
use crate::store::Store;
use crate::store::schema;

/// Longest wait between two attempts of one notification.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Notifications sent per pass.
const BATCH: usize = 50;

/// `POST /api/v2/alerts` on an Alertmanager base URL.
pub fn alertmanager_endpoint(base: &Url) -> String {
    let mut s = base.to_string();
    if !s.ends_with('/') {
        s.push('/');
    }
    s.push_str("api/v2/alerts");
    s
}

/// Backoff after `attempts` failed attempts.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(16)).min(MAX_BACKOFF)
}

/// The HTTP client for receivers: rustls with ring and the webpki roots.
pub fn client() -> reqwest::Client {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let tls = rustls::ClientConfig::builder_with_provider(crate::ground::crypto::provider())
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    let mut builder = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("mirrorwatch/", env!("CARGO_PKG_VERSION")));
    if let Ok(tls) = tls {
        builder = builder.tls_backend_preconfigured(tls);
    }
    builder.build().unwrap_or_else(|e| {
        tracing::error!(error = %e, "building the notification client; using defaults");
        reqwest::Client::new()
    })
}

async fn post(client: &reqwest::Client, url: &str, body: String) -> Result<(), String> {
    let resp = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status().as_u16()))
    }
}

/// Runs delivery until `token` is cancelled.
pub async fn run(
    alerts: Arc<Alerts>,
    store: Store,
    metrics: Arc<Metrics>,
    retention: Duration,
    token: CancellationToken,
) {
    let client = client();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_resend = tokio::time::Instant::now();
    let mut last_prune = tokio::time::Instant::now() - Duration::from_secs(3600);
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tick.tick() => {}
        }
        drain(&client, &store, &metrics).await;
        let (config, generator) = alerts.config();
        if last_resend.elapsed() >= config.resend_interval {
            last_resend = tokio::time::Instant::now();
            resend(&client, &alerts, &metrics, &config, &generator).await;
        }
        if last_prune.elapsed() >= Duration::from_secs(3600) {
            last_prune = tokio::time::Instant::now();
            let before = ms(SystemTime::now()
                .checked_sub(retention)
                .unwrap_or(std::time::UNIX_EPOCH));
            if let Err(e) = store
                .call(move |c| {
                    let hours = schema::prune_history(c, before)?;
                    Ok(hours + crate::store::history::prune_events(c, before)?)
                })
                .await
            {
                tracing::warn!(error = %e, "pruning history");
            }
        }
    }
}

/// Sends what is due; failures go back with a later `next_at`.
async fn drain(client: &reqwest::Client, store: &Store, metrics: &Metrics) {
    let now = ms(SystemTime::now());
    let due = match store.call(move |c| schema::due(c, now, BATCH)).await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "reading the notification queue");
            return;
        }
    };
    // One failing receiver must not hold up the others: after a failure,
    // skip that receiver's later items in this pass (order per receiver kept).
    let mut failed: Vec<String> = Vec::new();
    for item in due {
        if failed.contains(&item.receiver) {
            continue;
        }
        let result = post(client, &item.url, item.body.clone()).await;
        let id = item.id;
        let outcome = match result {
            Ok(()) => {
                metrics.notification(&item.receiver, "ok");
                store.call(move |c| schema::delivered(c, id)).await
            }
            Err(why) => {
                metrics.notification(&item.receiver, "failed");
                tracing::warn!(receiver = %item.receiver, attempt = item.attempts + 1, error = %why, "notification failed; will retry");
                failed.push(item.receiver.clone());
                let next = now + backoff(item.attempts).as_millis() as i64;
                store
                    .call(move |c| schema::retry_later(c, id, next, &why))
                    .await
            }
        };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "updating the notification queue");
        }
    }
    if let Ok(depth) = store.call(schema::queue_depth).await {
        metrics.set_queue_depth(depth);
    }
}

/// Re-sends every firing alert to every Alertmanager.
async fn resend(
    client: &reqwest::Client,
    alerts: &Alerts,
    metrics: &Metrics,
    config: &crate::config::AlertingConfig,
    generator: &str,
) {
    let firing = alerts.firing().await;
    metrics.set_alerts_firing(firing.len());
    if firing.is_empty() {
        return;
    }
    let ends = SystemTime::now() + config.resend_interval * 4;
    let body = Value::Array(
        firing
            .iter()
            .map(|a| a.json(Some(ends), generator))
            .collect(),
    )
    .to_string();
    for r in config
        .receivers
        .iter()
        .filter(|r| r.kind == ReceiverKind::Alertmanager)
    {
        let result = post(client, &alertmanager_endpoint(&r.url), body.clone()).await;
        metrics.notification(&r.name, if result.is_ok() { "ok" } else { "failed" });
        if let Err(why) = result {
            tracing::warn!(receiver = %r.name, error = %why, "re-sending firing alerts failed; next try in resend_interval");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(0), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(8));
        assert_eq!(backoff(30), MAX_BACKOFF);
    }

    #[test]
    fn alertmanager_endpoint_appends_api_path() {
        let u = Url::parse("http://127.0.0.1:9093").expect("url");
        assert_eq!(
            alertmanager_endpoint(&u),
            "http://127.0.0.1:9093/api/v2/alerts"
        );
        let u = Url::parse("http://127.0.0.1:9093/am/").expect("url");
        assert_eq!(
            alertmanager_endpoint(&u),
            "http://127.0.0.1:9093/am/api/v2/alerts"
        );
    }
}
