//! The config file as written: serde structs that mirror the TOML 1:1.
//!
//! Everything here is loosely typed (strings, integers) on purpose: values are
//! checked in `validate`, which can then report *every* bad value with its key
//! path, line and column instead of stopping at the first. Unknown keys are
//! rejected here (`deny_unknown_fields`).

use serde::Deserialize;

/// Declares a struct holding the per-site overridable settings plus `extra`
/// fields, so `[defaults]` and `[[sites]]` accept exactly the same keys.
macro_rules! with_settings {
    ($(#[$meta:meta])* pub struct $name:ident { $($extra:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($extra)*
            pub interval: Option<String>,
            pub timeout: Option<String>,
            pub resolvers: Option<Vec<String>>,
            pub ca_file: Option<String>,
            pub max_body_bytes: Option<String>,
            pub expect_status: Option<Vec<i64>>,
            pub failure_threshold: Option<i64>,
            pub success_threshold: Option<i64>,
            pub cert_warning: Option<String>,
            pub user_agent: Option<String>,
            pub public_suffixes: Option<Vec<String>>,
            pub bogon_exempt: Option<Vec<String>>,
            pub vantages: Option<Vec<String>>,
            pub domain_warning: Option<String>,
        }
    };
}

with_settings! {
    /// `[defaults]`: settings every site inherits.
    pub struct RawSettings {}
}

with_settings! {
    /// One `[[sites]]` entry: identity, addresses, and overrides of `[defaults]`.
    pub struct RawSite {
        #[serde(default)]
        pub name: String,
        #[serde(default)]
        pub main: String,
        #[serde(default)]
        pub mirrors: Vec<String>,
        pub paths: Option<Vec<String>>,
        pub article_pattern: Option<String>,
        pub parity: Option<RawParity>,
        pub announce: Option<bool>,
        pub announce_pattern: Option<String>,
        pub discover: Option<String>,
        pub discover_grace: Option<String>,
    }
}

/// `[sites.parity]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParity {
    pub min_similarity: Option<f64>,
    pub max_lag: Option<String>,
}

/// One `[[fingerprints]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFingerprint {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    pub body_regex: Option<String>,
    pub dns_ip: Option<String>,
    pub ns_suffix: Option<String>,
}

/// `[server]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub tls: Option<RawServerTls>,
    pub basic_auth: Option<RawBasicAuth>,
    pub probe_endpoint: Option<bool>,
}

/// `[server.tls]`: serve the endpoints over HTTPS.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServerTls {
    #[serde(default)]
    pub cert_file: String,
    #[serde(default)]
    pub key_file: String,
}

/// `[server.basic_auth]`: `users = { name = "bcrypt hash" }`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, String>,
}

/// `[storage]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    pub path: Option<String>,
    pub retention: Option<String>,
}

/// One `[[alerting.alertmanager]]` or `[[alerting.webhook]]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    #[serde(default)]
    pub url: String,
    pub name: Option<String>,
    pub reminder_interval: Option<String>,
}

/// `[alerting]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerting {
    pub external_url: Option<String>,
    pub resend_interval: Option<String>,
    #[serde(default)]
    pub alertmanager: Vec<RawReceiver>,
    #[serde(default)]
    pub webhook: Vec<RawReceiver>,
}

/// `[registry]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRegistry {
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub bootstrap_url: Option<String>,
    pub rdap_servers: Option<std::collections::BTreeMap<String, String>>,
    pub whois_servers: Option<std::collections::BTreeMap<String, String>>,
    pub concurrency: Option<i64>,
}

/// One `[[vantages]]` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawVantage {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub proxy: String,
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Probe from this machine directly (the `local` vantage); default on.
    pub local: Option<bool>,
    #[serde(default)]
    pub vantages: Vec<RawVantage>,
    pub registry: Option<RawRegistry>,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub storage: RawStorage,
    #[serde(default)]
    pub alerting: RawAlerting,
    #[serde(default)]
    pub defaults: RawSettings,
    #[serde(default)]
    pub sites: Vec<RawSite>,
    #[serde(default)]
    pub fingerprints: Vec<RawFingerprint>,
}

impl RawSite {
    /// This site's overrides, as a settings layer to put over `[defaults]`.
    pub fn overrides(&self) -> RawSettings {
        RawSettings {
            interval: self.interval.clone(),
            timeout: self.timeout.clone(),
            resolvers: self.resolvers.clone(),
            ca_file: self.ca_file.clone(),
            max_body_bytes: self.max_body_bytes.clone(),
            expect_status: self.expect_status.clone(),
            failure_threshold: self.failure_threshold,
            success_threshold: self.success_threshold,
            cert_warning: self.cert_warning.clone(),
            user_agent: self.user_agent.clone(),
            public_suffixes: self.public_suffixes.clone(),
            bogon_exempt: self.bogon_exempt.clone(),
            vantages: self.vantages.clone(),
            domain_warning: self.domain_warning.clone(),
        }
    }
}
