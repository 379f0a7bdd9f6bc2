//! `bounces sync`: the loop of find, remove and verify as one stateful pass over an org, with the ledger as
//! its memory. A pass reads the System Log from the saved cursor with a polling query (each page's events
//! and its `next` link recorded in one transaction), asks the ledger what needs clearing (hard bounces
//! newer than the address's last removal; soft signals never; the hold policy holds repeat bouncers), and
//! clears it through the engine, which records each batch in the ledger before it goes. Verdicts of
//! earlier removals come from the events as they are recorded.
//!
//! `follow` repeats passes as a service; `metrics` serves what it does to Prometheus.

pub mod follow;
pub mod metrics;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::client::{ApiError, Client};
use crate::endpoints;
use crate::engine::{Ended, Engine, Handed, Outcome, Report, Source};
use crate::interrupt::Interrupt;
use crate::ledger::engine::{Recorder, Shared};
use crate::ledger::{
    Clears, EventKind, HoldPolicy, LedgerError, NewEvent, OrgKey, RunId, Verdict, VerdictChange,
};
use crate::logs::{DELIVERY, LogEvent, Pages, Query, REMOVAL};
use crate::report::Status;

/// The source name of a pass's rows in its report.
pub const SOURCE: &str = "System Log";

/// Why a pass could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// One org's sync: its ledger (with the org's lock held by the caller), its client and its run.
pub struct Syncer {
    pub ledger: Shared,
    pub org: OrgKey,
    pub run: RunId,
    pub client: Arc<Client>,
    pub policy: HoldPolicy,
    /// Where a first run starts reading: this long ago.
    pub since: Duration,
    pub interrupt: Arc<Interrupt>,
}

/// What reading the log took in.
#[derive(Debug, Default, Clone)]
pub struct LogRead {
    pub pages: u64,
    /// Events read (each event once per page it came on).
    pub events: u64,
    /// Events the ledger had not seen.
    pub new: u64,
    /// New hard bounces among them.
    pub hard_bounces: u64,
    /// New soft signals (deferrals, drops, 4xx replies): recorded, never cleared.
    pub soft: u64,
    /// Verdicts of earlier removals the events decided.
    pub verdicts: Vec<VerdictChange>,
    /// When the newest event read happened, by Okta's clock.
    pub newest: Option<SystemTime>,
    /// The read stopped early (an interrupt): the cursor is where the last recorded page left it.
    pub interrupted: bool,
}

impl std::fmt::Display for LogRead {
    /// `read 58 events from the System Log (58 new: 7 hard bounces, 11 soft); verdicts: ...`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let [(_, logged), (_, delivered), (_, again)] = verdict_counts(&self.verdicts);
        write!(
            f,
            "read {} from the System Log ({} new: {}, {} soft); verdicts: {logged} removal logged, \
             {delivered} delivered, {again} bounced again",
            crate::term::count(self.events, "event", "events"),
            self.new,
            crate::term::count(self.hard_bounces, "hard bounce", "hard bounces"),
            self.soft
        )
    }
}

/// The filter of the polling query: the two event types the ledger keeps (a delivery's result is read
/// from the event, as `bounces find` does).
fn filter() -> String {
    format!("eventType eq \"{DELIVERY}\" or eventType eq \"{REMOVAL}\"")
}

/// How far before the cursor's last save a query starts again when Okta no longer takes the saved
/// cursor: events are recorded once by uuid, so reading some again costs only requests.
const RESTART_OVERLAP: Duration = Duration::from_secs(24 * 3600);

impl Syncer {
    fn ledger(&self) -> std::sync::MutexGuard<'_, crate::ledger::Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the System Log from the saved cursor (a first run: a polling query from `since` ago),
    /// following `next` links until it has caught up: a page comes back empty, or a page short of the
    /// limit holds an event that happened after the read began (a polling query is in the order events
    /// were stored, so everything stored before the read began has been read; in a busy org the log
    /// never comes back empty). Each page's events and its `next` link are recorded in one transaction
    /// before the next page is asked for.
    pub async fn read_log(&self) -> Result<LogRead, SyncError> {
        // A time Okta named to an earlier run (of either bucket) holds the log's reads too: nothing goes
        // out before it, and a wait past --max-wait stops this pass at once, with the same time.
        if let Some(at) = self.retry_at()?
            && let Err(stop) = self
                .client
                .pacer(endpoints::LIST_LOGS.bucket)
                .hold_until(at)
        {
            return Err(ApiError::Stopped(stop).into());
        }
        let read = self.read_pages().await;
        if let Err(SyncError::Api(e)) = &read
            && let Some(at) = e.stop_reason().retry_at
            && let Err(e) = self.ledger().set_retry_at(&self.org, Some(at))
        {
            tracing::warn!("cannot record Okta's time to retry in the ledger: {e}");
        }
        read
    }

    async fn read_pages(&self) -> Result<LogRead, SyncError> {
        let now = SystemTime::now();
        // (The ledger's guard is let go before the next call takes it again.)
        let saved = self.ledger().cursor(&self.org)?;
        let cursor = match saved {
            Some(c) => c,
            None => {
                let most = crate::logs::MAX_AGE - Duration::from_secs(3600);
                if self.since > most {
                    tracing::warn!(
                        "--since {}: Okta answers for the last 180 days only; reading from 180 days back",
                        humantime::format_duration(self.since)
                    );
                }
                let since = now - self.since.min(most);
                self.ledger()
                    .start_cursor(&self.org, since, self.run, now)?
            }
        };
        let query = |since: SystemTime| Query {
            since,
            until: None,
            filter: filter(),
        };
        let mut pages = match cursor.next {
            // A link saved by this tool starts with the log's path; anything else is not followed.
            Some(next) if next.starts_with(endpoints::LIST_LOGS.path) => {
                Pages::resume(&self.client, next)
            }
            _ => Pages::new(&self.client, &query(cursor.since)),
        };
        let mut read = LogRead::default();
        let mut restarted = false;
        loop {
            if self.interrupt.stopping() {
                read.interrupted = true;
                break;
            }
            let values = match pages.next().await {
                Ok(Some(v)) => v,
                Ok(None) => break,
                Err(ApiError::Stopped(_)) if self.interrupt.stopping() => {
                    read.interrupted = true;
                    break;
                }
                // Okta no longer takes a saved cursor (a 400 on its `after`): start again a little before
                // the newest event taken through it (events are recorded once by uuid), within the 180
                // days Okta answers for.
                Err(ApiError::Status { status, .. })
                    if status == reqwest::StatusCode::BAD_REQUEST
                        && read.pages == 0
                        && !restarted =>
                {
                    restarted = true;
                    let oldest = now - (crate::logs::MAX_AGE - Duration::from_secs(3600));
                    let since = (cursor.newest.unwrap_or(cursor.updated) - RESTART_OVERLAP)
                        .max(cursor.since)
                        .max(oldest);
                    tracing::warn!(
                        "Okta refused the saved System Log cursor; reading again from {}",
                        crate::logs::time_text(since)
                    );
                    pages = Pages::new(&self.client, &query(since));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let events: Vec<NewEvent> = values
                .iter()
                .filter_map(LogEvent::from_value)
                .filter_map(|e| NewEvent::from_log(&e))
                .collect();
            let taken = self.ledger().take_page(
                &self.org,
                self.run,
                &events,
                pages.next_path(),
                SystemTime::now(),
            )?;
            read.pages += 1;
            read.events += values.len() as u64;
            read.new += taken.new as u64;
            read.verdicts.extend(taken.verdicts);
            for e in &events {
                read.newest = read.newest.max(Some(e.published));
            }
            let new = |k: EventKind| taken.new_kinds.get(k.as_str()).copied().unwrap_or(0) as u64;
            read.hard_bounces += new(EventKind::Bounce);
            read.soft += new(EventKind::Soft) + new(EventKind::Deferred) + new(EventKind::Dropped);
            let short = values.len() < crate::logs::PAGE_LIMIT as usize;
            if values.is_empty() || short && events.iter().any(|e| e.published >= now) {
                break;
            }
        }
        Ok(read)
    }

    /// When Okta said the org's bounce list may be asked again (an earlier run's `--max-wait` stop), if
    /// that is still to come: nothing is sent before it.
    pub fn retry_at(&self) -> Result<Option<SystemTime>, SyncError> {
        let cursor = self.ledger().cursor(&self.org)?;
        Ok(cursor
            .and_then(|c| c.retry_at)
            .filter(|&t| t > SystemTime::now()))
    }

    /// What the ledger says needs clearing now, and what its policy holds.
    pub fn clears(&self) -> Result<Clears, SyncError> {
        Ok(self
            .ledger()
            .pending_clears(&self.org, &self.policy, SystemTime::now())?)
    }

    /// Clears `clears` through the engine into `report` (the held ones are reported `held`, unless
    /// `report_held` says not to): each batch is recorded in the ledger before it goes, each answer as it
    /// settles. With `dry_run`, nothing is sent and nothing recorded: the rows say `valid`.
    pub async fn clear(
        &self,
        clears: &Clears,
        report_held: impl Fn(&crate::ledger::Held) -> bool,
        report: Report,
        first_line: u64,
        concurrency: Option<usize>,
        dry_run: bool,
    ) -> (Outcome, Report, Vec<VerdictChange>) {
        let mut handed: Vec<Handed> = clears
            .pending
            .iter()
            .map(|p| Handed::send(p.address.clone()))
            .collect();
        handed.extend(
            clears
                .held
                .iter()
                .filter(|h| report_held(h))
                .map(|h| Handed {
                    address: h.address.clone(),
                    settled: Some((Status::Held, h.reason())),
                }),
        );
        let bounces: HashMap<String, String> = clears
            .pending
            .iter()
            .map(|p| (p.address.clone(), p.bounce.uuid.clone()))
            .collect();
        let recorder = Recorder::new(self.ledger.clone(), self.run, bounces);
        let verdicts = recorder.verdicts.clone();
        let engine = Engine {
            source: Source::addresses_from(SOURCE, handed, first_line),
            report,
            sinks: if dry_run {
                Vec::new()
            } else {
                vec![Box::new(recorder)]
            },
            gate: None,
            client: (!dry_run).then(|| self.client.clone()),
            interrupt: self.interrupt.clone(),
            concurrency,
            keep_accepted: false,
            not_before: self.retry_at().ok().flatten(),
            tally: Arc::default(),
        };
        let (outcome, report) = engine.run_keeping_report().await;
        let changed = std::mem::take(&mut *verdicts.lock().unwrap_or_else(|e| e.into_inner()));
        // Okta's time to come back outlives this process: the next run sends nothing before it.
        // (A run that completed has no time to wait for any more; one that ended otherwise leaves it.)
        let retry_at = match &outcome.ended {
            Ended::Completed => Some(None),
            e => e.retry_at().map(Some),
        };
        if let (false, Some(retry_at)) = (dry_run, retry_at)
            && let Err(e) = self.ledger().set_retry_at(&self.org, retry_at)
        {
            tracing::warn!("cannot record Okta's time to retry in the ledger: {e}");
        }
        (outcome, report, changed)
    }
}

/// The verdicts among `changes`, by kind (what each decided: the latest for a removal).
pub fn verdict_counts(changes: &[VerdictChange]) -> [(Verdict, u64); 3] {
    let mut latest: HashMap<_, Option<Verdict>> = HashMap::new();
    for c in changes {
        latest.insert(c.removal, c.verdict);
    }
    let n = |v: Verdict| latest.values().filter(|x| **x == Some(v)).count() as u64;
    [
        (Verdict::RemovalLogged, n(Verdict::RemovalLogged)),
        (Verdict::Delivered, n(Verdict::Delivered)),
        (Verdict::BouncedAgain, n(Verdict::BouncedAgain)),
    ]
}
