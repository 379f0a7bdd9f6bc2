//! The main job as an engine: rows come from a [`Source`] (exports, an earlier report's failed rows, a
//! resumed report, addresses handed over in the process), are checked and deduplicated ([`check`]), cut
//! into batches of 1,000, sent through the shared client ([`submit`]), and settle, in input order, into
//! the report ([`sink`]) and any other [`Sink`]. Every row read is settled exactly once, whatever happens
//! to the run; how the run ended is decided once ([`ended`]).
//!
//! An engine holds no process-global state: it runs on the client it is given (its own pacers and stop
//! control), so engines for several orgs run side by side in one process.

mod check;
pub mod ended;
mod rows;
pub mod sink;
pub mod source;
pub mod submit;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::client::pacer::DEFAULT_CEILING;
use crate::client::{Client, Failure, StopReason};
use crate::endpoints;
use crate::interrupt::{Interrupt, Level};
use crate::report::{Counts, Status};
pub use ended::{Cause, Ended, Facts};
use rows::Segment;
pub use sink::{Gate, Report, Sink};
pub use source::{Carried, Handed, Source};
use submit::{MAX_BATCH, Outcome as Settled};

/// One run of the engine: where its rows come from, where they go, and what sends them.
pub struct Engine {
    pub source: Source,
    pub report: Report,
    /// More sinks (the ledger): each told of every batch before it is sent and of every settled row.
    pub sinks: Vec<Box<dyn Sink>>,
    /// Decides, before a batch is sent, which of its addresses to leave out (`--skip-cleared`).
    pub gate: Option<Box<dyn Gate>>,
    /// `None` for a dry run: every good, new address is reported `valid`.
    pub client: Option<Arc<Client>>,
    /// Raised by SIGINT/SIGTERM; the engine raises it itself when nothing more can be reported.
    pub interrupt: Arc<Interrupt>,
    /// The most batches in flight (`--concurrency`, default [`DEFAULT_CEILING`]; the pacer adapts below).
    pub concurrency: Option<usize>,
    /// Keep the accepted addresses and when Okta took them (for `--verify`).
    pub keep_accepted: bool,
    /// Nothing is sent before this: when Okta told an earlier run to come back (its `Retry-After`).
    pub not_before: Option<SystemTime>,
    /// What the run has done so far, for a progress display.
    pub tally: Arc<Tally>,
}

/// What a run came to.
#[derive(Debug)]
pub struct Outcome {
    pub ended: Ended,
    /// Every row settled, by status (also those a failed report could not record).
    pub counts: Counts,
    /// Rows settled that are not in the report (it could not be written, or its reader went away).
    pub unrecorded: u64,
    /// The report could not be written (it ends at its last whole row, and takes nothing more).
    pub report_failed: bool,
    /// The report was begun (a refused input leaves an earlier report at its path as it was).
    pub report_begun: bool,
    pub requests: u64,
    pub retries: u64,
    pub waited: Duration,
    pub elapsed: Duration,
    /// Where reading ended early (an interrupt), for the summary.
    pub stopped_reading: Option<String>,
    /// `errors[]` entries that named no address of their request.
    pub unmatched_errors: u64,
    /// Rows carried from the report given to `--resume`.
    pub carried: u64,
    /// With `keep_accepted`: every accepted address and when Okta took it.
    pub accepted: Vec<(String, SystemTime)>,
}

impl Outcome {
    pub fn exit(&self) -> crate::exit::Exit {
        self.ended.exit(&self.counts)
    }
}

/// What the run has done so far, counted by the run and read by the bar.
#[derive(Default)]
pub struct Tally {
    /// Input bytes read (the reader counts them).
    pub bytes: Arc<AtomicU64>,
    /// Rows that reached the run from the reader.
    pub rows: AtomicU64,
    /// Addresses put in batches to send (valid and new).
    pub batched: AtomicU64,
    /// Addresses Okta answered for (accepted or rejected).
    pub sent: AtomicU64,
    /// Rows written to the report (settled).
    pub settled: AtomicU64,
    /// Rows reported `failed`.
    pub failed: AtomicU64,
    /// The reader reached the end of its inputs.
    pub read_all: AtomicBool,
}

/// The most segments waiting in order behind the oldest unsettled one, and the most text they may hold:
/// a slow batch at the head of the report holds up the reader, not memory.
fn queue_limits(ceiling: usize) -> (usize, usize) {
    (2 * ceiling + 4, 256 << 20)
}

/// The reason the rows of a run that stops for its report get: nothing more was sent.
fn report_stop(message: &str) -> StopReason {
    StopReason {
        failure: Failure::Retryable,
        message: message.into(),
        retry_at: None,
    }
}

impl Engine {
    /// Runs to the end of the source, or until the run stops; every row read is settled in the report
    /// (or counted as unrecorded when the report cannot take it).
    pub async fn run(self) -> Outcome {
        self.run_keeping_report().await.0
    }

    /// [`Engine::run`], handing the report back, for a caller that writes the rows of several runs to one
    /// report (`bounces sync --follow`).
    pub async fn run_keeping_report(self) -> (Outcome, Report) {
        let started = Instant::now();
        let Engine {
            source,
            mut report,
            mut sinks,
            mut gate,
            client,
            interrupt,
            concurrency,
            keep_accepted,
            not_before,
            tally,
        } = self;
        let committed_before = report.rows_committed();
        let names = source.names();
        let mut facts = Facts::default();
        // Rows an earlier `--max-wait` stop named a time for, or a time an earlier run was given: nothing
        // goes out before it (a wait past --max-wait stops the run at once, with the same time in the
        // rows).
        if let (Some(at), Some(c)) = (source.not_before().max(not_before), &client)
            && let Err(stop) = c.pacer(endpoints::REMOVE_BOUNCES.bucket).hold_until(at)
        {
            c.control().stop(stop);
        }
        let mut counts = Counts::default();
        let mut accepted: Vec<(String, SystemTime)> = Vec::new();
        let ceiling = concurrency.unwrap_or(DEFAULT_CEILING as usize).max(1);
        let (max_queued, max_queued_text) = queue_limits(ceiling);
        let (tx, mut rx) = mpsc::channel::<Segment>(2);
        let reader = {
            let reading = source::Reading {
                bytes_read: tally.bytes.clone(),
                interrupt: interrupt.clone(),
                tx,
            };
            std::thread::spawn(crate::term::carry_thread(move || {
                source::read(source, reading)
            }))
        };

        let max_len = Arc::new(AtomicUsize::new(MAX_BATCH));
        let mut queue: VecDeque<Segment> = VecDeque::new();
        let mut queued_text = 0usize;
        let mut head_id: u64 = 0;
        let mut inflight: JoinSet<(u64, Vec<Settled>)> = JoinSet::new();
        let mut tasks: HashMap<tokio::task::Id, u64> = HashMap::new();
        let mut reader_done = false;
        loop {
            let mut wrote = false;
            while queue.front().is_some_and(Segment::settled) {
                let seg = queue.pop_front().expect("front");
                queued_text -= seg.queued_text;
                head_id += 1;
                for k in 0..seg.rows.len() {
                    let row = seg.view(k, &names);
                    counts.add(row.status);
                    if keep_accepted && row.status == Status::Accepted {
                        accepted.push((
                            row.email.to_string(),
                            row.at.unwrap_or_else(SystemTime::now),
                        ));
                    }
                    if let Err(e) = report.row(&row) {
                        facts.report_failed.get_or_insert(e);
                    }
                    for s in &mut sinks {
                        if let Err(e) = s.row(&row) {
                            facts
                                .record_failed
                                .get_or_insert_with(|| format!("cannot record the run: {e}"));
                        }
                    }
                }
                wrote = true;
            }
            if wrote {
                // Each settled stretch reaches the file (or pipe) at once: a crash loses at most what is
                // in flight, and a reader that went away is noticed now, not 64 KiB later.
                if let Err(e) = report.commit() {
                    facts.report_failed.get_or_insert(e);
                }
                for s in &mut sinks {
                    if let Err(e) = s.commit() {
                        facts
                            .record_failed
                            .get_or_insert_with(|| format!("cannot record the run: {e}"));
                    }
                }
                tally.settled.store(counts.rows, Ordering::Relaxed);
                tally
                    .failed
                    .store(counts.get(Status::Failed), Ordering::Relaxed);
                if report.is_closed() && !facts.report_closed {
                    facts.report_closed = true;
                    stop_for_report(
                        &client,
                        &interrupt,
                        "not sent: the report's reader went away",
                        Level::Now,
                    );
                }
                if facts.report_failed.is_some() && !interrupt.stopping() {
                    stop_for_report(
                        &client,
                        &interrupt,
                        "not sent: the report could not be written",
                        Level::Stopping,
                    );
                }
                if facts.record_failed.is_some() && !interrupt.stopping() {
                    stop_for_report(
                        &client,
                        &interrupt,
                        "not sent: the run could not be recorded in the ledger",
                        Level::Stopping,
                    );
                }
            }
            if reader_done && inflight.is_empty() {
                break;
            }
            let room = queue.len() < max_queued && queued_text < max_queued_text;
            tokio::select! {
                Some(done) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                    match done {
                        Ok((task, (id, outcomes))) => {
                            tasks.remove(&task);
                            let answered = outcomes
                                .iter()
                                .filter(|o| matches!(o.status, Status::Accepted | Status::Rejected))
                                .count();
                            tally.sent.fetch_add(answered as u64, Ordering::Relaxed);
                            let seg = &mut queue[(id - head_id) as usize];
                            for (k, o) in outcomes.iter().enumerate() {
                                let row = seg.batch[k];
                                seg.settle(row, o);
                            }
                        }
                        // A batch whose task failed is not confirmed sent: its rows are `failed`, and
                        // the report goes on.
                        Err(e) => {
                            if let Some(id) = tasks.remove(&e.id()) {
                                let seg = &mut queue[(id - head_id) as usize];
                                seg.settle_batch(&Settled::new(
                                    Status::Failed,
                                    "not confirmed: internal error while sending",
                                ));
                            }
                            tracing::error!("a batch failed unexpectedly: {e}");
                        }
                    }
                }
                next = rx.recv(), if !reader_done && room && inflight.len() < ceiling => {
                    let Some(mut seg) = next else {
                        reader_done = true;
                        tally.read_all.store(true, Ordering::Relaxed);
                        continue;
                    };
                    // The input gave rows: the report begins now, before anything is sent, so one
                    // that cannot take even its header (a full disk) stops the run with nothing sent.
                    if !report.begun()
                        && let Err(e) = report.begin().and_then(|()| report.commit())
                    {
                        facts.report_failed.get_or_insert(e);
                        stop_for_report(
                            &client,
                            &interrupt,
                            "not sent: the report could not be written",
                            Level::Stopping,
                        );
                    }
                    tally.rows.fetch_add(seg.rows.len() as u64, Ordering::Relaxed);
                    tally.batched.fetch_add(seg.batch.len() as u64, Ordering::Relaxed);
                    let id = head_id + queue.len() as u64;
                    match (&client, client.as_ref().and_then(|c| c.control().stopped())) {
                        _ if seg.batch.is_empty() => {}
                        (None, _) => seg.settle_batch(&Settled::new(Status::Valid, "")),
                        (Some(_), Some(stop)) => seg.settle_batch(&Settled::failed(&stop)),
                        (Some(c), None) => {
                            // The gate leaves out what it must; the sinks record the rest as being
                            // sent before it goes (a crash then loses at most this batch).
                            let vetted = match &mut gate {
                                Some(g) => vet(g.as_mut(), &mut seg),
                                None => Ok(seg.batch_addresses()),
                            };
                            let told = vetted
                                .and_then(|addrs| tell_sending(&mut sinks, &addrs).map(|()| addrs));
                            match told {
                                Err(e) => {
                                    facts.record_failed.get_or_insert(e);
                                    let stop = report_stop(
                                        "not sent: the run could not be recorded in the ledger",
                                    );
                                    c.control().stop(stop.clone());
                                    seg.settle_batch(&Settled::failed(&stop));
                                }
                                Ok(addrs) if addrs.is_empty() => {}
                                Ok(addrs) => {
                                    let (c, max_len) = (c.clone(), max_len.clone());
                                    // Its place in line is taken now, in input order, so batches
                                    // leave in input order whichever task runs first; the task
                                    // starts at once and holds it until it has sent.
                                    let place = c.pacer(endpoints::REMOVE_BOUNCES.bucket).reserve(id);
                                    let task = inflight.spawn(crate::term::carry(async move {
                                        let outcomes = submit::submit(&c, &addrs, &max_len, id).await;
                                        drop(place);
                                        (id, outcomes)
                                    }));
                                    tasks.insert(task.id(), id);
                                }
                            }
                        }
                    }
                    seg.queued_text = seg.text.len();
                    queued_text += seg.queued_text;
                    queue.push_back(seg);
                }
            }
        }
        let (input_error, stopped_reading, carried) = match reader.join() {
            Ok(Ok(done)) => (None, done.stopped, done.carried),
            Ok(Err(e)) => (Some(e.to_string()), None, 0),
            Err(_) => (
                Some("the input reader stopped unexpectedly".to_string()),
                None,
                0,
            ),
        };
        // A report of no rows begins now, unless the input was refused before its first row: an earlier
        // report in its place stays as it was.
        if input_error.is_none()
            && let Err(e) = report.begin().and_then(|()| report.commit())
        {
            facts.report_failed.get_or_insert(e);
        }
        facts.input_error = input_error;
        facts.stop = client.as_ref().and_then(|c| c.control().stopped());
        facts.signal = interrupt.signal();
        facts.signalled_twice = interrupt.ended_by_signal().is_some();
        let (requests, retries, waited, unmatched_errors) = match &client {
            Some(c) => (
                c.stats().requests.load(Ordering::Relaxed),
                c.stats().retries.load(Ordering::Relaxed),
                c.waited(),
                c.stats().unmatched_errors.load(Ordering::Relaxed),
            ),
            None => (0, 0, Duration::ZERO, 0),
        };
        let recorded = if report.is_closed() || report.failed().is_some() {
            report.rows_committed() - committed_before
        } else {
            counts.rows
        };
        let outcome = Outcome {
            ended: Ended::decide(&facts),
            report_failed: report.failed().is_some(),
            report_begun: report.begun(),
            unrecorded: counts.rows - recorded.min(counts.rows),
            counts,
            requests,
            retries,
            waited,
            elapsed: started.elapsed(),
            stopped_reading,
            unmatched_errors,
            carried,
            accepted,
        };
        (outcome, report)
    }
}

/// Asks the gate about a batch: the addresses it leaves out are settled as it says and leave the batch;
/// the rest are returned, to be sent.
fn vet(gate: &mut dyn Gate, seg: &mut Segment) -> Result<Vec<String>, String> {
    let addrs = seg.batch_addresses();
    let verdicts = gate.vet(&addrs)?;
    if verdicts.len() != addrs.len() {
        return Err(format!(
            "internal error: {} verdicts for a batch of {}",
            verdicts.len(),
            addrs.len()
        ));
    }
    let mut kept = Vec::with_capacity(addrs.len());
    let mut batch = Vec::with_capacity(addrs.len());
    for (k, (addr, verdict)) in addrs.into_iter().zip(verdicts).enumerate() {
        let row = seg.batch[k];
        match verdict {
            Some((status, why)) => seg.settle(row, &Settled::new(status, why)),
            None => {
                kept.push(addr);
                batch.push(row);
            }
        }
    }
    seg.batch = batch;
    Ok(kept)
}

/// Tells every sink of a batch about to be sent.
fn tell_sending(sinks: &mut [Box<dyn Sink>], addresses: &[String]) -> Result<(), String> {
    for s in sinks {
        s.sending(addresses)
            .map_err(|e| format!("cannot record the run: {e}"))?;
    }
    Ok(())
}

/// Nothing more can be reported (the report's reader went away, or the report cannot be written): nothing
/// more is sent, and reading stops (`level`); requests in flight get the grace of a first interrupt, so
/// what Okta took is counted as accepted.
fn stop_for_report(
    client: &Option<Arc<Client>>,
    interrupt: &Interrupt,
    message: &str,
    level: Level,
) {
    if let Some(c) = client {
        c.control().stop(report_stop(message));
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(crate::interrupt::GRACE).await;
            c.control().abandon();
        });
    }
    interrupt.raise(level, 0);
}
