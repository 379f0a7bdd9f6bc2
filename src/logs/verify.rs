//! `bounces verify`: for each address Okta accepted for removal, what the System Log has said of it since:
//! mail reached it (`delivered`), it bounced or was dropped again (`bounced-again`), Okta passed its removal
//! on to the email provider (`removal-logged`), or nothing yet (`not-yet-logged`). The latest delivery
//! since the removal decides between the first two; a removal alone gives the third.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::email::{self, Kind};
use tokio::time::Instant;

use super::{DELIVERY, Intake, MAX_AGE, Pages, Query, REMOVAL};
use crate::client::{ApiError, Client};
use crate::interrupt::Interrupt;

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

/// The verdicts of a check, and what it read.
pub struct Verified {
    pub results: Vec<Checked>,
    pub events: u64,
    pub pages: u64,
    /// The wait ran out (or was interrupted) with addresses still without a verdict.
    pub gave_up: bool,
    /// Ended at once by a second signal (its number).
    pub ended_by_signal: Option<i32>,
}

/// How long a polling check waits before asking again, at first and at most.
const POLL_FIRST: Duration = Duration::from_secs(2);
const POLL_MOST: Duration = Duration::from_secs(15);

/// Reads the log for `accepted` (address, when Okta took it): one bounded query without `wait`, a polling
/// query with it.
pub async fn check(
    client: &Client,
    accepted: Vec<(String, SystemTime)>,
    wait: Option<Duration>,
    interrupt: &Interrupt,
) -> Result<Verified, ApiError> {
    let mut checker = Checker::new(accepted);
    let Some(since) = checker.since() else {
        return Ok(Verified {
            results: Vec::new(),
            events: 0,
            pages: 0,
            gave_up: false,
            ended_by_signal: None,
        });
    };
    // Event types only: a delivery's result is read from the event (see `bounces find`).
    let filter = format!("eventType eq \"{REMOVAL}\" or eventType eq \"{DELIVERY}\"");
    let now = SystemTime::now();
    // Okta answers queries of the last 180 days only (and keeps 90 days of events).
    let oldest = now - (MAX_AGE - Duration::from_secs(3600));
    if since < oldest {
        tracing::warn!(
            "the report's first address was accepted more than 180 days ago; reading the System Log from \
             {} (events older than 90 days are gone)",
            crate::logs::time_text(oldest)
        );
    }
    let query = Query {
        since: since.clamp(oldest, now),
        until: wait.is_none().then_some(now),
        filter,
    };
    let mut pages = Pages::new(client, &query);
    let deadline = wait.map(|w| Instant::now() + w);
    let mut pause = POLL_FIRST;
    let mut gave_up = false;
    // A bounded query is read to its last page: a later event (a delivery, a bounce) changes a verdict
    // even once every address has one. A polling query (`--wait`) ends as soon as every address has a
    // verdict, or at the deadline (a page still being asked for then is given up); after a short page
    // (it has caught up with the log) it waits before asking again, so a busy org's stream of deliveries
    // does not spend the log's rate limit.
    loop {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, pages.next()).await {
                Ok(next) => next,
                Err(_) => {
                    gave_up = checker.pending() > 0;
                    break;
                }
            },
            None => pages.next().await,
        };
        let events = match next {
            Ok(Some(events)) => events,
            Ok(None) => break,
            // Interrupted while a page was asked for: the verdicts so far are still written.
            Err(ApiError::Stopped(_)) if interrupt.stopping() => {
                gave_up = true;
                break;
            }
            Err(e) => return Err(e),
        };
        for v in &events {
            checker.take(v);
        }
        if interrupt.stopping() {
            gave_up = checker.pending() > 0;
            break;
        }
        let Some(deadline) = deadline else { continue };
        if checker.pending() == 0 {
            break;
        }
        if Instant::now() >= deadline {
            gave_up = true;
            break;
        }
        if events.len() >= crate::logs::PAGE_LIMIT as usize {
            continue;
        }
        // Caught up with addresses still without a verdict: wait before asking again, in small steps so
        // an interrupt is heard.
        let until = (Instant::now() + pause).min(deadline);
        while Instant::now() < until && !interrupt.stopping() {
            tokio::time::sleep(Duration::from_millis(200).min(until - Instant::now())).await;
        }
        if Instant::now() >= deadline || interrupt.stopping() {
            gave_up = true;
            break;
        }
        pause = (pause * 3 / 2).min(POLL_MOST);
    }
    Ok(Verified {
        results: checker.results(),
        events: checker.intake.events,
        pages: pages.pages,
        gave_up,
        ended_by_signal: interrupt.ended_by_signal(),
    })
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
