//! What needs clearing, so clearing never becomes a loop: an address needs a removal request when a hard
//! bounce came after its latest answered request (or its latest request has no answer), and is held
//! instead when it was cleared K times within D days (`--hold-after K/D`). Soft signals (soft bounces,
//! deferrals, drops, other failures) never make an address pending. Also which addresses were cleared
//! recently and have not bounced since (`remove --skip-cleared`).
//!
//! A hold ends by itself: once fewer than K of the address's accepted removals fall within the last D
//! days, its latest bounce makes it pending again; so an address is cleared at most K times in any D days.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, params};

use super::record::Answer;
use super::{
    Ledger, LedgerError, OrgKey, RemovalId, RunId, address_key, ago, parse_time, time_text,
};

/// Held after `after` removals within `within` (`--hold-after 3/30d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    pub after: u32,
    pub within: Duration,
}

impl Default for HoldPolicy {
    fn default() -> HoldPolicy {
        HoldPolicy {
            after: 3,
            within: Duration::from_secs(30 * 86_400),
        }
    }
}

impl FromStr for HoldPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<HoldPolicy, String> {
        let form = "give K/D: held after K removals within D, e.g. 3/30d";
        let (k, d) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("not a hold policy: {form}"))?;
        let after: u32 = k
            .trim()
            .parse()
            .map_err(|_| format!("{k:?} is not a count: {form}"))?;
        if after == 0 {
            return Err(format!("K must be at least 1: {form}"));
        }
        let within = crate::cli::parse_duration(d).map_err(|e| format!("{d:?}: {e}"))?;
        if within.is_zero() {
            return Err(format!("D must be more than 0: {form}"));
        }
        Ok(HoldPolicy { after, within })
    }
}

/// `--hold-after` for clap.
pub fn parse_hold(s: &str) -> Result<HoldPolicy, String> {
    s.parse()
}

impl fmt::Display for HoldPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.within.as_secs();
        if secs.is_multiple_of(86_400) && self.within.subsec_nanos() == 0 {
            write!(f, "{}/{}d", self.after, secs / 86_400)
        } else {
            write!(
                f,
                "{}/{}",
                self.after,
                humantime::format_duration(self.within)
            )
        }
    }
}

/// A hard bounce the ledger holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BounceSeen {
    pub uuid: String,
    pub published: SystemTime,
    pub detail: String,
}

/// An address's latest removal request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousRequest {
    pub removal: RemovalId,
    pub run: RunId,
    pub requested: SystemTime,
    pub answer: Answer,
    pub answered: Option<SystemTime>,
    /// The bounce it was for.
    pub bounce: Option<String>,
    /// When that bounce happened (a bounce no later than it is the same news).
    bounce_published: Option<SystemTime>,
}

impl PreviousRequest {
    /// Whether `b` came after this request: published after the request was recorded, and neither the
    /// bounce it was for nor one before that. (By `published`, Okta's clock, against the request's time by
    /// this one: a bounce between the request and Okta's answer counts as after, which at worst sends the
    /// address once more.)
    fn followed_by(&self, b: &BounceSeen) -> bool {
        b.published > self.requested
            && self.bounce.as_deref() != Some(b.uuid.as_str())
            && self.bounce_published.is_none_or(|p| b.published > p)
    }
}

/// An address that needs a removal request, and the bounce that calls for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub address: String,
    pub bounce: BounceSeen,
    pub previous: Option<PreviousRequest>,
}

impl Pending {
    /// Its latest request has no answer (`sending` after a crash, or `failed`): this is that request again.
    pub fn resend(&self) -> bool {
        self.previous.as_ref().is_some_and(|p| p.answer.is_open())
    }
}

/// An address held by the policy: it bounced again after `removals` removals within the policy's window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub address: String,
    /// The bounce that would have called for another removal.
    pub bounce: BounceSeen,
    /// Accepted removals within the window.
    pub removals: u32,
    /// The first of them.
    pub since: SystemTime,
    /// When the hold ends by itself (fewer than K removals left in the window).
    pub until: SystemTime,
    pub policy: HoldPolicy,
}

impl Held {
    /// `bounced again after 3 removals in 30 days (the first 2026-11-01T...Z); held until ...: the address
    /// itself needs fixing`.
    pub fn reason(&self) -> String {
        format!(
            "bounced again after {} removals in {} (the first {}); held until {}: the address itself \
             needs fixing (a typo, a mailbox that no longer exists)",
            self.removals,
            window_words(self.policy.within),
            time_text(self.since),
            time_text(self.until)
        )
    }
}

fn window_words(d: Duration) -> String {
    let secs = d.as_secs();
    if secs.is_multiple_of(86_400) {
        let days = secs / 86_400;
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    } else {
        humantime::format_duration(d).to_string()
    }
}

/// What [`Ledger::pending_clears`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clears {
    /// Oldest bounce first.
    pub pending: Vec<Pending>,
    pub held: Vec<Held>,
}

/// An address cleared recently, not bounced since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleared {
    pub address: String,
    pub removal: RemovalId,
    pub run: RunId,
    /// When Okta accepted the removal.
    pub at: SystemTime,
}

impl Ledger {
    /// The org's hard-bounced addresses that need a removal request: a hard bounce newer than the
    /// address's latest answered request (`accepted`, `rejected`), or whose latest request is still
    /// `sending` or `failed`; each with the (latest) bounce that calls for it. Those cleared `policy.after`
    /// times within `policy.within` come back as held instead. Call it with no batch of the org in flight:
    /// a `sending` row is taken as left by a crash.
    pub fn pending_clears(
        &self,
        org: &OrgKey,
        policy: &HoldPolicy,
        now: SystemTime,
    ) -> Result<Clears, LedgerError> {
        self.read(|c| clears(c, org.as_str(), policy, now))
    }

    /// Of `addresses`, those with a removal Okta accepted within `within` before `now` and no hard bounce
    /// since, each with its latest such removal; matched without regard to case, returned lowercased.
    pub fn recently_cleared(
        &self,
        org: &OrgKey,
        addresses: &[String],
        within: Duration,
        now: SystemTime,
    ) -> Result<Vec<Cleared>, LedgerError> {
        let want: HashSet<String> = addresses.iter().map(|a| address_key(a)).collect();
        let org = org.as_str();
        self.read(|c| {
            let mut s = c.prepare_cached(
                "SELECT q.address, q.id, q.run_id, q.requested, q.answered, q.bounce_uuid, b.published \
                 FROM (SELECT max(id) AS id FROM removals \
                       WHERE org = ?1 AND answer = 'accepted' AND answered >= ?2 GROUP BY address) m \
                 CROSS JOIN removals q ON q.id = m.id \
                 LEFT JOIN events b ON b.org = q.org AND b.uuid = q.bounce_uuid",
            )?;
            let rows = s
                .query_map(params![org, time_text(ago(now, within))], |r| {
                    let answered = parse_time(&r.get::<_, String>(4)?)?;
                    Ok((
                        r.get::<_, String>(0)?,
                        PreviousRequest {
                            removal: RemovalId(r.get(1)?),
                            run: RunId(r.get(2)?),
                            requested: parse_time(&r.get::<_, String>(3)?)?,
                            answer: Answer::Accepted,
                            answered: Some(answered),
                            bounce: r.get(5)?,
                            bounce_published: opt_time(r.get(6)?)?,
                        },
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out = Vec::new();
            for (address, q) in rows {
                if !want.contains(&address) {
                    continue;
                }
                if latest_bounce(c, org, &address)?.is_some_and(|b| q.followed_by(&b)) {
                    continue;
                }
                out.push(Cleared {
                    address,
                    removal: q.removal,
                    run: q.run,
                    at: q.answered.expect("accepted rows are answered"),
                });
            }
            out.sort_by(|a, b| a.address.cmp(&b.address));
            Ok(out)
        })
    }
}

/// The work of [`Ledger::pending_clears`] (also used by `history`).
pub(super) fn clears(
    c: &Connection,
    org: &str,
    policy: &HoldPolicy,
    now: SystemTime,
) -> Result<Clears, LedgerError> {
    let bounces = latest_bounces(c, org)?;
    let requests = latest_requests(c, org)?;
    let cleared = accepted_since(c, org, ago(now, policy.within))?;
    let mut out = Clears::default();
    for (address, bounce) in bounces {
        let previous = requests.get(&address).cloned();
        let pending = match &previous {
            None => true,
            Some(q) => q.answer.is_open() || q.followed_by(&bounce),
        };
        if !pending {
            continue;
        }
        let times = cleared.get(&address).map(Vec::as_slice).unwrap_or_default();
        let k = policy.after as usize;
        if times.len() >= k {
            out.held.push(Held {
                address,
                bounce,
                removals: times.len() as u32,
                since: *times.last().expect("at least one"),
                until: times[k - 1] + policy.within,
                policy: *policy,
            });
        } else {
            out.pending.push(Pending {
                address,
                bounce,
                previous,
            });
        }
    }
    out.pending
        .sort_by(|a, b| (a.bounce.published, &a.address).cmp(&(b.bounce.published, &b.address)));
    Ok(out)
}

fn opt_time(t: Option<String>) -> rusqlite::Result<Option<SystemTime>> {
    t.as_deref().map(parse_time).transpose()
}

/// Every hard-bounced address of the org with its latest hard bounce, by address.
fn latest_bounces(c: &Connection, org: &str) -> Result<Vec<(String, BounceSeen)>, LedgerError> {
    let mut s = c.prepare_cached(
        // One pass over the org's recipients in address order (its key), no sort; the other columns
        // are those of the row with the greatest `published` (SQLite's rule for a bare max()).
        "SELECT r.address, e.uuid, max(e.published), e.detail \
         FROM event_recipients r CROSS JOIN events e ON e.org = r.org AND e.uuid = r.uuid \
         WHERE r.org = ?1 AND e.kind = 'bounce' GROUP BY r.address ORDER BY r.address",
    )?;
    let rows = s
        .query_map([org], |r| {
            Ok((
                r.get(0)?,
                BounceSeen {
                    uuid: r.get(1)?,
                    published: parse_time(&r.get::<_, String>(2)?)?,
                    detail: r.get(3)?,
                },
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// An address's latest hard bounce.
pub(super) fn latest_bounce(
    c: &Connection,
    org: &str,
    address: &str,
) -> Result<Option<BounceSeen>, LedgerError> {
    use rusqlite::OptionalExtension;
    Ok(c.prepare_cached(
        // CROSS JOIN: from the address's few rows, not through the org's bounces.
        "SELECT e.uuid, e.published, e.detail FROM event_recipients r \
         CROSS JOIN events e ON e.org = r.org AND e.uuid = r.uuid \
         WHERE r.org = ?1 AND r.address = ?2 AND e.kind = 'bounce' \
         ORDER BY e.published DESC, e.rowid DESC LIMIT 1",
    )?
    .query_row(params![org, address], |r| {
        Ok(BounceSeen {
            uuid: r.get(0)?,
            published: parse_time(&r.get::<_, String>(1)?)?,
            detail: r.get(2)?,
        })
    })
    .optional()?)
}

/// Every address's latest removal request in the org (the last recorded).
pub(super) fn latest_requests(
    c: &Connection,
    org: &str,
) -> Result<HashMap<String, PreviousRequest>, LedgerError> {
    let mut s = c.prepare_cached(
        "SELECT q.address, q.id, q.run_id, q.requested, q.answer, q.reason, q.answered, q.bounce_uuid, \
                b.published \
         FROM (SELECT max(id) AS id FROM removals WHERE org = ?1 GROUP BY address) m \
         CROSS JOIN removals q ON q.id = m.id \
         LEFT JOIN events b ON b.org = q.org AND b.uuid = q.bounce_uuid",
    )?;
    let rows = s
        .query_map([org], |r| {
            Ok((
                r.get::<_, String>(0)?,
                PreviousRequest {
                    removal: RemovalId(r.get(1)?),
                    run: RunId(r.get(2)?),
                    requested: parse_time(&r.get::<_, String>(3)?)?,
                    answer: Answer::read(&r.get::<_, String>(4)?, r.get(5)?),
                    answered: opt_time(r.get(6)?)?,
                    bounce: r.get(7)?,
                    bounce_published: opt_time(r.get(8)?)?,
                },
            ))
        })?
        .collect::<Result<HashMap<_, _>, _>>()?;
    Ok(rows)
}

/// When Okta accepted each address's removals since `from`, latest first.
fn accepted_since(
    c: &Connection,
    org: &str,
    from: SystemTime,
) -> Result<HashMap<String, Vec<SystemTime>>, LedgerError> {
    let mut s = c.prepare_cached(
        "SELECT address, answered FROM removals \
         WHERE org = ?1 AND answer = 'accepted' AND answered >= ?2 ORDER BY address, answered DESC",
    )?;
    let mut out: HashMap<String, Vec<SystemTime>> = HashMap::new();
    let rows = s.query_map(params![org, time_text(from)], |r| {
        Ok((r.get::<_, String>(0)?, parse_time(&r.get::<_, String>(1)?)?))
    })?;
    for row in rows {
        let (address, at) = row?;
        out.entry(address).or_default().push(at);
    }
    Ok(out)
}
