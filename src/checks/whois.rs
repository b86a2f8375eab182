//! WHOIS (port 43) for TLDs without RDAP (`.ir` among them): one query,
//! the answer read up to a cap, and the text read into [`DomainFacts`].
//! Two styles are understood: the `key: value` lines of ccTLD registries
//! such as IRNIC (`expire-date`, `nserver`, `status`) and the gTLD style
//! (`Registry Expiry Date`, `Domain Status: clientHold https://…`,
//! `Registrar`, `Name Server`). A field not found stays unknown; a
//! "no match" answer is not a fact about the domain.

use super::registry::DomainFacts;

/// Reads a WHOIS answer. `Err` when the registry says it has no record
/// (that proves nothing: deleted, never registered, or a wrong server).
pub fn parse(text: &str) -> Result<DomainFacts, String> {
    let lower = text.to_ascii_lowercase();
    for marker in ["no match", "not found", "no entries found", "no data found"] {
        // On a comment, error or leading line only: a remark that happens
        // to say "not found" is not the registry's answer.
        if lower.lines().take(50).any(|l| {
            let l = l.trim_start();
            (l.starts_with('%')
                || l.starts_with('#')
                || l.starts_with("error")
                || l.starts_with(marker))
                && l.contains(marker)
        }) {
            return Err(format!("the WHOIS server has no record (\"{marker}\")"));
        }
    }
    let mut facts = DomainFacts::default();
    let mut statuses: Vec<String> = Vec::new();
    let mut nameservers: Vec<String> = Vec::new();
    let mut saw_status = false;
    for line in text.lines().take(5000) {
        let line = line.trim();
        if line.starts_with('%') || line.starts_with('#') || line.starts_with(">>>") {
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "expire-date"
            | "expiry date"
            | "registry expiry date"
            | "expiration date"
            | "registrar registration expiration date"
            | "paid-till"
            | "expires"
                if facts.expiry.is_none() =>
            {
                facts.expiry = crate::ground::time::parse_date(value);
            }
            "status" | "domain status" | "state" => {
                saw_status = true;
                if let Some(first) = value.split_whitespace().next()
                    && statuses.len() < 64
                {
                    statuses.push(epp_name(first));
                }
            }
            "registrar" | "sponsoring registrar" if facts.registrar.is_none() => {
                facts.registrar = Some(crate::ground::text::clip(value, 200));
            }
            "nserver" | "name server" | "nameserver" => {
                if let Some(ns) = value.split_whitespace().next()
                    && nameservers.len() < 32
                {
                    nameservers.push(crate::ground::text::clip(
                        &ns.trim_end_matches('.').to_ascii_lowercase(),
                        253,
                    ));
                }
            }
            _ => {}
        }
    }
    if saw_status {
        statuses.sort();
        statuses.dedup();
        facts.statuses = Some(statuses);
    }
    if !nameservers.is_empty() {
        nameservers.sort();
        nameservers.dedup();
        facts.nameservers = Some(nameservers);
    }
    Ok(facts)
}

/// An EPP status code (`clientHold`, `serverTransferProhibited`) in RDAP's
/// words (RFC 8056: `client hold`, `server transfer prohibited`); other
/// words lower-cased as they are (`ok`, `active`).
pub fn epp_name(code: &str) -> String {
    let code = crate::ground::text::clip(code, 64);
    let mut out = String::with_capacity(code.len() + 4);
    for c in code.chars() {
        if c.is_ascii_uppercase() {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn irnic_style() {
        let f = parse(
            "% This is the IRNIC Whois server.\n%\n\ndomain:\t\tnews.ir\nascii:\t\tnews.ir\n\
             remarks:\t(Domain Holder) Example\nnserver:\tNS1.News.ir\nnserver:\tns2.news.ir\n\
             last-updated:\t2024-01-01\nexpire-date:\t2027-06-01\nsource:\t\tIRNIC # Filtered\n",
        )
        .expect("parses");
        assert_eq!(
            f.expiry.map(crate::ground::time::unix_rfc3339),
            Some("2027-06-01T00:00:00Z".to_string())
        );
        assert_eq!(f.statuses, None, "IRNIC lists no status: unknown, not 'ok'");
        assert_eq!(f.registrar, None);
        assert_eq!(
            f.nameservers,
            Some(vec!["ns1.news.ir".to_string(), "ns2.news.ir".to_string()])
        );
    }

    #[test]
    fn gtld_style_with_epp_codes() {
        let f = parse(
            "Domain Name: NEWS.EXAMPLE\nRegistrar: World Registrar, Inc.\n\
             Registry Expiry Date: 2026-12-11T00:00:00Z\n\
             Domain Status: clientHold https://icann.org/epp#clientHold\n\
             Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\n\
             Name Server: NS1.EXAMPLE.\n>>> Last update of whois database: 2026-12-01T00:00:00Z <<<\n",
        )
        .expect("parses");
        assert_eq!(
            f.statuses,
            Some(vec![
                "client hold".to_string(),
                "client transfer prohibited".to_string()
            ])
        );
        assert_eq!(f.registrar.as_deref(), Some("World Registrar, Inc."));
        assert_eq!(f.nameservers, Some(vec!["ns1.example".to_string()]));
        assert!(parse("No match for \"NEWS.EXAMPLE\".\n").is_err());
        assert_eq!(epp_name("serverHold"), "server hold");
        assert_eq!(epp_name("ok"), "ok");
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_errs_without_panic(s in "\\PC{0,300}") {
            let _ = parse(&s);
        }
    }
}
