//! What became of each accepted removal, derived from the events the ledger holds by the rules of
//! `bounces verify` (`logs/verify.rs`): an event about the address from `SKEW` before Okta accepted the
//! removal counts for it; the latest delivery-type event decides between `delivered` and `bounced_again`
//! (a bounce or drop counts only once the removal is logged), and a logged removal alone is
//! `removal_logged`.
//!
//! With several removals of one address, an event counts for each removal it falls after, up to Okta's
//! acceptance of the next one: the bounce that called for the next removal is the first one's
//! `bounced_again`.

use std::fmt;
use std::time::SystemTime;

use rusqlite::{Connection, OptionalExtension, params};

use super::record::{EventKind, VerdictChange};
use super::{LedgerError, RemovalId, ago, parse_time, time_text};
use crate::logs::verify::SKEW;

/// A removal's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verdict {
    /// Okta logged the removal it passed on to its email provider.
    RemovalLogged,
    /// Mail reached the address since it was removed.
    Delivered,
    /// Mail to it bounced or was dropped again since the removal was logged.
    BouncedAgain,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [
        Verdict::RemovalLogged,
        Verdict::Delivered,
        Verdict::BouncedAgain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::RemovalLogged => "removal_logged",
            Verdict::Delivered => "delivered",
            Verdict::BouncedAgain => "bounced_again",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of event that can decide a verdict: deliveries, bounces and drops (as in `bounces verify`),
/// and logged removals.
pub(super) const DECIDING: [EventKind; 4] = [
    EventKind::Delivered,
    EventKind::Bounce,
    EventKind::Dropped,
    EventKind::Removal,
];

struct Seen {
    uuid: String,
    kind: EventKind,
    published: SystemTime,
}

/// Derives again the verdict of every accepted removal of `address` in `org`, writes the ones that
/// changed, and returns them.
pub(super) fn derive(
    c: &Connection,
    org: &str,
    address: &str,
    now: SystemTime,
) -> Result<Vec<VerdictChange>, LedgerError> {
    // Accepted removals, by when Okta accepted them.
    let mut s = c.prepare_cached(
        "SELECT id, answered, bounce_uuid FROM removals WHERE org = ?1 AND address = ?2 \
         AND answer = 'accepted' AND answered IS NOT NULL ORDER BY answered, id",
    )?;
    let removals = s
        .query_map(params![org, address], |r| {
            Ok((
                RemovalId(r.get(0)?),
                parse_time(&r.get::<_, String>(1)?)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let Some(first) = removals.first() else {
        return Ok(Vec::new());
    };
    let mut s = c.prepare_cached(
        // CROSS JOIN: from the address's few rows, not through the org's events of a kind.
        "SELECT e.uuid, e.kind, e.published FROM event_recipients r \
         CROSS JOIN events e ON e.org = r.org AND e.uuid = r.uuid \
         WHERE r.org = ?1 AND r.address = ?2 AND e.published >= ?3 \
           AND e.kind IN ('delivered', 'bounce', 'dropped', 'removal') \
         ORDER BY e.published, e.rowid",
    )?;
    let events = s
        .query_map(params![org, address, time_text(ago(first.1, SKEW))], |r| {
            Ok(Seen {
                uuid: r.get(0)?,
                kind: EventKind::parse(&r.get::<_, String>(1)?).unwrap_or(EventKind::Other),
                published: parse_time(&r.get::<_, String>(2)?)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    let mut changes = Vec::new();
    for (i, (id, accepted, called_by)) in removals.iter().enumerate() {
        let (id, accepted) = (*id, *accepted);
        // From the clock allowance before it, but never before the removal before it was accepted (an
        // event then is that one's), and never the bounce that called for it.
        let from = match i.checked_sub(1).map(|k| removals[k].1) {
            Some(prev) => ago(accepted, SKEW).max(prev),
            None => ago(accepted, SKEW),
        };
        let until = removals.get(i + 1).map(|r| r.1);
        let window = events.iter().filter(|e| {
            e.published >= from
                && until.is_none_or(|u| e.published < u)
                && called_by.as_deref() != Some(e.uuid.as_str())
        });
        let verdict = decide(window);
        let stored: Option<(String, String, String)> = c
            .prepare_cached("SELECT verdict, at, event_uuid FROM verdicts WHERE removal_id = ?1")?
            .query_row([id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let same = match (&stored, &verdict) {
            (Some((v, at, uuid)), Some((nv, e))) => {
                v == nv.as_str() && *at == time_text(e.published) && *uuid == e.uuid
            }
            (None, None) => true,
            _ => false,
        };
        if same {
            continue;
        }
        match &verdict {
            Some((v, e)) => {
                c.prepare_cached(
                    "INSERT INTO verdicts (removal_id, org, address, verdict, at, event_uuid, decided) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (removal_id) DO UPDATE SET \
                     verdict = excluded.verdict, at = excluded.at, event_uuid = excluded.event_uuid, \
                     decided = excluded.decided",
                )?
                .execute(params![
                    id.0,
                    org,
                    address,
                    v.as_str(),
                    time_text(e.published),
                    e.uuid,
                    time_text(now)
                ])?;
            }
            None => {
                c.prepare_cached("DELETE FROM verdicts WHERE removal_id = ?1")?
                    .execute([id.0])?;
            }
        }
        changes.push(VerdictChange {
            removal: id,
            address: address.to_string(),
            verdict: verdict.as_ref().map(|(v, _)| *v),
            at: verdict.as_ref().map(|(_, e)| e.published),
        });
    }
    Ok(changes)
}

/// The verdict of the events of one removal's window (in `published` order, ties in the order taken), and
/// the event that decides it: `bounces verify`'s rules.
fn decide<'a>(window: impl Iterator<Item = &'a Seen>) -> Option<(Verdict, &'a Seen)> {
    let (mut logged, mut delivery): (Option<&Seen>, Option<&Seen>) = (None, None);
    for e in window {
        match e.kind {
            EventKind::Removal => logged = Some(e),
            _ => delivery = Some(e),
        }
    }
    match (delivery, logged) {
        (Some(d), _) if d.kind == EventKind::Delivered => Some((Verdict::Delivered, d)),
        (Some(d), Some(r)) if d.published >= r.published => Some((Verdict::BouncedAgain, d)),
        (_, Some(r)) => Some((Verdict::RemovalLogged, r)),
        _ => None,
    }
}
