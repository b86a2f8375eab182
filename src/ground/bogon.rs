//! Bogons: addresses in the special-purpose ranges of RFC 6890 (and its
//! IANA registries) that a public name never legitimately resolves to, and
//! which names are "public" in the first place.
//!
//! A censor's resolver often answers with such an address (Iran's
//! 10.10.34.34 is the well-known one), so a bogon in an answer for a public
//! name is evidence of tampering. What counts as public: a name under a
//! suffix the public suffix list knows, or under one of the configured
//! `public_suffixes`. Configured `bogon_exempt` ranges (split-horizon
//! networks) are never bogons.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// Why an address is a bogon: the range's name in the IANA registry.
pub type Class = &'static str;

const V4: &[(Ipv4Addr, u8, Class)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "this network"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "CGNAT"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (Ipv4Addr::new(192, 0, 2, 0), 24, "documentation"),
    (Ipv4Addr::new(192, 88, 99, 0), 24, "6to4 relay anycast"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (Ipv4Addr::new(198, 51, 100, 0), 24, "documentation"),
    (Ipv4Addr::new(203, 0, 113, 0), 24, "documentation"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved"),
];

const V6: &[(Ipv6Addr, u8, Class)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
    (Ipv6Addr::LOCALHOST, 128, "loopback"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local NAT64",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only",
    ),
    (
        Ipv6Addr::new(0x2001, 0x2, 0, 0, 0, 0, 0, 0),
        48,
        "benchmarking",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local",
    ),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

/// The special-purpose range `ip` falls in, if any. IPv4-mapped IPv6
/// addresses are judged as the IPv4 address they carry.
pub fn special(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(v4) => V4.iter().find_map(|&(net, len, class)| {
            Ipv4Net::new(net, len)
                .ok()
                .filter(|n| n.contains(&v4))
                .map(|_| class)
        }),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return special(IpAddr::V4(v4));
            }
            V6.iter().find_map(|&(net, len, class)| {
                Ipv6Net::new(net, len)
                    .ok()
                    .filter(|n| n.contains(&v6))
                    .map(|_| class)
            })
        }
    }
}

/// Whether `host` is a public name: under a suffix the public suffix list
/// knows, or under one of `extra` (lower-case, no leading dot).
pub fn public_name(host: &str, extra: &[String]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<IpAddr>().is_ok() || host.starts_with('[') {
        return false;
    }
    let configured = extra.iter().any(|s| {
        host.strip_suffix(s.as_str())
            .is_some_and(|rest| rest.ends_with('.'))
    });
    configured
        || psl::suffix(host.as_bytes())
            .is_some_and(|s| s.is_known() && s.as_bytes().len() < host.len())
}

/// The bogon class of `ip` in an answer for `host`: `None` when the name is
/// not public, the address is in no special-purpose range, or it is in one
/// of the `exempt` ranges.
pub fn classify(ip: IpAddr, host: &str, public: &[String], exempt: &[IpNet]) -> Option<Class> {
    if exempt.iter().any(|n| n.contains(&ip)) || !public_name(host, public) {
        return None;
    }
    special(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn special_purpose_ranges_and_public_addresses() {
        let table = [
            ("10.10.34.34", Some("private")),
            ("172.31.255.255", Some("private")),
            ("172.32.0.1", None),
            ("192.168.1.1", Some("private")),
            ("100.64.0.1", Some("CGNAT")),
            ("100.128.0.1", None),
            ("127.0.0.1", Some("loopback")),
            ("169.254.1.1", Some("link-local")),
            ("192.0.2.53", Some("documentation")),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.7", Some("documentation")),
            ("0.1.2.3", Some("this network")),
            ("239.1.1.1", Some("multicast")),
            ("255.255.255.255", Some("reserved")),
            ("8.8.8.8", None),
            ("1.1.1.1", None),
            ("::1", Some("loopback")),
            ("::", Some("unspecified")),
            ("fd00::1", Some("unique local")),
            ("fe80::1", Some("link-local")),
            ("2001:db8::1", Some("documentation")),
            ("::ffff:10.10.34.34", Some("private")),
            ("::ffff:8.8.8.8", None),
            ("2606:4700::1111", None),
        ];
        for (addr, want) in table {
            assert_eq!(special(ip(addr)), want, "{addr}");
        }
    }

    #[test]
    fn only_names_under_a_public_suffix_are_public() {
        let none: &[String] = &[];
        assert!(public_name("www.presstv.ir", none));
        assert!(public_name("WWW.PressTV.co.uk.", none));
        assert!(!public_name("www.main.test", none), ".test is not public");
        assert!(
            !public_name("ir", none),
            "a bare suffix is not a name under it"
        );
        assert!(!public_name("10.10.34.34", none));
        let extra = vec!["pub.test".to_string()];
        assert!(public_name("www.news.pub.test", &extra));
        assert!(!public_name("www.news.notpub.test", &extra));
        assert!(!public_name("pub.test", &extra));
    }

    proptest::proptest! {
        /// IPv4-mapped addresses are judged as the IPv4 address; an exempt
        /// range is never a bogon; only names under a suffix are public.
        #[test]
        fn mapped_exempt_and_public_agree(v4 in proptest::prelude::any::<u32>(), len in 0u8..=32, host in "[a-z]{1,8}(\\.[a-z]{1,8}){0,3}") {
            let v4 = Ipv4Addr::from(v4);
            let mapped = IpAddr::V6(v4.to_ipv6_mapped());
            proptest::prop_assert_eq!(special(IpAddr::V4(v4)), special(mapped));
            let net = IpNet::V4(Ipv4Net::new(v4, len).expect("len <= 32").trunc());
            let public = vec!["pub".to_string()];
            let name = format!("{host}.pub");
            proptest::prop_assert_eq!(classify(IpAddr::V4(v4), &name, &public, &[net]), None);
            proptest::prop_assert_eq!(
                classify(IpAddr::V4(v4), &name, &public, &[]),
                special(IpAddr::V4(v4))
            );
            proptest::prop_assert!(!public_name("pub", &public));
        }
    }

    #[test]
    fn classify_needs_a_public_name_and_respects_exemptions() {
        let public = vec!["pub.test".to_string()];
        let exempt: Vec<IpNet> = vec!["127.0.0.1/32".parse().expect("net")];
        let c = |a: &str, host: &str| classify(ip(a), host, &public, &exempt);
        assert_eq!(c("127.10.34.34", "www.news.pub.test"), Some("loopback"));
        assert_eq!(c("127.0.0.1", "www.news.pub.test"), None, "exempt");
        assert_eq!(c("127.10.34.34", "www.main.test"), None, "not public");
        assert_eq!(c("10.10.34.34", "www.presstv.ir"), Some("private"));
    }
}
