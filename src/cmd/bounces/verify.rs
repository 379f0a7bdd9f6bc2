//! `okta-org bounces verify REPORT`: for every `accepted` row of a `bounces remove` report, what the System
//! Log says since Okta took it: `removal-logged`, `delivered`, `bounced-again` or `not-yet-logged`. Without
//! `--wait`, one bounded query up to now; with it, a polling query that keeps its cursor and asks again for
//! what came since, until every address has a verdict or the time is up. Also run by `remove --verify`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use super::super::{CmdError, usage};
use super::{ReportFormat, write_rows};
use crate::cli::{ConnectArgs, Global, parse_duration};
use crate::client::{ApiError, Client};
use crate::endpoints;
use crate::exit::Exit;
use crate::interrupt::{Interrupt, Level, wait_for_signal};
use crate::logs::verify::{Checked, Checker, Verdict};
use crate::logs::{DELIVERY, MAX_AGE, PAGE_LIMIT, Pages, Query, REMOVAL};
use crate::report::{self, Status};
use crate::session::{Session, Tuning};

pub const VERIFY_HELP: &str = "\
Reads GET /api/v1/logs (scope okta.logs.read) from when the report's first
address was accepted (its 'at' column) and gives each accepted address a
verdict: removal-logged (Okta passed the removal on to its email provider),
delivered (mail reached it since), bounced-again (mail to it bounced or was
dropped since), or not-yet-logged (removals are logged asynchronously: look
again later, or wait with --wait).

Exit status: 0 every address confirmed; 4 some not yet logged (run again
later); 3 some bounced again.

Examples:
  okta-org bounces verify report.csv
  okta-org bounces verify report.csv --wait 10m -o verdicts.csv";

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A report written by `bounces remove` (CSV or JSON lines)
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// Keep looking until every address has a verdict, or this long has passed (e.g. 10m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,
    /// Write the verdicts here instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Row format
    #[arg(long, value_enum, default_value_t = ReportFormat::Csv)]
    pub format: ReportFormat,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Serialize)]
struct Row<'a> {
    email: &'a str,
    verdict: &'a str,
    removal_logged: &'a str,
    last_delivery: &'a str,
    detail: &'a str,
}

pub async fn run(a: VerifyArgs, global: &Global) -> Result<Exit, CmdError> {
    let records = report::read(&a.report)?;
    let accepted: Vec<(String, SystemTime)> = records
        .iter()
        .filter(|r| r.status == Status::Accepted)
        .map(|r| (r.email.clone(), r.at.unwrap_or(SystemTime::UNIX_EPOCH)))
        .collect();
    if accepted.iter().any(|(_, at)| *at == SystemTime::UNIX_EPOCH) {
        return Err(usage(format!(
            "{}: its accepted rows do not say when Okta took them (no 'at' column): it was written by an \
             older version; run bounces remove again to verify",
            a.report.display()
        )));
    }
    let session = Session::connect(
        &a.conn,
        global.quiet,
        Tuning::default(),
        &[&endpoints::LIST_LOGS],
    )
    .await?;
    let interrupt = Arc::new(Interrupt::default());
    {
        let interrupt = interrupt.clone();
        tokio::spawn(async move {
            let sig = wait_for_signal().await;
            interrupt.raise(Level::Stopping, sig);
            let sig = wait_for_signal().await;
            std::process::exit(128 + sig);
        });
    }
    let checked = check(&session.client, accepted, a.wait, &interrupt).await?;
    let rows: Vec<Row<'_>> = checked
        .results
        .iter()
        .map(|c| Row {
            email: &c.email,
            verdict: c.verdict.as_str(),
            removal_logged: &c.removal_logged,
            last_delivery: &c.last_delivery,
            detail: &c.detail,
        })
        .collect();
    write_rows(a.output.as_deref(), a.format, &rows)?;
    if !global.quiet {
        crate::say(summary(&checked));
    }
    Ok(exit_of(&checked))
}

/// The verdicts of a check, and what it read.
pub struct Verified {
    pub results: Vec<Checked>,
    pub events: u64,
    pub pages: u64,
    /// The wait ran out (or was interrupted) with addresses still without a verdict.
    pub gave_up: bool,
}

/// How long a polling check waits before asking again, at first and at most.
const POLL_FIRST: Duration = Duration::from_secs(2);
const POLL_MOST: Duration = Duration::from_secs(15);

/// Reads the log for `accepted` (address, when Okta took it): one bounded query without `wait`, a polling
/// query with it.
pub async fn check(
    client: &Client,
    accepted: Vec<(String, SystemTime)>,
    wait: Option<Duration>,
    interrupt: &Interrupt,
) -> Result<Verified, ApiError> {
    let mut checker = Checker::new(accepted);
    let Some(since) = checker.since() else {
        return Ok(Verified {
            results: Vec::new(),
            events: 0,
            pages: 0,
            gave_up: false,
        });
    };
    let filter = format!(
        "eventType eq \"{REMOVAL}\" or eventType eq \"{DELIVERY}\" and outcome.result eq \"SUCCESS\" \
         or eventType eq \"{DELIVERY}\" and outcome.result eq \"FAILURE\""
    );
    let now = SystemTime::now();
    // Okta answers queries of the last 180 days only (and keeps 90 days of events).
    let oldest = now - (MAX_AGE - Duration::from_secs(3600));
    if since < oldest {
        tracing::warn!(
            "the report's first address was accepted more than 180 days ago; reading the System Log from \
             {} (events older than 90 days are gone)",
            crate::logs::time_text(oldest)
        );
    }
    let query = Query {
        since: since.clamp(oldest, now),
        until: wait.is_none().then_some(now),
        filter,
    };
    let mut pages = Pages::new(client, &query);
    let deadline = wait.map(|w| Instant::now() + w);
    let mut pause = POLL_FIRST;
    let mut gave_up = false;
    while let Some(events) = pages.next().await? {
        for v in &events {
            checker.take(v);
        }
        if checker.pending() == 0 {
            break;
        }
        let Some(deadline) = deadline else { continue };
        // A polling query always has a next page; a short one means it has caught up: wait before asking
        // again, in small steps so an interrupt is heard.
        if events.len() < PAGE_LIMIT as usize {
            let until = (Instant::now() + pause).min(deadline);
            while Instant::now() < until && !interrupt.stopping() {
                tokio::time::sleep(Duration::from_millis(200).min(until - Instant::now())).await;
            }
            if Instant::now() >= deadline || interrupt.stopping() {
                gave_up = checker.pending() > 0;
                break;
            }
            pause = (pause * 3 / 2).min(POLL_MOST);
        }
    }
    Ok(Verified {
        results: checker.results(),
        events: checker.events,
        pages: pages.pages,
        gave_up,
    })
}

/// One line: the counts of each verdict.
pub fn summary(v: &Verified) -> String {
    let count = |verdict: Verdict| v.results.iter().filter(|c| c.verdict == verdict).count();
    let parts: Vec<String> = Verdict::ALL
        .iter()
        .map(|&x| format!("{} {x}", count(x)))
        .collect();
    let n = v.results.len();
    let mut s = format!(
        "okta-org: verified {n} address{} in the System Log ({} event{} read): {}",
        if n == 1 { "" } else { "es" },
        v.events,
        if v.events == 1 { "" } else { "s" },
        parts.join(", ")
    );
    if count(Verdict::NotYetLogged) > 0 {
        s.push_str(if v.gave_up {
            "; the wait ran out: look again later"
        } else {
            "; Okta logs removals a while after it takes them: look again later, or use --wait"
        });
    }
    s
}

/// 3 when an address bounced again, 4 when one is not yet logged, else 0.
pub fn exit_of(v: &Verified) -> Exit {
    let any = |x: Verdict| v.results.iter().any(|c| c.verdict == x);
    if any(Verdict::BouncedAgain) {
        Exit::Partial
    } else if any(Verdict::NotYetLogged) {
        Exit::Retry
    } else {
        Exit::Ok
    }
}
