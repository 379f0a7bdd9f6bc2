//! How a run ended, decided once. What happened during a run (signals, an input that could not be read,
//! the report's reader going away, a report that could not be written, the transport stopping the run)
//! is gathered in [`Facts`]; [`Ended::decide`] ranks them in one order, and the exit status, the
//! summary's `cause` and the line on stderr are all derived from the one [`Ended`] it gives.

use serde::Serialize;

use crate::client::{Failure, StopReason};
use crate::exit::Exit;
use crate::interrupt;
use crate::report::{Counts, Status};

/// Why a run (or a command) ended early: the word a monitor matches on in the summary's `stop.cause`.
/// The words are part of the summary's stable shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Okta asked to wait longer than `--max-wait`: the summary says when to retry.
    MaxWait,
    /// SIGINT or SIGTERM.
    Interrupted,
    /// The report's reader went away (a closed pipe).
    ReportClosed,
    /// The report could not be written (a full disk, an I/O error).
    ReportFailed,
    /// The ledger could not record the run (busy past its wait, a disk error).
    RecordFailed,
    /// 401/403: the token or its scopes.
    Auth,
    /// Okta unavailable, rate limited past the retries, or the network failed.
    Unavailable,
    /// An input (or an earlier report) could not be read.
    InputError,
    Usage,
    NotFound,
    Error,
}

impl Cause {
    /// The word, as the summary writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::MaxWait => "max_wait",
            Cause::Interrupted => "interrupted",
            Cause::ReportClosed => "report_closed",
            Cause::ReportFailed => "report_failed",
            Cause::RecordFailed => "record_failed",
            Cause::Auth => "auth",
            Cause::Unavailable => "unavailable",
            Cause::InputError => "input_error",
            Cause::Usage => "usage",
            Cause::NotFound => "not_found",
            Cause::Error => "error",
        }
    }

    /// The transport's reason for stopping a run.
    pub fn of_stop(r: &StopReason) -> Cause {
        match r.failure {
            _ if r.retry_at.is_some() => Cause::MaxWait,
            Failure::Auth => Cause::Auth,
            Failure::Retryable => Cause::Unavailable,
            Failure::Usage => Cause::Usage,
            Failure::NotFound => Cause::NotFound,
            Failure::Unexpected => Cause::Error,
        }
    }
}

/// What happened during a run that bears on how it ended.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The first SIGINT/SIGTERM, by number.
    pub signal: Option<i32>,
    /// A second signal ended the run at once.
    pub signalled_twice: bool,
    /// An input could not be read (the rows after it were not).
    pub input_error: Option<String>,
    /// The report could not be written: why.
    pub report_failed: Option<String>,
    /// The ledger could not record the run: why.
    pub record_failed: Option<String>,
    /// The report's reader went away.
    pub report_closed: bool,
    /// Why the transport stopped sending (the first reason given), if it did.
    pub stop: Option<StopReason>,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Every row read was settled; the counts decide the status (0, 3 or 4).
    Completed,
    /// A second SIGINT/SIGTERM ended the run at once (its number).
    SignalledTwice(i32),
    /// An input could not be read.
    InputError(String),
    /// The report could not be written.
    ReportFailed(String),
    /// The ledger could not record the run (nothing more was sent).
    RecordFailed(String),
    /// The transport stopped the run: a refused token, a wait past `--max-wait`, an outage.
    Stopped(StopReason),
    /// The report's reader went away.
    ReportClosed,
    /// A first SIGINT/SIGTERM: nothing more was sent.
    Interrupted(i32),
}

impl Ended {
    /// The one precedence, first match wins: a second signal (the run ended at once); an input that
    /// cannot be read, then a report that cannot be written (both need a fix before any rerun), then a
    /// ledger that could not record the run; a stop that needs a fix (a refused token, a bad request, an
    /// answer that cannot be read); then what only needs a rerun: the report's reader going away, a
    /// first signal, a wait past `--max-wait` or an outage.
    pub fn decide(f: &Facts) -> Ended {
        let needs_fix = |r: &&StopReason| r.failure != Failure::Retryable;
        if let (true, Some(sig)) = (f.signalled_twice, f.signal) {
            return Ended::SignalledTwice(sig);
        }
        if let Some(e) = &f.input_error {
            return Ended::InputError(e.clone());
        }
        if let Some(e) = &f.report_failed {
            return Ended::ReportFailed(e.clone());
        }
        if let Some(e) = &f.record_failed {
            return Ended::RecordFailed(e.clone());
        }
        if let Some(r) = f.stop.as_ref().filter(needs_fix) {
            return Ended::Stopped(r.clone());
        }
        if f.report_closed {
            return Ended::ReportClosed;
        }
        if let Some(sig) = f.signal {
            return Ended::Interrupted(sig);
        }
        match &f.stop {
            Some(r) => Ended::Stopped(r.clone()),
            None => Ended::Completed,
        }
    }

    /// The exit status, from how the run ended and what became of its rows.
    pub fn exit(&self, counts: &Counts) -> Exit {
        match self {
            Ended::SignalledTwice(sig) => Exit::Signal(*sig),
            Ended::InputError(_) => Exit::Usage,
            Ended::ReportFailed(_) => Exit::Error,
            // Busy, most likely (another org's sync writing the same file): run again.
            Ended::RecordFailed(_) => Exit::Retry,
            Ended::Stopped(r) => r.failure.into(),
            Ended::ReportClosed | Ended::Interrupted(_) => Exit::Retry,
            Ended::Completed if counts.get(Status::Failed) > 0 => Exit::Retry,
            Ended::Completed
                if counts.get(Status::Rejected)
                    + counts.get(Status::Invalid)
                    + counts.get(Status::Held)
                    > 0 =>
            {
                Exit::Partial
            }
            Ended::Completed => Exit::Ok,
        }
    }

    /// The summary's `cause`: `None` for a run that completed.
    pub fn cause(&self) -> Option<Cause> {
        Some(match self {
            Ended::Completed => return None,
            Ended::SignalledTwice(_) | Ended::Interrupted(_) => Cause::Interrupted,
            Ended::InputError(_) => Cause::InputError,
            Ended::ReportFailed(_) => Cause::ReportFailed,
            Ended::RecordFailed(_) => Cause::RecordFailed,
            Ended::Stopped(r) => Cause::of_stop(r),
            Ended::ReportClosed => Cause::ReportClosed,
        })
    }

    /// What a person reads of it (the summary's `stop.message`).
    pub fn message(&self) -> Option<String> {
        Some(match self {
            Ended::Completed => return None,
            Ended::SignalledTwice(sig) => interrupt::describe(*sig, true),
            Ended::Interrupted(sig) => interrupt::describe(*sig, false),
            Ended::InputError(e) | Ended::ReportFailed(e) | Ended::RecordFailed(e) => e.clone(),
            Ended::Stopped(r) => r.message.clone(),
            Ended::ReportClosed => {
                "the report's reader went away (a closed pipe); nothing more was sent".into()
            }
        })
    }

    /// When Okta said to try again (a `--max-wait` stop).
    pub fn retry_at(&self) -> Option<std::time::SystemTime> {
        match self {
            Ended::Stopped(r) => r.retry_at,
            _ => None,
        }
    }

    /// Whether it is an error worth a line even under `--quiet` (the one line a cron job mails): not a
    /// completed run, and not one the operator stopped.
    pub fn is_error(&self) -> bool {
        matches!(
            self,
            Ended::InputError(_)
                | Ended::ReportFailed(_)
                | Ended::RecordFailed(_)
                | Ended::Stopped(_)
        )
    }

    /// The line stderr gives it, without the tool's prefix: `stopped: ...` for a stop, the error itself
    /// for an error (which the caller prints as one).
    pub fn line(&self) -> Option<String> {
        match self {
            Ended::Completed => None,
            Ended::InputError(e) | Ended::ReportFailed(e) | Ended::RecordFailed(e) => Some(e.clone()),
            Ended::ReportClosed => Some(
                "stopped: the report's reader went away (a closed pipe); nothing more was sent (with \
                 --report FILE every row is kept)"
                    .into(),
            ),
            other => other.message().map(|m| format!("stopped: {m}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stop(failure: Failure, max_wait: bool) -> StopReason {
        StopReason {
            failure,
            message: format!("{failure:?}"),
            retry_at: max_wait.then(std::time::SystemTime::now),
        }
    }

    fn counts(failed: u64, rejected: u64, accepted: u64) -> Counts {
        let mut c = Counts::default();
        for (s, n) in [
            (Status::Failed, failed),
            (Status::Rejected, rejected),
            (Status::Accepted, accepted),
        ] {
            for _ in 0..n {
                c.add(s);
            }
        }
        c
    }

    /// Every combination of what can happen, against one table of (exit status, cause): the precedence
    /// is pinned here, and the three views of a run's end cannot disagree.
    #[test]
    fn one_precedence_for_every_combination() {
        let stops = [
            None,
            Some(stop(Failure::Auth, false)),
            Some(stop(Failure::Retryable, true)),
            Some(stop(Failure::Retryable, false)),
            Some(stop(Failure::Unexpected, false)),
        ];
        let rows = [counts(0, 0, 5), counts(0, 2, 3), counts(1, 2, 3)];
        let mut seen = 0;
        for signal in [None, Some(2), Some(15)] {
            for twice in [false, true] {
                for input in [false, true] {
                    for (failed_report, failed_record) in
                        [(false, false), (true, false), (false, true), (true, true)]
                    {
                        for closed in [false, true] {
                            for s in &stops {
                                for c in &rows {
                                    let f = Facts {
                                        signal,
                                        signalled_twice: twice && signal.is_some(),
                                        input_error: input.then(|| "in.csv: bad".into()),
                                        report_failed: failed_report.then(|| "disk full".into()),
                                        record_failed: failed_record.then(|| "busy".into()),
                                        report_closed: closed,
                                        stop: s.clone(),
                                    };
                                    let e = Ended::decide(&f);
                                    let (exit, cause) = (e.exit(c).code(), e.cause());
                                    let want: (u8, Option<Cause>) = if f.signalled_twice {
                                        (128 + signal.unwrap() as u8, Some(Cause::Interrupted))
                                    } else if input {
                                        (2, Some(Cause::InputError))
                                    } else if failed_report {
                                        (1, Some(Cause::ReportFailed))
                                    } else if failed_record {
                                        (4, Some(Cause::RecordFailed))
                                    } else if let Some(r) =
                                        s.as_ref().filter(|r| r.failure != Failure::Retryable)
                                    {
                                        match r.failure {
                                            Failure::Auth => (5, Some(Cause::Auth)),
                                            _ => (1, Some(Cause::Error)),
                                        }
                                    } else if closed {
                                        (4, Some(Cause::ReportClosed))
                                    } else if signal.is_some() {
                                        (4, Some(Cause::Interrupted))
                                    } else if let Some(r) = s {
                                        let cause = if r.retry_at.is_some() {
                                            Cause::MaxWait
                                        } else {
                                            Cause::Unavailable
                                        };
                                        (4, Some(cause))
                                    } else if c.get(Status::Failed) > 0 {
                                        (4, None)
                                    } else if c.get(Status::Rejected) > 0 {
                                        (3, None)
                                    } else {
                                        (0, None)
                                    };
                                    assert_eq!((exit, cause), want, "{f:?} {c:?}");
                                    // The stderr line and the summary's message tell the same end.
                                    assert_eq!(e.line().is_some(), cause.is_some());
                                    assert_eq!(e.message().is_some(), cause.is_some());
                                    seen += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(seen, 3 * 2 * 2 * 4 * 2 * 5 * 3);
    }

    /// The bug this type was made for: a closed report pipe and an input error gave the cause
    /// `report_closed` but the exit status 2.
    #[test]
    fn a_closed_pipe_and_an_input_error_agree() {
        let e = Ended::decide(&Facts {
            input_error: Some("b.csv: not text".into()),
            report_closed: true,
            ..Facts::default()
        });
        assert_eq!(e.exit(&Counts::default()), Exit::Usage);
        assert_eq!(e.cause(), Some(Cause::InputError));
    }

    #[test]
    fn causes_serialise_as_the_summary_always_wrote_them() {
        let words: Vec<String> = [
            Cause::MaxWait,
            Cause::Interrupted,
            Cause::ReportClosed,
            Cause::ReportFailed,
            Cause::RecordFailed,
            Cause::Auth,
            Cause::Unavailable,
            Cause::InputError,
            Cause::Usage,
            Cause::NotFound,
            Cause::Error,
        ]
        .iter()
        .map(|c| {
            let word = serde_json::to_string(c).unwrap();
            assert_eq!(word, format!("\"{}\"", c.as_str()));
            word
        })
        .collect();
        assert_eq!(
            words.join(","),
            "\"max_wait\",\"interrupted\",\"report_closed\",\"report_failed\",\"record_failed\",\"auth\",\
             \"unavailable\",\"input_error\",\"usage\",\"not_found\",\"error\""
        );
    }
}
