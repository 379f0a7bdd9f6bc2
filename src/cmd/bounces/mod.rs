//! `okta-org bounces ...`: the main job and the loop around it. `remove` clears a mail system's export from
//! Okta's bounce list; `find` reads from the System Log which addresses bounced; `verify` reads from it
//! whether the removals a report accepted happened.

pub mod find;
pub mod remove;
pub mod summary;
pub mod verify;

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::CmdError;
use crate::cli::Global;
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
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

#[derive(Debug, clap::Subcommand)]
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
}

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    match g.command {
        Command::Remove(a) => remove::run(a, global).await,
        Command::Find(a) => find::run(a, global).await,
        Command::Verify(a) => verify::run(a, global).await,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Csv,
    Jsonl,
}

/// Writes `rows` as CSV (with a header, a spreadsheet formula guard on `guarded` columns) or JSON lines, to
/// `path` or stdout. A reader of stdout that went away is not an error.
fn write_rows<T: Serialize>(
    path: Option<&Path>,
    format: ReportFormat,
    rows: &[T],
) -> Result<(), CmdError> {
    let what = || match path {
        Some(p) => format!("cannot write {}", p.display()),
        None => "cannot write to stdout".into(),
    };
    let out: Box<dyn Write> = match path {
        Some(p) => Box::new(std::fs::File::create(p).map_err(|source| CmdError::Io {
            what: what(),
            source,
        })?),
        None => Box::new(std::io::stdout().lock()),
    };
    let result = match format {
        ReportFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            rows.iter()
                .try_for_each(|r| w.serialize(r))
                .and_then(|()| w.flush().map_err(csv::Error::from))
                .map_err(|e| match e.into_kind() {
                    csv::ErrorKind::Io(e) => e,
                    other => std::io::Error::other(format!("{other:?}")),
                })
        }
        ReportFormat::Jsonl => {
            let mut w = std::io::BufWriter::new(out);
            rows.iter()
                .try_for_each(|r| {
                    serde_json::to_writer(&mut w, r)?;
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
