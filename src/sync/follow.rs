//! `bounces sync --follow`: passes as a service. Every poll reads the log from the cursor, clears what the
//! ledger says needs clearing (a poll's new hard bounces go out together: one request, or more past 1,000),
//! says what it did in one line per action, and updates the metrics; then it waits for the next poll. A
//! signal ends it between polls at once, or after a poll's requests in flight answered (the cursor is
//! saved after every page, the ledger records every batch before it goes). A poll that fails for a reason
//! that may pass (Okta unavailable, the network) is said and tried again at the next poll; one that needs a
//! fix (a refused token, a ledger that cannot be written) ends the service.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::metrics::Metrics;
use super::{LogRead, SyncError, Syncer, verdict_counts};
use crate::client::Failure;
use crate::engine::{Ended, Outcome, Report};
use crate::ledger::LedgerError;
use crate::report::{Counts, Status};
use crate::term::{self, count};

/// How a follow run is set up.
pub struct Follow {
    pub poll: Duration,
    pub concurrency: Option<usize>,
    pub metrics: Option<Arc<Metrics>>,
}

/// What a follow run did, for its summary.
#[derive(Debug, Default)]
pub struct Followed {
    pub polls: u64,
    /// What the polls read, added up (their verdicts are counted in `verdicts`).
    pub read: LogRead,
    /// Verdicts decided: removal logged, delivered, bounced again.
    pub verdicts: [u64; 3],
    pub counts: Counts,
    pub requests: u64,
    /// How it ended: `None` for a signal (the way a service is stopped).
    pub ended: Option<Ended>,
    /// The time Okta named that the polls hold back for (said once).
    held_back: Option<std::time::SystemTime>,
}

/// Whether a failed poll is one to try again at the next poll.
fn passing(e: &SyncError) -> bool {
    match e {
        SyncError::Api(a) => a.failure() == Failure::Retryable,
        SyncError::Ledger(l) => matches!(l, LedgerError::Busy { .. }),
    }
}

/// Runs polls until a signal (or an error that needs a fix).
pub async fn follow(
    s: &Syncer,
    report: Report,
    opts: &Follow,
) -> Result<(Followed, Report), SyncError> {
    // (Held by each poll's engine while it runs, and handed back.)
    let mut report = Some(report);
    let org = s.org.as_str().to_string();
    let mut done = Followed::default();
    // Held addresses are reported once a process, when their hold begins (or a new bounce renews it).
    let mut held_said: HashSet<(String, String)> = HashSet::new();
    let mut throttled_seen = 0;
    loop {
        let started = Instant::now();
        done.polls += 1;
        match poll(s, &mut report, opts, &mut held_said, &mut done).await {
            Ok(true) => {
                if let Some(m) = &opts.metrics {
                    m.succeeded(&org);
                }
            }
            // The log was read, but its clearing stopped (Okta unavailable, a wait past --max-wait, a
            // busy ledger): said already; the next poll tries again.
            Ok(false) => {
                if let Some(m) = &opts.metrics {
                    m.poll_failed(&org);
                }
                s.client.control().resume();
            }
            // A signal while the poll failed: the service stops as it would anyway.
            Err(e) if passing(&e) && s.interrupt.stopping() => break,
            Err(e) if passing(&e) => {
                if let Some(m) = &opts.metrics {
                    m.poll_failed(&org);
                }
                term::action_at(
                    "warn",
                    "poll_failed",
                    format_args!("poll failed, trying again at the next poll: {e}"),
                    json!({"org": org, "error": e.to_string()}),
                );
                // The client stopped sending when the retries ran out; the next poll starts afresh (its
                // pacers, and any Retry-After they hold, are kept).
                s.client.control().resume();
            }
            Err(e) => return Err(e),
        }
        if let Some(m) = &opts.metrics {
            let throttled = s
                .client
                .stats()
                .throttled
                .load(std::sync::atomic::Ordering::Relaxed);
            m.throttled(&org, throttled - throttled_seen);
            throttled_seen = throttled;
        }
        if done.ended.is_some() || s.interrupt.stopping() {
            break;
        }
        // The next poll, or a signal.
        let next = started + opts.poll;
        while Instant::now() < next && !s.interrupt.stopping() {
            tokio::time::sleep(Duration::from_millis(100).min(next - Instant::now())).await;
        }
        if s.interrupt.stopping() {
            break;
        }
    }
    done.requests = s
        .client
        .stats()
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    Ok((
        done,
        report.expect("the report is handed back after each poll"),
    ))
}

/// Adds the verdicts among `changes` to `to`.
fn count_verdicts(to: &mut [u64; 3], changes: &[crate::ledger::VerdictChange]) {
    for (k, (_, n)) in verdict_counts(changes).into_iter().enumerate() {
        to[k] += n;
    }
}

/// One poll: read, then clear. `Ok(false)`: the log was read, but the clearing stopped for a reason
/// that may pass.
async fn poll(
    s: &Syncer,
    report: &mut Option<Report>,
    opts: &Follow,
    held_said: &mut HashSet<(String, String)>,
    done: &mut Followed,
) -> Result<bool, SyncError> {
    let org = s.org.as_str().to_string();
    let read = s.read_log().await?;
    if let Some(m) = &opts.metrics {
        m.polled(&org, read.events, read.newest);
        m.new_events(&org, "bounce", read.hard_bounces);
        m.new_events(&org, "soft", read.soft);
        for (v, n) in verdict_counts(&read.verdicts) {
            m.verdict(&org, v.as_str(), n);
        }
    }
    if read.new > 0 {
        let [(_, logged), (_, delivered), (_, again)] = verdict_counts(&read.verdicts);
        term::action(
            "read",
            &read,
            json!({
                "org": org, "pages": read.pages, "events": read.events, "new": read.new,
                "hard_bounces": read.hard_bounces, "soft": read.soft,
                "removal_logged": logged, "delivered": delivered, "bounced_again": again,
            }),
        );
    }
    done.read.pages += read.pages;
    done.read.events += read.events;
    done.read.new += read.new;
    done.read.hard_bounces += read.hard_bounces;
    done.read.soft += read.soft;
    count_verdicts(&mut done.verdicts, &read.verdicts);
    if read.interrupted {
        return Ok(true);
    }
    // Okta told an earlier run when to come back: nothing is sent (nor recorded as failed) before then.
    if let Some(at) = s.retry_at()? {
        if done.held_back != Some(at) {
            done.held_back = Some(at);
            term::action(
                "held_back",
                format_args!(
                    "holding back until {}, as Okta asked: nothing is sent before then",
                    crate::report::time_text(at)
                ),
                json!({"org": org, "retry_at": crate::report::time_text(at)}),
            );
        }
        return Ok(true);
    }
    let clears = s.clears()?;
    if let Some(m) = &opts.metrics {
        m.queue(&org, clears.pending.len(), clears.held.len());
    }
    let fresh: HashSet<String> = clears
        .held
        .iter()
        .filter(|h| held_said.insert((h.address.clone(), h.bounce.uuid.clone())))
        .map(|h| h.address.clone())
        .collect();
    if clears.pending.is_empty() && fresh.is_empty() {
        return Ok(true);
    }
    let taken = report
        .take()
        .expect("the report is handed back after each poll");
    let (outcome, back, verdicts) = s
        .clear(
            &clears,
            |h| fresh.contains(&h.address),
            taken,
            // The rows of every poll in one report, their lines counting on.
            done.counts.rows + 1,
            opts.concurrency,
            false,
        )
        .await;
    *report = Some(back);
    said(&org, &outcome, opts);
    if let Some(m) = &opts.metrics {
        for st in [Status::Accepted, Status::Rejected, Status::Failed] {
            m.cleared(&org, st.as_str(), outcome.counts.get(st));
        }
        for (v, n) in verdict_counts(&verdicts) {
            m.verdict(&org, v.as_str(), n);
        }
    }
    for st in Status::ALL {
        for _ in 0..outcome.counts.get(st) {
            done.counts.add(st);
        }
    }
    count_verdicts(&mut done.verdicts, &verdicts);
    match &outcome.ended {
        Ended::Completed | Ended::Interrupted(_) | Ended::SignalledTwice(_) => Ok(true),
        // Okta unavailable past the retries, a wait past --max-wait, a busy ledger: the next poll tries
        // again (after the time Okta named).
        Ended::Stopped(r) if r.failure == Failure::Retryable => Ok(false),
        Ended::RecordFailed(_) => Ok(false),
        other => {
            done.ended = Some(other.clone());
            Ok(true)
        }
    }
}

/// One line for what a poll's clearing did.
fn said(org: &str, o: &Outcome, _opts: &Follow) {
    let c = &o.counts;
    let n = |s: Status| c.get(s);
    term::action(
        "cleared",
        format_args!(
            "cleared {}: {} accepted, {} rejected, {} failed, {} held ({})",
            count(
                n(Status::Accepted) + n(Status::Rejected) + n(Status::Failed),
                "address",
                "addresses"
            ),
            n(Status::Accepted),
            n(Status::Rejected),
            n(Status::Failed),
            n(Status::Held),
            count(o.requests, "request", "requests") + " so far",
        ),
        json!({
            "org": org,
            "accepted": n(Status::Accepted), "rejected": n(Status::Rejected),
            "failed": n(Status::Failed), "held": n(Status::Held), "invalid": n(Status::Invalid),
            "requests": o.requests,
        }),
    );
    if let Some(line) = o.ended.line() {
        term::action("clearing_stopped", line, json!({"org": org}));
    }
}
