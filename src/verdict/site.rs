//! Site-level verdicts, over the states of a site's addresses from every
//! vantage: `SiteAllAddressesDown` (no address is up from any vantage)
//! and `blocked_somewhere` (an address is down from some vantages and
//! reachable from others). They read states the thresholds already
//! settled, so they add no thresholds of their own. And two notices from
//! the main page's announced alternate addresses (which change no
//! address's state): `mirror_unwatched` (announced, not watched) and
//! `mirror_withdrawn` (watched, no longer announced). A main page that
//! announces nothing is no evidence of either.

use super::Kind;
use super::state::State;
use crate::parity::announce::comparable;

/// The site-level problem kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteKind {
    BlockedSomewhere,
    MirrorUnwatched,
    MirrorWithdrawn,
}

impl SiteKind {
    pub const ALL: [SiteKind; 3] = [
        SiteKind::BlockedSomewhere,
        SiteKind::MirrorUnwatched,
        SiteKind::MirrorWithdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SiteKind::BlockedSomewhere => "blocked_somewhere",
            SiteKind::MirrorUnwatched => "mirror_unwatched",
            SiteKind::MirrorWithdrawn => "mirror_withdrawn",
        }
    }

    pub fn alert_name(self) -> &'static str {
        match self {
            SiteKind::BlockedSomewhere => "SiteBlockedSomewhere",
            SiteKind::MirrorUnwatched => "MirrorUnwatched",
            SiteKind::MirrorWithdrawn => "MirrorWithdrawn",
        }
    }

    pub fn severity(self) -> super::Severity {
        match self {
            SiteKind::BlockedSomewhere => super::Severity::Warning,
            SiteKind::MirrorUnwatched | SiteKind::MirrorWithdrawn => super::Severity::Info,
        }
    }
}

/// One address of the site seen from one vantage.
#[derive(Debug, Clone)]
pub struct Member {
    /// The `target` label (host, with a non-default port).
    pub address: String,
    pub vantage: String,
    pub state: State,
    /// The raised problem kinds, for the detail.
    pub problems: Vec<Kind>,
    /// Whether it is the main address, seen from the site's first vantage
    /// (the one whose announcements count), or a mirror.
    pub role: crate::config::Role,
    pub primary: bool,
    /// The host (for announcements).
    pub host: String,
    /// Main, first vantage: the hosts its page announces (last round).
    pub announced: Option<Vec<String>>,
}

/// An address down from some vantages and reachable from others.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Blocked {
    pub address: String,
    /// Vantages it is down from, each with its problem kinds.
    pub down_from: Vec<(String, Vec<Kind>)>,
    /// Vantages it is up (or degraded, so reachable) from.
    pub up_from: Vec<String>,
}

/// The verdict on a site.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteVerdict {
    /// How many (address, vantage) members the site has.
    pub members: usize,
    /// No address is up from any vantage: every member with a state is
    /// down or degraded (a member still `unknown`, such as one behind a
    /// vantage whose proxy is down, counts on neither side).
    pub all_down: bool,
    /// Some address has no state from any vantage yet (just added).
    pub any_unknown: bool,
    /// Addresses blocked somewhere, in member order.
    pub blocked: Vec<Blocked>,
    /// The main page's announced hosts (as announced), when it announces
    /// any.
    pub announced: Option<Vec<String>>,
    /// Announced but not watched (as announced), in announcement order.
    pub unwatched: Vec<String>,
    /// Watched mirrors (their hosts) no longer announced.
    pub withdrawn: Vec<String>,
}

impl SiteVerdict {
    /// The raised site problems, in [`SiteKind::ALL`] order.
    pub fn kinds(&self) -> Vec<SiteKind> {
        SiteKind::ALL
            .into_iter()
            .filter(|k| match k {
                SiteKind::BlockedSomewhere => !self.blocked.is_empty(),
                SiteKind::MirrorUnwatched => !self.unwatched.is_empty(),
                SiteKind::MirrorWithdrawn => !self.withdrawn.is_empty(),
            })
            .collect()
    }

    /// The raised site problems with their one-line details.
    pub fn problems(&self) -> Vec<(SiteKind, String)> {
        self.kinds()
            .into_iter()
            .map(|k| (k, self.detail(k)))
            .collect()
    }

    fn detail(&self, kind: SiteKind) -> String {
        match kind {
            SiteKind::BlockedSomewhere => self.blocked_detail(),
            SiteKind::MirrorUnwatched => format!(
                "the main page announces {} as alternate addresses; not watched",
                self.unwatched.join(", ")
            ),
            SiteKind::MirrorWithdrawn => format!(
                "watched as mirrors, no longer announced by the main page: {}",
                self.withdrawn.join(", ")
            ),
        }
    }

    fn blocked_detail(&self) -> String {
        let parts: Vec<String> = self
            .blocked
            .iter()
            .map(|b| {
                let down: Vec<String> = b
                    .down_from
                    .iter()
                    .map(|(v, kinds)| {
                        let k: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                        format!("{v} ({})", k.join(", "))
                    })
                    .collect();
                format!(
                    "{} down from {}; reachable from {}",
                    b.address,
                    down.join(", "),
                    b.up_from.join(", ")
                )
            })
            .collect();
        parts.join("; ")
    }
}

/// Judges a site from its members (any order; the output follows the
/// order in which each address first appears).
pub fn evaluate(members: &[Member]) -> SiteVerdict {
    // Members by address, in first-seen order: one pass.
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut by_address: Vec<(&str, Vec<&Member>)> = Vec::new();
    for m in members {
        let i = *index.entry(m.address.as_str()).or_insert_with(|| {
            by_address.push((m.address.as_str(), Vec::new()));
            by_address.len() - 1
        });
        if let Some((_, list)) = by_address.get_mut(i) {
            list.push(m);
        }
    }
    let mut blocked = Vec::new();
    for (a, of) in &by_address {
        let down_from: Vec<(String, Vec<Kind>)> = of
            .iter()
            .filter(|m| m.state == State::Down)
            .map(|m| (m.vantage.clone(), m.problems.clone()))
            .collect();
        let up_from: Vec<String> = of
            .iter()
            .filter(|m| matches!(m.state, State::Up | State::Degraded))
            .map(|m| m.vantage.clone())
            .collect();
        if !down_from.is_empty() && !up_from.is_empty() {
            blocked.push(Blocked {
                address: a.to_string(),
                down_from,
                up_from,
            });
        }
    }
    let announced = members
        .iter()
        .find(|m| m.role == crate::config::Role::Main && m.primary)
        .and_then(|m| m.announced.clone());
    let main = members
        .iter()
        .find(|m| m.role == crate::config::Role::Main)
        .and_then(|m| comparable(&m.host));
    // (comparable form, the host as watched)
    let mut watched: Vec<(String, String)> = Vec::new();
    for m in members
        .iter()
        .filter(|m| m.role == crate::config::Role::Mirror)
    {
        if let Some(c) = comparable(&m.host)
            && !watched.iter().any(|(w, _)| *w == c)
        {
            watched.push((c, m.host.clone()));
        }
    }
    let (unwatched, withdrawn) = match &announced {
        None => (Vec::new(), Vec::new()),
        Some(a) => {
            let said: Vec<Option<String>> = a.iter().map(|h| comparable(h)).collect();
            (
                a.iter()
                    .zip(&said)
                    .filter(|(_, c)| {
                        c.as_ref().is_some_and(|c| {
                            !watched.iter().any(|(w, _)| w == c) && main.as_ref() != Some(c)
                        })
                    })
                    .map(|(h, _)| h.clone())
                    .collect(),
                watched
                    .iter()
                    .filter(|(w, _)| !said.iter().any(|c| c.as_ref() == Some(w)))
                    .map(|(_, host)| host.clone())
                    .collect(),
            )
        }
    };
    SiteVerdict {
        announced,
        unwatched,
        withdrawn,
        members: members.len(),
        all_down: members.iter().any(|m| m.state != State::Unknown)
            && members
                .iter()
                .all(|m| matches!(m.state, State::Down | State::Degraded | State::Unknown)),
        any_unknown: by_address
            .iter()
            .any(|(_, of)| of.iter().all(|m| m.state == State::Unknown)),
        blocked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(address: &str, vantage: &str, state: State, problems: &[Kind]) -> Member {
        Member {
            address: address.into(),
            vantage: vantage.into(),
            state,
            problems: problems.to_vec(),
            role: crate::config::Role::Mirror,
            primary: vantage == "local",
            host: address.into(),
            announced: None,
        }
    }

    fn main(host: &str, announced: Option<&[&str]>) -> Member {
        Member {
            role: crate::config::Role::Main,
            announced: announced.map(|a| a.iter().map(|h| h.to_string()).collect()),
            ..m(host, "local", State::Up, &[])
        }
    }

    #[test]
    fn announcements_against_the_watched_mirrors() {
        let v = evaluate(&[
            main(
                "www.presstv.ir",
                Some(&["presstv.co.uk", "presstv.tv", "presstv.ir"]),
            ),
            m("www.presstv.co.uk", "local", State::Up, &[]),
            m("www.presstv.com", "local", State::Down, &[Kind::Seized]),
        ]);
        assert_eq!(
            v.unwatched,
            vec!["presstv.tv".to_string()],
            "main itself is not unwatched"
        );
        assert_eq!(v.withdrawn, vec!["www.presstv.com".to_string()]);
        assert_eq!(
            v.kinds(),
            vec![SiteKind::MirrorUnwatched, SiteKind::MirrorWithdrawn]
        );
        assert_eq!(
            v.problems(),
            vec![
                (
                    SiteKind::MirrorUnwatched,
                    "the main page announces presstv.tv as alternate addresses; not watched"
                        .to_string()
                ),
                (
                    SiteKind::MirrorWithdrawn,
                    "watched as mirrors, no longer announced by the main page: www.presstv.com"
                        .to_string()
                ),
            ]
        );
        let silent = evaluate(&[
            main("www.presstv.ir", None),
            m("www.presstv.co.uk", "local", State::Up, &[]),
        ]);
        assert_eq!(silent.problems(), vec![], "no announcement is no evidence");
        assert_eq!(SiteKind::MirrorUnwatched.severity().as_str(), "info");
    }

    #[test]
    fn blocked_from_one_vantage_names_it() {
        let v = evaluate(&[
            m("www.main.test", "local", State::Up, &[]),
            m("www.mirror.test", "local", State::Up, &[]),
            m("www.main.test", "uk", State::Up, &[]),
            m(
                "www.mirror.test",
                "uk",
                State::Down,
                &[Kind::ConnectFailure],
            ),
        ]);
        assert!(!v.all_down);
        assert_eq!(v.kinds(), vec![SiteKind::BlockedSomewhere]);
        assert_eq!(
            v.problems(),
            vec![(
                SiteKind::BlockedSomewhere,
                "www.mirror.test down from uk (connect_failure); reachable from local".to_string()
            )]
        );
    }

    #[test]
    fn down_everywhere_or_unknown_somewhere_is_not_blocked_somewhere() {
        let everywhere = evaluate(&[
            m("www.mirror.test", "local", State::Down, &[Kind::HttpError]),
            m(
                "www.mirror.test",
                "uk",
                State::Down,
                &[Kind::ConnectFailure],
            ),
        ]);
        assert_eq!(everywhere.blocked, vec![]);
        assert!(everywhere.all_down);
        let unknown = evaluate(&[
            m("www.mirror.test", "local", State::Down, &[Kind::HttpError]),
            m("www.mirror.test", "uk", State::Unknown, &[]),
        ]);
        assert_eq!(unknown.blocked, vec![]);
        assert!(
            unknown.all_down && !unknown.any_unknown,
            "a vantage that knows nothing (its proxy is down) does not hold back the site alert"
        );
        let added = evaluate(&[
            m("www.mirror.test", "local", State::Down, &[Kind::HttpError]),
            m("www.new.test", "local", State::Unknown, &[]),
        ]);
        assert!(
            added.all_down && added.any_unknown,
            "an address without any round yet holds it back"
        );
        let none = evaluate(&[m("www.new.test", "local", State::Unknown, &[])]);
        assert!(!none.all_down);
    }

    #[test]
    fn degraded_counts_as_reachable_and_several_addresses_are_listed_in_order() {
        let v = evaluate(&[
            m("b.test", "uk", State::Down, &[Kind::TlsInvalid]),
            m("a.test", "local", State::Down, &[Kind::Blockpage]),
            m("a.test", "uk", State::Degraded, &[Kind::TlsExpiring]),
            m("b.test", "local", State::Up, &[]),
            m(
                "b.test",
                "de",
                State::Down,
                &[Kind::ConnectFailure, Kind::HttpError],
            ),
        ]);
        assert_eq!(
            v.problems()[0].1,
            "b.test down from uk (tls_invalid), de (connect_failure, http_error); reachable from local; a.test down from local (blockpage); reachable from uk"
        );
    }
}
