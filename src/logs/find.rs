//! `bounces find`: from the delivery failures and removals of a window, one row per recipient: the kind of
//! failure, how many events, when first and last seen, the provider's words, the Okta user, and whether a
//! removal was requested after the last one.

use std::collections::HashMap;
use std::time::SystemTime;

use serde_json::Value;

use super::email::{self, Kind};
use super::{DELIVERY, Intake, REMOVAL};

/// One recipient's failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub email: String,
    pub kind: Kind,
    pub events: u64,
    pub first_seen: String,
    pub last_seen: String,
    pub reason: String,
    pub user: Option<String>,
    pub removal_requested: bool,
    first: Option<SystemTime>,
    last: Option<SystemTime>,
}

/// What the events of a window add up to.
#[derive(Debug, Default)]
pub struct Finder {
    kinds: Vec<Kind>,
    recipients: HashMap<String, Found>,
    /// The latest removal logged for each address (lowercase).
    removals: HashMap<String, Option<SystemTime>>,
    /// Every answer taken, each event once.
    pub intake: Intake,
    /// Delivery failures of a chosen kind whose recipient was not found.
    pub unattributed: u64,
}

impl Finder {
    /// Keeps the failures of `kinds`.
    pub fn new(kinds: &[Kind]) -> Finder {
        Finder {
            kinds: kinds.to_vec(),
            ..Finder::default()
        }
    }

    pub fn take(&mut self, v: &Value) {
        let Some(e) = self.intake.admit(v) else {
            return;
        };
        if e.event_type == REMOVAL {
            for a in email::removal_addresses(&e) {
                let slot = self.removals.entry(a.to_lowercase()).or_insert(None);
                *slot = (*slot).max(e.published);
            }
            return;
        }
        if e.event_type != DELIVERY {
            return;
        }
        let kind = email::delivery_kind(&e);
        if !self.kinds.contains(&kind) {
            return;
        }
        let Some(r) = email::recipient(&e) else {
            self.unattributed += 1;
            tracing::debug!(
                "event {} ({}, {}): no recipient found",
                e.uuid.as_deref().unwrap_or("without uuid"),
                e.published_text,
                e.reason
            );
            return;
        };
        let reason = email::provider_text(&e);
        let f = self
            .recipients
            .entry(r.email.to_lowercase())
            .or_insert_with(|| Found {
                email: r.email.clone(),
                kind,
                events: 0,
                first_seen: e.published_text.clone(),
                last_seen: e.published_text.clone(),
                reason: String::new(),
                user: None,
                removal_requested: false,
                first: e.published,
                last: e.published,
            });
        f.events += 1;
        f.kind = f.kind.min(kind);
        if f.user.is_none() {
            f.user = r.user;
        }
        // Events come in `published` order in a bounded query; order by time anyway.
        if e.published >= f.last {
            f.last = e.published;
            f.last_seen = e.published_text.clone();
            if !reason.is_empty() {
                f.reason = reason;
            }
        } else if f.reason.is_empty() {
            f.reason = reason;
        }
        if e.published.is_some() && (f.first.is_none() || e.published < f.first) {
            f.first = e.published;
            f.first_seen = e.published_text.clone();
        }
    }

    /// The recipients, first seen first.
    pub fn rows(mut self) -> Vec<Found> {
        let mut rows: Vec<Found> = self.recipients.drain().map(|(_, f)| f).collect();
        for f in &mut rows {
            f.removal_requested = self
                .removals
                .get(&f.email.to_lowercase())
                .is_some_and(|&removed| removed.is_some() && removed >= f.last);
        }
        rows.sort_by(|a, b| {
            (a.first, a.email.to_lowercase()).cmp(&(b.first, b.email.to_lowercase()))
        });
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bounce(to: &str, at: &str) -> Value {
        json!({
            "uuid": format!("{to}-{at}"),
            "eventType": "system.email.delivery", "published": at,
            "outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"},
            "target": [{"id": "00u9", "type": "User", "alternateId": to}],
            "debugContext": {"debugData": {"reason": "550 5.1.1 no such user"}}
        })
    }

    #[test]
    fn one_row_a_recipient_with_counts_and_removals() {
        let mut f = Finder::new(&[Kind::Bounce]);
        f.take(&bounce("a@x.com", "2026-11-20T10:00:00.000Z"));
        f.take(&bounce("A@x.com", "2026-11-21T10:00:00.000Z"));
        f.take(&bounce("b@x.com", "2026-11-21T11:00:00.000Z"));
        // The same event again (an overlapping page) counts once.
        f.take(&bounce("b@x.com", "2026-11-21T11:00:00.000Z"));
        f.take(&json!({"eventType": "system.email.delivery", "outcome": {"result": "FAILURE", "reason": "Bounce"}}));
        f.take(
            &json!({"eventType": "system.email.delivery", "outcome": {"result": "DEFERRED"},
                       "target": [{"type": "User", "alternateId": "c@x.com"}]}),
        );
        f.take(&json!({"eventType": "system.email.bounce.removal", "published": "2026-11-22T00:00:00.000Z",
                       "target": [{"type": "EmailList", "displayName": "a@x.com"}]}));
        f.take(&json!(42));
        assert_eq!(
            (f.intake.events, f.unattributed, f.intake.unreadable),
            (7, 1, 1)
        );
        let rows = f.rows();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].email, "a@x.com");
        assert_eq!(rows[0].events, 2);
        assert_eq!(rows[0].first_seen, "2026-11-20T10:00:00.000Z");
        assert_eq!(rows[0].last_seen, "2026-11-21T10:00:00.000Z");
        assert_eq!(rows[0].reason, "550 5.1.1 no such user");
        assert!(rows[0].removal_requested);
        assert!(!rows[1].removal_requested);
        assert_eq!(rows[1].events, 1);
        assert_eq!(rows[1].user.as_deref(), Some("00u9"));
    }
}
