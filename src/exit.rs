//! The one exit-status type of the tool. Every command ends in one of these, so cron jobs and scripts can
//! tell "all done" from "some rows need a look" from "run again later" without parsing text.

use std::process::ExitCode;

/// Exit statuses, documented in the README, docs/report.md and `okta-org --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything succeeded (for `bounces remove`: every address was accepted, or was a duplicate).
    Ok,
    /// An unexpected error: Okta answered something this tool cannot interpret, or a local I/O error.
    Error,
    /// Usage, configuration or input error.
    Usage,
    /// The job ran, but some rows were rejected by Okta, failed local checks, or were held by the ledger's
    /// policy (`bounces sync`): look at the report.
    Partial,
    /// Some work was not done and is safe to retry later: rate limited past `--max-wait`, Okta unavailable,
    /// an answer past its endpoint's limit, interrupted. For `bounces remove`, the report marks those rows `failed`.
    Retry,
    /// Authentication or permission error (401/403): fix the token or its scopes.
    Auth,
    /// The object asked for does not exist (404).
    NotFound,
    /// Ended at once by a second Ctrl-C or SIGTERM: 128 + the signal's number (130, 143).
    Signal(i32),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::Partial => 3,
            Exit::Retry => 4,
            Exit::Auth => 5,
            Exit::NotFound => 6,
            Exit::Signal(n) => u8::try_from(128 + n.clamp(1, 127)).unwrap_or(255),
        }
    }
}

impl From<crate::client::Failure> for Exit {
    fn from(f: crate::client::Failure) -> Exit {
        use crate::client::Failure;
        match f {
            Failure::Unexpected => Exit::Error,
            Failure::Usage => Exit::Usage,
            Failure::Retryable => Exit::Retry,
            Failure::Auth => Exit::Auth,
            Failure::NotFound => Exit::NotFound,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// The help text block that documents the statuses; shown in `--help` and kept in step with the README and
/// docs/report.md.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success (bounces: every address accepted or a duplicate)
  1  unexpected error (an answer this tool cannot read, a local I/O error)
  2  usage, configuration or input error
  3  done, but some rows were rejected by Okta, failed local checks, or
     were held (bounces sync): see the report
  4  some work not done, safe to run again later (rate limited past
     --max-wait, Okta unavailable, an answer too large to read,
     interrupted, the report's reader went away): those rows are 'failed';
     or another run holds the org's ledger
  5  authentication or permission error (401/403)
  6  not found (404)
  130 (143)  ended at once by a second Ctrl-C (SIGTERM); every row read is
     still in the report";
