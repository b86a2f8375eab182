//! The simulated mirror network (SPEC section 8), on loopback only: an
//! authoritative DNS server for `*.test`, a second "tampering" resolver, a
//! private CA, TLS virtual hosts with SNI, a blackhole listener, and a
//! generated news homepage. Tests build their world from here (and so will
//! `mirrorwatch demo`), so there is one copy of it.
//!
//! Addresses: every healthy vhost lives on 127.0.0.1:PORT; 127.0.0.2:PORT is
//! dead (nothing listens), 127.0.0.3:PORT is a blackhole and 127.0.0.4:PORT a
//! hijacker with a self-signed certificate (what the tampering resolver
//! points at).

pub mod busy;
pub mod demo;
pub mod dns;
mod fault_dns;
pub mod faults;
pub mod https;
pub mod pages;
pub mod pki;
pub mod proxies;
pub mod registry;
pub mod resolvers;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use self::https::{Behavior, Vhost};
use self::pages::Noise;
use self::pki::{Ca, CertKind};

const LIVE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const DEAD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const BLACKHOLE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const HIJACK: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4));

/// The main site's host.
pub const MAIN_HOST: &str = "www.main.test";

/// The hostile mirror's site title: markup that must only ever show as text.
pub const HOSTILE_TITLE: &str =
    "World News <img src=x onerror=\"document.body.setAttribute('data-pwned','yes')\">";

/// How often the main site (and every in-sync mirror) publishes an article.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(3);

/// A site under a suffix tests declare public (`public_suffixes`), whose
/// tampered answer is a bogon: [`PUBLIC_BOGON`].
pub const PUBLIC_HOST: &str = "www.news.pub.test";

/// What the tampering resolver answers for [`PUBLIC_HOST`]: a loopback
/// address nothing listens on, so the injection stays on this machine.
pub const PUBLIC_BOGON: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 10, 34, 34));

/// A main site like [`MAIN_HOST`] whose pages announce alternate
/// addresses ([`pages::ANNOUNCED`]).
pub const ANNOUNCER_HOST: &str = "www.announcer.test";

/// The busy site's main host (see `busy`).
pub const BUSY_HOST: &str = "www.busy.test";

/// How far behind the busy site's stale mirror serves main's page.
pub const BUSY_STALE_BEHIND: Duration = Duration::from_secs(30);

/// One address of the world and what it demonstrates.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Short name, e.g. `expired_cert`.
    pub name: &'static str,
    pub host: String,
    /// Its URL (https, except the plain-HTTP blockpage).
    pub url: String,
    /// The `target` label mirrorwatch gives it (`host:port`).
    pub label: String,
}

/// A running world; everything stops when it is dropped.
pub struct World {
    /// The authoritative resolver.
    pub dns: std::net::SocketAddr,
    /// Same zone, but lies about some names.
    pub tamper_dns: std::net::SocketAddr,
    /// DoT and DoH servers answering from the honest zone.
    pub encrypted: resolvers::Encrypted,
    /// The honest zone, for the world's proxies to resolve names from.
    pub zone: Arc<dns::Zone>,
    /// The HTTPS port every vhost uses.
    pub port: u16,
    /// The plain-HTTP port (127.0.0.1).
    pub http_port: u16,
    /// The private CA, PEM: give it to mirrorwatch as `ca_file`.
    pub ca_pem: String,
    ca: Ca,
    /// Mirror scenarios (the main site is [`MAIN_HOST`]).
    pub scenarios: Vec<Scenario>,
    /// The busy site: its main ([`BUSY_HOST`], `busy_main`) and mirrors
    /// (`busy_healthy`, `busy_tampered`, `busy_halfdead`, `busy_stale`).
    pub busy: Vec<Scenario>,
    flappy: Arc<std::sync::atomic::AtomicBool>,
    /// How many alternate addresses [`ANNOUNCER_HOST`] lists.
    announced: Arc<std::sync::atomic::AtomicUsize>,
    _dns: Vec<dns::DnsServer>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for World {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// (scenario, host, addresses, certificate, behaviour, plain HTTP).
type Spec = (
    &'static str,
    &'static str,
    Vec<IpAddr>,
    CertKind,
    Behavior,
    bool,
);

impl World {
    /// Starts the world on loopback.
    pub async fn start() -> anyhow::Result<Self> {
        let ca = Ca::new()?;
        let (tls_listener, blackhole, hijack, port) =
            https::bind_trio(LIVE, BLACKHOLE, HIJACK).await?;
        let plain = TcpListener::bind((LIVE, 0)).await?;
        let http_port = plain.local_addr()?.port();
        let main_url = format!("https://{MAIN_HOST}:{port}/");
        let feed = Arc::new(pages::Feed {
            start: tokio::time::Instant::now().into_std(),
            initial: 40,
            every: PUBLISH_EVERY,
            shown: 30,
        });
        let page = |frozen: bool, noise: Noise, gzip: bool| Behavior::Page {
            title: "World News Network".into(),
            feed: feed.clone(),
            frozen,
            noise,
            gzip,
        };
        let live = page(false, Noise::default(), false);
        // A copy whose title tries to inject markup into whatever shows it.
        let hostile = Behavior::Page {
            title: HOSTILE_TITLE.into(),
            feed: feed.clone(),
            frozen: false,
            noise: Noise::default(),
            gzip: false,
        };
        let noisy = page(
            false,
            Noise {
                swap_blocks: true,
                cache_busters: true,
                ad: 1,
                announce: 0,
                announce_port: 0,
            },
            true,
        );
        let fixed = |status: u16, body: String| Behavior::Fixed { status, body };
        let flappy = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let switch = Behavior::Switch {
            down: flappy.clone(),
            up: Box::new(live.clone()),
        };
        let busy_feed = Arc::new(busy::BusyFeed::new(
            tokio::time::Instant::now().into_std(),
            Duration::from_secs(6 * 3600),
        ));
        let busy_page = |behind: Duration| Behavior::Busy {
            title: "Busy News Network".into(),
            feed: busy_feed.clone(),
            behind,
        };
        let busy_live = busy_page(Duration::ZERO);
        let specs: Vec<Spec> = vec![
            (
                "busy_main",
                BUSY_HOST,
                vec![LIVE],
                CertKind::Valid,
                busy_live.clone(),
                false,
            ),
            (
                "busy_healthy",
                "www.busy-copy.test",
                vec![LIVE],
                CertKind::Valid,
                busy_live.clone(),
                false,
            ),
            (
                "busy_tampered",
                "www.busy-tampered.test",
                vec![LIVE],
                CertKind::Valid,
                busy_live.clone(),
                false,
            ),
            (
                "busy_halfdead",
                "www.busy-halfdead.test",
                vec![LIVE, DEAD],
                CertKind::Valid,
                busy_live,
                false,
            ),
            (
                "busy_stale",
                "www.busy-stale.test",
                vec![LIVE],
                CertKind::Valid,
                busy_page(BUSY_STALE_BEHIND),
                false,
            ),
            (
                "main",
                MAIN_HOST,
                vec![LIVE],
                CertKind::Valid,
                live.clone(),
                false,
            ),
            (
                "healthy",
                "www.healthy.test",
                vec![LIVE],
                CertKind::Valid,
                live.clone(),
                false,
            ),
            (
                "flappy",
                "www.flappy.test",
                vec![LIVE],
                CertKind::Valid,
                switch,
                false,
            ),
            (
                "hostile_title",
                "www.hostile.test",
                vec![LIVE],
                CertKind::Valid,
                hostile,
                false,
            ),
            (
                "noisy_in_sync",
                "www.noisy.test",
                vec![LIVE],
                CertKind::Valid,
                noisy,
                false,
            ),
            (
                "stale",
                "www.stale.test",
                vec![LIVE],
                CertKind::Valid,
                page(true, Noise::default(), false),
                false,
            ),
            (
                "seized",
                "www.seized.test",
                vec![LIVE],
                CertKind::Valid,
                fixed(403, pages::seized()),
                false,
            ),
            (
                "parked",
                "www.parked.test",
                vec![LIVE],
                CertKind::Valid,
                fixed(200, pages::parked("www.parked.test")),
                false,
            ),
            (
                "blockpage_http",
                "www.blocked.test",
                vec![LIVE],
                CertKind::Valid,
                fixed(200, pages::blockpage()),
                true,
            ),
            (
                "expired_cert",
                "www.expired.test",
                vec![LIVE],
                CertKind::Expired,
                live.clone(),
                false,
            ),
            (
                "wrong_host_cert",
                "www.wronghost.test",
                vec![LIVE],
                CertKind::WrongHost,
                live.clone(),
                false,
            ),
            (
                "expiring_cert",
                "www.expiring.test",
                vec![LIVE],
                CertKind::ExpiresInDays(5),
                live.clone(),
                false,
            ),
            (
                "blackhole",
                "www.blackhole.test",
                vec![BLACKHOLE],
                CertKind::Valid,
                live.clone(),
                false,
            ),
            (
                "http_503",
                "www.unavailable.test",
                vec![LIVE],
                CertKind::Valid,
                fixed(503, "<h1>503</h1><p>Service unavailable.</p>".into()),
                false,
            ),
            (
                "redirect_to_main",
                "www.redirect.test",
                vec![LIVE],
                CertKind::Valid,
                Behavior::Redirect(main_url),
                false,
            ),
            (
                "tampered_dns",
                "www.tampered.test",
                vec![LIVE],
                CertKind::Valid,
                live.clone(),
                false,
            ),
            (
                "one_dead_address",
                "www.halfdead.test",
                vec![LIVE, DEAD],
                CertKind::Valid,
                live.clone(),
                false,
            ),
        ];
        let mut zone = dns::Zone::default();
        let mut vhosts = HashMap::new();
        let mut hijacked = HashMap::new();
        let mut scenarios = Vec::new();
        for (name, host, ips, cert, behavior, plain_http) in specs {
            zone.hosts.insert(host.to_string(), ips);
            vhosts.insert(
                host.to_string(),
                Vhost {
                    cert: ca.leaf(host, cert)?,
                    behavior: behavior.clone(),
                },
            );
            hijacked.insert(
                host.to_string(),
                Vhost {
                    cert: ca.leaf(host, CertKind::SelfSigned)?,
                    behavior,
                },
            );
            let (scheme, p) = if plain_http {
                ("http", http_port)
            } else {
                ("https", port)
            };
            scenarios.push(Scenario {
                name,
                host: host.to_string(),
                url: format!("{scheme}://{host}:{p}/"),
                label: format!("{host}:{p}"),
            });
        }
        // Hosts that are no scenario of the whole-world site.
        let announced = Arc::new(std::sync::atomic::AtomicUsize::new(pages::ANNOUNCED.len()));
        let announcing = Behavior::Announcing {
            listed: announced.clone(),
            port,
            page: Box::new(live.clone()),
        };
        for (host, behavior) in [
            (PUBLIC_HOST, &live),
            (resolvers::DNS_HOST, &live),
            (ANNOUNCER_HOST, &announcing),
        ] {
            zone.hosts.insert(host.to_string(), vec![LIVE]);
            vhosts.insert(
                host.to_string(),
                Vhost {
                    cert: ca.leaf(host, CertKind::Valid)?,
                    behavior: behavior.clone(),
                },
            );
        }
        // NXDOMAIN: in no zone at all.
        scenarios.push(Scenario {
            name: "nxdomain",
            host: "www.gone.test".into(),
            url: format!("https://www.gone.test:{port}/"),
            label: format!("www.gone.test:{port}"),
        });
        let mut tampered = zone.clone();
        for host in ["www.tampered.test", "www.busy-tampered.test"] {
            tampered.hosts.insert(host.into(), vec![HIJACK]);
        }
        tampered
            .hosts
            .insert(PUBLIC_HOST.into(), vec![PUBLIC_BOGON]);
        let encrypted = resolvers::start(Arc::new(zone.clone()), &ca).await?;
        let (busy, scenarios): (Vec<Scenario>, Vec<Scenario>) = scenarios
            .into_iter()
            .partition(|s| s.name.starts_with("busy"));
        let shared_zone = Arc::new(zone.clone());
        let authoritative = dns::serve(zone).await?;
        let tamperer = dns::serve(tampered).await?;
        let vhosts = Arc::new(vhosts);
        let tasks = vec![
            tokio::spawn(https::serve_tls(tls_listener, vhosts.clone())),
            tokio::spawn(https::serve_plain(plain, vhosts)),
            tokio::spawn(https::serve_blackhole(blackhole)),
            tokio::spawn(https::serve_tls(hijack, Arc::new(hijacked))),
        ];
        Ok(Self {
            dns: authoritative.addr,
            tamper_dns: tamperer.addr,
            encrypted,
            zone: shared_zone,
            port,
            http_port,
            flappy,
            announced,
            ca_pem: ca.pem.clone(),
            ca,
            scenarios,
            busy,
            _dns: vec![authoritative, tamperer],
            tasks,
        })
    }

    /// A certificate for `name` signed by the world's CA: (cert PEM, key PEM).
    pub fn issue(&self, name: &str) -> anyhow::Result<(String, String)> {
        Ok(self.ca.issue_pem(name)?)
    }

    /// Makes [`ANNOUNCER_HOST`] list only the first `n` of
    /// [`pages::ANNOUNCED`] (0: no list at all).
    pub fn set_announced(&self, n: usize) {
        self.announced
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Makes the `flappy` scenario answer 503 (`true`) or its page.
    pub fn set_flappy_down(&self, down: bool) {
        self.flappy
            .store(down, std::sync::atomic::Ordering::Relaxed);
    }

    /// The scenario called `name`.
    pub fn scenario(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }

    /// The busy site's scenario called `name`.
    pub fn busy_scenario(&self, name: &str) -> Option<&Scenario> {
        self.busy.iter().find(|s| s.name == name)
    }

    /// A config watching the busy site (main and its four mirrors) through
    /// the honest, tampering and DoH resolvers, with the given thresholds and parity `max_lag`, and
    /// `extra` TOML appended (storage, alerting).
    #[allow(clippy::too_many_arguments)]
    pub fn busy_config_toml(
        &self,
        listen: &str,
        ca_file: &str,
        interval: &str,
        timeout: &str,
        max_lag: &str,
        thresholds: (u32, u32),
        extra: &str,
    ) -> String {
        let watch = Watch {
            listen,
            ca_file,
            interval,
            timeout,
            max_lag,
            thresholds,
            extra,
        };
        self.one_site(&watch, "busy", BUSY_HOST, &self.busy)
    }

    /// One site's config: `main` and every other of `scenarios` as mirrors.
    pub(crate) fn one_site(
        &self,
        w: &Watch<'_>,
        name: &str,
        main: &str,
        scenarios: &[Scenario],
    ) -> String {
        let mirrors: Vec<String> = scenarios
            .iter()
            .filter(|s| s.host != main)
            .map(|s| format!("\"{}\"", s.url))
            .collect();
        let Watch {
            listen,
            ca_file,
            interval,
            timeout,
            max_lag,
            thresholds: (fail, succeed),
            extra,
        } = w;
        format!(
            "[server]\nlisten = \"{listen}\"\n\n[defaults]\ninterval = \"{interval}\"\ntimeout = \"{timeout}\"\n\
             resolvers = [\"{}\", \"{}\", \"{}\"]\nca_file = \"{ca_file}\"\nfailure_threshold = {fail}\nsuccess_threshold = {succeed}\n\
             cert_warning = \"14d\"\n{extra}\n\n[[sites]]\nname = \"{name}\"\nmain = \"{}\"\nmirrors = [\n  {}\n]\n\
             [sites.parity]\nmin_similarity = 0.6\nmax_lag = \"{max_lag}\"\n",
            self.dns,
            self.tamper_dns,
            self.encrypted.doh_spec(),
            self.url(main),
            mirrors.join(",\n  ")
        )
    }

    /// `https://HOST:PORT/` for a world host.
    pub fn url(&self, host: &str) -> String {
        format!("https://{host}:{}/", self.port)
    }

    /// A config watching the whole world as one site (main + every scenario
    /// as a mirror), through the honest, the tampering and the DoH
    /// resolver, trusting the world's CA at
    /// `ca_file`, with thresholds of 1 and parity's `max_lag`.
    pub fn config_toml(
        &self,
        listen: &str,
        ca_file: &str,
        interval: &str,
        timeout: &str,
        max_lag: &str,
    ) -> String {
        self.whole_world(listen, ca_file, (interval, timeout, max_lag), "")
    }

    /// Every scenario as a mirror of [`MAIN_HOST`] (site `world`), with
    /// thresholds of 1 and `extra` in `[defaults]`.
    pub(crate) fn whole_world(
        &self,
        listen: &str,
        ca_file: &str,
        (interval, timeout, max_lag): (&str, &str, &str),
        extra: &str,
    ) -> String {
        let watch = Watch {
            listen,
            ca_file,
            interval,
            timeout,
            max_lag,
            thresholds: (1, 1),
            extra,
        };
        self.one_site(&watch, "world", MAIN_HOST, &self.scenarios)
    }
}

/// What a generated config watches with.
pub(crate) struct Watch<'a> {
    listen: &'a str,
    ca_file: &'a str,
    interval: &'a str,
    timeout: &'a str,
    max_lag: &'a str,
    thresholds: (u32, u32),
    extra: &'a str,
}
