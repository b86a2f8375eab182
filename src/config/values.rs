//! Value rules shared by validation and the CLI: resolver forms, duration
//! ranges, name limits, and how much of a bad value an error echoes.

use std::net::{IpAddr, SocketAddr};

use url::Url;

use super::ResolverSpec;

/// Parses one resolver in the spec's forms: `system`, `IP`, `IP:PORT`,
/// `tls://IP[:PORT]#name`, `https://host[:port]/path`.
pub fn parse_resolver(text: &str) -> Result<ResolverSpec, String> {
    let expected = "expected \"system\", \"IP\", \"IP:PORT\", \"tls://IP[:PORT]#name\" or \"https://host/dns-query\"";
    if text == "system" {
        return Ok(ResolverSpec::System);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(ResolverSpec::Plain(SocketAddr::new(ip, 53)));
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(ResolverSpec::Plain(addr));
    }
    if let Some(rest) = text.strip_prefix("tls://") {
        let (addr, name) = rest.split_once('#').ok_or_else(|| {
            format!("`{text}`: DNS-over-TLS needs the server name after '#'; {expected}")
        })?;
        let addr = addr
            .parse::<SocketAddr>()
            .or_else(|_| addr.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 853)))
            .map_err(|_| format!("`{text}`: `{addr}` is not an IP address; {expected}"))?;
        if name.is_empty() {
            return Err(format!("`{text}`: empty server name after '#'"));
        }
        return Ok(ResolverSpec::Tls {
            addr,
            name: name.to_string(),
        });
    }
    if text.starts_with("https://") {
        let url =
            Url::parse(text).map_err(|e| format!("`{text}` is not a URL ({e}); {expected}"))?;
        if url.host_str().is_none() {
            return Err(format!("`{text}` has no host; {expected}"));
        }
        return Ok(ResolverSpec::Https { url });
    }
    Err(format!("`{text}` is not a resolver; {expected}"))
}

/// A DoH resolver named by host is resolved through the plain resolvers
/// of the same list (`checks::dns_enc`), so the list needs one: the index
/// and why, for the first that has none.
pub fn doh_hosts_resolvable(list: &[ResolverSpec]) -> Result<(), (usize, String)> {
    let plain = list
        .iter()
        .any(|r| matches!(r, ResolverSpec::Plain(_) | ResolverSpec::System));
    for (i, r) in list.iter().enumerate() {
        if let ResolverSpec::Https { url } = r
            && matches!(url.host(), Some(url::Host::Domain(_)))
            && !plain
        {
            return Err((
                i,
                format!(
                    "`{url}` names its server by host, which is resolved through a plain resolver \
                     of the same list; add one (\"IP\" or \"system\") or give the server as an IP address"
                ),
            ));
        }
    }
    Ok(())
}

/// A suffix for `public_suffixes`: a DNS name, stored lower-case without
/// leading or trailing dots.
pub fn parse_suffix(text: &str) -> Result<String, String> {
    let s = text.trim_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if s.is_empty() || s.len() > 253 || !s.split('.').all(label_ok) {
        return Err(format!(
            "`{}` is not a DNS suffix; expected e.g. \"example\" or \"corp.example\"",
            shown(text)
        ));
    }
    Ok(s)
}

/// An address range for `bogon_exempt`: CIDR (`10.1.0.0/16`) or one address.
pub fn parse_range(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| {
            format!(
                "`{}` is not an address range; expected CIDR such as \"10.1.0.0/16\" or one address",
                shown(text)
            )
        })
}

/// The ranges durations in the config must fall in (README, "Limits").
pub mod limits {
    use std::time::Duration;

    const DAY: u64 = 86_400;

    pub const INTERVAL: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(DAY));
    pub const TIMEOUT: (Duration, Duration) =
        (Duration::from_millis(100), Duration::from_secs(600));
    pub const CERT_WARNING: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(365 * DAY));
    pub const MAX_LAG: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(30 * DAY));
    pub const RETENTION: (Duration, Duration) =
        (Duration::from_secs(3600), Duration::from_secs(3650 * DAY));
    pub const RESEND: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(7 * DAY));
}

/// The longest site name: it labels every series and alert of the site.
pub const MAX_SITE_NAME: usize = 128;

/// At most this many characters of a value are echoed in an error.
const SHOWN_CHARS: usize = 80;

/// `message` with every `quoted` value cut to [`SHOWN_CHARS`] characters
/// (a 10 MB site name is not echoed whole).
pub fn quoted_shown(message: &str) -> String {
    if message.len() <= 4 * SHOWN_CHARS {
        return message.to_string();
    }
    message
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                shown(part)
            } else {
                shown_long(part)
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// Unquoted text keeps more, but not everything.
fn shown_long(text: &str) -> String {
    if text.chars().nth(4 * SHOWN_CHARS).is_none() {
        return text.to_string();
    }
    let head: String = text.chars().take(4 * SHOWN_CHARS).collect();
    format!("{head}…")
}

/// A config value as an error shows it: at most [`SHOWN_CHARS`] characters.
pub fn shown(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(SHOWN_CHARS).collect();
    let rest = chars.count();
    if rest == 0 {
        head
    } else {
        format!("{head}… ({rest} more characters)")
    }
}
