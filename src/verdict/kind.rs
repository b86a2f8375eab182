//! The fixed problem vocabulary (SPEC section 3): kinds, their severities,
//! names and alert names.

use serde::Serialize;

/// The fixed problem vocabulary (SPEC section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    DomainHold,
    DomainExpiring,
    DnsFailure,
    DnsInconsistent,
    ConnectFailure,
    PartialOutage,
    TlsInvalid,
    TlsExpiring,
    HttpError,
    RedirectOffsite,
    Seized,
    Blockpage,
    ContentMismatch,
    ContentStale,
    InternalError,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Site notices only: no address's state changes.
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::DomainHold,
        Kind::DomainExpiring,
        Kind::DnsFailure,
        Kind::DnsInconsistent,
        Kind::ConnectFailure,
        Kind::PartialOutage,
        Kind::TlsInvalid,
        Kind::TlsExpiring,
        Kind::HttpError,
        Kind::RedirectOffsite,
        Kind::Seized,
        Kind::Blockpage,
        Kind::ContentMismatch,
        Kind::ContentStale,
        Kind::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::DomainHold => "domain_hold",
            Kind::DomainExpiring => "domain_expiring",
            Kind::DnsFailure => "dns_failure",
            Kind::DnsInconsistent => "dns_inconsistent",
            Kind::ConnectFailure => "connect_failure",
            Kind::PartialOutage => "partial_outage",
            Kind::TlsInvalid => "tls_invalid",
            Kind::TlsExpiring => "tls_expiring",
            Kind::HttpError => "http_error",
            Kind::RedirectOffsite => "redirect_offsite",
            Kind::Seized => "seized",
            Kind::Blockpage => "blockpage",
            Kind::ContentMismatch => "content_mismatch",
            Kind::ContentStale => "content_stale",
            Kind::InternalError => "internal_error",
        }
    }

    /// Parses `as_str`'s output back.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The alert name: `Mirror` + the kind in CamelCase (`MirrorDnsFailure`).
    pub fn alert_name(self) -> String {
        let camel: String = self
            .as_str()
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        format!("Mirror{camel}")
    }

    pub fn severity(self) -> Severity {
        match self {
            Kind::DnsInconsistent
            | Kind::DomainExpiring
            | Kind::PartialOutage
            | Kind::TlsExpiring
            | Kind::ContentStale => Severity::Warning,
            _ => Severity::Critical,
        }
    }
}
