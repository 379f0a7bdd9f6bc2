//! What the ledger knows, for people (`bounces history`): one row per removal request, or one per address
//! with its bounces, removals, latest verdict and whether it is pending or held. Holds are judged here by
//! the policy given, the same rules `pending_clears` applies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::SystemTime;

use rusqlite::{Connection, params};

use super::policy::{self, Held, HoldPolicy};
use super::record::Answer;
use super::verdicts::Verdict;
use super::{Ledger, LedgerError, OrgKey, RemovalId, RunId, address_key, parse_time};

/// Which rows to read.
#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// One org, or every org in the ledger.
    pub org: Option<OrgKey>,
    /// These addresses only (any case); empty: every one.
    pub addresses: Vec<String>,
    /// Removals requested since (per removal), or addresses with an event or a request since (per
    /// address).
    pub since: Option<SystemTime>,
    /// Held addresses only.
    pub held_only: bool,
    pub policy: HoldPolicy,
    pub now: SystemTime,
}

/// One removal request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovalHistory {
    pub org: OrgKey,
    pub address: String,
    pub removal: RemovalId,
    pub run: RunId,
    pub command: String,
    pub requested: SystemTime,
    pub answer: Answer,
    pub answered: Option<SystemTime>,
    /// Its verdict, and when the event that decided it happened.
    pub verdict: Option<(Verdict, SystemTime)>,
    /// Hard bounces of the address the ledger holds.
    pub bounces: u64,
    pub held: Option<Held>,
}

/// An address's latest removal request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRemoval {
    pub removal: RemovalId,
    pub run: RunId,
    pub command: String,
    pub requested: SystemTime,
    pub answer: Answer,
}

/// Where an address stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressStatus {
    /// Held by the policy: not cleared again until the hold ends.
    Held,
    /// Hard-bounced since its latest answered request (or never requested, or not answered): the next
    /// `sync` clears it.
    Pending,
    /// Its latest removal was accepted, and it has not hard-bounced since.
    Cleared,
    /// Its latest removal was rejected, and it has not hard-bounced since.
    Rejected,
    /// Its latest removal has no answer and it never hard-bounced (an address of an export).
    Sending,
    /// Its latest removal failed and it never hard-bounced (an address of an export).
    Failed,
    /// Never hard-bounced nor requested: only soft signals, deliveries or logged removals.
    NoHardBounce,
}

impl AddressStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressStatus::Held => "held",
            AddressStatus::Pending => "pending",
            AddressStatus::Cleared => "cleared",
            AddressStatus::Rejected => "rejected",
            AddressStatus::Sending => "sending",
            AddressStatus::Failed => "failed",
            AddressStatus::NoHardBounce => "no_hard_bounce",
        }
    }
}

impl fmt::Display for AddressStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressHistory {
    pub org: OrgKey,
    pub address: String,
    /// Hard bounces.
    pub bounces: u64,
    /// Soft signals: soft bounces, deferrals, drops, other failures.
    pub soft: u64,
    pub last_bounce: Option<SystemTime>,
    pub removals: u64,
    pub accepted: u64,
    pub last_removal: Option<LastRemoval>,
    /// The verdict of its latest accepted removal, and when the event that decided it happened.
    pub verdict: Option<(Verdict, SystemTime)>,
    pub status: AddressStatus,
    pub held: Option<Held>,
}

/// What the ledger holds of one org's addresses.
struct OrgView {
    held: HashMap<String, Held>,
    pending: HashSet<String>,
    /// Per address: hard bounces, soft signals, the latest hard bounce, the latest event.
    events: BTreeMap<String, (u64, u64, Option<SystemTime>, Option<SystemTime>)>,
    removals: Vec<RemovalHistory>,
}

impl Ledger {
    /// One row per removal request, by org, then in the order they were requested.
    pub fn removal_history(&self, q: &HistoryQuery) -> Result<Vec<RemovalHistory>, LedgerError> {
        let want = wanted(q);
        self.read(|c| {
            let mut out = Vec::new();
            for org in orgs(c, q)? {
                let view = view(c, &org, q)?;
                out.extend(view.removals.into_iter().filter(|r| {
                    want.as_ref().is_none_or(|w| w.contains(&r.address))
                        && q.since.is_none_or(|s| r.requested >= s)
                        && (!q.held_only || r.held.is_some())
                }));
            }
            Ok(out)
        })
    }

    /// One row per address the ledger knows (from any event or removal request), by org and address.
    pub fn address_history(&self, q: &HistoryQuery) -> Result<Vec<AddressHistory>, LedgerError> {
        let want = wanted(q);
        self.read(|c| {
            let mut out = Vec::new();
            for org in orgs(c, q)? {
                let view = view(c, &org, q)?;
                let mut by_address: BTreeMap<String, Vec<&RemovalHistory>> = BTreeMap::new();
                for r in &view.removals {
                    by_address.entry(r.address.clone()).or_default().push(r);
                }
                let all: std::collections::BTreeSet<&String> =
                    view.events.keys().chain(by_address.keys()).collect();
                for address in all {
                    if want.as_ref().is_some_and(|w| !w.contains(address)) {
                        continue;
                    }
                    let held = view.held.get(address).cloned();
                    if q.held_only && held.is_none() {
                        continue;
                    }
                    let (bounces, soft, last_bounce, last_event) =
                        view.events.get(address).cloned().unwrap_or_default();
                    let removals = by_address
                        .get(address)
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    // Removals are in request order: the last is the latest.
                    let last = removals.last();
                    let last_accepted = removals
                        .iter()
                        .filter(|r| r.answer == Answer::Accepted)
                        .max_by_key(|r| (r.answered, r.removal));
                    let active = last_event.max(last.map(|r| r.requested));
                    if q.since.is_some_and(|s| active.is_none_or(|a| a < s)) {
                        continue;
                    }
                    let status = if held.is_some() {
                        AddressStatus::Held
                    } else if view.pending.contains(address) {
                        AddressStatus::Pending
                    } else {
                        match last.map(|r| &r.answer) {
                            Some(Answer::Accepted) => AddressStatus::Cleared,
                            Some(Answer::Rejected(_)) => AddressStatus::Rejected,
                            Some(Answer::Sending) => AddressStatus::Sending,
                            Some(Answer::Failed(_)) => AddressStatus::Failed,
                            None => AddressStatus::NoHardBounce,
                        }
                    };
                    out.push(AddressHistory {
                        org: org.clone(),
                        address: address.clone(),
                        bounces,
                        soft,
                        last_bounce,
                        removals: removals.len() as u64,
                        accepted: removals
                            .iter()
                            .filter(|r| r.answer == Answer::Accepted)
                            .count() as u64,
                        last_removal: last.map(|r| LastRemoval {
                            removal: r.removal,
                            run: r.run,
                            command: r.command.clone(),
                            requested: r.requested,
                            answer: r.answer.clone(),
                        }),
                        verdict: last_accepted.and_then(|r| r.verdict),
                        status,
                        held,
                    });
                }
            }
            Ok(out)
        })
    }
}

fn wanted(q: &HistoryQuery) -> Option<HashSet<String>> {
    (!q.addresses.is_empty()).then(|| q.addresses.iter().map(|a| address_key(a)).collect())
}

fn orgs(c: &Connection, q: &HistoryQuery) -> Result<Vec<OrgKey>, LedgerError> {
    if let Some(org) = &q.org {
        return Ok(vec![org.clone()]);
    }
    let mut s = c.prepare("SELECT org FROM events UNION SELECT org FROM removals ORDER BY 1")?;
    let orgs = s
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(orgs.into_iter().map(OrgKey).collect())
}

fn view(c: &Connection, org: &OrgKey, q: &HistoryQuery) -> Result<OrgView, LedgerError> {
    let key = org.as_str();
    let clears = policy::clears(c, key, &q.policy, q.now)?;
    let held: HashMap<String, Held> = clears
        .held
        .into_iter()
        .map(|h| (h.address.clone(), h))
        .collect();
    let pending = clears.pending.into_iter().map(|p| p.address).collect();
    let mut s = c.prepare_cached(
        "SELECT r.address, SUM(e.kind = 'bounce'), \
                SUM(e.kind IN ('soft', 'deferred', 'dropped', 'other')), \
                MAX(CASE WHEN e.kind = 'bounce' THEN e.published END), MAX(e.published) \
         FROM event_recipients r JOIN events e ON e.org = r.org AND e.uuid = r.uuid \
         WHERE r.org = ?1 GROUP BY r.address",
    )?;
    let events = s
        .query_map([key], |r| {
            Ok((
                r.get::<_, String>(0)?,
                (
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, Option<String>>(3)?
                        .as_deref()
                        .map(parse_time)
                        .transpose()?,
                    r.get::<_, Option<String>>(4)?
                        .as_deref()
                        .map(parse_time)
                        .transpose()?,
                ),
            ))
        })?
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let mut s = c.prepare_cached(
        "SELECT q.id, q.address, q.run_id, q.command, q.requested, q.answer, q.reason, q.answered, \
                v.verdict, v.at \
         FROM removals q LEFT JOIN verdicts v ON v.removal_id = q.id \
         WHERE q.org = ?1 ORDER BY q.requested, q.id",
    )?;
    let removals = s
        .query_map(params![key], |r| {
            let address: String = r.get(1)?;
            let verdict = match (
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
            ) {
                (Some(v), Some(at)) => Verdict::parse(&v).zip(Some(parse_time(&at)?)),
                _ => None,
            };
            Ok(RemovalHistory {
                org: org.clone(),
                removal: RemovalId(r.get(0)?),
                run: RunId(r.get(2)?),
                command: r.get(3)?,
                requested: parse_time(&r.get::<_, String>(4)?)?,
                answer: Answer::read(&r.get::<_, String>(5)?, r.get(6)?),
                answered: r
                    .get::<_, Option<String>>(7)?
                    .as_deref()
                    .map(parse_time)
                    .transpose()?,
                verdict,
                bounces: events.get(&address).map_or(0, |e| e.0),
                held: held.get(&address).cloned(),
                address,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(OrgView {
        held,
        pending,
        events,
        removals,
    })
}
