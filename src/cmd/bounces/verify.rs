//! `okta-org bounces verify REPORT`: for every `accepted` row of a `bounces remove` report, what the System
//! Log says since Okta took it: `removal-logged`, `delivered`, `bounced-again` or `not-yet-logged`. Without
//! `--wait`, one bounded query up to now; with it, a polling query that keeps its cursor and asks again for
//! what came since, until every address has a verdict or the time is up. Also run by `remove --verify`.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::super::{CmdError, Ran, usage};
use super::summary::{Summarised, VerifyCounts};
use super::{ReportFormat, RowsArgs, watch_signals};
use crate::cli::{ConnectArgs, Global, parse_duration};
use crate::endpoints;
use crate::exit::Exit;
use crate::interrupt::Interrupt;
use crate::logs::verify::{Verdict, Verified, check};
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

#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    /// A report written by `bounces remove` (CSV or JSON lines); with --profiles, `{profile}` in the
    /// path names each org's
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

pub async fn run(a: VerifyArgs, global: &Global) -> Result<Exit, CmdError> {
    run_counted(a, global).await.result
}

/// The run, and its verdicts' counts (for a caller that runs it for many orgs).
pub async fn run_counted(mut a: VerifyArgs, global: &Global) -> Ran {
    let checked = a
        .rows
        .check(&[(format!("the report {}", a.report.display()), &a.report)]);
    if let Err(e) = checked {
        return Ran::of(Err(e));
    }
    let mut body = Body {
        report: a.report.display().to_string(),
        output: a.rows.output.as_ref().map(|p| p.display().to_string()),
        ..Body::default()
    };
    let summary = match Summarised::start(
        "bounces verify",
        a.rows.summary.as_deref(),
        a.rows.output.as_deref(),
    ) {
        Ok(s) => s,
        Err(e) => return Ran::of(Err(e)),
    };
    let result = verify(&a, global, &mut body).await;
    let got = result.is_ok();
    let result = summary.finish(result, &body);
    let mut ran = Ran::of(result);
    ran.counted.rows = got.then_some(body.verdicts.addresses);
    ran.counted.body = serde_json::to_value(&body).unwrap_or_default();
    ran
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
    if accepted.is_empty() {
        let valid = records.iter().any(|r| r.status == Status::Valid);
        tracing::warn!(
            "{} has no accepted rows: nothing to verify{}",
            crate::escape::text(&a.report.display().to_string()),
            if valid {
                " (it is the report of a --dry-run, which sends nothing)"
            } else {
                ""
            }
        );
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
        global.signals(),
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
    crate::term::note(summary(&checked));
    Ok(exit_of(&checked))
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
        "verified {} in the System Log ({} read): {}",
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
