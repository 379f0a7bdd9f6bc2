//! What the ledger records, each call one transaction: runs (`begin_run`, `end_run`), the System Log's
//! events together with the cursor that follows them (`take_page`), and removals before they go out and
//! Okta's answers after (`record_sending`, `record_answers`). A crash between two calls leaves the ledger
//! at the earlier one: a page's events without its cursor never, a removal sent but unrecorded never.

use std::collections::BTreeSet;
use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};

use super::verdicts::{self, Verdict};
use super::{
    Ledger, LedgerError, OrgKey, OrgLock, RemovalId, RunId, address_key, parse_time, time_text,
};
use crate::logs::email::{self, Kind};
use crate::logs::{DELIVERY, LogEvent, REMOVAL};

/// What an event says of its recipients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A hard bounce: the only kind that puts an address on Okta's bounce list, and so the only one that
    /// calls for a removal.
    Bounce,
    /// A bounce whose SMTP reply is a 4xx (greylisting's `451`, a full mailbox's `452`): temporary, not on
    /// the bounce list.
    Soft,
    /// The provider dropped the mail (often because the address bounced before).
    Dropped,
    /// Delivery was deferred.
    Deferred,
    /// A failure of no kind the tool knows (a spam report, say).
    Other,
    /// Mail reached the address.
    Delivered,
    /// `system.email.bounce.removal`: Okta passed a removal on to its email provider.
    Removal,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Bounce,
        EventKind::Soft,
        EventKind::Dropped,
        EventKind::Deferred,
        EventKind::Other,
        EventKind::Delivered,
        EventKind::Removal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Bounce => "bounce",
            EventKind::Soft => "soft",
            EventKind::Dropped => "dropped",
            EventKind::Deferred => "deferred",
            EventKind::Other => "other",
            EventKind::Delivered => "delivered",
            EventKind::Removal => "removal",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind of a `system.email.delivery`, as `bounces find` reads it, except that a bounce whose SMTP
    /// reply is a 4xx is `Soft`: a greylisting `451` logged as a bounce is no reason to clear anything.
    pub fn of_delivery(e: &LogEvent) -> EventKind {
        match email::reported_kind(e) {
            Kind::Bounce if email::reply_class(e) == Some('4') => EventKind::Soft,
            Kind::Bounce => EventKind::Bounce,
            Kind::Dropped => EventKind::Dropped,
            Kind::Deferred => EventKind::Deferred,
            Kind::Other => EventKind::Other,
            Kind::Delivered => EventKind::Delivered,
        }
    }
}

/// A System Log event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub uuid: String,
    pub event_type: String,
    pub kind: EventKind,
    /// When Okta says it happened (`published`).
    pub published: SystemTime,
    /// Whom it is about: a delivery's recipient; every address a removal names.
    pub recipients: Vec<String>,
    /// The Okta user a delivery names, when it names one.
    pub user: Option<String>,
    /// The provider's words (`550 5.1.1 user unknown`), or the outcome's reason.
    pub detail: String,
}

impl NewEvent {
    /// The event to record for a System Log event: its kind, recipients and words as `bounces find`
    /// reads them. `None` for an event this ledger does not keep: not an email delivery or bounce
    /// removal, or without a `uuid` (it could not be taken once only) or a readable `published`.
    pub fn from_log(e: &LogEvent) -> Option<NewEvent> {
        let uuid = e.uuid.clone()?;
        let published = e.published?;
        let (kind, recipients, user, detail) = if e.event_type == REMOVAL {
            (
                EventKind::Removal,
                email::removal_addresses(e),
                None,
                String::new(),
            )
        } else if e.event_type == DELIVERY {
            let r = email::recipient(e);
            (
                EventKind::of_delivery(e),
                r.iter().map(|r| r.email.clone()).collect(),
                r.and_then(|r| r.user),
                email::provider_text(e),
            )
        } else {
            return None;
        };
        Some(NewEvent {
            uuid,
            event_type: e.event_type.clone(),
            kind,
            published,
            recipients,
            user,
            detail,
        })
    }
}

/// What [`Ledger::take_page`] did with a page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Taken {
    /// Events recorded for the first time.
    pub new: usize,
    /// Events already in the ledger (a page read again after a restart).
    pub repeated: usize,
    /// Deliveries to addresses the ledger knows nothing of, not kept (a busy org's every delivered mail
    /// would fill it; they can decide no verdict).
    pub untracked: usize,
    /// Verdicts of removals that the page changed.
    pub verdicts: Vec<VerdictChange>,
    /// The new events by kind (`bounce`, `soft`, ...).
    pub new_kinds: std::collections::BTreeMap<&'static str, usize>,
}

/// A removal's verdict, new or changed (`None`: it has none any more, rare: a later removal took the event
/// that decided it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictChange {
    pub removal: RemovalId,
    pub address: String,
    pub verdict: Option<Verdict>,
    /// When the event that decided it happened.
    pub at: Option<SystemTime>,
}

/// A removal request about to go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRemoval {
    pub address: String,
    /// The uuid of the hard bounce that called for it (`None` for an address from an export).
    pub bounce: Option<String>,
}

/// Okta's answer to a removal request, or that there is none yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Recorded before it went out; no answer yet (after a crash: not done, to send again).
    Sending,
    Accepted,
    /// Okta refused the address, with its reason.
    Rejected(String),
    /// No answer (rate limited past the wait, unavailable, interrupted): not done, to send again.
    Failed(String),
}

impl Answer {
    pub fn as_str(&self) -> &'static str {
        match self {
            Answer::Sending => "sending",
            Answer::Accepted => "accepted",
            Answer::Rejected(_) => "rejected",
            Answer::Failed(_) => "failed",
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Answer::Rejected(r) | Answer::Failed(r) => r,
            Answer::Sending | Answer::Accepted => "",
        }
    }

    /// Not done: to be sent again.
    pub fn is_open(&self) -> bool {
        matches!(self, Answer::Sending | Answer::Failed(_))
    }

    pub(super) fn read(answer: &str, reason: String) -> Answer {
        match answer {
            "accepted" => Answer::Accepted,
            "rejected" => Answer::Rejected(reason),
            "sending" => Answer::Sending,
            // `failed`, or a word of a newer build: not known to be done.
            _ => Answer::Failed(reason),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct RunEnd {
    /// A word: the summary's `cause` (`completed`, `interrupted`, `max_wait`, `auth`, ...).
    pub cause: String,
    pub exit_status: i32,
    /// The run's counts, kept as JSON text.
    pub counts: serde_json::Value,
}

/// Where an org's polling query is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub org: OrgKey,
    /// Where the first run started reading.
    pub since: SystemTime,
    /// The whole `next` link of the last page taken (path and query), as Okta gave it; `None` until a
    /// page was taken.
    pub next: Option<String>,
    pub updated: SystemTime,
    pub run: Option<RunId>,
    /// When Okta said the bounce list may be asked again, after a `--max-wait` stop (nothing goes out
    /// before it).
    pub retry_at: Option<SystemTime>,
    /// The newest `published` time of the events taken through this cursor.
    pub newest: Option<SystemTime>,
}

impl Ledger {
    /// Starts a run of `command` on the org `lock` holds. Runs of that org left without an end (the
    /// process was killed: nothing else could have held the lock) are marked `lost`.
    pub fn begin_run(
        &mut self,
        lock: &OrgLock,
        command: &str,
        now: SystemTime,
    ) -> Result<RunId, LedgerError> {
        if lock.ledger != self.path {
            return Err(self.misuse(format!(
                "the lock given is of another ledger ({})",
                lock.ledger.display()
            )));
        }
        let org = lock.org.as_str();
        self.write(|tx| {
            // Their requests still `sending` got no answer this ledger will ever see: `failed`, and so
            // asked for again (the same as `sending`, but said so in `history`).
            tx.execute(
                "UPDATE removals SET answer = 'failed', reason = 'no answer recorded: the run that sent \
                 it was killed (or crashed) first; it is sent again' \
                 WHERE org = ?1 AND answer = 'sending' AND run_id IN \
                 (SELECT id FROM runs WHERE org = ?1 AND ended IS NULL AND cause IS NULL)",
                [org],
            )?;
            tx.execute(
                "UPDATE runs SET cause = 'lost' WHERE org = ?1 AND ended IS NULL AND cause IS NULL",
                [org],
            )?;
            tx.execute(
                "INSERT INTO runs (org, command, pid, started) VALUES (?1, ?2, ?3, ?4)",
                params![org, command, std::process::id(), time_text(now)],
            )?;
            Ok(RunId(tx.last_insert_rowid()))
        })
    }

    pub fn end_run(
        &mut self,
        run: RunId,
        end: &RunEnd,
        now: SystemTime,
    ) -> Result<(), LedgerError> {
        let n = self.write(|tx| {
            Ok(tx.execute(
                "UPDATE runs SET ended = ?2, cause = ?3, exit_status = ?4, counts = ?5 WHERE id = ?1",
                params![
                    run.0,
                    time_text(now),
                    end.cause,
                    end.exit_status,
                    end.counts.to_string()
                ],
            )?)
        })?;
        if n == 0 {
            return Err(self.misuse(format!("no run {run}")));
        }
        Ok(())
    }

    /// The org's polling cursor, if a run started one.
    pub fn cursor(&self, org: &OrgKey) -> Result<Option<Cursor>, LedgerError> {
        self.read(|c| read_cursor(c, org))
    }

    /// The org's cursor; a first run starts it at `since` (kept, so a run that dies before its first page
    /// starts the next one from the same place).
    pub fn start_cursor(
        &mut self,
        org: &OrgKey,
        since: SystemTime,
        run: RunId,
        now: SystemTime,
    ) -> Result<Cursor, LedgerError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO cursors (org, since, updated, run_id) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (org) DO NOTHING",
                params![org.as_str(), time_text(since), time_text(now), run.0],
            )?;
            Ok(read_cursor(tx, org)?.expect("the row was just made"))
        })
    }

    /// Records a page of the org's System Log and, in the same transaction, the `next` link that follows
    /// it (`None`: the page had none; the cursor stays where it was). Each event is kept once per org (by
    /// uuid); the verdicts of removals the page speaks of are derived again.
    pub fn take_page(
        &mut self,
        org: &OrgKey,
        run: RunId,
        events: &[NewEvent],
        next: Option<&str>,
        now: SystemTime,
    ) -> Result<Taken, LedgerError> {
        let org = org.as_str();
        let taken = time_text(now);
        self.write(|tx| {
            let mut out = Taken::default();
            let mut touched = BTreeSet::new();
            let mut insert = tx.prepare_cached(
                "INSERT INTO events (org, uuid, event_type, kind, published, taken, run_id, user_id, \
                 detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
            )?;
            let mut recipient = tx.prepare_cached(
                "INSERT INTO event_recipients (org, uuid, address) VALUES (?1, ?2, ?3) \
                 ON CONFLICT DO NOTHING",
            )?;
            let mut known = tx.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM event_recipients WHERE org = ?1 AND address = ?2) \
                     OR EXISTS (SELECT 1 FROM removals WHERE org = ?1 AND address = ?2)",
            )?;
            for e in events {
                let mut to: Vec<String> = e.recipients.iter().map(|a| address_key(a)).collect();
                to.sort();
                to.dedup();
                to.retain(|a| !a.is_empty());
                if e.kind == EventKind::Delivered {
                    let mut tracked = false;
                    for a in &to {
                        tracked |= known.query_row(params![org, a], |r| r.get::<_, bool>(0))?;
                    }
                    if !tracked {
                        out.untracked += 1;
                        continue;
                    }
                }
                let added = insert.execute(params![
                    org,
                    e.uuid,
                    e.event_type,
                    e.kind.as_str(),
                    time_text(e.published),
                    taken,
                    run.0,
                    e.user,
                    e.detail
                ])?;
                if added == 0 {
                    out.repeated += 1;
                    continue;
                }
                out.new += 1;
                *out.new_kinds.entry(e.kind.as_str()).or_default() += 1;
                for a in to {
                    recipient.execute(params![org, e.uuid, a])?;
                    if verdicts::DECIDING.contains(&e.kind) {
                        touched.insert(a);
                    }
                }
            }
            for a in touched {
                out.verdicts
                    .extend(verdicts::derive(tx, org, &a, now)?);
            }
            if let Some(next) = next {
                tx.execute(
                    "INSERT INTO cursors (org, since, next, updated, run_id) VALUES (?1, ?2, ?3, ?2, ?4) \
                     ON CONFLICT (org) DO UPDATE SET next = excluded.next, updated = excluded.updated, \
                     run_id = excluded.run_id",
                    params![org, taken, next, run.0],
                )?;
            }
            if let Some(newest) = events.iter().map(|e| e.published).max() {
                tx.execute(
                    "UPDATE cursors SET newest = ?2 WHERE org = ?1 AND (newest IS NULL OR newest < ?2)",
                    params![org, time_text(newest)],
                )?;
            }
            Ok(out)
        })
    }

    /// Notes when Okta said the org's bounce list may be asked again (`None`: no such time), so that a
    /// later run sends nothing before it. The org must have a cursor (a sync started it).
    pub fn set_retry_at(
        &mut self,
        org: &OrgKey,
        at: Option<SystemTime>,
    ) -> Result<(), LedgerError> {
        let org = org.as_str();
        self.write(|tx| {
            tx.execute(
                "UPDATE cursors SET retry_at = ?2 WHERE org = ?1",
                params![org, at.map(time_text)],
            )?;
            Ok(())
        })
    }

    /// Records a batch of removals about to be requested by `run`, all in one transaction, before the
    /// request goes out: a crash after it leaves them `sending`, which the next run sends again. Returns
    /// their ids, in order, for [`Ledger::record_answers`].
    pub fn record_sending(
        &mut self,
        run: RunId,
        removals: &[NewRemoval],
        now: SystemTime,
    ) -> Result<Vec<RemovalId>, LedgerError> {
        let requested = time_text(now);
        let path = self.path.clone();
        self.write(|tx| {
            let found: Option<(String, String, Option<String>)> = tx
                .query_row(
                    "SELECT org, command, ended FROM runs WHERE id = ?1",
                    [run.0],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let (org, command) = match found {
                Some((org, command, None)) => (org, command),
                Some(_) => return Err(misuse(&path, format!("run {run} has ended"))),
                None => return Err(misuse(&path, format!("no run {run}"))),
            };
            let mut insert = tx.prepare_cached(
                "INSERT INTO removals (org, address, run_id, command, requested, bounce_uuid) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            removals
                .iter()
                .map(|r| {
                    insert.execute(params![
                        org,
                        address_key(&r.address),
                        run.0,
                        command,
                        requested,
                        r.bounce
                    ])?;
                    Ok(RemovalId(tx.last_insert_rowid()))
                })
                .collect()
        })
    }

    /// Records Okta's answers to removals recorded by [`Ledger::record_sending`], in one transaction, and
    /// derives again the verdicts of the addresses accepted (an event logged a little before Okta's
    /// answer by this clock may count for it). `Answer::Sending` is no answer and is refused.
    pub fn record_answers(
        &mut self,
        answers: &[(RemovalId, Answer)],
        now: SystemTime,
    ) -> Result<Vec<VerdictChange>, LedgerError> {
        if answers.iter().any(|(_, a)| *a == Answer::Sending) {
            return Err(self.misuse("'sending' is no answer".into()));
        }
        let answered = time_text(now);
        let path = self.path.clone();
        self.write(|tx| {
            let mut update = tx.prepare_cached(
                "UPDATE removals SET answer = ?2, reason = ?3, answered = ?4 WHERE id = ?1 \
                 RETURNING org, address",
            )?;
            let mut accepted = BTreeSet::new();
            for (id, answer) in answers {
                let row: Option<(String, String)> = update
                    .query_row(
                        params![id.0, answer.as_str(), answer.reason(), answered],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let Some(row) = row else {
                    return Err(misuse(&path, format!("no removal {id}")));
                };
                if *answer == Answer::Accepted {
                    accepted.insert(row);
                }
            }
            let mut changes = Vec::new();
            for (org, address) in accepted {
                changes.extend(verdicts::derive(tx, &org, &address, now)?);
            }
            Ok(changes)
        })
    }

    fn misuse(&self, what: String) -> LedgerError {
        misuse(&self.path, what)
    }
}

fn misuse(path: &std::path::Path, what: String) -> LedgerError {
    LedgerError::Misuse {
        path: path.to_path_buf(),
        what,
    }
}

fn read_cursor(c: &rusqlite::Connection, org: &OrgKey) -> Result<Option<Cursor>, LedgerError> {
    type Row = (
        String,
        Option<String>,
        String,
        Option<i64>,
        Option<String>,
        Option<String>,
    );
    let row: Option<Row> = c
        .query_row(
            "SELECT since, next, updated, run_id, retry_at, newest FROM cursors WHERE org = ?1",
            [org.as_str()],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let Some((since, next, updated, run, retry_at, newest)) = row else {
        return Ok(None);
    };
    let time = |t: Option<String>| t.map(|t| parse_time(&t)).transpose();
    Ok(Some(Cursor {
        org: org.clone(),
        since: parse_time(&since)?,
        next,
        updated: parse_time(&updated)?,
        run: run.map(RunId),
        retry_at: time(retry_at)?,
        newest: time(newest)?,
    }))
}
