//! `okta-org bounces ...`: the main job and the loop around it. `remove` clears a mail system's export from
//! Okta's bounce list; `find` reads from the System Log which addresses bounced; `verify` reads from it
//! whether the removals a report accepted happened; `history` reads what the ledger remembers.

pub mod find;
pub mod history;
mod progress;
pub mod remove;
pub mod summary;
pub mod sync;
pub mod verify;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use super::CmdError;
use crate::cli::Global;
use crate::client::{Client, StopReason};
use crate::escape;
use crate::exit::Exit;
use crate::interrupt::{Interrupt, Level, Signals};
use crate::report::csv_io;

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
The loop: find what bounced, remove it, verify the removals.

Examples:
  okta-org bounces remove samples/sendgrid-bounces.csv --simulate
  okta-org bounces find --since 1d > bounced.csv
  okta-org bounces verify report.csv --wait 10m")]
pub struct Group {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Remove the addresses of a mail system's bounce export from Okta's email bounce list
    #[command(after_help = remove::REMOVE_HELP)]
    Remove(remove::RemoveArgs),
    /// List from Okta's System Log the addresses Okta's own mail bounced from (or was dropped, deferred)
    #[command(after_help = find::FIND_HELP)]
    Find(find::FindArgs),
    /// Check in Okta's System Log what became of the addresses a `bounces remove` report accepted
    #[command(after_help = verify::VERIFY_HELP)]
    Verify(verify::VerifyArgs),
    /// Keep an org's bounce list clear from its System Log, with a ledger of every removal (once, or --follow)
    #[command(after_help = sync::SYNC_HELP)]
    Sync(sync::SyncArgs),
    /// What the ledger knows of removals and addresses: bounces seen, Okta's answers, verdicts, holds
    #[command(after_help = history::HISTORY_HELP)]
    History(history::HistoryArgs),
}

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    match g.command {
        Command::Remove(a) => remove::run(a, global).await,
        Command::Find(a) => find::run(a, global).await,
        Command::Verify(a) => verify::run(a, global).await,
        Command::Sync(a) => sync::run(a, global).await,
        Command::History(a) => history::run(a, global).await,
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    #[default]
    Csv,
    Jsonl,
}

/// The report of a run that writes one (`remove`, `sync`): to `path`, or stdout. `sync` asks for each
/// settled stretch to reach the disk (a run that sends). `keep_earlier`: an earlier report at `path`
/// stays until the input gives its first rows (see [`crate::engine::Report::create_keeping_earlier`]).
fn create_report(
    path: Option<&std::path::Path>,
    format: ReportFormat,
    sync: bool,
    keep_earlier: bool,
) -> Result<crate::engine::Report, CmdError> {
    let format = match format {
        ReportFormat::Csv => crate::report::Format::Csv,
        ReportFormat::Jsonl => crate::report::Format::Jsonl,
    };
    let created = match keep_earlier {
        true => crate::engine::Report::create_keeping_earlier(path, format, sync),
        false => crate::engine::Report::create(path, format, sync),
    };
    created.map_err(|source| CmdError::Io {
        what: format!(
            "cannot write the report to {}",
            path.map_or_else(|| "stdout".into(), |p| p.display().to_string())
        ),
        source,
    })
}

/// Where and how `find` and `verify` write their rows, and their summary.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RowsArgs {
    /// Write the rows here instead of stdout (`-`: stdout); with --profiles, `{profile}` in the path
    /// names each org's
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Row format
    #[arg(long, value_enum, default_value_t = ReportFormat::Csv)]
    pub format: ReportFormat,
    /// Write the run's counts as one JSON object to FILE (`-`: stdout, when the rows go to a file)
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
}

impl RowsArgs {
    /// Checks the outputs before anything is read or sent: `--output -` is stdout, as everywhere else;
    /// neither output may overwrite what the command reads (`reads`) or the other one; a file that cannot
    /// be written is a usage error, as `--report` is (without emptying a file that is there).
    fn check(&mut self, reads: &[(String, &std::path::Path)]) -> Result<(), CmdError> {
        if self.output.as_deref() == Some(std::path::Path::new("-")) {
            self.output = None;
        }
        crate::outputs::refuse_overwrites(
            reads,
            &[
                ("--output", self.output.as_deref()),
                ("--summary", self.summary.as_deref()),
            ],
        )?;
        match &self.output {
            Some(path) => Ok(crate::outputs::probe_writable(path, "")?),
            None => Ok(()),
        }
    }

    /// Writes `rows` as CSV (`header` first, even with no rows, so a script reading it finds its columns)
    /// or JSON lines, to `--output` or stdout. A reader of stdout that went away is not an error.
    fn write<T: Serialize>(&self, header: &[&str], rows: &[T]) -> Result<(), CmdError> {
        let path = self.output.as_deref();
        let what = || match path {
            Some(p) => format!("cannot write {}", p.display()),
            None => "cannot write to stdout".into(),
        };
        // Rows shown on a terminal have their cells escaped; a file or a pipe gets them exactly.
        let (out, terminal): (Box<dyn Write>, bool) = match path {
            Some(p) => {
                let file = std::fs::File::create(p).map_err(|source| CmdError::Io {
                    what: what(),
                    source,
                })?;
                let terminal = std::io::IsTerminal::is_terminal(&file);
                (Box::new(file), terminal)
            }
            None => (
                Box::new(std::io::stdout().lock()),
                std::io::IsTerminal::is_terminal(&std::io::stdout()),
            ),
        };
        let result = match self.format {
            ReportFormat::Csv => {
                let mut w = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(out);
                let mut all = || -> Result<(), csv::Error> {
                    w.write_record(header)?;
                    for r in rows {
                        match terminal.then(|| escape::cells(r)).flatten() {
                            Some(cells) => w.write_record(cells)?,
                            None => w.serialize(r)?,
                        }
                    }
                    Ok(w.flush()?)
                };
                all().map_err(csv_io)
            }
            ReportFormat::Jsonl => {
                let mut w = std::io::BufWriter::new(out);
                rows.iter()
                    .try_for_each(|r| {
                        let line = serde_json::to_string(r)?;
                        let line = if terminal {
                            escape::json(&line)
                        } else {
                            line.into()
                        };
                        w.write_all(line.as_bytes())
                            .map_err(serde_json::Error::io)?;
                        w.write_all(b"\n").map_err(serde_json::Error::io)
                    })
                    .map_err(std::io::Error::from)
                    .and_then(|()| w.flush())
            }
        };
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(source) => Err(CmdError::Io {
                what: what(),
                source,
            }),
            Ok(()) => Ok(()),
        }
    }
}

/// First SIGINT/SIGTERM: send nothing more, end the reading of pipes and terminals, give requests in
/// flight a few seconds to answer (so what Okta took is reported `accepted`), then finish the report.
/// Second: abandon what is in flight and finish the report at once (exit 128 + the signal). `output` names
/// what is finished ("the report"). In a run across several orgs the fleet's one listener hands each
/// org the signals, and says what they do once for all.
fn watch_signals(
    client: Option<Arc<Client>>,
    interrupt: Arc<Interrupt>,
    output: &'static str,
    mut signals: Signals,
) {
    let quiet = signals.shared();
    let say = move |line: std::fmt::Arguments<'_>| {
        if !quiet {
            crate::term::signalled(line);
        }
    };
    tokio::spawn(crate::term::carry(async move {
        let sig = signals.next().await;
        // Ctrl-C is advice only for someone at a terminal who pressed it; a service manager or a cron
        // wrapper that sent SIGTERM is told what a second signal does.
        let at_terminal = sig == 2 && std::io::IsTerminal::is_terminal(&std::io::stdin());
        let (what, again) = match (sig, at_terminal) {
            (2, true) => ("interrupted", "press Ctrl-C again to stop at once"),
            (15, _) => ("SIGTERM", "a second signal stops at once"),
            _ => ("interrupted", "a second signal stops at once"),
        };
        say(format_args!(
            "{what}: sending nothing more; waiting up to {} s for answers in flight, \
             then finishing {output} ({again})",
            crate::interrupt::GRACE.as_secs()
        ));
        // The client stops before the interrupt is raised: the interrupt ends a pipe the reader waits
        // on, and the rows it then hands over must find the client stopped (else, on another thread,
        // they can be sent after the signal).
        if let Some(c) = &client {
            c.control().stop(StopReason::interrupted());
            let c = c.clone();
            tokio::spawn(async move {
                tokio::time::sleep(crate::interrupt::GRACE).await;
                c.control().abandon();
            });
        }
        interrupt.raise(Level::Stopping, sig);
        let sig = signals.next().await;
        say(format_args!(
            "interrupted again: abandoning requests in flight; finishing {output} now"
        ));
        if let Some(c) = &client {
            c.control().abandon();
        }
        interrupt.raise(Level::Now, sig);
    }));
}

/// The CSV header serde writes for `row` (for the tests that keep each command's `HEADER` in step with its
/// row type).
#[cfg(test)]
fn header_of(row: impl Serialize) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.serialize(row).expect("a row serialises");
    let text = String::from_utf8(w.into_inner().expect("flushed")).expect("UTF-8");
    text.lines().next().unwrap_or_default().to_string()
}
