//! Configuration: loading, defaults, validation and the typed model the rest
//! of the daemon reads.
//!
//! `load`/`parse` are the only ways in. They either return a fully valid
//! [`Config`] or a [`ConfigErrors`] listing every problem found, each with its
//! key path, line and column. Nothing downstream re-validates.

pub mod fingerprint;
mod locate;
mod raw;
pub mod registry;
mod sections;
mod shard;
mod targets;
pub mod validate;
pub mod values;
pub mod vantage;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use locate::Position;
pub use shard::Shard;
use url::Url;
pub use vantage::{LOCAL_VANTAGE, Proxy, ProxyKind, Vantage};

/// The Press TV mirror set, also shipped as `deploy/mirrorwatch.toml`.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../deploy/mirrorwatch.toml");

/// The default `announce_pattern`: the text after which a main page lists
/// its alternate addresses.
pub const DEFAULT_ANNOUNCE_PATTERN: &str = r"(?i)alternate\s+address(es)?";

/// Where `run` looks for a config when `--config` is not given.
pub const SYSTEM_PATH: &str = "/etc/mirrorwatch/mirrorwatch.toml";

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub alerting: AlertingConfig,
    pub sites: Vec<Site>,
    /// `[registry]`: the registry stage, off when absent.
    pub registry: Option<registry::RegistryConfig>,
    /// `[defaults]` as validated: what `/probe` rounds use.
    pub defaults: Settings,
    /// Where addresses are probed from: `local` first (unless turned off),
    /// then each `[[vantages]]` proxy.
    pub vantages: Vec<Vantage>,
    /// The label of the `local` vantage: `local`, or `run --vantage NAME`
    /// for one instance per location.
    pub local_label: String,
    /// Configured fingerprints (the shipped list is added by `parity`).
    pub fingerprints: Vec<fingerprint::Fingerprint>,
    /// Where it came from, for logs (`<embedded default>` for the built-in one).
    pub source: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Serve over HTTPS with this certificate chain and key.
    pub tls: Option<ServerTls>,
    /// Users and bcrypt hashes; empty means no authentication.
    pub basic_auth: std::collections::BTreeMap<String, String>,
    /// Serve `/probe?target=URL`: a round on demand for any URL, so off
    /// unless asked for.
    pub probe_endpoint: bool,
}

/// `[storage]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    /// SQLite file; `None` keeps state in memory.
    pub path: Option<PathBuf>,
    /// How long round history is kept.
    pub retention: Duration,
}

/// `[alerting]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertingConfig {
    /// Base of `generatorURL` (the status page); default `http://<listen>/`.
    pub external_url: Option<Url>,
    /// How often firing alerts are re-sent to Alertmanager.
    pub resend_interval: Duration,
    pub receivers: Vec<Receiver>,
}

/// Where alerts go.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    /// The `receiver` label: configured, else `alertmanager-N` / `webhook-N`.
    pub name: String,
    pub kind: ReceiverKind,
    pub url: Url,
    /// Webhooks only: re-send firing alerts this often (default off).
    pub reminder_interval: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiverKind {
    Alertmanager,
    Webhook,
}

#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// The server config validation built from them (loaded once).
    pub loaded: std::sync::Arc<rustls::ServerConfig>,
}

/// Two `[server.tls]` sections are the same when they name the same files.
impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        self.cert_file == other.cert_file && self.key_file == other.key_file
    }
}

/// One watched site: a main address and its mirrors.
#[derive(Debug, Clone)]
pub struct Site {
    pub name: String,
    pub main: Url,
    pub mirrors: Vec<Url>,
    pub paths: Vec<String>,
    /// Regex picking article links (compiled once, with a size limit, at
    /// validation); `None`: the heuristic.
    pub article_regex: Option<std::sync::Arc<regex::Regex>>,
    /// Reads the alternate addresses the main page announces; `None`:
    /// `announce = false`.
    pub announce: Option<std::sync::Arc<regex::Regex>>,
    /// `discover = "watch"`: announced hosts become mirrors at run time,
    /// dropped after being withdrawn this long (`discover_grace`).
    pub discover: Option<Duration>,
    /// Mirrors added at run time from the site's announcements (after the
    /// configured ones in `mirrors`).
    pub discovered: Vec<Url>,
    pub parity: ParityConfig,
    pub settings: Settings,
}

impl Site {
    /// The configured mirrors, then the discovered ones.
    pub fn all_mirrors(&self) -> impl Iterator<Item = &Url> {
        self.mirrors.iter().chain(self.discovered.iter())
    }
}

/// `[sites.parity]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParityConfig {
    pub min_similarity: f64,
    pub max_lag: Duration,
}

impl Default for ParityConfig {
    fn default() -> Self {
        Self {
            min_similarity: 0.6,
            max_lag: Duration::from_secs(30 * 60),
        }
    }
}

/// Effective per-site settings (`[defaults]` overlaid with the site's keys).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub interval: Duration,
    pub timeout: Duration,
    pub resolvers: Vec<ResolverSpec>,
    pub ca_file: Option<PathBuf>,
    pub max_body_bytes: u64,
    /// Accepted final statuses; empty means any 2xx.
    pub expect_status: Vec<u16>,
    pub failure_threshold: u32,
    pub success_threshold: u32,
    pub cert_warning: Duration,
    pub user_agent: String,
    /// Suffixes whose names count as public besides the public suffix
    /// list's (lower-case, no leading dot): answers for them are checked
    /// for bogons.
    pub public_suffixes: Vec<String>,
    /// Ranges never counted as bogons (split-horizon networks).
    pub bogon_exempt: Vec<ipnet::IpNet>,
    /// Vantages (config names) the site is probed from; `None`: all.
    pub vantages: Option<Vec<String>>,
    /// `domain_expiring` when the registered domain expires sooner.
    pub domain_warning: Duration,
}

impl Default for Settings {
    /// The built-in defaults of SPEC section 2.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            resolvers: ["system", "1.1.1.1", "8.8.8.8", "9.9.9.9"]
                .iter()
                .filter_map(|r| values::parse_resolver(r).ok())
                .collect(),
            ca_file: None,
            max_body_bytes: 4 * 1024 * 1024,
            expect_status: Vec::new(),
            failure_threshold: 3,
            success_threshold: 2,
            cert_warning: Duration::from_secs(14 * 86400),
            user_agent: format!("mirrorwatch/{}", env!("CARGO_PKG_VERSION")),
            public_suffixes: Vec::new(),
            bogon_exempt: Vec::new(),
            vantages: None,
            domain_warning: Duration::from_secs(30 * 86400),
        }
    }
}

/// One resolver, in the forms the spec lists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResolverSpec {
    /// The host's resolv.conf.
    System,
    /// Plain DNS (UDP, falling back to TCP) at this address.
    Plain(SocketAddr),
    /// DNS over TLS at this address, checking the certificate for `name`.
    Tls { addr: SocketAddr, name: String },
    /// DNS over HTTPS: `https://host[:port]/path`.
    Https { url: Url },
}

impl std::fmt::Display for ResolverSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::System => f.write_str("system"),
            Self::Plain(a) if a.port() == 53 => write!(f, "{}", a.ip()),
            Self::Plain(a) => write!(f, "{a}"),
            Self::Tls { addr, name } => write!(f, "tls://{addr}#{name}"),
            Self::Https { url } => write!(f, "{url}"),
        }
    }
}

/// Whether an address is the site's main domain or one of its mirrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Main,
    Mirror,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Main => "main",
            Role::Mirror => "mirror",
        }
    }
}

/// One address to check every round.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub site: String,
    pub url: Url,
    /// Where the address is probed from: the vantage's label
    /// ([`LOCAL_VANTAGE`] for this machine). Part of the address's identity.
    pub vantage: String,
    /// The proxy rounds go through; `None` from this machine.
    pub proxy: Option<Proxy>,
    pub role: Role,
    pub paths: Vec<String>,
    /// Parity reads this address's pages: a mirror, or a main site that
    /// has mirrors (its pages are their reference).
    pub compared: bool,
    /// Seen from the site's first vantage: the main site's view that is
    /// the reference and whose announcements are read.
    pub primary: bool,
    /// A mirror added at run time from the site's announcements.
    pub discovered: bool,
    /// The main address, first vantage, of a site with `announce`: its
    /// pages' announced alternate addresses are read.
    pub announces: bool,
    pub parity: ParityConfig,
    /// Shared by the site's addresses (one copy a site, not one each).
    pub settings: std::sync::Arc<Settings>,
}

impl Target {
    /// The `target` label: host, with `:port` when not the scheme's default.
    pub fn label(&self) -> String {
        host_label(&self.url)
    }
}

/// Host of a URL, with `:port` when the port is not the scheme's default.
pub fn host_label(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    }
}

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path such as `sites[1].mirrors[0]`; empty for syntax errors.
    pub path: String,
    pub position: Position,
    pub message: String,
}

/// Every problem found in one config file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors {
    pub file: String,
    pub errors: Vec<ConfigError>,
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            let Position { line, column } = e.position;
            if e.path.is_empty() {
                write!(f, "{}:{line}:{column}: {}", self.file, e.message)?;
            } else {
                write!(
                    f,
                    "{}:{line}:{column}: {}: {}",
                    self.file, e.path, e.message
                )?;
            }
        }
        Ok(())
    }
}

/// The largest config file read (100,000 sites fit in far less).
pub const MAX_CONFIG_BYTES: u64 = 64 * 1024 * 1024;

/// Reads and validates the config at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let file = path.display().to_string();
    let fail = |message: String| ConfigErrors {
        file: file.clone(),
        errors: vec![ConfigError {
            path: String::new(),
            position: Position { line: 1, column: 1 },
            message,
        }],
    };
    let bytes = crate::ground::files::read_capped(path, MAX_CONFIG_BYTES)
        .map_err(|e| fail(format!("cannot read config file: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| fail(format!("config file is not UTF-8 text: {e}")))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    parse(&text, &file, base)
}

/// The config `run` uses without `--config`: the system file if present,
/// else the embedded default.
pub fn load_default() -> Result<Config, ConfigErrors> {
    let system = Path::new(SYSTEM_PATH);
    if system.exists() {
        load(system)
    } else {
        parse(EMBEDDED_DEFAULT, "<embedded default>", Path::new("/"))
    }
}

/// Parses one resolver string (`system`, `IP`, `IP:PORT`,
/// `tls://IP[:PORT]#name`, `https://host/dns-query`).
pub fn validate_resolver(text: &str) -> Result<ResolverSpec, String> {
    values::parse_resolver(text)
}

/// Validates config text. `file` names it in errors; relative `ca_file`
/// paths are taken relative to `base`.
pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigErrors> {
    validate::parse(text, file, base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_is_the_press_tv_set() {
        let c = parse(EMBEDDED_DEFAULT, "<embedded default>", Path::new("/"))
            .expect("embedded config parses");
        let urls: Vec<String> = c.targets().iter().map(|t| t.url.to_string()).collect();
        assert_eq!(
            urls,
            ["https://www.presstv.ir/", "https://www.presstv.co.uk/"]
        );
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:9874");
        assert_eq!(c.sites[0].settings.resolvers[0], ResolverSpec::System);
        // A site's addresses share one copy of its settings.
        let t = c.targets();
        assert!(std::sync::Arc::ptr_eq(&t[0].settings, &t[1].settings));
    }

    #[test]
    fn site_keys_override_defaults() {
        let text = "[defaults]\ninterval = \"30s\"\ntimeout = \"5s\"\n[[sites]]\nname = \"a\"\nmain = \"https://a.test/\"\ntimeout = \"2s\"\nresolvers = [\"127.0.0.1:5353\", \"tls://127.0.0.1#dns.test\"]\n";
        let c = parse(text, "t.toml", Path::new("/")).expect("valid");
        let s = &c.sites[0].settings;
        assert_eq!(s.interval, Duration::from_secs(30));
        assert_eq!(s.timeout, Duration::from_secs(2));
        assert_eq!(s.failure_threshold, 3);
        assert_eq!(
            s.resolvers[1],
            ResolverSpec::Tls {
                addr: "127.0.0.1:853".parse().expect("addr"),
                name: "dns.test".into()
            }
        );
    }

    #[test]
    fn encrypted_dns_and_bogon_keys_are_validated() {
        let text = "[defaults]\nresolvers = [\"tls://127.0.0.1:8853#dns.test\", \"https://dns.test/dns-query\"]\npublic_suffixes = [\"pub.test\", \"bad suffix\"]\nbogon_exempt = [\"127.0.0.1/32\", \"10.0.0.0/33\"]\n[[sites]]\nname = \"a\"\nmain = \"https://a.test/\"\n";
        let e = parse(text, "t.toml", Path::new("/")).expect_err("invalid");
        let found: Vec<(&str, usize)> = e
            .errors
            .iter()
            .map(|e| (e.path.as_str(), e.position.line))
            .collect();
        assert_eq!(
            found,
            [
                ("defaults.public_suffixes[1]", 3),
                ("defaults.bogon_exempt[1]", 4),
                ("defaults.resolvers[1]", 2),
            ]
        );
        assert!(
            e.errors[2].message.contains("plain resolver"),
            "{}",
            e.errors[2].message
        );
        let ok = "[defaults]\nresolvers = [\"127.0.0.1:5353\", \"https://dns.test:8443/dns-query\"]\npublic_suffixes = [\".Pub.Test.\"]\nbogon_exempt = [\"10.1.2.3/16\", \"127.0.0.1\"]\n[[sites]]\nname = \"a\"\nmain = \"https://a.test/\"\n";
        let c = parse(ok, "t.toml", Path::new("/")).expect("valid");
        let s = &c.sites[0].settings;
        assert_eq!(s.public_suffixes, ["pub.test"]);
        let nets: Vec<String> = s.bogon_exempt.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.1.0.0/16", "127.0.0.1/32"]);
    }

    #[test]
    fn timeout_may_not_exceed_interval() {
        let text = "[defaults]\ninterval = \"5s\"\ntimeout = \"10s\"\n[[sites]]\nname = \"a\"\nmain = \"https://a.test/\"\n";
        let e = parse(text, "t.toml", Path::new("/")).expect_err("invalid");
        assert_eq!(e.errors[0].path, "defaults.timeout");
        assert_eq!(
            e.errors[0].position,
            Position {
                line: 3,
                column: 11
            }
        );
    }

    #[test]
    fn parity_and_fingerprint_keys_are_validated() {
        let text = "[[sites]]\nname = \"a\"\nmain = \"https://a.test/\"\narticle_pattern = \"(\"\n[sites.parity]\nmin_similarity = 1.5\nmax_lag = \"soon\"\n\n[[fingerprints]]\nname = \"x\"\nkind = \"hacked\"\nbody_regex = \"ok\"\n\n[[fingerprints]]\nname = \"y\"\nkind = \"blockpage\"\ndns_ip = \"10.0.0.1\"\nns_suffix = \"z.test\"\n";
        let e = parse(text, "t.toml", Path::new("/")).expect_err("invalid");
        let paths: Vec<&str> = e.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "sites[0].parity.min_similarity",
                "sites[0].parity.max_lag",
                "sites[0].article_pattern",
                "fingerprints[0].kind",
                "fingerprints[1]"
            ]
        );
        let ok = "[[sites]]\nname = \"a\"\nmain = \"https://a.test/\"\narticle_pattern = '/Detail/\\d{4}/'\n[sites.parity]\nmax_lag = \"5m\"\n[[fingerprints]]\nname = \"isp\"\nkind = \"blockpage\"\nbody_regex = 'blocked by order'\n";
        let c = parse(ok, "t.toml", Path::new("/")).expect("valid");
        assert_eq!(c.sites[0].parity.max_lag, Duration::from_secs(300));
        assert_eq!(c.sites[0].parity.min_similarity, 0.6);
        assert_eq!(c.fingerprints.len(), 1);
    }
}
