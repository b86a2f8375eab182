//! Hand-built rounds for the verdict tests: a healthy round per role and
//! the pieces rows edit.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::checks::RoundReport;
use crate::checks::connect::AddressReport;
use crate::checks::dns::{DnsReport, Outcome, ResolverAnswer, Transport};
use crate::checks::http::HttpReport;
use crate::checks::net::TcpReport;
use crate::checks::tls::{Handshake, TlsReport};
use crate::config::{ParityConfig, Role, Settings, Target};
use crate::parity::fingerprints::{FingerprintMatch, FpKind};
use crate::parity::{ContentReport, ParityReport, PathParity};

pub(crate) fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

pub(crate) fn now_s() -> i64 {
    1_800_000_000
}

pub(crate) fn target(role: Role) -> Target {
    let url = match role {
        Role::Main => "https://www.main.test/",
        Role::Mirror => "https://www.mirror.test/",
    };
    Target {
        site: "s".into(),
        url: url::Url::parse(url).expect("url"),
        vantage: crate::config::LOCAL_VANTAGE.into(),
        proxy: None,
        role,
        paths: vec!["/".into()],
        compared: true,
        primary: true,
        discovered: false,
        announces: false,
        parity: ParityConfig {
            min_similarity: 0.6,
            max_lag: Duration::from_secs(12),
        },
        settings: Settings::default().into(),
    }
}

pub(crate) fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

pub(crate) fn answer(resolver: &str, outcome: Outcome, addresses: &[IpAddr]) -> ResolverAnswer {
    ResolverAnswer {
        resolver: resolver.into(),
        transport: Transport::Udp,
        rcode: match outcome {
            Outcome::NxDomain => "NXDomain".into(),
            _ => "NoError".into(),
        },
        outcome,
        addresses: addresses.to_vec(),
        ttl: Some(60),
        latency_seconds: 0.001,
        reason: None,
        error: None,
        bogons: Vec::new(),
    }
}

pub(crate) fn tls_ok(not_after: i64) -> TlsReport {
    TlsReport {
        handshake: Handshake::Ok,
        seconds: 0.01,
        error: None,
        version: Some("TLSv1_3".into()),
        cipher: None,
        valid: true,
        validation_error: None,
        hostname_match: true,
        not_after: Some(not_after),
        chain: Default::default(),
    }
}

pub(crate) fn address(last: u8, tcp: bool, tls: Option<TlsReport>) -> AddressReport {
    let good = tcp && tls.as_ref().is_some_and(|t| t.valid);
    AddressReport {
        dest: crate::checks::proxy::Dest::Ip(ip(last)),
        resolvers: vec!["a".into()],
        tcp: TcpReport {
            ok: tcp,
            seconds: 0.001,
            stalled: false,
            error: (!tcp).then(|| "connection refused".into()),
        },
        tls,
        good,
    }
}

pub(crate) fn page(status: u16) -> HttpReport {
    HttpReport {
        path: "/".into(),
        ip: Some(ip(1)),
        status: Some(status),
        redirects: Vec::new(),
        final_url: "https://www.mirror.test/".into(),
        body_bytes: 1000,
        truncated: false,
        content_encoding: None,
        content_type: Some("text/html".into()),
        error: None,
        failed_stage: None,
        stalled: false,
        requested_at: now(),
        received_at: now(),
        body: bytes::Bytes::new(),
        body_digest: None,
    }
}

pub(crate) fn parity(similarity: f64, judged: bool, lag: f64, upper: Option<f64>) -> ParityReport {
    let path = PathParity {
        path: "/".into(),
        title: "World News".into(),
        similarity,
        title_match: true,
        length_ratio: 1.0,
        missing_articles: usize::from(lag > 0.0),
        lag_seconds: lag,
        lag_upper_seconds: upper,
        oldest_missing: (lag > 0.0).then(|| "/Detail/2026/11/27/700001/x".into()),
        oldest_missing_id: None,
        freshness_judged: judged,
        freshness_observed_at: judged.then(now),
        articles_on_mirror: 40,
        articles_shared: 40,
        articles_on_reference: 40,
        reference_fetched_at: now(),
        reference_age_seconds: 0.0,
    };
    ParityReport {
        mirror_title: Some(path.title.clone()),
        similarity,
        title_match: true,
        length_ratio: 1.0,
        missing_articles: path.missing_articles,
        lag_seconds: lag,
        reference_age_seconds: 0.0,
        paths: vec![path],
    }
}

/// A round's report and its content analysis, as `evaluate` takes them;
/// derefs to the report so rows edit both alike.
pub(crate) struct R {
    pub(crate) report: RoundReport,
    pub(crate) content: ContentReport,
}

impl std::ops::Deref for R {
    type Target = RoundReport;
    fn deref(&self) -> &RoundReport {
        &self.report
    }
}

impl std::ops::DerefMut for R {
    fn deref_mut(&mut self) -> &mut RoundReport {
        &mut self.report
    }
}

/// A round where everything worked: two agreeing resolvers, one good
/// address, a 200, and (for a mirror) an identical, judged-fresh page.
pub(crate) fn healthy(role: Role) -> R {
    let mut r = R {
        report: RoundReport::empty(now()),
        content: ContentReport::default(),
    };
    r.dns = DnsReport {
        looked_up: true,
        resolvers: vec![
            answer("a", Outcome::Answered, &[ip(1)]),
            answer("b", Outcome::Answered, &[ip(1)]),
        ],
        ns: None,
    };
    r.addresses = vec![address(1, true, Some(tls_ok(now_s() + 90 * 86400)))];
    r.http = vec![page(200)];
    if role == Role::Mirror {
        r.content.parity = Some(parity(0.97, true, 0.0, Some(0.0)));
    }
    r
}

/// Sets how many of the mirror's 40 articles main showed.
pub(crate) fn shared(r: &mut R, n: usize) {
    if let Some(p) = r.content.parity.as_mut() {
        p.paths[0].articles_shared = n;
    }
}

pub(crate) fn fingerprint(kind: FpKind) -> FingerprintMatch {
    FingerprintMatch {
        name: "fp".into(),
        kind,
        evidence: "banner".into(),
    }
}
