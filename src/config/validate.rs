//! Turns config text into a [`Config`], collecting every problem.
//!
//! Three passes: TOML syntax (all errors, recoverable parse), structure
//! (unknown keys and wrong types, via serde; stops at the first), then values
//! (every bad duration, URL, resolver, duplicate... is reported).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use url::Url;

use super::locate::{Lines, Locator};
use super::raw::{RawConfig, RawParity, RawSettings, RawSite};
use super::values::{self, MAX_SITE_NAME, limits, parse_resolver, quoted_shown, shown};
use super::{Config, ConfigError, ConfigErrors, ParityConfig, ServerConfig, Settings, Site};

const DEFAULT_LISTEN: &str = "127.0.0.1:9874";

pub fn parse(text: &str, file: &str, base: &Path) -> Result<Config, ConfigErrors> {
    let fail = |errors| ConfigErrors {
        file: file.to_string(),
        errors,
    };
    let (_, syntax) = toml::de::DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        let lines = Lines::new(text);
        let errors = syntax
            .iter()
            .map(|e| ConfigError {
                path: String::new(),
                position: lines.position(e.span().map(|s| s.start).unwrap_or(0)),
                message: quoted_shown(&format!("TOML syntax error: {}", e.message().trim())),
            })
            .collect();
        return Err(fail(errors));
    }
    let locator = Locator::new(text);
    let raw: RawConfig = match toml::Deserializer::parse(text)
        .map_err(|e| (String::new(), e))
        .and_then(|de| {
            serde_path_to_error::deserialize(de).map_err(|e| (e.path().to_string(), e.into_inner()))
        }) {
        Ok(raw) => raw,
        Err((path, e)) => {
            let path = if path == "." { String::new() } else { path };
            let pos = match e.span() {
                Some(span) => locator.position(span.start),
                None => locator.find(&path),
            };
            return Err(fail(vec![ConfigError {
                path: shown(&path),
                position: pos,
                message: quoted_shown(e.message().trim()),
            }]));
        }
    };
    let mut v = Validator {
        locator,
        base,
        errors: Vec::new(),
        vantage_names: Vec::new(),
        regexes: Default::default(),
    };
    let config = v.config(&raw, file);
    if v.errors.is_empty() {
        Ok(config)
    } else {
        Err(fail(v.errors))
    }
}

pub(super) struct Validator<'a> {
    locator: Locator<'a>,
    pub(super) base: &'a Path,
    errors: Vec<ConfigError>,
    /// Names of the configured vantages, for sites' `vantages` lists.
    vantage_names: Vec<String>,
    /// Patterns compiled so far: sites that share a pattern share one
    /// compiled regex (and its match caches), not a copy each.
    regexes: std::collections::HashMap<String, std::sync::Arc<regex::Regex>>,
}

/// A layer's value together with the key path it was written at.
pub(super) type Layered<'r, T> = Option<(&'r T, String)>;

/// `value` paired with its key path `prefix + key`, when the layer sets it.
fn at<'r, T>(value: Option<&'r T>, prefix: &str, key: &str) -> Layered<'r, T> {
    value.map(|v| (v, format!("{prefix}{key}")))
}

impl Validator<'_> {
    /// Every entry of a string list at `path` parsed by `parse`; each bad
    /// one is an error at `path[i]` and left out.
    fn each<T>(
        &mut self,
        list: &[String],
        path: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for (i, text) in list.iter().enumerate() {
            match parse(text) {
                Ok(v) => out.push(v),
                Err(why) => self.err(&format!("{path}[{i}]"), why),
            }
        }
        out
    }

    /// `pattern` compiled with a size limit, once per distinct pattern in
    /// the config; an invalid one is an error at `key`.
    pub(super) fn regex(
        &mut self,
        pattern: &str,
        key: &str,
    ) -> Option<std::sync::Arc<regex::Regex>> {
        if let Some(re) = self.regexes.get(pattern) {
            return Some(re.clone());
        }
        match regex::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
        {
            Ok(re) => {
                let re = std::sync::Arc::new(re);
                self.regexes.insert(pattern.to_string(), re.clone());
                Some(re)
            }
            Err(e) => {
                self.err(key, format!("invalid regex: {e}"));
                None
            }
        }
    }

    pub(super) fn err(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            path: path.to_string(),
            position: self.locator.find(path),
            message: quoted_shown(&message.into()),
        });
    }

    fn config(&mut self, raw: &RawConfig, file: &str) -> Config {
        let listen_text = raw.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen = match listen_text.parse::<SocketAddr>() {
            Ok(a) => a,
            Err(_) => {
                self.err("server.listen", format!("`{listen_text}` is not an address; expected IP:PORT such as \"127.0.0.1:9874\""));
                SocketAddr::from(([127, 0, 0, 1], 9874))
            }
        };
        let (vantages, names) = self.vantages(raw.local, &raw.vantages);
        self.vantage_names = names;
        // Check the defaults once on their own, so their errors carry their path
        // even when every site overrides them.
        let defaults = self.settings(&raw.defaults, "defaults.", &Settings::default());
        if raw.sites.is_empty() {
            self.err(
                "sites",
                "no [[sites]] configured; at least one site is required",
            );
        }
        let mut names = HashSet::new();
        // Sized once: the daemon keeps the config, and doubling left room
        // for thousands of sites more than there are.
        let mut sites = Vec::with_capacity(raw.sites.len());
        for (i, s) in raw.sites.iter().enumerate() {
            let prefix = format!("sites[{i}].");
            if !names.insert(s.name.clone()) && !s.name.is_empty() {
                self.err(
                    &format!("{prefix}name"),
                    format!("duplicate site name `{}`", s.name),
                );
            }
            sites.push(self.site(s, &prefix, &defaults));
        }
        let fingerprints = raw
            .fingerprints
            .iter()
            .enumerate()
            .filter_map(|(i, f)| self.fingerprint(f, &format!("fingerprints[{i}].")))
            .collect();
        let tls = raw.server.tls.as_ref().and_then(|t| self.server_tls(t));
        let mut basic_auth = std::collections::BTreeMap::new();
        for (user, hash) in raw.server.basic_auth.iter().flat_map(|b| &b.users) {
            let path = format!("server.basic_auth.users.{user}");
            if user.is_empty() || user.contains(':') {
                self.err(
                    &path,
                    "user names must be non-empty and must not contain ':'",
                );
            } else if !(hash.starts_with("$2a$")
                || hash.starts_with("$2b$")
                || hash.starts_with("$2y$"))
                || hash.len() != 60
            {
                self.err(&path, "must be a bcrypt hash ($2b$..., 60 characters), e.g. from `htpasswd -nbBC 10 user pass`");
            } else {
                basic_auth.insert(user.clone(), hash.clone());
            }
        }
        let storage = super::StorageConfig {
            path: raw.storage.path.as_ref().map(|p| self.base.join(p)),
            retention: self.duration(
                raw.storage
                    .retention
                    .as_ref()
                    .map(|r| (r, "storage.retention".to_string())),
                Duration::from_secs(7 * 86400),
                limits::RETENTION,
            ),
        };
        let alerting = self.alerting(&raw.alerting);
        Config {
            storage,
            alerting,
            server: ServerConfig {
                listen,
                tls,
                basic_auth,
                probe_endpoint: raw.server.probe_endpoint.unwrap_or(false),
            },
            registry: self.registry(raw.registry.as_ref()),
            defaults,
            sites,
            vantages,
            local_label: super::LOCAL_VANTAGE.to_string(),
            fingerprints,
            source: file.to_string(),
        }
    }

    fn parity(&mut self, raw: Option<&RawParity>, prefix: &str) -> ParityConfig {
        let mut out = ParityConfig::default();
        let Some(raw) = raw else { return out };
        if let Some(s) = raw.min_similarity {
            if (0.0..=1.0).contains(&s) {
                out.min_similarity = s;
            } else {
                self.err(
                    &format!("{prefix}min_similarity"),
                    format!("{s} is out of range; expected 0.0 to 1.0"),
                );
            }
        }
        let max_lag = raw
            .max_lag
            .as_ref()
            .map(|m| (m, format!("{prefix}max_lag")));
        out.max_lag = self.duration(max_lag, out.max_lag, limits::MAX_LAG);
        out
    }

    fn site(&mut self, s: &RawSite, prefix: &str, defaults: &Settings) -> Site {
        if s.name.is_empty() {
            self.err(&format!("{prefix}name"), "missing site name");
        } else if s.name.len() > MAX_SITE_NAME {
            self.err(
                &format!("{prefix}name"),
                format!(
                    "`{}` is {} bytes long; a site name (a label on every metric) may have at most {MAX_SITE_NAME}",
                    s.name,
                    s.name.len()
                ),
            );
        } else if !s
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            self.err(
                &format!("{prefix}name"),
                format!(
                    "`{}` may only contain letters, digits, '-', '_' and '.'",
                    s.name
                ),
            );
        }
        let main = self.url(&s.main, &format!("{prefix}main"));
        let mut seen = HashSet::new();
        if let Some(m) = &main {
            seen.insert(m.clone());
        }
        let mut mirrors = Vec::with_capacity(s.mirrors.len());
        for (j, m) in s.mirrors.iter().enumerate() {
            let path = format!("{prefix}mirrors[{j}]");
            if let Some(u) = self.url(m, &path) {
                if !seen.insert(u.clone()) {
                    self.err(&path, format!("`{u}` is listed twice in this site"));
                }
                mirrors.push(u);
            }
        }
        let paths = match &s.paths {
            None => vec!["/".to_string()],
            Some(p) if p.is_empty() => {
                self.err(
                    &format!("{prefix}paths"),
                    "must list at least one path, e.g. [\"/\"]",
                );
                Vec::new()
            }
            Some(p) => {
                for (j, item) in p.iter().enumerate() {
                    if !item.starts_with('/') {
                        self.err(
                            &format!("{prefix}paths[{j}]"),
                            format!("`{item}` must start with '/'"),
                        );
                    }
                }
                p.clone()
            }
        };
        let settings = self.settings(&s.overrides(), prefix, defaults);
        let parity = self.parity(s.parity.as_ref(), &format!("{prefix}parity."));
        let article_regex = s
            .article_pattern
            .as_ref()
            .and_then(|p| self.regex(p, &format!("{prefix}article_pattern")));
        let (announce, discover) = self.announcements(s, prefix);
        Site {
            announce,
            discover,
            discovered: Vec::new(),
            name: s.name.clone(),
            main: main
                .unwrap_or_else(|| Url::parse("http://invalid.invalid/").expect("static URL")),
            mirrors,
            paths,
            article_regex,
            parity,
            settings,
        }
    }

    /// Settings from one layer (`[defaults]` or a site) over `base`: each key
    /// the layer sets is validated at its own path, the rest come from `base`.
    fn settings(&mut self, l: &RawSettings, prefix: &str, base: &Settings) -> Settings {
        let interval = self.duration(
            at(l.interval.as_ref(), prefix, "interval"),
            base.interval,
            limits::INTERVAL,
        );
        let timeout = self.duration(
            at(l.timeout.as_ref(), prefix, "timeout"),
            base.timeout,
            limits::TIMEOUT,
        );
        let which = if l.timeout.is_some() {
            "timeout"
        } else {
            "interval"
        };
        if l.timeout.is_some() || l.interval.is_some() {
            let path = format!("{prefix}{which}");
            if timeout > interval {
                self.err(
                    &path,
                    format!(
                        "timeout ({}) must not exceed interval ({})",
                        humantime::format_duration(timeout),
                        humantime::format_duration(interval)
                    ),
                );
            }
        }
        let resolvers = match at(l.resolvers.as_ref(), prefix, "resolvers") {
            None => base.resolvers.clone(),
            Some((list, path)) => {
                if list.is_empty() {
                    self.err(&path, "must list at least one resolver");
                }
                self.each(list, &path, parse_resolver)
            }
        };
        let ca_file = match at(l.ca_file.as_ref(), prefix, "ca_file") {
            None => base.ca_file.clone(),
            Some((f, path)) => {
                let full = self.base.join(f);
                let mut roots = rustls::RootCertStore::empty();
                if let Err(why) = crate::ground::files::add_trust_anchors(&full, &mut roots) {
                    self.err(&path, why.to_string());
                }
                Some(full)
            }
        };
        let max_body_bytes = match at(l.max_body_bytes.as_ref(), prefix, "max_body_bytes") {
            None => base.max_body_bytes,
            Some((s, path)) => match s.parse::<bytesize::ByteSize>() {
                Ok(b) if (1024..=1 << 30).contains(&b.as_u64()) => b.as_u64(),
                Ok(_) => {
                    self.err(
                        &path,
                        format!("`{s}` is out of range; expected 1KiB to 1GiB"),
                    );
                    base.max_body_bytes
                }
                Err(_) => {
                    self.err(
                        &path,
                        format!("`{s}` is not a size; expected e.g. \"4MiB\" or \"512KiB\""),
                    );
                    base.max_body_bytes
                }
            },
        };
        let expect_status = match at(l.expect_status.as_ref(), prefix, "expect_status") {
            None => base.expect_status.clone(),
            Some((list, path)) => list
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match u16::try_from(*s) {
                    Ok(code) if (100..=599).contains(&code) => Some(code),
                    _ => {
                        self.err(
                            &format!("{path}[{i}]"),
                            format!("{s} is not an HTTP status (100-599)"),
                        );
                        None
                    }
                })
                .collect(),
        };
        let failure_threshold = self.threshold(
            at(l.failure_threshold.as_ref(), prefix, "failure_threshold"),
            base.failure_threshold,
        );
        let success_threshold = self.threshold(
            at(l.success_threshold.as_ref(), prefix, "success_threshold"),
            base.success_threshold,
        );
        let cert_warning = self.duration(
            at(l.cert_warning.as_ref(), prefix, "cert_warning"),
            base.cert_warning,
            limits::CERT_WARNING,
        );
        let user_agent = match at(l.user_agent.as_ref(), prefix, "user_agent") {
            None => base.user_agent.clone(),
            Some((ua, path)) => {
                if ua.trim().is_empty() || hyper::header::HeaderValue::from_str(ua).is_err() {
                    self.err(
                        &path,
                        "must be a non-empty header value without control characters",
                    );
                }
                ua.clone()
            }
        };
        let public_suffixes = match at(l.public_suffixes.as_ref(), prefix, "public_suffixes") {
            None => base.public_suffixes.clone(),
            Some((list, path)) => self.each(list, &path, values::parse_suffix),
        };
        let bogon_exempt = match at(l.bogon_exempt.as_ref(), prefix, "bogon_exempt") {
            None => base.bogon_exempt.clone(),
            Some((list, path)) => self.each(list, &path, values::parse_range),
        };
        let domain_warning = self.duration(
            at(l.domain_warning.as_ref(), prefix, "domain_warning"),
            base.domain_warning,
            limits::CERT_WARNING,
        );
        let vantages = match at(l.vantages.as_ref(), prefix, "vantages") {
            None => base.vantages.clone(),
            Some((list, path)) => {
                if list.is_empty() {
                    self.err(&path, "must list at least one vantage, e.g. [\"local\"]");
                }
                let known = self.vantage_names.clone();
                let names = self.each(list, &path, |name| {
                    if known.iter().any(|k| k == name) {
                        Ok(name.to_string())
                    } else {
                        Err(format!(
                            "`{name}` is not a vantage; configured: {}",
                            known.join(", ")
                        ))
                    }
                });
                Some(names)
            }
        };
        if let Some((_, path)) = at(l.resolvers.as_ref(), prefix, "resolvers")
            && let Err((i, why)) = values::doh_hosts_resolvable(&resolvers)
        {
            self.err(&format!("{path}[{i}]"), why);
        }
        Settings {
            interval,
            timeout,
            resolvers,
            ca_file,
            max_body_bytes,
            expect_status,
            failure_threshold,
            success_threshold,
            cert_warning,
            user_agent,
            public_suffixes,
            bogon_exempt,
            vantages,
            domain_warning,
        }
    }

    /// A duration within `range` (see [`limits`]): anything longer would
    /// overflow the arithmetic that meets it (deadlines, timestamps) or
    /// make no sense for a monitor.
    pub(super) fn duration(
        &mut self,
        value: Layered<'_, String>,
        default: Duration,
        range: (Duration, Duration),
    ) -> Duration {
        let Some((text, path)) = value else {
            return default;
        };
        let (min, max) = range;
        let shown = shown(text);
        match humantime::parse_duration(text) {
            Ok(d) if d >= min && d <= max => d,
            Ok(_) => {
                self.err(
                    &path,
                    format!(
                        "`{shown}` is out of range; expected from {} to {}",
                        humantime::format_duration(min),
                        humantime::format_duration(max)
                    ),
                );
                default
            }
            Err(e) => {
                self.err(
                    &path,
                    format!(
                        "`{shown}` is not a duration ({e}); expected e.g. \"60s\", \"5m\", \"14d\""
                    ),
                );
                default
            }
        }
    }

    fn threshold(&mut self, value: Layered<'_, i64>, default: u32) -> u32 {
        let Some((n, path)) = value else {
            return default;
        };
        match u32::try_from(*n) {
            Ok(v) if (1..=1000).contains(&v) => v,
            _ => {
                self.err(
                    &path,
                    format!("{n} is out of range; expected a whole number from 1 to 1000"),
                );
                default
            }
        }
    }

    pub(super) fn url(&mut self, text: &str, path: &str) -> Option<Url> {
        if text.is_empty() {
            self.err(
                path,
                "missing URL; expected e.g. \"https://www.example.org/\"",
            );
            return None;
        }
        match Url::parse(text) {
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                self.err(path, format!("`{text}`: scheme must be http or https"));
                None
            }
            Ok(u) if u.host_str().is_none_or(str::is_empty) => {
                self.err(path, format!("`{text}` has no host"));
                None
            }
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                self.err(
                    path,
                    format!("`{text}`: credentials in URLs are not supported"),
                );
                None
            }
            Ok(u) => Some(u),
            Err(e) => {
                self.err(
                    path,
                    format!(
                        "`{text}` is not a URL ({e}); expected e.g. \"https://www.example.org/\""
                    ),
                );
                None
            }
        }
    }
}
