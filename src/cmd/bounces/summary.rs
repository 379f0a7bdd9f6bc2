//! The run's summary as one JSON object, for monitors (a cron wrapper, a Prometheus textfile collector,
//! CI): `--summary FILE` of `bounces remove`, `find` and `verify`, and the last record of a JSON-lines
//! report with `--report-summary`. Its shape is stable (`"version": 1`, documented in docs/report.md): fields
//! are added, never renamed or dropped. A file is written atomically (a temporary file beside it, then
//! renamed), so a monitor never reads half of one, and it is written however the run ends.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::super::{CmdError, usage, write_stdout};
use crate::engine::{Cause, Ended};
use crate::exit::Exit;
use crate::logs::verify::Verdict;
use crate::outputs::{same_file, temp_beside, write_atomically};
use crate::report::time_text;

/// Where `--summary` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    File(PathBuf),
}

impl Target {
    pub fn parse(arg: &Path) -> Target {
        if arg == Path::new("-") {
            Target::Stdout
        } else {
            Target::File(arg.to_path_buf())
        }
    }

    /// Refuses `-` when stdout carries the command's rows, and a file that cannot be written, before
    /// anything is sent. `rows_to` is where the rows go (`None`: stdout).
    pub fn check(&self, rows_to: Option<&Path>, what: &str) -> Result<(), CmdError> {
        match self {
            Target::Stdout if rows_to.is_none() => Err(usage(format!(
                "--summary - would mix the summary into the {what} on stdout: write the {what} to a \
                 file (--{}) or the summary to one",
                if what == "report" { "report" } else { "output" }
            ))),
            Target::Stdout => Ok(()),
            Target::File(path) => {
                if let Some(rows) = rows_to
                    && same_file(path, rows)
                {
                    return Err(usage(format!(
                        "--summary {} is the {what} too: write it elsewhere",
                        path.display()
                    )));
                }
                let probe = temp_beside(path);
                std::fs::File::create(&probe)
                    .map(|_| {
                        let _ = std::fs::remove_file(&probe);
                    })
                    .map_err(|e| {
                        usage(format!(
                            "cannot write the summary {}: {}",
                            path.display(),
                            crate::os_error::plain(&e)
                        ))
                    })
            }
        }
    }

    /// Writes `summary` and a newline: to stdout, or to the file through a temporary file and a rename.
    pub fn write(&self, summary: &impl Serialize) -> Result<(), CmdError> {
        let mut text = serde_json::to_vec_pretty(summary).expect("a summary serialises");
        text.push(b'\n');
        match self {
            Target::Stdout => write_stdout(&super::super::json_for_stdout(
                &text,
                std::io::IsTerminal::is_terminal(&std::io::stdout()),
            ))
            .map(|_| ()),
            Target::File(path) => write_atomically(path, &text).map_err(|source| CmdError::Io {
                what: format!("cannot write the summary {}", path.display()),
                source,
            }),
        }
    }
}

/// What every summary holds, around the command's own fields.
#[derive(Debug, Serialize)]
pub struct Summary<B: Serialize> {
    pub version: u32,
    pub command: &'static str,
    pub exit_status: u8,
    pub stop: Option<Stop>,
    /// When Okta said to try again (RFC 3339, UTC), after a `--max-wait` stop.
    pub retry_at: Option<String>,
    pub started: String,
    pub finished: String,
    pub elapsed_seconds: f64,
    #[serde(flatten)]
    pub body: B,
}

impl<B: Serialize> Summary<B> {
    /// The summary of a run of `command` that started at `started` and ended in `result`; `stop` is why
    /// it ended early, when it ended without an error.
    pub fn new(
        command: &'static str,
        started: SystemTime,
        result: &Result<Exit, CmdError>,
        stop: Option<Stop>,
        body: B,
    ) -> Summary<B> {
        let finished = SystemTime::now();
        let (exit, stop) = match result {
            Ok(exit) => (*exit, stop),
            Err(e) => (e.exit(), Some(Stop::of_error(e))),
        };
        Summary {
            version: 1,
            command,
            exit_status: exit.code(),
            retry_at: stop.as_ref().and_then(|s| s.retry_at).map(time_text),
            stop,
            started: time_text(started),
            finished: time_text(finished),
            elapsed_seconds: seconds(finished.duration_since(started).unwrap_or_default()),
            body,
        }
    }
}

/// The `--summary` of a command that keeps its counts in a body: checked before the command runs, and
/// written around the envelope after it, however it ended.
pub struct Summarised {
    command: &'static str,
    started: SystemTime,
    target: Option<Target>,
}

impl Summarised {
    /// Checks `--summary` (`summary`) before anything is sent. `rows_to` is where the command writes its
    /// rows (`None`: stdout), which `-` may not share.
    pub fn start(
        command: &'static str,
        summary: Option<&Path>,
        rows_to: Option<&Path>,
    ) -> Result<Summarised, CmdError> {
        let target = summary.map(Target::parse);
        if let Some(t) = &target {
            t.check(rows_to, "rows")?;
        }
        Ok(Summarised {
            command,
            started: SystemTime::now(),
            target,
        })
    }

    /// Writes the summary of a run that ended in `result` with the counts in `body`.
    pub fn finish<B: Serialize>(
        self,
        result: Result<Exit, CmdError>,
        body: &B,
    ) -> Result<Exit, CmdError> {
        let Some(target) = self.target else {
            return result;
        };
        let summary = Summary::new(self.command, self.started, &result, None, body);
        deliver(result, target.write(&summary))
    }
}

/// The run's result once its summary was written: a summary that could not be written turns success
/// into an error, and is said on stderr beside any other outcome.
pub fn deliver(
    result: Result<Exit, CmdError>,
    written: Result<(), CmdError>,
) -> Result<Exit, CmdError> {
    match (result, written) {
        (Ok(Exit::Ok), Err(e)) => Err(e),
        (result, Err(e)) => {
            crate::term::error(e);
            result
        }
        (result, Ok(())) => result,
    }
}

/// Seconds, to the millisecond.
pub fn seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Why a run ended before its end: a word a monitor can match on, and the message a person reads.
#[derive(Debug, Clone, Serialize)]
pub struct Stop {
    pub cause: Cause,
    pub message: String,
    #[serde(skip)]
    pub retry_at: Option<SystemTime>,
}

impl Stop {
    pub fn new(cause: Cause, message: impl Into<String>) -> Stop {
        Stop {
            cause,
            message: message.into(),
            retry_at: None,
        }
    }

    /// How an engine's run ended, when it ended early.
    pub fn of_ended(e: &Ended) -> Option<Stop> {
        Some(Stop {
            cause: e.cause()?,
            message: e.message()?,
            retry_at: e.retry_at(),
        })
    }

    /// A command that failed as a whole.
    pub fn of_error(e: &CmdError) -> Stop {
        let retry_at = match e {
            CmdError::Api(api) => api.stop_reason().retry_at,
            _ => None,
        };
        let cause = match e.exit() {
            _ if retry_at.is_some() => Cause::MaxWait,
            // An input or an earlier report that cannot be read is not a bad flag: a monitor tells a
            // broken export from a broken command line.
            _ if matches!(e, CmdError::Input(_) | CmdError::Report(_)) => Cause::InputError,
            Exit::Usage => Cause::Usage,
            Exit::Auth => Cause::Auth,
            Exit::Retry => Cause::Unavailable,
            Exit::NotFound => Cause::NotFound,
            _ => Cause::Error,
        };
        Stop {
            retry_at,
            ..Stop::new(cause, e.to_string())
        }
    }
}

/// The verdicts of a System Log check (`bounces verify`, `remove --verify`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyCounts {
    pub addresses: u64,
    pub removal_logged: u64,
    pub delivered: u64,
    pub bounced_again: u64,
    pub not_yet_logged: u64,
    /// The wait ran out (or was interrupted) with addresses still without a verdict.
    pub gave_up: bool,
}

impl VerifyCounts {
    pub fn of(verdicts: impl IntoIterator<Item = Verdict>, gave_up: bool) -> VerifyCounts {
        let mut c = VerifyCounts {
            gave_up,
            ..VerifyCounts::default()
        };
        for v in verdicts {
            c.addresses += 1;
            *match v {
                Verdict::RemovalLogged => &mut c.removal_logged,
                Verdict::Delivered => &mut c.delivered,
                Verdict::BouncedAgain => &mut c.bounced_again,
                Verdict::NotYetLogged => &mut c.not_yet_logged,
            } += 1;
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_whole_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("okta-org-summary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.json");
        let t = Target::File(path.clone());
        t.check(None, "report").unwrap();
        t.write(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n  \"a\": 1\n}\n"
        );
        // No temporary file is left beside it.
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        let missing = Target::File(dir.join("no/such/dir/s.json"));
        assert!(missing.check(None, "report").is_err());
        assert!(Target::Stdout.check(None, "report").is_err());
        assert!(Target::Stdout.check(Some(&path), "report").is_ok());
        assert!(t.check(Some(&path), "report").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_max_wait_stop_carries_the_time_to_retry() {
        let until = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let r = crate::client::ApiError::RateLimited {
            why: "rate limited",
            wait: Duration::from_secs(600),
            max_wait: Duration::from_secs(60),
            until,
        }
        .stop_reason();
        let s = Stop::of_ended(&Ended::Stopped(r)).unwrap();
        assert_eq!((s.cause, s.retry_at), (Cause::MaxWait, Some(until)));
        let summary = Summary::new("bounces remove", until, &Ok(Exit::Retry), Some(s), ());
        assert_eq!(
            summary.retry_at.as_deref(),
            Some("2026-11-18T11:06:40.000Z")
        );
        assert_eq!(summary.exit_status, 4);
    }
}
