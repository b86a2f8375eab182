//! RDAP (RFC 9082/9083) for the registry stage: the IANA bootstrap file
//! (RFC 9224) that says which server answers for a TLD, and a domain
//! answer read into [`DomainFacts`]. The parser never guesses: a field it
//! cannot read stays `None` ("unknown"), never a default.

use std::collections::BTreeMap;

use serde_json::Value;
use url::Url;

use super::registry::DomainFacts;

/// The bootstrap file: RDAP base URLs by TLD (lower case, no dot).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bootstrap {
    pub servers: BTreeMap<String, Url>,
}

impl Bootstrap {
    /// Parses RFC 9224's `{"services": [[["tld", ...], ["https://base/", ...]], ...]}`.
    /// Per TLD, the first https base wins, else the first http one.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let v: Value =
            serde_json::from_slice(body).map_err(|e| format!("bootstrap is not JSON: {e}"))?;
        let services = v
            .get("services")
            .and_then(Value::as_array)
            .ok_or("bootstrap has no \"services\" list")?;
        let mut servers = BTreeMap::new();
        for s in services.iter().take(10_000) {
            let (Some(tlds), Some(urls)) = (
                s.get(0).and_then(Value::as_array),
                s.get(1).and_then(Value::as_array),
            ) else {
                continue;
            };
            let urls: Vec<Url> = urls
                .iter()
                .filter_map(Value::as_str)
                .filter_map(|u| Url::parse(u).ok())
                .filter(|u| matches!(u.scheme(), "https" | "http"))
                .collect();
            let Some(base) = urls
                .iter()
                .find(|u| u.scheme() == "https")
                .or_else(|| urls.first())
            else {
                continue;
            };
            for t in tlds.iter().filter_map(Value::as_str) {
                let t = t.trim_matches('.').to_ascii_lowercase();
                if !t.is_empty() && t.len() <= 63 {
                    servers.entry(t).or_insert_with(|| base.clone());
                }
            }
        }
        if servers.is_empty() {
            return Err("bootstrap lists no RDAP service".into());
        }
        Ok(Self { servers })
    }

    /// The base for `domain`: its longest suffix the file lists.
    pub fn server_for(&self, domain: &str) -> Option<&Url> {
        suffixes(domain).iter().find_map(|s| self.servers.get(s))
    }
}

/// `domain` and each of its suffixes, longest first (`a.co.uk`, `co.uk`,
/// `uk`): the keys a per-TLD table is looked up by.
pub fn suffixes(domain: &str) -> Vec<String> {
    let mut out = vec![domain.to_string()];
    let mut rest = domain;
    while let Some((_, tail)) = rest.split_once('.') {
        out.push(tail.to_string());
        rest = tail;
    }
    out
}

/// Built in, in case the bootstrap cannot be fetched: the TLDs of the
/// shipped config that have RDAP (`.ir` has none: WHOIS).
pub fn builtin() -> Bootstrap {
    let mut servers = BTreeMap::new();
    for (tld, base) in [
        ("uk", "https://rdap.nominet.uk/uk/"),
        ("com", "https://rdap.verisign.com/com/v1/"),
        ("net", "https://rdap.verisign.com/net/v1/"),
        ("org", "https://rdap.publicinterestregistry.org/rdap/"),
    ] {
        if let Ok(u) = Url::parse(base) {
            servers.insert(tld.to_string(), u);
        }
    }
    Bootstrap { servers }
}

/// The query URL for `domain` under `base` (RFC 9082: `domain/<name>`).
pub fn query_url(base: &Url, domain: &str) -> Option<Url> {
    let mut b = base.clone();
    if !b.path().ends_with('/') {
        let p = format!("{}/", b.path());
        b.set_path(&p);
    }
    b.join(&format!("domain/{domain}")).ok()
}

/// Reads an RDAP domain answer. `Err` when it is not an RDAP domain object
/// at all; otherwise every field it can read.
pub fn parse_domain(body: &[u8]) -> Result<DomainFacts, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("answer is not JSON: {e}"))?;
    if !v.is_object() {
        return Err("answer is not a JSON object".into());
    }
    if v.get("objectClassName").and_then(Value::as_str) != Some("domain") {
        return Err("answer is not an RDAP domain object (objectClassName)".into());
    }
    let expiry = v
        .get("events")
        .and_then(Value::as_array)
        .and_then(|events| {
            events.iter().take(1000).find_map(|e| {
                (e.get("eventAction").and_then(Value::as_str) == Some("expiration"))
                    .then(|| e.get("eventDate").and_then(Value::as_str))
                    .flatten()
                    .and_then(crate::ground::time::parse_rfc3339)
            })
        });
    let statuses = v.get("status").and_then(Value::as_array).map(|list| {
        let mut out: Vec<String> = list
            .iter()
            .take(64)
            .filter_map(Value::as_str)
            .map(|s| crate::ground::text::clip(&s.to_ascii_lowercase(), 64))
            .collect();
        out.sort();
        out.dedup();
        out
    });
    let registrar = v
        .get("entities")
        .and_then(Value::as_array)
        .and_then(|ents| ents.iter().take(100).find_map(registrar_name));
    let nameservers = v.get("nameservers").and_then(Value::as_array).map(|list| {
        let mut out: Vec<String> = list
            .iter()
            .take(32)
            .filter_map(|n| n.get("ldhName").and_then(Value::as_str))
            .map(|n| crate::ground::text::clip(&n.trim_end_matches('.').to_ascii_lowercase(), 253))
            .collect();
        out.sort();
        out.dedup();
        out
    });
    Ok(DomainFacts {
        expiry,
        statuses,
        registrar,
        nameservers,
    })
}

/// The name of an entity with the `registrar` role: its vCard `fn`.
fn registrar_name(e: &Value) -> Option<String> {
    let registrar = e
        .get("roles")
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|x| x.as_str() == Some("registrar")));
    if !registrar {
        return None;
    }
    let props = e.get("vcardArray")?.get(1)?.as_array()?;
    props.iter().take(100).find_map(|p| {
        (p.get(0)?.as_str()? == "fn")
            .then(|| p.get(3)?.as_str())
            .flatten()
            .map(|n| crate::ground::text::clip(n, 200))
            .filter(|n| !n.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_picks_https_and_the_longest_suffix() {
        let b = Bootstrap::parse(
            br#"{"services":[[["com","NET"],["http://x.test/","https://rdap.x.test/com/"]],
                              [["co.uk"],["https://co.test/"]],[["uk"],["https://uk.test/"]],
                              [["bad"],["ftp://x/"]], "junk", [[1],[2]]]}"#,
        )
        .expect("parses");
        assert_eq!(
            b.server_for("example.com").map(Url::as_str),
            Some("https://rdap.x.test/com/")
        );
        assert_eq!(
            b.server_for("a.net").map(Url::as_str),
            Some("https://rdap.x.test/com/")
        );
        assert_eq!(
            b.server_for("bbc.co.uk").map(Url::as_str),
            Some("https://co.test/")
        );
        assert_eq!(b.server_for("presstv.ir"), None);
        assert_eq!(b.server_for("x.bad"), None);
        assert!(Bootstrap::parse(b"{}").is_err());
        assert!(Bootstrap::parse(b"[").is_err());
    }

    #[test]
    fn suffixes_longest_first() {
        assert_eq!(suffixes("a.co.uk"), ["a.co.uk", "co.uk", "uk"]);
        assert_eq!(suffixes("ir"), ["ir"]);
    }

    #[test]
    fn query_urls() {
        let base = Url::parse("https://rdap.test/rdap").expect("url");
        assert_eq!(
            query_url(&base, "news.test").map(String::from),
            Some("https://rdap.test/rdap/domain/news.test".to_string())
        );
    }

    #[test]
    fn a_domain_answer_gives_what_it_says_and_nothing_else() {
        let f = parse_domain(
            br#"{"objectClassName":"domain","ldhName":"news.test",
                 "status":["client transfer prohibited","Client Hold"],
                 "events":[{"eventAction":"registration","eventDate":"2001-01-01T00:00:00Z"},
                           {"eventAction":"expiration","eventDate":"2027-03-04T05:06:07Z"}],
                 "entities":[{"roles":["registrant"],"vcardArray":["vcard",[["fn",{},"text","Someone"]]]},
                             {"roles":["registrar"],"vcardArray":["vcard",[["version",{},"text","4.0"],["fn",{},"text","World Registrar"]]]}],
                 "nameservers":[{"ldhName":"NS2.News.test."},{"ldhName":"ns1.news.test"}]}"#,
        )
        .expect("parses");
        assert_eq!(
            f.expiry.map(crate::ground::time::unix_rfc3339),
            Some("2027-03-04T05:06:07Z".to_string())
        );
        assert_eq!(
            f.statuses,
            Some(vec![
                "client hold".to_string(),
                "client transfer prohibited".to_string()
            ])
        );
        assert_eq!(f.registrar.as_deref(), Some("World Registrar"));
        assert_eq!(
            f.nameservers,
            Some(vec![
                "ns1.news.test".to_string(),
                "ns2.news.test".to_string()
            ])
        );
        let bare = parse_domain(br#"{"objectClassName":"domain"}"#).expect("parses");
        assert_eq!(
            bare,
            DomainFacts::default(),
            "nothing said, nothing concluded"
        );
        assert!(parse_domain(br#"{"objectClassName":"entity"}"#).is_err());
        assert!(parse_domain(b"{not json").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_err_without_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = parse_domain(&body);
            let _ = Bootstrap::parse(&body);
        }
    }
}
