//! How a run across orgs ends: one line per org on stderr (profile, rows, accepted, rejected, invalid,
//! failed, time, exit status, stop cause), the same as one JSON object for `--fleet-summary`, and the
//! worst of the orgs' exit statuses ([`Exit::worst`]) as the run's.

use std::time::Duration;

use serde::Serialize;

use super::super::bounces::summary::{Stop, seconds};
use super::super::{CmdError, Counted, Ran};
use crate::cli::Global;
use crate::engine::Cause;
use crate::exit::Exit;
use crate::fleet::{Done, Org};

/// One org's end.
#[derive(Debug)]
pub struct Line {
    pub profile: String,
    pub exit: Exit,
    pub counted: Counted,
    pub elapsed: Duration,
    /// Its work began (a signal before its turn leaves it not started).
    pub started: bool,
}

impl Line {
    pub fn of(org: Org<Ran>) -> Line {
        let (exit, counted, started) = match org.done {
            Done::Ran(ran) => (
                ran.result.as_ref().map_or_else(CmdError::exit, |e| *e),
                ran.counted,
                true,
            ),
            Done::NotStarted => (
                Exit::Retry,
                Counted {
                    stop: Some(Stop::new(
                        Cause::Interrupted,
                        "not started: interrupted before its turn (nothing was sent)",
                    )),
                    ..Counted::default()
                },
                false,
            ),
            Done::Panicked(why) => {
                let message = format!("stopped by a bug (a panic: {why})");
                crate::term::error(format_args!("[{}] {message}", org.profile));
                (
                    Exit::Error,
                    Counted {
                        stop: Some(Stop::new(Cause::Error, message)),
                        ..Counted::default()
                    },
                    true,
                )
            }
        };
        Line {
            profile: org.profile,
            exit,
            counted,
            elapsed: org.elapsed,
            started,
        }
    }

    /// The stop cause as the summaries write it (`auth`, `interrupted`, ...), or `-`.
    fn cause(&self) -> String {
        self.counted
            .stop
            .as_ref()
            .and_then(|s| serde_json::to_value(s.cause).ok())
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| "-".into())
    }
}

/// Says the table (unless `--quiet`), writes `--fleet-summary`, and returns the worst status.
pub fn finish(command: &'static str, lines: &[Line], global: &Global) -> Result<Exit, CmdError> {
    let mut exit = lines.iter().fold(Exit::Ok, |w, l| w.worst(l.exit));
    if !global.quiet {
        crate::term::write_stderr(text(lines, exit).as_bytes());
    }
    if let Some(path) = &global.fleet_summary {
        let summary = FleetSummary {
            version: 1,
            command,
            exit_status: exit.code(),
            orgs: lines.iter().map(Entry::of).collect(),
        };
        let mut json = serde_json::to_vec_pretty(&summary).expect("a summary serialises");
        json.push(b'\n');
        if let Err(source) = crate::outputs::write_atomically(path, &json) {
            crate::term::error(CmdError::Io {
                what: format!("cannot write the fleet summary {}", path.display()),
                source,
            });
            exit = exit.worst(Exit::Error);
        }
    }
    Ok(exit)
}

/// The table, aligned, with a line above it.
pub fn text(lines: &[Line], exit: Exit) -> String {
    let num = |n: Option<u64>| n.map_or_else(|| "-".to_string(), |n| n.to_string());
    let mut rows: Vec<[String; 9]> = vec![
        [
            "profile", "rows", "accepted", "rejected", "invalid", "failed", "time", "exit", "stop",
        ]
        .map(str::to_string),
    ];
    for l in lines {
        let c = &l.counted;
        rows.push([
            crate::escape::text(&l.profile).into_owned(),
            num(c.rows),
            num(c.accepted),
            num(c.rejected),
            num(c.invalid),
            num(c.failed),
            if l.started {
                format!("{:.1} s", l.elapsed.as_secs_f64())
            } else {
                "-".into()
            },
            l.exit.code().to_string(),
            l.cause(),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let ok = lines.iter().filter(|l| l.exit == Exit::Ok).count();
    let mut out = format!(
        "okta-org: {} orgs: {ok} ended with status 0; the run's status is {} (the worst of them)\n",
        lines.len(),
        exit.code()
    );
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &w))| match i {
                // Names and causes read left to right; numbers line up on the right.
                0 | 8 => format!("{cell:<w$}"),
                _ => format!("{cell:>w$}"),
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `--fleet-summary`: the run's status and an object per org (documented in docs/fleet.md).
#[derive(Serialize)]
struct FleetSummary<'a> {
    version: u32,
    command: &'static str,
    exit_status: u8,
    orgs: Vec<Entry<'a>>,
}

#[derive(Serialize)]
struct Entry<'a> {
    profile: &'a str,
    started: bool,
    exit_status: u8,
    stop: Option<&'a Stop>,
    /// When Okta said to try again (a `--max-wait` stop), as the org's own summary has it.
    retry_at: Option<String>,
    rows: Option<u64>,
    accepted: Option<u64>,
    rejected: Option<u64>,
    invalid: Option<u64>,
    failed: Option<u64>,
    elapsed_seconds: f64,
    /// The command's own summary (`--summary`'s fields), or its answer for a settings command.
    summary: &'a serde_json::Value,
}

impl<'a> Entry<'a> {
    fn of(l: &'a Line) -> Entry<'a> {
        let c = &l.counted;
        Entry {
            profile: &l.profile,
            started: l.started,
            exit_status: l.exit.code(),
            stop: c.stop.as_ref(),
            retry_at: c
                .stop
                .as_ref()
                .and_then(|s| s.retry_at)
                .map(crate::report::time_text),
            rows: c.rows,
            accepted: c.accepted,
            rejected: c.rejected,
            invalid: c.invalid,
            failed: c.failed,
            elapsed_seconds: seconds(l.elapsed),
            summary: &c.body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_org_and_the_worst_status() {
        let line = |profile: &str, exit, rows, cause: Option<Cause>| Line {
            profile: profile.into(),
            exit,
            counted: Counted {
                rows,
                accepted: rows,
                stop: cause.map(|c| Stop::new(c, "why")),
                ..Counted::default()
            },
            elapsed: Duration::from_millis(1500),
            started: true,
        };
        let lines = [
            line("org1", Exit::Ok, Some(12), None),
            line("org2", Exit::Auth, None, Some(Cause::Auth)),
        ];
        let t = text(&lines, Exit::Auth);
        let rows: Vec<&str> = t.lines().collect();
        assert!(
            rows[0].contains("2 orgs") && rows[0].contains("status is 5"),
            "{t}"
        );
        assert!(rows[1].starts_with("profile  rows  accepted"), "{t}");
        assert_eq!(
            rows[2].split_whitespace().collect::<Vec<_>>(),
            ["org1", "12", "12", "-", "-", "-", "1.5", "s", "0", "-"]
        );
        assert!(rows[3].ends_with("5  auth"), "{t}");
    }
}
