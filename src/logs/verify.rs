//! `bounces verify`: for each address Okta accepted for removal, what the System Log has said of it since:
//! mail reached it (`delivered`), it bounced or was dropped again (`bounced-again`), Okta passed its removal
//! on to the email provider (`removal-logged`), or nothing yet (`not-yet-logged`). The latest delivery
//! since the removal decides between the first two; a removal alone gives the third.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::email::{self, Kind};
use super::{DELIVERY, Intake, REMOVAL};

/// How far before an address was accepted its events still count: Okta's clock and this machine's may
/// differ a little.
pub const SKEW: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// Mail reached the address since it was removed.
    Delivered,
    /// Okta logged the removal it passed on to its email provider.
    RemovalLogged,
    /// Nothing in the log yet (removals are logged asynchronously): look again later.
    NotYetLogged,
    /// Mail to it bounced (or was dropped) again since.
    BouncedAgain,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::RemovalLogged,
        Verdict::Delivered,
        Verdict::BouncedAgain,
        Verdict::NotYetLogged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::RemovalLogged => "removal-logged",
            Verdict::NotYetLogged => "not-yet-logged",
            Verdict::BouncedAgain => "bounced-again",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
struct Tracked {
    email: String,
    accepted: SystemTime,
    removal: Option<(SystemTime, String)>,
    delivery: Option<(SystemTime, Kind, String, String)>,
}

/// One address's verdict and the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub email: String,
    pub verdict: Verdict,
    /// When the removal was logged (as the log writes times).
    pub removal_logged: String,
    /// The latest delivery since: when, and what the provider said.
    pub last_delivery: String,
    pub detail: String,
}

/// The addresses to verify, and what the log has said of them so far.
#[derive(Debug, Default)]
pub struct Checker {
    tracked: HashMap<String, Tracked>,
    order: Vec<String>,
    /// Every answer taken, each event once.
    pub intake: Intake,
}

impl Checker {
    /// Addresses and when Okta accepted each.
    pub fn new(accepted: impl IntoIterator<Item = (String, SystemTime)>) -> Checker {
        let mut c = Checker::default();
        for (email, at) in accepted {
            let key = email.to_lowercase();
            if let Some(t) = c.tracked.get_mut(&key) {
                t.accepted = t.accepted.min(at);
                continue;
            }
            c.order.push(key.clone());
            c.tracked.insert(
                key,
                Tracked {
                    email,
                    accepted: at,
                    removal: None,
                    delivery: None,
                },
            );
        }
        c
    }

    pub fn is_empty(&self) -> bool {
        self.tracked.is_empty()
    }

    /// Where the log must be read from: the earliest acceptance, less the clock skew.
    pub fn since(&self) -> Option<SystemTime> {
        self.tracked
            .values()
            .map(|t| t.accepted)
            .min()
            .map(|t| t - SKEW)
    }

    pub fn take(&mut self, v: &Value) {
        let Some(e) = self.intake.admit(v) else {
            return;
        };
        let Some(at) = e.published else {
            return;
        };
        if e.event_type == REMOVAL {
            for a in email::removal_addresses(&e) {
                if let Some(t) = self.tracked.get_mut(&a.to_lowercase())
                    && at + SKEW >= t.accepted
                    && t.removal.as_ref().is_none_or(|(r, _)| at > *r)
                {
                    t.removal = Some((at, e.published_text.clone()));
                }
            }
            return;
        }
        if e.event_type != DELIVERY {
            return;
        }
        let kind = email::delivery_kind(&e);
        if !matches!(kind, Kind::Delivered | Kind::Bounce | Kind::Dropped) {
            return;
        }
        let Some(r) = email::recipient(&e) else {
            return;
        };
        // Okta's clock and this one may disagree by the same SKEW as for removals.
        if let Some(t) = self.tracked.get_mut(&r.email.to_lowercase())
            && at + SKEW >= t.accepted
            && t.delivery.as_ref().is_none_or(|(d, ..)| at >= *d)
        {
            t.delivery = Some((at, kind, e.published_text.clone(), email::provider_text(&e)));
        }
    }

    fn verdict(t: &Tracked) -> Verdict {
        // The latest delivery decides. Mail delivered since Okta took the address shows it was cleared,
        // removal logged or not (Okta sends nothing to an address on its bounce list), and whenever the
        // removal is logged. A bounce counts only after the logged removal: one before it (or with no
        // removal logged yet) says the removal had not happened yet, not that it failed.
        let after_removal = |d: SystemTime| t.removal.as_ref().is_some_and(|(r, _)| d >= *r);
        match &t.delivery {
            Some((_, Kind::Delivered, ..)) => Verdict::Delivered,
            Some((d, ..)) if after_removal(*d) => Verdict::BouncedAgain,
            _ if t.removal.is_some() => Verdict::RemovalLogged,
            _ => Verdict::NotYetLogged,
        }
    }

    /// Addresses still without a verdict.
    pub fn pending(&self) -> usize {
        self.tracked
            .values()
            .filter(|t| Checker::verdict(t) == Verdict::NotYetLogged)
            .count()
    }

    /// Every address with its verdict, in the order given.
    pub fn results(&self) -> Vec<Checked> {
        self.order
            .iter()
            .map(|k| {
                let t = &self.tracked[k];
                let verdict = Checker::verdict(t);
                let (last_delivery, detail) = match &t.delivery {
                    Some((_, kind, text, said)) => (
                        text.clone(),
                        if said.is_empty() {
                            kind.to_string()
                        } else {
                            format!("{kind}: {said}")
                        },
                    ),
                    None => (String::new(), String::new()),
                };
                Checked {
                    email: t.email.clone(),
                    verdict,
                    removal_logged: t
                        .removal
                        .as_ref()
                        .map(|(_, s)| s.clone())
                        .unwrap_or_default(),
                    last_delivery,
                    detail,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> SystemTime {
        humantime::parse_rfc3339(s).unwrap()
    }

    fn removal(list: &str, when: &str) -> Value {
        json!({"eventType": "system.email.bounce.removal", "published": when,
               "target": [{"type": "EmailList", "displayName": list}]})
    }

    fn delivery(to: &str, result: &str, reason: &str, when: &str) -> Value {
        json!({"eventType": "system.email.delivery", "published": when,
               "outcome": {"result": result, "reason": reason},
               "target": [{"type": "User", "alternateId": to}]})
    }

    #[test]
    fn verdicts_follow_the_log() {
        let t0 = at("2026-11-20T10:00:00Z");
        let mut c = Checker::new(
            ["a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com"].map(|a| (a.to_string(), t0)),
        );
        // Split across two events, one logged a little before our clock said we sent (skew).
        c.take(&removal("a@x.com, b@x.com", "2026-11-20T09:59:30Z"));
        c.take(&removal("c@x.com,d@x.com", "2026-11-20T10:00:05Z"));
        c.take(&delivery("B@X.COM", "SUCCESS", "", "2026-11-20T11:00:00Z"));
        c.take(&delivery(
            "c@x.com",
            "FAILURE",
            "Email delivery FAILURE: Bounce",
            "2026-11-20T11:00:00Z",
        ));
        // A bounce before the run, and an old removal, say nothing.
        c.take(&delivery(
            "d@x.com",
            "FAILURE",
            "Bounce",
            "2026-11-19T11:00:00Z",
        ));
        c.take(&removal("e@x.com", "2026-11-01T00:00:00Z"));
        let v: Vec<(String, Verdict)> = c
            .results()
            .into_iter()
            .map(|r| (r.email, r.verdict))
            .collect();
        assert_eq!(
            v,
            vec![
                ("a@x.com".into(), Verdict::RemovalLogged),
                ("b@x.com".into(), Verdict::Delivered),
                ("c@x.com".into(), Verdict::BouncedAgain),
                ("d@x.com".into(), Verdict::RemovalLogged),
                ("e@x.com".into(), Verdict::NotYetLogged),
            ]
        );
        assert_eq!(c.pending(), 1);
        assert_eq!(c.since(), Some(t0 - SKEW));
    }

    #[test]
    fn okta_s_clock_behind_this_one() {
        // Okta took the address at 10:00:10 by this clock, 10:00:00 by Okta's; its events come after
        // that by Okta's clock.
        let t0 = at("2026-11-20T10:00:10Z");
        let mut c = Checker::new([("a@x.com".to_string(), t0), ("b@x.com".to_string(), t0)]);
        c.take(&removal("a@x.com, b@x.com", "2026-11-20T10:00:01Z"));
        c.take(&delivery(
            "a@x.com",
            "FAILURE",
            "Bounce",
            "2026-11-20T10:00:05Z",
        ));
        c.take(&delivery("b@x.com", "SUCCESS", "", "2026-11-20T10:00:05Z"));
        let v: Vec<Verdict> = c.results().iter().map(|r| r.verdict).collect();
        assert_eq!(v, vec![Verdict::BouncedAgain, Verdict::Delivered]);
    }

    #[test]
    fn a_bounce_before_a_late_removal_is_not_a_verdict() {
        let t0 = at("2026-11-20T10:00:00Z");
        let mut c = Checker::new([("solo@x.com".to_string(), t0)]);
        c.take(&delivery(
            "solo@x.com",
            "FAILURE",
            "Email delivery FAILURE: Bounce",
            "2026-11-20T10:00:02Z",
        ));
        assert_eq!(c.results()[0].verdict, Verdict::NotYetLogged);
        assert_eq!(c.pending(), 1);
        // The removal, stored late but published after the bounce.
        c.take(&removal("solo@x.com", "2026-11-20T10:00:04Z"));
        assert_eq!(c.results()[0].verdict, Verdict::RemovalLogged);
        c.take(&delivery(
            "solo@x.com",
            "FAILURE",
            "Email delivery FAILURE: Bounce",
            "2026-11-20T10:00:09Z",
        ));
        assert_eq!(c.results()[0].verdict, Verdict::BouncedAgain);
    }
}
