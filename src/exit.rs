//! The one exit-status type of the tool. Every command ends in one of these, so cron jobs and scripts can
//! tell "all done" from "some rows need a look" from "run again later" without parsing text.

use std::process::ExitCode;

/// Exit statuses, documented in the README and in `okta-org --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Everything succeeded (for `bounces remove`: every address was accepted, or was a duplicate).
    Ok = 0,
    /// An unexpected error: Okta answered something this tool cannot interpret, or a local I/O error.
    Error = 1,
    /// Usage, configuration or input error.
    Usage = 2,
    /// The job ran, but some rows were rejected by Okta or failed local checks: look at the report.
    Partial = 3,
    /// Some work was not done and is safe to retry later: rate limited past `--max-wait`, Okta unavailable,
    /// interrupted. For `bounces remove`, the report marks those rows `failed`.
    Retry = 4,
    /// Authentication or permission error (401/403): fix the token or its scopes.
    Auth = 5,
    /// The object asked for does not exist (404).
    NotFound = 6,
}

impl Exit {
    pub fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// The help text block that documents the statuses; shown in `--help` and kept in step with the README.
pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success (bounces: every address accepted or a duplicate)
  1  unexpected error (an answer this tool cannot read, a local I/O error)
  2  usage, configuration or input error
  3  done, but some rows were rejected by Okta or failed local checks
     (see the report)
  4  some work not done, safe to run again later (rate limited past
     --max-wait, Okta unavailable, interrupted): those rows are 'failed'
  5  authentication or permission error (401/403)
  6  not found (404)";
