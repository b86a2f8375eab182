//! Registered domains (public suffix list), for "offsite" and NS lookups.

use std::net::IpAddr;

/// The registered domain of a host (public suffix list; for unknown TLDs such
/// as `.test`, the last two labels). IP literals are their own domain.
pub fn registered_domain(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return host;
    }
    match psl::domain_str(&host) {
        Some(d) => d.to_string(),
        None => host,
    }
}

/// The address a URL host names literally (`127.0.0.1`, `[::1]`), if it
/// is one rather than a name.
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    host.trim_matches(['[', ']']).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::{ip_literal, registered_domain};

    #[test]
    fn ip_literals() {
        assert_eq!(ip_literal("[::1]"), Some("::1".parse().expect("ip")));
        assert_eq!(
            ip_literal("127.0.0.1"),
            Some("127.0.0.1".parse().expect("ip"))
        );
        assert_eq!(ip_literal("www.a.test"), None);
    }

    #[test]
    fn registered_domains() {
        assert_eq!(registered_domain("www.presstv.co.uk"), "presstv.co.uk");
        assert_eq!(registered_domain("www.presstv.ir"), "presstv.ir");
        assert_eq!(registered_domain("a.b.mirror.test"), "mirror.test");
        assert_eq!(registered_domain("127.0.0.1"), "127.0.0.1");
    }
}
