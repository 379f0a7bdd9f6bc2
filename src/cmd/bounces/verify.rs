//! `okta-org bounces verify REPORT`: for every `accepted` row of a `bounces remove` report, what the System
//! Log says since Okta took it: `removal-logged`, `delivered`, `bounced-again` or `not-yet-logged`. Without
//! `--wait`, one bounded query up to now; with it, a polling query that keeps its cursor and asks again for
//! what came since, until every address has a verdict or the time is up. Also run by `remove --verify`.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::time::Instant;

use super::super::{CmdError, usage};
use super::summary::{VerifyCounts, summarised};
use super::{ReportFormat, RowsArgs, watch_signals};
use crate::cli::{ConnectArgs, Global, parse_duration};
use crate::client::{ApiError, Client};
use crate::endpoints;
use crate::exit::Exit;
use crate::interrupt::{Interrupt, Level};
use crate::logs::verify::{Checked, Checker, Verdict};
use crate::logs::{DELIVERY, MAX_AGE, Pages, Query, REMOVAL};
use crate::report::{self, Status};
use crate::session::{Session, Tuning};
use crate::term::count;

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
  okta-org bounces verify report.csv --wait 10m --output verdicts.csv";

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A report written by `bounces remove` (CSV or JSON lines)
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// Keep looking until every address has a verdict, or this long has passed (e.g. 10m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,
    #[command(flatten)]
    pub rows: RowsArgs,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

/// The CSV header: [`Row`]'s fields.
const HEADER: [&str; 5] = [
    "email",
    "verdict",
    "removal_logged",
    "last_delivery",
    "detail",
];

#[derive(Serialize)]
struct Row<'a> {
    email: &'a str,
    verdict: &'a str,
    removal_logged: &'a str,
    last_delivery: &'a str,
    detail: Cow<'a, str>,
}

/// The summary's fields of `bounces verify`.
#[derive(Debug, Default, Serialize)]
struct Body {
    report: String,
    output: Option<String>,
    events: u64,
    pages: u64,
    #[serde(flatten)]
    verdicts: VerifyCounts,
}

pub async fn run(mut a: VerifyArgs, global: &Global) -> Result<Exit, CmdError> {
    a.rows
        .check(&[(format!("the report {}", a.report.display()), &a.report)])?;
    let body = Body {
        report: a.report.display().to_string(),
        output: a.rows.output.as_ref().map(|p| p.display().to_string()),
        ..Body::default()
    };
    let (summary, rows_to) = (a.rows.summary.as_deref(), a.rows.output.as_deref());
    summarised("bounces verify", summary, rows_to, body, async |body| {
        verify(&a, global, body).await
    })
    .await
}

async fn verify(a: &VerifyArgs, global: &Global, body: &mut Body) -> Result<Exit, CmdError> {
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
        &a.conn.connect(),
        global.quiet,
        Tuning::default(),
        &[&endpoints::LIST_LOGS],
    )
    .await?;
    let interrupt = Arc::new(Interrupt::default());
    watch_signals(
        Some(session.client.clone()),
        interrupt.clone(),
        "the verdicts",
    );
    let checked = check(&session.client, accepted, a.wait, &interrupt).await?;
    (body.events, body.pages) = (checked.events, checked.pages);
    body.verdicts = VerifyCounts::of(checked.results.iter().map(|c| c.verdict), checked.gave_up);
    let csv = a.rows.format == ReportFormat::Csv;
    let rows: Vec<Row<'_>> = checked
        .results
        .iter()
        .map(|c| Row {
            email: &c.email,
            verdict: c.verdict.as_str(),
            removal_logged: &c.removal_logged,
            last_delivery: &c.last_delivery,
            detail: if csv {
                report::neutralise(&c.detail)
            } else {
                Cow::Borrowed(&c.detail)
            },
        })
        .collect();
    a.rows.write(&HEADER, &rows)?;
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
    /// Ended at once by a second signal (its number).
    pub ended_by_signal: Option<i32>,
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
            ended_by_signal: None,
        });
    };
    // Event types only: a delivery's result is read from the event (see `bounces find`).
    let filter = format!("eventType eq \"{REMOVAL}\" or eventType eq \"{DELIVERY}\"");
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
    // A bounded query is read to its last page: a later event (a delivery, a bounce) changes a verdict
    // even once every address has one. A polling query (`--wait`) ends as soon as every address has a
    // verdict, or at the deadline (a page still being asked for then is given up); after a short page
    // (it has caught up with the log) it waits before asking again, so a busy org's stream of deliveries
    // does not spend the log's rate limit.
    loop {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, pages.next()).await {
                Ok(next) => next,
                Err(_) => {
                    gave_up = checker.pending() > 0;
                    break;
                }
            },
            None => pages.next().await,
        };
        let events = match next {
            Ok(Some(events)) => events,
            Ok(None) => break,
            // Interrupted while a page was asked for: the verdicts so far are still written.
            Err(ApiError::Stopped(_)) if interrupt.stopping() => {
                gave_up = true;
                break;
            }
            Err(e) => return Err(e),
        };
        for v in &events {
            checker.take(v);
        }
        if interrupt.stopping() {
            gave_up = checker.pending() > 0;
            break;
        }
        let Some(deadline) = deadline else { continue };
        if checker.pending() == 0 {
            break;
        }
        if Instant::now() >= deadline {
            gave_up = true;
            break;
        }
        if events.len() >= crate::logs::PAGE_LIMIT as usize {
            continue;
        }
        // Caught up with addresses still without a verdict: wait before asking again, in small steps so
        // an interrupt is heard.
        let until = (Instant::now() + pause).min(deadline);
        while Instant::now() < until && !interrupt.stopping() {
            tokio::time::sleep(Duration::from_millis(200).min(until - Instant::now())).await;
        }
        if Instant::now() >= deadline || interrupt.stopping() {
            gave_up = true;
            break;
        }
        pause = (pause * 3 / 2).min(POLL_MOST);
    }
    Ok(Verified {
        results: checker.results(),
        events: checker.intake.events,
        pages: pages.pages,
        gave_up,
        ended_by_signal: (interrupt.level() == Level::Now)
            .then(|| interrupt.signal())
            .flatten(),
    })
}

/// One line: the counts of each verdict.
pub fn summary(v: &Verified) -> String {
    let of = |verdict: Verdict| v.results.iter().filter(|c| c.verdict == verdict).count();
    let parts: Vec<String> = Verdict::ALL
        .iter()
        .map(|&x| format!("{} {x}", of(x)))
        .collect();
    let n = v.results.len();
    let mut s = format!(
        "okta-org: verified {} in the System Log ({} read): {}",
        count(n as u64, "address", "addresses"),
        count(v.events, "event", "events"),
        parts.join(", ")
    );
    if of(Verdict::NotYetLogged) > 0 {
        s.push_str(if v.gave_up {
            "; the wait ran out: look again later"
        } else {
            "; Okta logs removals a while after it takes them: look again later, or use --wait"
        });
    }
    s
}

/// 128 + the signal when a second one ended it, 3 when an address bounced again, 4 when one is not yet
/// logged (or the read was cut short), else 0.
pub fn exit_of(v: &Verified) -> Exit {
    let any = |x: Verdict| v.results.iter().any(|c| c.verdict == x);
    if let Some(sig) = v.ended_by_signal {
        Exit::Signal(sig)
    } else if any(Verdict::NotYetLogged) || v.gave_up {
        // Something to run again comes first (as `failed` rows do for `remove`); the addresses that
        // bounced again are in the verdicts either way.
        Exit::Retry
    } else if any(Verdict::BouncedAgain) {
        Exit::Partial
    } else {
        Exit::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_the_row_fields() {
        let row = Row {
            email: "a@x.com",
            verdict: "delivered",
            removal_logged: "",
            last_delivery: "",
            detail: Cow::Borrowed(""),
        };
        assert_eq!(super::super::header_of(row), HEADER.join(","));
    }
}
