//! Per-site series kept as text, as [`super::series`] keeps per-address
//! ones: a site's problem gauges (`mirrorwatch_site_problem{site,kind}`)
//! and its panicked-rounds counter (`mirrorwatch_round_panics_total{site}`),
//! rendered when they change, so a scrape of 5,000 sites copies text
//! instead of gathering 20,000 label sets through the prometheus crate
//! (~30 ms of every scrape here).

use std::fmt::Write as _;
use std::sync::Arc;

use super::chunks::Chunks;
use super::series::Slots;
use crate::verdict::site::SiteKind;

const PROBLEM: (&str, &str, &str) = (
    "site_problem",
    "gauge",
    "1 while a site-level problem is raised, 0 otherwise: blocked_somewhere (an address down from some vantages and reachable from others), mirror_unwatched (the main page announces an alternate address not watched), mirror_withdrawn (a watched mirror is no longer announced).",
);
const PANICS: (&str, &str, &str) = (
    "round_panics_total",
    "counter",
    "Rounds that panicked inside mirrorwatch (each shows as internal_error on its address).",
);

#[derive(Default)]
struct Slot {
    raised: [bool; SiteKind::ALL.len()],
    panics: u64,
    /// The two families' lines, shared with scrapes in progress.
    text: Arc<(String, String)>,
}

impl Slot {
    fn render(&mut self, site: &str) {
        let site = super::series::escape(site);
        let mut problems = String::new();
        for (k, on) in SiteKind::ALL.iter().zip(self.raised) {
            let _ = writeln!(
                problems,
                "mirrorwatch_site_problem{{site=\"{site}\",kind=\"{}\"}} {}",
                k.as_str(),
                u8::from(on)
            );
        }
        let panics = format!(
            "mirrorwatch_round_panics_total{{site=\"{site}\"}} {}\n",
            self.panics
        );
        self.text = Arc::new((problems, panics));
    }
}

#[derive(Default)]
pub struct SiteSeries {
    sites: Slots<String, Slot>,
}

impl SiteSeries {
    fn slot(&self, site: &str) -> Arc<std::sync::Mutex<Slot>> {
        self.sites.get_or_insert(site, || {
            let mut slot = Slot::default();
            slot.render(site);
            (site.to_string(), slot)
        })
    }

    fn update(&self, site: &str, change: impl FnOnce(&mut Slot) -> bool) {
        let slot = self.slot(site);
        let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
        if change(&mut s) {
            s.render(site);
        }
    }

    /// Exports a site's series at zero (known to exist, SPEC section 6).
    pub fn register(&self, site: &str) {
        self.slot(site);
    }

    /// Drops the series of every site `keep` refuses (sites that left the
    /// config: their gauges would otherwise stay at their last value, a
    /// raised problem firing for a site no longer watched).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.sites.retain(|site| keep(site));
    }

    /// Counts a round of `site` that panicked.
    pub fn panicked(&self, site: &str) {
        self.update(site, |s| {
            s.panics = s.panics.saturating_add(1);
            true
        });
    }

    /// Sets which site-level problems are raised.
    pub fn set_problems(&self, site: &str, raised: &[SiteKind]) {
        self.update(site, |s| {
            let now = SiteKind::ALL.map(|k| raised.contains(&k));
            std::mem::replace(&mut s.raised, now) != now
        });
    }

    /// Both families, sites in name order.
    pub fn render_into(&self, out: &mut Chunks<'_>) -> bool {
        let texts = self.sites.each(|s| s.text.clone());
        let (name, kind, help) = PROBLEM;
        if !out.family(name, kind, help, texts.iter().map(|t| t.0.as_str())) {
            return false;
        }
        let (name, kind, help) = PANICS;
        out.family(name, kind, help, texts.iter().map(|t| t.1.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(s: &SiteSeries) -> String {
        let mut text = String::new();
        let mut emit = |c: String| {
            text.push_str(&c);
            true
        };
        let mut out = Chunks::new(&mut emit);
        assert!(s.render_into(&mut out) && out.finish());
        text
    }

    #[test]
    fn zeros_then_what_was_raised_and_counted() {
        let s = SiteSeries::default();
        s.register("b");
        s.register("a\"x");
        s.set_problems("b", &[SiteKind::BlockedSomewhere]);
        s.panicked("b");
        s.panicked("b");
        let mut expected = String::from("# HELP mirrorwatch_site_problem ");
        expected.push_str(PROBLEM.2);
        expected.push_str("\n# TYPE mirrorwatch_site_problem gauge\n");
        for (site, on) in [("a\\\"x", None), ("b", Some(SiteKind::BlockedSomewhere))] {
            for k in SiteKind::ALL {
                expected.push_str(&format!(
                    "mirrorwatch_site_problem{{site=\"{site}\",kind=\"{}\"}} {}\n",
                    k.as_str(),
                    u8::from(on == Some(k))
                ));
            }
        }
        expected.push_str("# HELP mirrorwatch_round_panics_total ");
        expected.push_str(PANICS.2);
        expected.push_str("\n# TYPE mirrorwatch_round_panics_total counter\n");
        expected.push_str("mirrorwatch_round_panics_total{site=\"a\\\"x\"} 0\n");
        expected.push_str("mirrorwatch_round_panics_total{site=\"b\"} 2\n");
        assert_eq!(scrape(&s), expected);
        s.set_problems("b", &[]);
        assert!(!scrape(&s).contains("} 1\n"), "cleared");
    }

    #[test]
    fn a_site_that_left_the_config_leaves_the_scrape() {
        let s = SiteSeries::default();
        for site in ["a", "b", "c"] {
            s.register(site);
        }
        s.set_problems("b", &[SiteKind::MirrorUnwatched]);
        s.retain(|site| site != "b");
        let text = scrape(&s);
        let sites: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("mirrorwatch_round_panics_total{"))
            .collect();
        assert_eq!(
            sites,
            [
                "mirrorwatch_round_panics_total{site=\"a\"} 0",
                "mirrorwatch_round_panics_total{site=\"c\"} 0"
            ]
        );
        assert!(!text.contains("site=\"b\""), "{text}");
    }
}
