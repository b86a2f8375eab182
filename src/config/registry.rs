//! `[registry]`: the registry stage (RDAP, WHOIS where there is none). Off
//! unless the section is present, since it asks servers on the internet
//! (the IANA bootstrap file, each TLD's registry).

use std::collections::BTreeMap;
use std::time::Duration;

use url::Url;

use super::raw::RawRegistry;
use super::validate::Validator;

/// IANA's RDAP bootstrap file for domains (RFC 9224).
pub const IANA_BOOTSTRAP: &str = "https://data.iana.org/rdap/dns.json";

/// `[registry]`, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryConfig {
    /// How often each registered domain is asked (1 h to 30 days).
    pub interval: Duration,
    /// One query's limit.
    pub timeout: Duration,
    /// Where the RDAP bootstrap file is fetched (at start and daily).
    pub bootstrap_url: Url,
    /// RDAP base URLs by TLD, before the bootstrap's.
    pub rdap_servers: BTreeMap<String, Url>,
    /// WHOIS servers (`host:port`) by TLD, for TLDs without RDAP.
    pub whois_servers: BTreeMap<String, String>,
    /// Queries at once, at most.
    pub concurrency: usize,
}

/// The WHOIS servers known without configuration: the shipped config's
/// TLD without RDAP.
pub fn builtin_whois() -> BTreeMap<String, String> {
    BTreeMap::from([("ir".to_string(), "whois.nic.ir:43".to_string())])
}

const HOUR: u64 = 3600;

/// `value` with its key path under `registry.`.
fn at<'r>(value: &'r Option<String>, key: &str) -> Option<(&'r String, String)> {
    value.as_ref().map(|x| (x, format!("registry.{key}")))
}

impl Validator<'_> {
    pub(super) fn registry(&mut self, raw: Option<&RawRegistry>) -> Option<RegistryConfig> {
        let raw = raw?;
        let interval = self.duration(
            at(&raw.interval, "interval"),
            Duration::from_secs(6 * HOUR),
            (
                Duration::from_secs(HOUR),
                Duration::from_secs(30 * 24 * HOUR),
            ),
        );
        let timeout = self.duration(
            at(&raw.timeout, "timeout"),
            Duration::from_secs(15),
            (Duration::from_millis(100), Duration::from_secs(120)),
        );
        let bootstrap_url = match &raw.bootstrap_url {
            None => Url::parse(IANA_BOOTSTRAP).ok(),
            Some(u) => self.url(u, "registry.bootstrap_url"),
        }
        .unwrap_or_else(|| Url::parse(IANA_BOOTSTRAP).expect("static URL"));
        let mut rdap_servers = BTreeMap::new();
        for (tld, u) in raw.rdap_servers.iter().flatten() {
            let path = format!("registry.rdap_servers.{tld}");
            if let Some(url) = self.url(u, &path) {
                rdap_servers.insert(tld.trim_matches('.').to_ascii_lowercase(), url);
            }
        }
        let mut whois_servers = builtin_whois();
        for (tld, addr) in raw.whois_servers.iter().flatten() {
            let path = format!("registry.whois_servers.{tld}");
            let ok = addr.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if ok {
                whois_servers.insert(tld.trim_matches('.').to_ascii_lowercase(), addr.clone());
            } else {
                self.err(
                    &path,
                    format!("`{addr}` is not HOST:PORT, e.g. \"whois.nic.ir:43\""),
                );
            }
        }
        let concurrency = match raw.concurrency {
            None => 4,
            Some(n) if (1..=64).contains(&n) => usize::try_from(n).unwrap_or(4),
            Some(n) => {
                self.err(
                    "registry.concurrency",
                    format!("{n} is out of range; expected 1 to 64"),
                );
                4
            }
        };
        Some(RegistryConfig {
            interval,
            timeout,
            bootstrap_url,
            rdap_servers,
            whois_servers,
            concurrency,
        })
    }
}
