//! Vantage points end to end, on loopback: the world's SOCKS5 and HTTP
//! CONNECT proxies play censoring networks (SNI reset, refused destination,
//! a name that "does not exist", an interception box), a proxy that is down
//! and one that refuses the credentials. Single rounds go through `probe`;
//! the daemon test watches a mirror that is up locally and blocked through
//! the censoring vantage, raises `blocked_somewhere`, keeps it while that
//! vantage's proxy is down (no evidence), and resolves it once the censor
//! lets go.

use std::sync::OnceLock;
use std::time::Duration;

use mirrorwatch::checks::proxy::Dest;
use mirrorwatch::config::vantage::parse_proxy;
use mirrorwatch::config::{Settings, Vantage, validate_resolver};
use mirrorwatch::probe::{ProbeResult, probe};
use mirrorwatch::verdict::Kind;
use mirrorwatch::verdict::state::State;
use mirrorwatch::world::proxies::{Censor, Flavour, ProxyServer};

mod common;
use common::*;

const MAIN: &str = "www.main.test";
const HEALTHY: &str = "www.healthy.test";
const REFUSED: &str = "www.noisy.test";
const MISSING: &str = "www.stale.test";
const DIVERTED: &str = "www.hostile.test";

struct Vp {
    env: Env,
    /// SOCKS5 censor: resets HEALTHY's ClientHello, refuses REFUSED, says
    /// MISSING does not exist, diverts DIVERTED to a self-signed box.
    socks: ProxyServer,
    /// HTTP CONNECT with credentials `u`/`p`, refusing REFUSED.
    connect: ProxyServer,
}

fn vp() -> &'static Vp {
    static VP: OnceLock<Vp> = OnceLock::new();
    VP.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let env = start_world();
        let zone = env.world.zone.clone();
        let hijack = format!("127.0.0.4:{}", env.world.port)
            .parse()
            .expect("addr");
        let censor = Censor {
            reset_sni: [HEALTHY.to_string()].into(),
            refuse: [REFUSED.to_string()].into(),
            nxdomain: [MISSING.to_string()].into(),
            divert: [(DIVERTED.to_string(), hijack)].into(),
        };
        let socks = env
            .rt
            .block_on(ProxyServer::start(
                Flavour::Socks5,
                zone.clone(),
                None,
                censor,
            ))
            .expect("socks proxy");
        let connect_censor = Censor {
            refuse: [REFUSED.to_string()].into(),
            ..Censor::default()
        };
        let auth = Some(("u".to_string(), "p".to_string()));
        let connect = env
            .rt
            .block_on(ProxyServer::start(
                Flavour::Connect,
                zone,
                auth,
                connect_censor,
            ))
            .expect("connect proxy");
        Vp {
            env,
            socks,
            connect,
        }
    })
}

/// One round of `host` through `proxy` (a proxy URL; `None`: locally).
fn run(host: &str, proxy: Option<&str>) -> ProbeResult {
    let v = vp();
    let settings = Settings {
        resolvers: vec![validate_resolver(&v.env.world.dns.to_string()).expect("resolver")],
        ca_file: Some(v.env.ca_file.clone().into()),
        timeout: Duration::from_secs(3),
        ..Settings::default()
    };
    let vantage = proxy.map(|p| Vantage {
        name: "vp".into(),
        proxy: Some(parse_proxy(p).expect("proxy")),
    });
    let url = url::Url::parse(&v.env.world.url(host)).expect("url");
    v.env
        .rt
        .block_on(probe(url, None, settings, vantage, None))
        .expect("probe")
}

fn kinds(r: &ProbeResult) -> Vec<Kind> {
    r.verdict.findings.iter().map(|f| f.kind).collect()
}

fn detail(r: &ProbeResult) -> String {
    r.verdict
        .findings
        .first()
        .map(|f| f.detail.clone())
        .unwrap_or_default()
}

#[test]
fn through_socks5h_the_name_goes_to_the_proxy_and_dns_is_not_judged() {
    let r = run(MAIN, Some(&vp().socks.url(None)));
    assert_eq!(kinds(&r), vec![], "{:?}", r.verdict.findings);
    assert_eq!(r.state, State::Up);
    assert!(!r.report.dns.looked_up, "resolvers asked through socks5h");
    let dests: Vec<&Dest> = r.report.addresses.iter().map(|a| &a.dest).collect();
    assert_eq!(dests, vec![&Dest::Name(MAIN.into())]);
    assert_eq!(
        r.verdict.undetermined,
        vec![Kind::DnsFailure, Kind::DnsInconsistent, Kind::PartialOutage]
    );
    let v = r.report.vantage.as_ref().expect("vantage report");
    assert!(v.dns_hidden && v.fault.is_none(), "{v:?}");
}

#[test]
fn through_socks5_dns_is_local_and_every_address_is_dialed_through_the_proxy() {
    let url = vp().socks.url(None).replace("socks5h://", "socks5://");
    let r = run(MAIN, Some(&url));
    assert_eq!(kinds(&r), vec![], "{:?}", r.verdict.findings);
    assert!(r.report.dns.looked_up);
    let dests: Vec<&Dest> = r.report.addresses.iter().map(|a| &a.dest).collect();
    assert_eq!(dests, vec![&Dest::Ip("127.0.0.1".parse().expect("ip"))]);
    assert!(
        r.verdict.undetermined.is_empty(),
        "{:?}",
        r.verdict.undetermined
    );
}

#[test]
fn an_sni_reset_fails_tls_through_the_censor_while_the_site_is_up_locally() {
    assert_eq!(run(HEALTHY, None).state, State::Up);
    let r = run(HEALTHY, Some(&vp().socks.url(None)));
    assert_eq!(
        kinds(&r),
        vec![Kind::TlsInvalid],
        "{:?}",
        r.verdict.findings
    );
    assert_eq!(r.state, State::Down);
    assert!(
        detail(&r).ends_with(&format!("on {HEALTHY}")),
        "{}",
        detail(&r)
    );
}

#[test]
fn a_refused_destination_is_a_connect_failure_naming_the_proxys_answer() {
    let r = run(REFUSED, Some(&vp().socks.url(None)));
    assert_eq!(kinds(&r), vec![Kind::ConnectFailure]);
    assert!(
        detail(&r).contains("connection not allowed by ruleset"),
        "{}",
        detail(&r)
    );
    let c = run(REFUSED, Some(&vp().connect.url(Some(("u", "p")))));
    assert_eq!(kinds(&c), vec![Kind::ConnectFailure]);
    assert!(detail(&c).contains("with 403 Forbidden"), "{}", detail(&c));
}

#[test]
fn a_name_the_censor_denies_and_an_interception_box_are_judged_like_the_real_thing() {
    let missing = run(MISSING, Some(&vp().socks.url(None)));
    assert_eq!(kinds(&missing), vec![Kind::ConnectFailure]);
    assert!(
        detail(&missing).contains("host unreachable"),
        "{}",
        detail(&missing)
    );
    let diverted = run(DIVERTED, Some(&vp().socks.url(None)));
    assert_eq!(
        kinds(&diverted),
        vec![Kind::TlsInvalid],
        "{:?}",
        diverted.verdict.findings
    );
}

#[test]
fn http_connect_with_credentials_is_up_and_wrong_credentials_are_the_vantages_fault() {
    let ok = run(MAIN, Some(&vp().connect.url(Some(("u", "p")))));
    assert_eq!(kinds(&ok), vec![], "{:?}", ok.verdict.findings);
    assert_eq!(ok.state, State::Up);
    let bad = run(MAIN, Some(&vp().connect.url(Some(("u", "wrong")))));
    assert_eq!(kinds(&bad), vec![]);
    assert_eq!(bad.state, State::Unknown, "a failed proxy is no evidence");
    assert_eq!(bad.verdict.undetermined, Kind::ALL.to_vec());
    let fault = bad.report.vantage.as_ref().and_then(|v| v.fault.clone());
    assert!(
        fault.as_deref().is_some_and(|f| f.contains("407")),
        "{fault:?}"
    );
}

#[test]
fn a_proxy_that_is_down_gives_no_evidence() {
    let dead = format!("socks5h://127.0.0.2:{}", free_port());
    let r = run(MAIN, Some(&dead));
    assert_eq!(kinds(&r), vec![]);
    assert_eq!(r.state, State::Unknown);
    let fault = r.report.vantage.as_ref().and_then(|v| v.fault.clone());
    assert!(
        fault.as_deref().is_some_and(|f| f.contains("unreachable")),
        "{fault:?}"
    );
}

#[test]
fn the_daemon_raises_blocked_somewhere_keeps_it_while_the_vantage_is_down_and_resolves_it() {
    let v = vp();
    let env = &v.env;
    // A censor of its own: this test changes what it does.
    let censor = Censor {
        reset_sni: [HEALTHY.to_string()].into(),
        ..Censor::default()
    };
    let proxy = env
        .rt
        .block_on(ProxyServer::start(
            Flavour::Socks5,
            env.world.zone.clone(),
            None,
            censor,
        ))
        .expect("proxy");
    let hook = start_webhook(format!("127.0.0.1:{}", free_port()).parse().expect("addr"));
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let config = format!(
        "local = true\n\n[server]\nlisten = \"{listen}\"\n\n[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         resolvers = [\"{}\"]\nca_file = \"{}\"\nfailure_threshold = 1\nsuccess_threshold = 1\n\n\
         [[vantages]]\nname = \"censor\"\nproxy = \"{}\"\n\n\
         [[sites]]\nname = \"news\"\nmain = \"{}\"\nmirrors = [\"{}\"]\n\n\
         [[alerting.webhook]]\nurl = \"http://{}/hook\"\n",
        env.world.dns,
        env.ca_file,
        proxy.url(None),
        env.world.url(MAIN),
        env.world.url(HEALTHY),
        hook.addr,
    );
    let path = env.dir.path().join("vantages.toml");
    std::fs::write(&path, config).expect("config");
    let d = start_daemon_with(&path, &listen, &[]);
    wait_ready(&d);
    let mirror = format!("{HEALTHY}:{}", env.world.port);
    let want = format!("{mirror} down from censor (tls_invalid); reachable from local");
    let site_problem = |d: &Daemon| {
        let s = status_json(d);
        s["sites"][0]["problems"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    wait_for("blocked_somewhere", Duration::from_secs(20), || {
        let p = site_problem(&d);
        (p.len() == 1 && p[0]["kind"] == "blocked_somewhere" && p[0]["detail"] == want.as_str())
            .then_some(())
    });
    let m = metrics_text(&d);
    let labels = |vantage: &'static str| vec![("target", mirror.as_str()), ("vantage", vantage)];
    assert_eq!(metric(&m, "mirrorwatch_up", &labels("local")), Some(1.0));
    assert_eq!(metric(&m, "mirrorwatch_up", &labels("censor")), Some(0.0));
    assert_eq!(
        metric(
            &m,
            "mirrorwatch_site_problem",
            &[("site", "news"), ("kind", "blocked_somewhere")]
        ),
        Some(1.0)
    );
    assert_eq!(
        metric(&m, "mirrorwatch_vantage_up", &[("vantage", "censor")]),
        Some(1.0)
    );
    wait_for(
        "SiteBlockedSomewhere fired",
        Duration::from_secs(10),
        || {
            webhook_events(&hook)
                .contains(&(
                    "firing".into(),
                    "SiteBlockedSomewhere".into(),
                    String::new(),
                ))
                .then_some(())
        },
    );

    // The censoring vantage's proxy goes down: its rounds are no evidence,
    // so the mirror stays down from there and the site problem stays.
    proxy.set_down(true);
    proxy.censor(|c| c.reset_sni.clear());
    wait_for("vantage down", Duration::from_secs(10), || {
        (metric(
            &metrics_text(&d),
            "mirrorwatch_vantage_up",
            &[("vantage", "censor")],
        ) == Some(0.0))
        .then_some(())
    });
    let rounds = |d: &Daemon| {
        let s = status_json(d);
        s["sites"][0]["targets"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["vantage"] == "censor" && t["target"] == mirror.as_str())
            .map(|t| (t["rounds"].as_u64().unwrap_or(0), t["state"].clone()))
            .unwrap_or_default()
    };
    let (before, _) = rounds(&d);
    wait_for(
        "three rounds through the dead proxy",
        Duration::from_secs(10),
        || {
            let (n, state) = rounds(&d);
            assert_eq!(state, "down", "a dead proxy cleared the problem");
            (n >= before + 3).then_some(())
        },
    );
    assert_eq!(site_problem(&d).len(), 1);
    assert!(!webhook_events(&hook).iter().any(|e| e.0 == "resolved"));

    // The proxy comes back and no longer censors: the mirror is up from
    // both vantages and the site alert resolves.
    proxy.set_down(false);
    wait_for(
        "SiteBlockedSomewhere resolved",
        Duration::from_secs(20),
        || {
            webhook_events(&hook)
                .contains(&(
                    "resolved".into(),
                    "SiteBlockedSomewhere".into(),
                    String::new(),
                ))
                .then_some(())
        },
    );
    assert_eq!(site_problem(&d), Vec::<serde_json::Value>::new());
}

#[test]
fn the_probe_endpoint_answers_like_blackbox_exporter_from_any_vantage_and_is_off_by_default() {
    let v = vp();
    let env = &v.env;
    let config = |listen: &str, on: bool| {
        format!(
            "[server]\nlisten = \"{listen}\"\nprobe_endpoint = {on}\n\n[defaults]\ninterval = \"30s\"\ntimeout = \"2s\"\n\
             resolvers = [\"{}\"]\nca_file = \"{}\"\n\n\
             [[vantages]]\nname = \"censor\"\nproxy = \"{}\"\n\n\
             [[sites]]\nname = \"news\"\nmain = \"{}\"\n",
            env.world.dns,
            env.ca_file,
            v.socks.url(None),
            env.world.url(MAIN),
        )
    };
    let start = |on: bool| {
        let listen = format!("127.0.0.1:{}", free_port());
        let path = env
            .dir
            .path()
            .join(format!("probe-{on}-{}.toml", free_port()));
        std::fs::write(&path, config(&listen, on)).expect("config");
        let d = start_daemon_with(&path, &listen, &[]);
        wait_ready(&d);
        d
    };
    let off = start(false);
    let target = env.world.url(HEALTHY);
    let (code, _) = get(&format!("{}/probe?target={target}", off.base)).expect("answer");
    assert_eq!(code, 404, "the endpoint is off unless configured");
    drop(off);

    let d = start(true);
    let (code, body) = get(&format!("{}/probe?target={target}", d.base)).expect("answer");
    assert_eq!(code, 200, "{body}");
    assert_eq!(metric(&body, "probe_success", &[]), Some(1.0), "{body}");
    assert!(metric(&body, "probe_duration_seconds", &[]).is_some_and(|s| s > 0.0 && s < 3.0));
    let label = format!("{HEALTHY}:{}", env.world.port);
    let me_port = [("target", label.as_str()), ("vantage", "local")];
    assert_eq!(
        metric(&body, "mirrorwatch_http_status_code", &me_port),
        Some(200.0),
        "{body}"
    );
    assert_eq!(metric(&body, "mirrorwatch_up", &me_port), Some(1.0));

    let (code, body) =
        get(&format!("{}/probe?target={target}&vantage=censor", d.base)).expect("answer");
    assert_eq!(code, 200, "{body}");
    assert_eq!(metric(&body, "probe_success", &[]), Some(0.0), "{body}");
    let censored = [
        ("target", label.as_str()),
        ("vantage", "censor"),
        ("kind", "tls_invalid"),
    ];
    assert_eq!(
        metric(&body, "mirrorwatch_problem", &censored),
        Some(1.0),
        "{body}"
    );

    for (query, want) in [
        (format!("target={target}&vantage=mars"), 400),
        ("target=ftp://www.main.test/".to_string(), 400),
        (String::new(), 400),
    ] {
        let (code, body) = get(&format!("{}/probe?{query}", d.base)).expect("answer");
        assert_eq!(code, want, "{query}: {body}");
    }
}
