//! The demo's config over the world: every scenario from this machine
//! (site `world`), and a second site (`abroad`) whose main page announces
//! alternate addresses, watched also through a censoring vantage, with a
//! registry that holds one domain and lets another expire. So a first run
//! shows `blocked_somewhere`, `mirror_unwatched`, `domain_hold` and
//! `domain_expiring` besides every scenario's verdict.

use super::registry::Fixture;
use super::{ANNOUNCER_HOST, World};

/// The demo's censoring vantage.
pub const DEMO_VANTAGE: &str = "censored-net";

/// The mirror the demo's censoring vantage blocks (by resetting its TLS).
pub const DEMO_BLOCKED_HOST: &str = "www.healthy.test";

/// What the demo's registry says: a held domain (the NXDOMAIN scenario's:
/// held domains leave the zone) and one expiring in 12 days.
pub fn registry_fixtures() -> Vec<(&'static str, Fixture)> {
    vec![
        ("gone.test", Fixture::ServerHold),
        ("expiring.test", Fixture::Expiring(12)),
    ]
}

impl World {
    /// The demo's config; `censor_proxy` is the censoring vantage's proxy
    /// URL, `registry` the `[registry]` section.
    pub fn demo_config_toml(
        &self,
        listen: &str,
        ca_file: &str,
        (interval, timeout, max_lag): (&str, &str, &str),
        censor_proxy: &str,
        registry: &str,
    ) -> String {
        let mut text = self.whole_world(
            listen,
            ca_file,
            (interval, timeout, max_lag),
            "vantages = [\"local\"]",
        );
        text.push_str(&format!(
            "\n[[sites]]\nname = \"abroad\"\nmain = \"{}\"\nmirrors = [\"{}\"]\nvantages = [\"local\", \"{DEMO_VANTAGE}\"]\n\n\
             [[vantages]]\nname = \"{DEMO_VANTAGE}\"\nproxy = \"{censor_proxy}\"\n\n{registry}",
            self.url(ANNOUNCER_HOST),
            self.url(DEMO_BLOCKED_HOST),
        ));
        text
    }
}
