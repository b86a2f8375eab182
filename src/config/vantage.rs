//! Vantage points: where an address is probed from. `local` is this
//! machine, directly; every `[[vantages]]` entry is a proxy (SOCKS5, SOCKS5
//! with the proxy's DNS, or HTTP CONNECT) that rounds are sent through.
//! This module owns the model, the proxy URL forms and their validation.

use std::net::SocketAddr;

use url::Url;

use super::raw::RawVantage;
use super::validate::Validator;

/// The vantage of probes made from this machine, directly.
pub const LOCAL_VANTAGE: &str = "local";

/// At most this many vantages (each multiplies every address's rounds).
pub const MAX_VANTAGES: usize = 32;

/// How a proxy is asked to open a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// SOCKS5 to an address resolved here (`socks5://`).
    Socks5,
    /// SOCKS5 to a host name the proxy resolves (`socks5h://`, as Tor needs).
    Socks5h,
    /// HTTP `CONNECT host:port` (`http://`); the proxy resolves the name.
    HttpConnect,
}

impl ProxyKind {
    /// The proxy resolves names itself: this machine's resolvers and the
    /// per-address connects are not what the vantage sees.
    pub fn resolves_names(self) -> bool {
        !matches!(self, Self::Socks5)
    }

    pub fn scheme(self) -> &'static str {
        match self {
            Self::Socks5 => "socks5",
            Self::Socks5h => "socks5h",
            Self::HttpConnect => "http",
        }
    }
}

/// A proxy: where it listens and how to authenticate.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Proxy {
    pub kind: ProxyKind,
    pub addr: SocketAddr,
    /// User and password (SOCKS5 username/password, or HTTP Basic).
    pub auth: Option<(String, String)>,
}

/// Never prints the password.
impl std::fmt::Display for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = match &self.auth {
            Some((u, _)) => format!("{u}@"),
            None => String::new(),
        };
        write!(f, "{}://{user}{}", self.kind.scheme(), self.addr)
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({self})")
    }
}

/// One vantage: its name (a label value) and, unless it is this machine,
/// the proxy its rounds go through.
#[derive(Debug, Clone, PartialEq)]
pub struct Vantage {
    pub name: String,
    pub proxy: Option<Proxy>,
}

/// Parses `socks5://[user:pass@]IP[:PORT]`, `socks5h://…` or
/// `http://[user:pass@]IP:PORT`. The proxy is named by address: resolving
/// its name would go through the resolvers that it may exist to avoid.
pub fn parse_proxy(text: &str) -> Result<Proxy, String> {
    let expected = "expected \"socks5://IP:PORT\", \"socks5h://IP:PORT\" or \"http://IP:PORT\", optionally with user:password@";
    let url = Url::parse(text).map_err(|e| format!("`{text}` is not a URL ({e}); {expected}"))?;
    let kind = match url.scheme() {
        "socks5" => ProxyKind::Socks5,
        "socks5h" => ProxyKind::Socks5h,
        "http" => ProxyKind::HttpConnect,
        other => {
            return Err(format!(
                "`{text}`: unsupported proxy scheme `{other}`; {expected}"
            ));
        }
    };
    // `socks5` is not a scheme the URL standard knows, so its host is
    // opaque text: parse the address from it.
    let host = url.host_str().unwrap_or("");
    let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
    else {
        return Err(format!(
            "`{text}`: the proxy must be given by IP address, not by name; {expected}"
        ));
    };
    if !(url.path().is_empty() || url.path() == "/")
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(format!(
            "`{text}`: a proxy URL has no path, query or fragment"
        ));
    }
    let port = match (url.port(), kind) {
        (Some(p), _) => p,
        (None, ProxyKind::Socks5 | ProxyKind::Socks5h) => 1080,
        (None, ProxyKind::HttpConnect) => {
            return Err(format!("`{text}`: an HTTP proxy needs an explicit port"));
        }
    };
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| format!("`{text}`: user or password is not UTF-8"))
    };
    let auth = if url.username().is_empty() && url.password().is_none() {
        None
    } else {
        let user = decode(url.username())?;
        let pass = decode(url.password().unwrap_or(""))?;
        if user.len() > 255 || pass.len() > 255 {
            return Err(format!(
                "`{text}`: user and password may have at most 255 bytes each"
            ));
        }
        Some((user, pass))
    };
    Ok(Proxy {
        kind,
        addr: SocketAddr::new(ip, port),
        auth,
    })
}

/// A vantage name: a label value, so short and plain.
pub(super) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("missing vantage name".into());
    }
    if name.len() > 32
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        return Err(format!(
            "`{name}`: a vantage name has 1 to 32 letters, digits, '-' or '_'"
        ));
    }
    Ok(())
}

impl Validator<'_> {
    /// The vantages in order: `local` first unless `local = false`, then
    /// `[[vantages]]` as written; and every well-formed name, for sites'
    /// lists (a vantage whose proxy is wrong is reported once, at its
    /// proxy, not again wherever a site names it).
    pub(super) fn vantages(
        &mut self,
        local: Option<bool>,
        raw: &[RawVantage],
    ) -> (Vec<Vantage>, Vec<String>) {
        let mut names = Vec::new();
        let mut out = Vec::new();
        if local != Some(false) {
            out.push(Vantage {
                name: LOCAL_VANTAGE.into(),
                proxy: None,
            });
            names.push(LOCAL_VANTAGE.to_string());
        }
        if raw.len() > MAX_VANTAGES {
            self.err(
                "vantages",
                format!("{} vantages; at most {MAX_VANTAGES} are allowed", raw.len()),
            );
        }
        for (i, v) in raw.iter().enumerate().take(MAX_VANTAGES) {
            let prefix = format!("vantages[{i}].");
            if let Err(why) = check_name(&v.name) {
                self.err(&format!("{prefix}name"), why);
                continue;
            }
            if v.name == LOCAL_VANTAGE {
                self.err(
                    &format!("{prefix}name"),
                    "`local` is this machine; name a proxy vantage otherwise (turn this machine off with `local = false`)",
                );
                continue;
            }
            if names.contains(&v.name) {
                self.err(
                    &format!("{prefix}name"),
                    format!("duplicate vantage name `{}`", v.name),
                );
                continue;
            }
            names.push(v.name.clone());
            match parse_proxy(&v.proxy) {
                Ok(p) => out.push(Vantage {
                    name: v.name.clone(),
                    proxy: Some(p),
                }),
                Err(why) => self.err(&format!("{prefix}proxy"), why),
            }
        }
        if out.is_empty() && raw.is_empty() {
            self.err(
                "local",
                "`local = false` with no [[vantages]] leaves nothing to probe from",
            );
        }
        (out, names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_forms() {
        let p = parse_proxy("socks5h://tor:s3cr%40t@127.0.0.1:9050").unwrap();
        assert_eq!(p.kind, ProxyKind::Socks5h);
        assert_eq!(p.addr, "127.0.0.1:9050".parse().unwrap());
        assert_eq!(p.auth, Some(("tor".into(), "s3cr@t".into())));
        assert_eq!(p.to_string(), "socks5h://tor@127.0.0.1:9050");
        assert!(!format!("{p:?}").contains("s3cr"));
        assert_eq!(
            parse_proxy("socks5://[::1]").unwrap().addr,
            "[::1]:1080".parse().unwrap()
        );
        assert_eq!(
            parse_proxy("http://127.0.0.1:3128").unwrap().kind,
            ProxyKind::HttpConnect
        );
        for bad in [
            "socks4://127.0.0.1:1080",
            "socks5h://proxy.test:1080",
            "http://127.0.0.1",
            "http://127.0.0.1:3128/path",
            "127.0.0.1:1080",
        ] {
            assert!(parse_proxy(bad).is_err(), "{bad} accepted");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_errs_without_panic(s in "\\PC{0,80}") {
            let _ = parse_proxy(&s);
        }
    }
}
