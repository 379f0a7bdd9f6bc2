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

impl Exit {
    /// How bad an ending is, where several are folded into one (a run across several orgs ends with
    /// the worst of theirs), worst first: a signal (the person stopped it all), an authentication or
    /// permission error (a credential to fix), a usage or configuration error (a command line or
    /// okta.yaml to fix), an unexpected error, not found, work to run again later, rows to look at,
    /// success. This order is decided here and nowhere else.
    pub fn severity(self) -> u8 {
        match self {
            Exit::Signal(_) => 7,
            Exit::Auth => 6,
            Exit::Usage => 5,
            Exit::Error => 4,
            Exit::NotFound => 3,
            Exit::Retry => 2,
            Exit::Partial => 1,
            Exit::Ok => 0,
        }
    }

    /// The worse of two endings (by [`Exit::severity`]; of two signals, the later one).
    pub fn worst(self, other: Exit) -> Exit {
        if other.severity() >= self.severity() {
            other
        } else {
            self
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
     still in the report
With --profiles, the worst of the orgs': 130/143, then 5, 2, 1, 6, 4, 3, 0.";

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn the_worst_of_several_endings() {
        let all = [
            Exit::Ok,
            Exit::Partial,
            Exit::Retry,
            Exit::NotFound,
            Exit::Error,
            Exit::Usage,
            Exit::Auth,
            Exit::Signal(2),
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i..] {
                assert_eq!(a.worst(*b), *b, "{a:?} {b:?}");
                assert_eq!(b.worst(*a), *b, "{b:?} {a:?}");
            }
        }
        assert_eq!(
            [Exit::Partial, Exit::Auth, Exit::Retry]
                .into_iter()
                .fold(Exit::Ok, Exit::worst),
            Exit::Auth
        );
    }
}
