//! From a validated config to what runs: one [`Target`] per address and
//! vantage, the vantages' labels (`run --vantage`), and the config of a
//! one-off probe or with discovered mirrors added.

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use super::{
    AlertingConfig, Config, LOCAL_VANTAGE, Role, ServerConfig, Site, StorageConfig, Target,
    Vantage, vantage,
};

impl Config {
    /// Every address of every site from every vantage the site uses: per
    /// site, per vantage (config order), main first. Only the site's first
    /// vantage reads the main site's pages for parity: the reference is
    /// one view of main, never a blocked one mixed in.
    pub fn targets(&self) -> Vec<Target> {
        let mut out = Vec::new();
        for site in &self.sites {
            let settings = std::sync::Arc::new(site.settings.clone());
            let vantages = self.vantages.iter().filter(|v| {
                site.settings
                    .vantages
                    .as_ref()
                    .is_none_or(|names| names.contains(&v.name))
            });
            for (nth, v) in vantages.enumerate() {
                let roles = std::iter::once((&site.main, Role::Main))
                    .chain(site.mirrors.iter().map(|m| (m, Role::Mirror)))
                    .chain(site.discovered.iter().map(|m| (m, Role::Mirror)));
                for (url, role) in roles {
                    let compared = match role {
                        Role::Mirror => true,
                        Role::Main => nth == 0 && site.all_mirrors().next().is_some(),
                    };
                    out.push(Target {
                        site: site.name.clone(),
                        url: url.clone(),
                        vantage: self.label_of(v).to_string(),
                        proxy: v.proxy.clone(),
                        role,
                        paths: site.paths.clone(),
                        compared,
                        primary: nth == 0,
                        discovered: site.discovered.contains(url),
                        announces: role == Role::Main && nth == 0 && site.announce.is_some(),
                        parity: site.parity,
                        settings: settings.clone(),
                    });
                }
            }
        }
        out
    }

    /// A vantage's label: its name, or [`Config::local_label`] for `local`.
    pub fn label_of<'a>(&'a self, v: &'a Vantage) -> &'a str {
        if v.proxy.is_none() {
            &self.local_label
        } else {
            &v.name
        }
    }

    /// A config of one site seen from one vantage, nothing else (a probe
    /// on demand).
    pub fn single(site: Site, vantage: Vantage) -> Self {
        Config {
            storage: StorageConfig {
                path: None,
                retention: Duration::from_secs(3600),
            },
            alerting: AlertingConfig {
                external_url: None,
                resend_interval: Duration::from_secs(60),
                receivers: Vec::new(),
            },
            server: ServerConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                tls: None,
                basic_auth: Default::default(),
                probe_endpoint: false,
            },
            registry: None,
            defaults: site.settings.clone(),
            sites: vec![site],
            vantages: vec![vantage],
            local_label: LOCAL_VANTAGE.into(),
            fingerprints: Vec::new(),
            source: "probe".into(),
        }
    }

    /// This config with the mirrors discovered at run time (hosts as
    /// announced, by site) added to the sites that discover; entries for
    /// other sites are ignored.
    pub fn with_discovered(
        mut self,
        found: &std::collections::BTreeMap<String, Vec<String>>,
    ) -> Self {
        for site in self.sites.iter_mut().filter(|s| s.discover.is_some()) {
            site.discovered = found
                .get(&site.name)
                .into_iter()
                .flatten()
                .filter_map(|h| Url::parse(&format!("https://{h}/")).ok())
                .filter(|u| u != &site.main && !site.mirrors.contains(u))
                .collect();
        }
        self
    }

    /// Every vantage's label, in config order.
    pub fn vantage_labels(&self) -> Vec<String> {
        self.vantages
            .iter()
            .map(|v| self.label_of(v).to_string())
            .collect()
    }

    /// Names this instance's `local` vantage (`run --vantage NAME`).
    pub fn set_local_label(&mut self, name: &str) -> Result<(), String> {
        if !self.vantages.iter().any(|v| v.proxy.is_none()) {
            return Err(
                "--vantage names the local vantage, which this config turns off (`local = false`)"
                    .into(),
            );
        }
        if self
            .vantages
            .iter()
            .any(|v| v.proxy.is_some() && v.name == name)
        {
            return Err(format!(
                "--vantage {name}: a [[vantages]] entry already has that name"
            ));
        }
        vantage::check_name(name)?;
        self.local_label = name.to_string();
        Ok(())
    }
}
