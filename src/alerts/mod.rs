//! Alerts (SPEC section 7): one alert per (site, target, problem kind),
//! named `Mirror<Kind>`, plus `SiteAllAddressesDown` when no address of a
//! site is up.
//!
//! Level-based: after every round of an address, the alerts that *should*
//! be firing for it (its raised problems, and its site's all-down alert)
//! are compared with the alerts that *are* firing (kept in the store). New
//! ones fire, missing ones resolve; each transition and the notifications
//! it causes are committed in one store transaction, and [`deliver`] sends
//! them with retries. Because raised problems are persisted too, a restart
//! finds the same alerts wanted and stored: nothing re-fires, and a problem
//! that clears later still resolves.

pub mod deliver;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::config::LOCAL_VANTAGE;
use crate::config::{AlertingConfig, ReceiverKind};
use crate::ground::time::rfc3339;
use crate::outputs::board::Entry;
use crate::store::schema::{AlertRow, Outgoing};
use crate::store::{Store, StoreError};
use crate::verdict::site::SiteVerdict;

/// The site-level alert.
pub const ALL_DOWN: &str = "SiteAllAddressesDown";

fn ms(t: SystemTime) -> i64 {
    (crate::ground::time::unix(t) * 1000.0) as i64
}

fn from_ms(v: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

/// A firing alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: SystemTime,
    pub last_reminder: SystemTime,
}

impl Alert {
    fn new(
        labels: BTreeMap<String, String>,
        annotations: BTreeMap<String, String>,
        starts_at: SystemTime,
    ) -> Self {
        let id = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        Self {
            id,
            labels,
            annotations,
            starts_at,
            last_reminder: starts_at,
        }
    }

    fn row(&self) -> AlertRow {
        AlertRow {
            id: self.id.clone(),
            labels: serde_json::to_string(&self.labels).unwrap_or_default(),
            annotations: serde_json::to_string(&self.annotations).unwrap_or_default(),
            starts_at_ms: ms(self.starts_at),
            last_reminder_ms: ms(self.last_reminder),
        }
    }

    fn from_row(r: &AlertRow) -> Self {
        Self {
            id: r.id.clone(),
            labels: serde_json::from_str(&r.labels).unwrap_or_default(),
            annotations: serde_json::from_str(&r.annotations).unwrap_or_default(),
            starts_at: from_ms(r.starts_at_ms),
            last_reminder: from_ms(r.last_reminder_ms),
        }
    }

    /// The JSON both Alertmanager and webhooks receive. `ends_at`: `None`
    /// for firing (webhooks get Alertmanager's zero time).
    pub fn json(&self, ends_at: Option<SystemTime>, generator: &str) -> Value {
        json!({
            "labels": self.labels,
            "annotations": self.annotations,
            "startsAt": rfc3339(self.starts_at),
            "endsAt": ends_at.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
            "generatorURL": generator,
        })
    }

    /// The vantage an alert is about: its `vantage` label, absent for the
    /// local one (so local alerts keep the labels and ids they always had).
    fn vantage(&self) -> &str {
        self.labels
            .get("vantage")
            .map_or(LOCAL_VANTAGE, String::as_str)
    }

    fn is_for(&self, site: &str, target: &str, vantage: &str) -> bool {
        self.labels.get("site").is_some_and(|s| s == site)
            && (self.labels.get("target").is_some_and(|t| t == target) && self.vantage() == vantage
                || !self.labels.contains_key("target"))
    }
}

/// The alert engine.
pub struct Alerts {
    store: Store,
    config: RwLock<(AlertingConfig, String)>,
    open: Mutex<BTreeMap<String, Alert>>,
}

impl Alerts {
    /// Loads the firing alerts from the store.
    pub async fn load(
        store: Store,
        config: AlertingConfig,
        generator: String,
    ) -> Result<Self, StoreError> {
        let rows = store.call(crate::store::schema::load_alerts).await?;
        let open = rows
            .iter()
            .map(|r| (r.id.clone(), Alert::from_row(r)))
            .collect();
        Ok(Self {
            store,
            config: RwLock::new((config, generator)),
            open: Mutex::new(open),
        })
    }

    /// Swaps in a reloaded `[alerting]`.
    pub fn set_config(&self, config: AlertingConfig, generator: String) {
        *self.config.write().unwrap_or_else(|p| p.into_inner()) = (config, generator);
    }

    /// The `generatorURL` alerts carry.
    pub fn generator_url(&self) -> String {
        self.config().1
    }

    pub fn config(&self) -> (AlertingConfig, String) {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every firing alert.
    pub async fn firing(&self) -> Vec<Alert> {
        self.open.lock().await.values().cloned().collect()
    }

    /// Compares what should fire for `entry`'s address (and its site, as
    /// `site` judges it) with what fires, and commits the difference with
    /// its notifications.
    pub async fn observe(
        &self,
        entry: &Entry,
        site: &SiteVerdict,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let verdict = site;
        let site = entry.target.site.clone();
        let target = entry.target.label();
        let vantage = entry.target.vantage.clone();
        let mut wanted: BTreeMap<String, Alert> = BTreeMap::new();
        for p in entry.tracker.problems() {
            let mut labels = BTreeMap::from([
                ("alertname".to_string(), p.kind.alert_name()),
                ("site".to_string(), site.clone()),
                ("target".to_string(), target.clone()),
                ("role".to_string(), entry.target.role.as_str().to_string()),
                (
                    "severity".to_string(),
                    p.kind.severity().as_str().to_string(),
                ),
            ]);
            if vantage != LOCAL_VANTAGE {
                labels.insert("vantage".to_string(), vantage.clone());
            }
            let annotations = BTreeMap::from([
                (
                    "summary".to_string(),
                    format!("{target} ({site}): {}", p.kind.as_str()),
                ),
                ("description".to_string(), p.detail.clone()),
            ]);
            let a = Alert::new(labels, annotations, p.since);
            wanted.insert(a.id.clone(), a);
        }
        let all_down = verdict.all_down;
        if all_down && !verdict.any_unknown {
            let labels = BTreeMap::from([
                ("alertname".to_string(), ALL_DOWN.to_string()),
                ("site".to_string(), site.clone()),
                ("severity".to_string(), "critical".to_string()),
            ]);
            let annotations = BTreeMap::from([
                ("summary".to_string(), format!("no address of {site} is up")),
                (
                    "description".to_string(),
                    format!(
                        "all {} addresses of {site} are down or degraded",
                        verdict.members
                    ),
                ),
            ]);
            let a = Alert::new(labels, annotations, now);
            wanted.insert(a.id.clone(), a);
        }
        // Site problems carry no target or vantage label, so instances at
        // several vantages that see the same thing send the same alert,
        // which a clustered Alertmanager shows once.
        for (kind, detail) in verdict.problems() {
            let labels = BTreeMap::from([
                ("alertname".to_string(), kind.alert_name().to_string()),
                ("site".to_string(), site.clone()),
                ("severity".to_string(), kind.severity().as_str().to_string()),
            ]);
            let annotations = BTreeMap::from([
                ("summary".to_string(), format!("{site}: {}", kind.as_str())),
                ("description".to_string(), detail),
            ]);
            let a = Alert::new(labels, annotations, now);
            wanted.insert(a.id.clone(), a);
        }
        let (config, generator) = self.config();
        let mut open = self.open.lock().await;
        let in_scope: Vec<String> = open
            .values()
            .filter(|a| a.is_for(&site, &target, &vantage))
            .map(|a| a.id.clone())
            .collect();
        let firing: Vec<Alert> = wanted
            .values()
            .filter(|a| !open.contains_key(&a.id))
            .cloned()
            .collect();
        let resolved: Vec<Alert> = in_scope
            .iter()
            .filter(|id| !wanted.contains_key(*id))
            .filter_map(|id| open.get(id).cloned())
            .filter(|a| {
                // While every address is down or degraded but some are still
                // unknown (just added), keep the site alert firing: an
                // address without a round is no evidence of recovery.
                a.labels.get("alertname").is_none_or(|n| n != ALL_DOWN) || !all_down
            })
            .collect();
        let due_reminder = |a: &Alert, every: Duration| {
            now.duration_since(a.last_reminder).unwrap_or_default() >= every
        };
        let mut outgoing = Vec::new();
        let mut reminded = Vec::new();
        for r in &config.receivers {
            let body = |status: &str, alerts: &[&Alert], ends: Option<SystemTime>| {
                payload(r.kind, status, alerts, ends, &generator)
            };
            let url = match r.kind {
                ReceiverKind::Alertmanager => deliver::alertmanager_endpoint(&r.url),
                ReceiverKind::Webhook => r.url.to_string(),
            };
            let mut push = |b: String| {
                outgoing.push(Outgoing {
                    receiver: r.name.clone(),
                    url: url.clone(),
                    body: b,
                })
            };
            let fire_list: Vec<&Alert> = firing.iter().collect();
            let resolve_list: Vec<&Alert> = resolved.iter().collect();
            if !fire_list.is_empty() {
                push(body("firing", &fire_list, None));
            }
            if !resolve_list.is_empty() {
                push(body("resolved", &resolve_list, Some(now)));
            }
            if let (ReceiverKind::Webhook, Some(every)) = (r.kind, r.reminder_interval) {
                let due: Vec<&Alert> = in_scope
                    .iter()
                    .filter(|id| wanted.contains_key(*id))
                    .filter_map(|id| open.get(id))
                    .filter(|a| due_reminder(a, every))
                    .collect();
                if !due.is_empty() {
                    reminded.extend(due.iter().map(|a| a.id.clone()));
                    push(body("firing", &due, None));
                }
            }
        }
        self.commit(&mut open, firing, resolved, reminded, outgoing, now)
            .await
    }

    /// Resolves every firing alert whose address (or site) is no longer in
    /// `targets`: after a reload removes it, no round would ever clear it.
    pub async fn retain(
        &self,
        targets: &[std::sync::Arc<crate::config::Target>],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let (config, generator) = self.config();
        let mut open = self.open.lock().await;
        let gone: Vec<Alert> = open
            .values()
            .filter(|a| {
                let site = a.labels.get("site");
                match a.labels.get("target") {
                    Some(t) => !targets.iter().any(|x| {
                        Some(&x.site) == site && x.label() == *t && x.vantage == a.vantage()
                    }),
                    None => !targets.iter().any(|x| Some(&x.site) == site),
                }
            })
            .cloned()
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        let list: Vec<&Alert> = gone.iter().collect();
        let outgoing = config
            .receivers
            .iter()
            .map(|r| Outgoing {
                receiver: r.name.clone(),
                url: match r.kind {
                    ReceiverKind::Alertmanager => deliver::alertmanager_endpoint(&r.url),
                    ReceiverKind::Webhook => r.url.to_string(),
                },
                body: payload(r.kind, "resolved", &list, Some(now), &generator),
            })
            .collect();
        self.commit(&mut open, Vec::new(), gone, Vec::new(), outgoing, now)
            .await
    }

    /// Commits transitions and their notifications, then updates `open`.
    async fn commit(
        &self,
        open: &mut BTreeMap<String, Alert>,
        firing: Vec<Alert>,
        resolved: Vec<Alert>,
        reminded: Vec<String>,
        outgoing: Vec<Outgoing>,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        if firing.is_empty() && resolved.is_empty() && reminded.is_empty() {
            return Ok(());
        }
        let rows: Vec<AlertRow> = firing.iter().map(Alert::row).collect();
        let gone: Vec<String> = resolved.iter().map(|a| a.id.clone()).collect();
        let now_ms = ms(now);
        let (g, r) = (gone.clone(), reminded.clone());
        let dropped = self
            .store
            .call(move |c| crate::store::schema::transition(c, &rows, &g, &r, &outgoing, now_ms))
            .await?;
        if dropped > 0 {
            tracing::error!(
                dropped,
                max = crate::store::schema::MAX_QUEUE,
                "notification queue full: dropped the oldest notifications"
            );
        }
        for a in firing {
            tracing::warn!(alert = %a.id, "alert firing");
            open.insert(a.id.clone(), a);
        }
        for id in gone {
            tracing::info!(alert = %id, "alert resolved");
            open.remove(&id);
        }
        for id in reminded {
            if let Some(a) = open.get_mut(&id) {
                a.last_reminder = now;
            }
        }
        Ok(())
    }
}

/// The body one receiver gets for `alerts` changing to `status`.
fn payload(
    kind: ReceiverKind,
    status: &str,
    alerts: &[&Alert],
    ends: Option<SystemTime>,
    generator: &str,
) -> String {
    let list: Vec<Value> = alerts.iter().map(|a| a.json(ends, generator)).collect();
    match kind {
        ReceiverKind::Alertmanager => Value::Array(list).to_string(),
        ReceiverKind::Webhook => json!({ "status": status, "alerts": list }).to_string(),
    }
}

/// Shared handle.
pub type SharedAlerts = Arc<Alerts>;
