//! The daemon's side of `discover = "watch"`: the mirrors discovered so far
//! (kept in the store, so a restart keeps them), a look after rounds at
//! each discovering site's announcements (`verdict::discover` decides), and
//! their hosts, which the daemon adds to the config it applies (a reload).

use std::collections::BTreeMap;

use crate::config::{Config, Role};
use crate::outputs::board::Board;
use crate::store::Store;
use crate::store::registry::DiscoveredRow;
use crate::verdict::discover::{self, Found, Input};
use crate::verdict::state::State;

#[derive(Default)]
pub struct Discovery {
    found: BTreeMap<String, Vec<Found>>,
}

impl Discovery {
    /// The mirrors discovered before a restart.
    pub async fn load(store: &Store) -> Self {
        let rows = match store.call(crate::store::registry::load_discovered).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "loading discovered mirrors");
                Vec::new()
            }
        };
        let mut found: BTreeMap<String, Vec<Found>> = BTreeMap::new();
        for r in rows {
            found.entry(r.site).or_default().push(Found {
                host: r.host,
                added_at: r.added_at,
                withdrawn_since: r.withdrawn_since,
            });
        }
        Self { found }
    }

    /// Whether any site of `config` discovers.
    pub fn wanted(config: &Config) -> bool {
        config.sites.iter().any(|s| s.discover.is_some())
    }

    /// The discovered mirrors' hosts by site (`Config::with_discovered`).
    pub fn hosts(&self) -> BTreeMap<String, Vec<String>> {
        self.found
            .iter()
            .map(|(site, list)| (site.clone(), list.iter().map(|f| f.host.clone()).collect()))
            .collect()
    }

    /// Looks at every discovering site's announcements on `board`:
    /// (anything changed, to save; the set of mirrors changed, to apply).
    /// Sites that no longer discover lose theirs.
    pub fn look(&mut self, config: &Config, board: &Board, now: i64) -> (bool, bool) {
        let before = self.found.clone();
        let hosts = |m: &BTreeMap<String, Vec<Found>>| -> Vec<(String, String)> {
            m.iter()
                .flat_map(|(s, l)| l.iter().map(move |f| (s.clone(), f.host.clone())))
                .collect()
        };
        self.found.retain(|site, _| {
            config
                .sites
                .iter()
                .any(|s| s.name == *site && s.discover.is_some())
        });
        for site in config.sites.iter() {
            let Some(grace) = site.discover else { continue };
            let members = board.site_members(&site.name);
            let Some(main) = members
                .iter()
                .find(|m| m.role == Role::Main && m.primary && m.state != State::Unknown)
            else {
                continue;
            };
            let verdict = crate::verdict::site::evaluate(&members);
            let configured: Vec<String> = site.mirrors.iter().map(|u| u.to_string()).collect();
            let current = self.found.get(&site.name).cloned().unwrap_or_default();
            let next = discover::next(
                &current,
                &Input {
                    announced: verdict.announced.as_deref(),
                    main_problems: &main.problems,
                    main_host: &main.host,
                    configured: &configured,
                    now,
                    grace_seconds: i64::try_from(grace.as_secs()).unwrap_or(i64::MAX),
                },
            );
            for f in next
                .iter()
                .filter(|f| !current.iter().any(|c| c.host == f.host))
            {
                tracing::warn!(site = %site.name, host = %f.host, "mirror discovered from the site's announcements; now watched");
            }
            for c in current
                .iter()
                .filter(|c| !next.iter().any(|f| f.host == c.host))
            {
                tracing::warn!(site = %site.name, host = %c.host, "discovered mirror dropped: no longer announced (or now configured)");
            }
            if next.is_empty() {
                self.found.remove(&site.name);
            } else {
                self.found.insert(site.name.clone(), next);
            }
        }
        (self.found != before, hosts(&self.found) != hosts(&before))
    }

    pub async fn save(&self, store: &Store) {
        let rows: Vec<DiscoveredRow> = self
            .found
            .iter()
            .flat_map(|(site, list)| {
                list.iter().map(move |f| DiscoveredRow {
                    site: site.clone(),
                    host: f.host.clone(),
                    added_at: f.added_at,
                    withdrawn_since: f.withdrawn_since,
                })
            })
            .collect();
        if let Err(e) = store
            .call(move |c| crate::store::registry::save_discovered(c, &rows))
            .await
        {
            tracing::error!(error = %e, "saving discovered mirrors");
        }
    }
}
