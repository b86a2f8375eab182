//! Validation of the config's other sections: `[alerting]`,
//! `[server.tls]` and `[[fingerprints]]` (the rest is in `validate.rs`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use super::fingerprint::{Fingerprint, FpKind, Matcher, body_regex};
use super::raw::RawFingerprint;
use super::validate::Validator;
use super::values::limits;

impl Validator<'_> {
    pub(super) fn alerting(&mut self, a: &super::raw::RawAlerting) -> super::AlertingConfig {
        use super::ReceiverKind;
        let external_url = a
            .external_url
            .as_ref()
            .and_then(|u| self.url(u, "alerting.external_url"));
        let resend = a
            .resend_interval
            .as_ref()
            .map(|r| (r, "alerting.resend_interval".to_string()));
        let resend_interval = self.duration(resend, Duration::from_secs(60), limits::RESEND);
        let mut receivers: Vec<super::Receiver> = Vec::new();
        let kinds = [
            (ReceiverKind::Alertmanager, "alertmanager", &a.alertmanager),
            (ReceiverKind::Webhook, "webhook", &a.webhook),
        ];
        for (kind, key, list) in kinds {
            for (i, r) in list.iter().enumerate() {
                let prefix = format!("alerting.{key}[{i}]");
                let Some(url) = self.url(&r.url, &format!("{prefix}.url")) else {
                    continue;
                };
                let reminder_interval = match (&r.reminder_interval, kind) {
                    (None, _) => None,
                    (Some(_), ReceiverKind::Alertmanager) => {
                        self.err(&format!("{prefix}.reminder_interval"), "Alertmanager receivers are re-sent every resend_interval; reminder_interval is for webhooks");
                        None
                    }
                    (Some(r), ReceiverKind::Webhook) => Some(self.duration(
                        Some((r, format!("{prefix}.reminder_interval"))),
                        Duration::from_secs(3600),
                        limits::RESEND,
                    )),
                };
                let name = r.name.clone().unwrap_or_else(|| format!("{key}-{i}"));
                if receivers.iter().any(|x| x.name == name) {
                    self.err(
                        &format!("{prefix}.name"),
                        format!("duplicate receiver name `{name}`"),
                    );
                }
                receivers.push(super::Receiver {
                    name,
                    kind,
                    url,
                    reminder_interval,
                });
            }
        }
        super::AlertingConfig {
            external_url,
            resend_interval,
            receivers,
        }
    }

    pub(super) fn server_tls(&mut self, t: &super::raw::RawServerTls) -> Option<super::ServerTls> {
        let cert_file = self.base.join(&t.cert_file);
        let key_file = self.base.join(&t.key_file);
        // Built once, here: the daemon serves this very config.
        let loaded = match crate::ground::crypto::server_config(&cert_file, &key_file) {
            Ok(c) => c,
            Err(e) => {
                let which = match e {
                    crate::ground::crypto::ServerTlsError::Key(_) => "key_file",
                    crate::ground::crypto::ServerTlsError::Cert(_) => "cert_file",
                };
                self.err(&format!("server.tls.{which}"), e.to_string());
                return None;
            }
        };
        Some(super::ServerTls {
            cert_file,
            key_file,
            loaded,
        })
    }

    pub(super) fn fingerprint(&mut self, f: &RawFingerprint, prefix: &str) -> Option<Fingerprint> {
        if f.name.trim().is_empty() {
            self.err(&format!("{prefix}name"), "missing fingerprint name");
        }
        let kind = match f.kind.as_str() {
            "blockpage" => Some(FpKind::Blockpage),
            "seized" => Some(FpKind::Seized),
            other => {
                self.err(
                    &format!("{prefix}kind"),
                    format!(
                        "`{other}` is not a fingerprint kind; expected \"blockpage\" or \"seized\""
                    ),
                );
                None
            }
        };
        let given = [
            f.body_regex.is_some(),
            f.dns_ip.is_some(),
            f.ns_suffix.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given != 1 {
            self.err(
                prefix.trim_end_matches('.'),
                "needs exactly one of body_regex, dns_ip, ns_suffix",
            );
            return None;
        }
        let matcher = if let Some(re) = &f.body_regex {
            match body_regex(re) {
                Ok(r) => Some(Matcher::Body(r)),
                Err(e) => {
                    self.err(
                        &format!("{prefix}body_regex"),
                        format!("invalid regex: {e}"),
                    );
                    None
                }
            }
        } else if let Some(ip) = &f.dns_ip {
            match ip.parse::<IpAddr>() {
                Ok(ip) => Some(Matcher::DnsIp(ip)),
                Err(_) => {
                    self.err(
                        &format!("{prefix}dns_ip"),
                        format!("`{ip}` is not an IP address"),
                    );
                    None
                }
            }
        } else {
            let suffix = f
                .ns_suffix
                .clone()
                .unwrap_or_default()
                .trim_end_matches('.')
                .to_ascii_lowercase();
            if suffix.is_empty() {
                self.err(
                    &format!("{prefix}ns_suffix"),
                    "must be a domain such as \"seized.example\"",
                );
                None
            } else {
                Some(Matcher::NsSuffix(suffix))
            }
        };
        Some(Fingerprint {
            name: f.name.clone(),
            kind: kind?,
            matcher: matcher?,
            needle: None,
        })
    }
}

impl Validator<'_> {
    /// A site's `announce`/`announce_pattern` (the regex, unless off) and
    /// `discover`/`discover_grace` (the grace, when discovering).
    pub(super) fn announcements(
        &mut self,
        s: &super::raw::RawSite,
        prefix: &str,
    ) -> (Option<Arc<regex::Regex>>, Option<Duration>) {
        let announce = match (s.announce, &s.announce_pattern) {
            (Some(false), _) => None,
            (_, None) => self.regex(
                super::DEFAULT_ANNOUNCE_PATTERN,
                &format!("{prefix}announce_pattern"),
            ),
            (_, Some(p)) => self.regex(p, &format!("{prefix}announce_pattern")),
        };
        let discover = match s.discover.as_deref() {
            None | Some("off") => None,
            Some("watch") => Some(
                self.duration(
                    s.discover_grace
                        .as_ref()
                        .map(|g| (g, format!("{prefix}discover_grace"))),
                    Duration::from_secs(86400),
                    (Duration::from_secs(1), Duration::from_secs(30 * 86400)),
                ),
            ),
            Some(other) => {
                self.err(
                    &format!("{prefix}discover"),
                    format!("`{other}` is not a discovery mode; expected \"off\" or \"watch\""),
                );
                None
            }
        };
        if discover.is_some() && announce.is_none() {
            self.err(
                &format!("{prefix}discover"),
                "discovery reads the site's announcements; it needs announce = true",
            );
        }
        (announce, discover)
    }
}
