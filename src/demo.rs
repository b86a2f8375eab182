//! `mirrorwatch demo`: the simulated mirror network of SPEC section 8 on
//! loopback, with the daemon watching it, so a newcomer sees every verdict,
//! metric and status-page row without touching the internet. The world is
//! the one the tests use (`crate::world`).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;

use crate::daemon::{self, Source};
use crate::world::World;
use crate::world::demo::{DEMO_BLOCKED_HOST, DEMO_VANTAGE};
use crate::world::proxies::{Censor, Flavour, ProxyServer};
use crate::world::registry::RegistryWorld;

/// How often the demo checks each address, its round timeout and parity's
/// max lag (the world's main site publishes every 3 s).
const INTERVAL: &str = "10s";
const TIMEOUT: &str = "3s";
const MAX_LAG: &str = "30s";

/// Runs the world and the daemon until SIGTERM/SIGINT.
pub async fn run(listen: SocketAddr) -> anyhow::Result<()> {
    let world = World::start()
        .await
        .context("starting the simulated world")?;
    let dir: PathBuf =
        std::env::temp_dir().join(format!("mirrorwatch-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let ca = dir.join("world-ca.pem");
    std::fs::write(&ca, &world.ca_pem).with_context(|| format!("writing {}", ca.display()))?;
    let censor = Censor {
        reset_sni: [DEMO_BLOCKED_HOST.to_string()].into(),
        ..Censor::default()
    };
    let proxy = ProxyServer::start(Flavour::Socks5, world.zone.clone(), None, censor)
        .await
        .context("starting the censoring vantage's proxy")?;
    let registry = RegistryWorld::start(&crate::world::demo::registry_fixtures())
        .await
        .context("starting the simulated registry")?;
    let text = world.demo_config_toml(
        &listen.to_string(),
        &ca.display().to_string(),
        (INTERVAL, TIMEOUT, MAX_LAG),
        &proxy.url(None),
        &registry.config_section(),
    );
    let source = Source::Text {
        text,
        name: "<demo>".into(),
        base: dir.clone(),
    };
    let config = source
        .load()
        .map_err(|e| anyhow::anyhow!("demo config: {e}"))?;
    println!(
        "mirrorwatch demo: a simulated mirror network on 127.0.0.0/8 ({} mirrors of https://{}:{}/)",
        world.scenarios.len() - 1,
        crate::world::MAIN_HOST,
        world.port
    );
    for s in &world.scenarios {
        println!("  {:<18} {}", s.name, s.url);
    }
    println!(
        "vantage {DEMO_VANTAGE} ({}): a censoring network that resets TLS to {DEMO_BLOCKED_HOST}; site \"abroad\" shows blocked_somewhere",
        proxy.url(None)
    );
    println!(
        "site \"abroad\": its main page announces an alternate address nobody watches (mirror_unwatched)"
    );
    println!(
        "registry     RDAP at {}: gone.test on server hold (domain_hold), expiring.test expires in 12 days (domain_expiring)",
        registry.rdap
    );
    println!("status page  http://{listen}/");
    println!("status JSON  http://{listen}/api/v1/status");
    println!("metrics      http://{listen}/metrics");
    println!("Ctrl-C stops it.");
    let result = daemon::run(source, config).await;
    let _ = std::fs::remove_dir_all(&dir);
    drop(proxy);
    drop(registry);
    drop(world);
    result
}
