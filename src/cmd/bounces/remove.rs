//! `okta-org bounces remove`: the main job's command line. It checks the inputs and the report path
//! before anything is sent, connects (unless `--dry-run`), watches for Ctrl-C/SIGTERM, hands the run to
//! the pipeline in `crate::bounces`, and with `--verify` checks the System Log afterwards.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::super::{CmdError, usage, write_stdout};
use super::summary::{Stop, Summary, Target, VerifyCounts, deliver, refuse_overwrites, seconds};
use super::{ReportFormat, verify, watch_signals};
use crate::bounces::{self, RemoveOptions, RemoveOutcome};
use crate::cli::{ConnectArgs, Global, parse_duration, parse_timeout};
use crate::endpoints;
use crate::exit::Exit;
use crate::input::{ColumnChoice, InputSpec, ReadOptions};
use crate::interrupt::Interrupt;
use crate::report::{self, Status};
use crate::session::{Session, Tuning};

pub const REMOVE_HELP: &str = "\
Reads CSV exports of SendGrid, Mailgun, Mailchimp, Brevo, SparkPost, SES,
Postmark, Mandrill, Exchange message traces, or plain lists of addresses
(UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or pipe), and
spreadsheets (.xlsx, .xls, .ods; one sheet: --sheet, or the first visible one
with cells; `line` is the sheet's row number). The address column is found by
its header name, or by content; --column overrides.

Every input row gets one report row (line, email, status, reason, source) with
status accepted, rejected, invalid, duplicate or failed (valid under --dry-run).
Rows marked failed are safe to send again. A quote left open in a cell cannot
hide the rows after it: that row is reported invalid (and named on stderr).
An input that is missing, not text, empty (unless --allow-empty), or a workbook
that cannot be read (encrypted, damaged, no such --sheet) is refused before
anything is sent (exit status 2).

Examples:
  okta-org bounces remove samples/sendgrid-bounces.csv --simulate
  okta-org bounces remove bounces.csv --report report.csv
  okta-org bounces remove suppressions.xlsx --sheet Bounces --dry-run
  cat export.csv | okta-org bounces remove - --max-wait 5m --report r.csv";

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// Export files to read, one after another; `-` or none reads stdin
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// The address column, by header name or 1-based number (default: found by header name or content)
    #[arg(long, value_name = "NAME|NUMBER")]
    pub column: Option<String>,
    /// The sheet of an .xlsx, .xls or .ods input to read (default: the first visible sheet with cells);
    /// text inputs have none
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// Write the report here instead of stdout (`-`: stdout)
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Report format
    #[arg(long, value_enum, default_value_t = ReportFormat::Csv)]
    pub report_format: ReportFormat,
    /// Write the run's summary as one JSON object to FILE (`-`: stdout, when the report goes to a
    /// file), however the run ends; written whole or not at all
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// End a JSON-lines report with the summary, as a {"summary": {...}} record
    #[arg(long)]
    pub report_summary: bool,
    /// Check everything and write the report, but send nothing to Okta
    #[arg(long)]
    pub dry_run: bool,
    /// Accept an input of 0 bytes as having no rows (without it, an empty file or pipe is an input error,
    /// so a broken export job does not pass for a day without bounces)
    #[arg(long)]
    pub allow_empty: bool,
    /// At most this many requests a minute (on top of Okta's own rate-limit headers)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// The most requests in flight at once (default 64). Below it the tool adapts: one at a time until
    /// Okta advertises a budget, then as many as the budget and the answers' latency call for, fewer
    /// after throttling
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,
    /// If Okta asks to wait longer than this (Retry-After), stop and report the rest as failed with the
    /// time to retry, instead of sleeping (e.g. 90s, 5m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_wait: Option<Duration>,
    /// Retries of one request after 429, 5xx and network errors (default 6) [env: OKTA_CLIENT_RATELIMIT_MAXRETRIES]
    #[arg(long, value_name = "N")]
    pub max_retries: Option<usize>,
    /// Time limit of one request, more than 0 (default 60s) [env: OKTA_CLIENT_REQUESTTIMEOUT, in
    /// seconds; 0 there means the default]
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Send again only the rows an earlier report left failed, and report just those (no INPUT)
    #[arg(long, value_name = "REPORT", conflicts_with_all = ["inputs", "resume"])]
    pub retry_failed: Option<PathBuf>,
    /// Finish a run that died before its report was done: rows that report settled are carried into the
    /// new one as they were (failed ones are sent again); every other row of the inputs is sent
    #[arg(long, value_name = "REPORT")]
    pub resume: Option<PathBuf>,
    /// After the run, look in the System Log for each accepted address's removal, waiting up to DURATION
    /// for them to be logged (default 2m; needs okta.logs.read); see `bounces verify`
    #[arg(long, value_name = "DURATION", num_args = 0..=1, require_equals = true,
          default_missing_value = "2m", value_parser = parse_duration)]
    pub verify: Option<Duration>,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

/// The summary's fields of `bounces remove` (see the README for the shape).
#[derive(Debug, Default, Serialize)]
struct Body {
    inputs: Vec<String>,
    report: Option<String>,
    dry_run: bool,
    rows: u64,
    counts: serde_json::Map<String, serde_json::Value>,
    carried: u64,
    requests: u64,
    retries: u64,
    waited_seconds: f64,
    verify: Option<VerifyCounts>,
}

/// What a run left for its summary, filled in as it goes.
#[derive(Default)]
struct Facts {
    body: Body,
    /// Why the run ended early, when it ended without an error.
    stop: Option<Stop>,
    /// The pipeline ran (so a report was written).
    reported: bool,
}

pub async fn run(mut args: RemoveArgs, global: &Global) -> Result<Exit, CmdError> {
    let started = SystemTime::now();
    if args.report.as_deref() == Some(Path::new("-")) {
        args.report = None;
    }
    // Neither the report nor the summary may overwrite anything this run reads (checked before the
    // summary of a refused run is written).
    let read_here: Vec<(String, PathBuf)> = args
        .inputs
        .iter()
        .filter(|i| i.as_str() != "-")
        .map(|i| (format!("the input {i}"), PathBuf::from(i)))
        .chain(
            args.retry_failed
                .iter()
                .chain(&args.resume)
                .map(|p| (format!("the earlier report {}", p.display()), p.clone())),
        )
        // Stdin redirected from a file (`< in.csv`) is that file; a terminal, a pipe or /dev/null is no
        // file an output could overwrite.
        .chain(
            (args.retry_failed.is_none()
                && (args.inputs.is_empty() || args.inputs.iter().any(|i| i == "-"))
                && std::fs::metadata("/dev/stdin").is_ok_and(|m| m.is_file()))
            .then(|| {
                (
                    "the input on stdin".to_string(),
                    PathBuf::from("/dev/stdin"),
                )
            }),
        )
        .collect();
    let reads: Vec<(String, &Path)> = read_here
        .iter()
        .map(|(what, p)| (what.clone(), p.as_path()))
        .collect();
    refuse_overwrites(
        &reads,
        &[
            ("--report", args.report.as_deref()),
            ("--summary", args.summary.as_deref()),
        ],
    )?;
    let target = args.summary.as_deref().map(Target::parse);
    if let Some(t) = &target {
        t.check(args.report.as_deref(), "report")?;
    }
    if args.report_summary && args.report_format != ReportFormat::Jsonl {
        return Err(usage(
            "--report-summary needs --report-format jsonl: a CSV report has no place for it (use \
             --summary FILE)",
        ));
    }
    let mut facts = Facts::default();
    facts.body.dry_run = args.dry_run;
    facts.body.report = args.report.as_ref().map(|p| p.display().to_string());
    facts.body.counts = counts_json(&report::Counts::default());
    let result = remove(&args, global, &mut facts).await;
    if target.is_none() && !(args.report_summary && facts.reported) {
        return result;
    }
    let summary = Summary::new("bounces remove", started, &result, facts.stop, facts.body);
    let mut written = Ok(());
    if args.report_summary && facts.reported {
        written = append_to_report(args.report.as_deref(), &summary);
    }
    if let Some(t) = &target {
        written = written.and(t.write(&summary));
    }
    deliver(result, written)
}

/// The counts of every status, in the report's order.
fn counts_json(c: &report::Counts) -> serde_json::Map<String, serde_json::Value> {
    Status::ALL
        .iter()
        .map(|&s| (s.as_str().to_string(), c.get(s).into()))
        .collect()
}

/// Ends a JSON-lines report (a file, or stdout) with `{"summary": {...}}`.
fn append_to_report(path: Option<&Path>, summary: &impl Serialize) -> Result<(), CmdError> {
    let mut line = serde_json::to_vec(&serde_json::json!({ "summary": summary }))
        .expect("a summary serialises");
    line.push(b'\n');
    let Some(path) = path else {
        return write_stdout(&line).map(|_| ());
    };
    let io = |source| CmdError::Io {
        what: format!("cannot write the summary to the report {}", path.display()),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io)?;
    f.write_all(&line).map_err(io)?;
    // (Only a regular file is synced: /dev/stdout, a FIFO or /dev/null cannot be.)
    if f.metadata().is_ok_and(|m| m.is_file()) {
        f.sync_data().map_err(io)?;
    }
    Ok(())
}

async fn remove(args: &RemoveArgs, global: &Global, facts: &mut Facts) -> Result<Exit, CmdError> {
    let retry = match &args.retry_failed {
        Some(path) => {
            let rows: Vec<report::Record> = report::read(path)?
                .into_iter()
                .filter(|r| r.status == Status::Failed)
                .collect();
            if rows.is_empty() && !global.quiet {
                crate::say(format_args!(
                    "okta-org: {} has no failed rows: nothing to send",
                    path.display()
                ));
            }
            Some(Arc::new(rows))
        }
        None => None,
    };
    let carry = match &args.resume {
        Some(path) => {
            let mut carried = bounces::Carried::new();
            for r in report::read(path)? {
                carried
                    .entry(r.source.clone())
                    .or_default()
                    .insert(r.line, r);
            }
            Some(Arc::new(carried))
        }
        None => None,
    };
    let inputs = if retry.is_some() {
        Vec::new()
    } else if args.inputs.is_empty() {
        vec![InputSpec::stdin()]
    } else {
        args.inputs.iter().map(|a| InputSpec::parse(a)).collect()
    };
    facts.body.inputs = match &args.retry_failed {
        Some(earlier) => vec![earlier.display().to_string()],
        None => inputs.iter().map(InputSpec::name).collect(),
    };
    // A report's rows are carried by their source's name; one whose sources are none of the inputs (a
    // path given another way, another export) carries nothing, and every row would be sent again.
    if let (Some(carried), Some(path)) = (&carry, &args.resume) {
        let names: Vec<String> = inputs.iter().map(InputSpec::name).collect();
        if !carried.is_empty() && !carried.keys().any(|k| names.contains(k)) {
            let mut sources: Vec<&str> = carried.keys().map(String::as_str).collect();
            sources.sort_unstable();
            crate::say(format_args!(
                "okta-org: warning: {} has rows of {}, none of which is an input of this run: \
                 nothing is carried, every row is read and sent (name the inputs as that run did)",
                path.display(),
                sources.join(", ")
            ));
        }
    }
    if inputs.iter().filter(|i| i.path.is_none()).count() > 1 {
        return Err(usage("stdin (-) can be read only once"));
    }
    let opts = RemoveOptions {
        inputs,
        interrupt: Arc::new(Interrupt::default()),
        read: ReadOptions {
            column: args
                .column
                .as_deref()
                .map_or(ColumnChoice::Auto, ColumnChoice::parse),
            allow_empty: args.allow_empty,
            sheet: args.sheet.clone(),
        },
        report: args.report.clone(),
        format: match args.report_format {
            ReportFormat::Csv => report::Format::Csv,
            ReportFormat::Jsonl => report::Format::Jsonl,
        },
        dry_run: args.dry_run,
        concurrency: args.concurrency.map(usize::from),
        quiet: global.quiet,
        retry,
        carry,
        keep_accepted: args.verify.is_some() && !args.dry_run,
    };
    bounces::preflight(&opts)?;
    if let Some(path) = &opts.report {
        super::summary::probe_writable(path, "the report ")?;
    }
    if opts.inputs.iter().any(|i| i.path.is_none())
        && std::io::IsTerminal::is_terminal(&std::io::stdin())
        && !global.quiet
    {
        crate::say(format_args!(
            "okta-org: reading addresses from the terminal; end with Ctrl-D (or pass a file)"
        ));
    }
    // A dry run needs no org at all.
    let session = if opts.dry_run {
        None
    } else {
        let tuning = Tuning {
            timeout: args.timeout,
            max_retries: args.max_retries,
            rate: args.rate,
            max_wait: args.max_wait,
            concurrency: args.concurrency.map(u32::from),
            min_backoff: None,
        };
        let mut needs = vec![&endpoints::REMOVE_BOUNCES];
        if args.verify.is_some() {
            needs.push(&endpoints::LIST_LOGS);
        }
        Some(Session::connect(&args.conn.connect(), global.quiet, tuning, &needs).await?)
    };
    let client = session.as_ref().map(|s| s.client.clone());
    // --retry-failed after a --max-wait stop: Okta named when to come back; nothing goes out before then
    // (and a wait past --max-wait stops again at once, with the same time in the rows' reasons).
    if let (Some(rows), Some(c), Some(path)) = (&opts.retry, &client, &args.retry_failed)
        && let Some(at) = retry_after_of(rows)
        && let Ok(left) = at.duration_since(SystemTime::now())
    {
        if !global.quiet {
            crate::say(format_args!(
                "okta-org: Okta told the run that wrote {} to retry after {}: holding back {} s",
                path.display(),
                humantime::format_rfc3339_seconds(at),
                left.as_secs_f64().ceil()
            ));
        }
        let _ = c
            .pacer(endpoints::REMOVE_BOUNCES.bucket)
            .pause_until(tokio::time::Instant::now() + left);
    }
    watch_signals(client.clone(), opts.interrupt.clone(), "the report");
    let mut outcome = bounces::remove(&opts, client.clone()).await?;
    facts.reported = true;
    facts.stop = stop_of(&outcome, &opts);
    let b = &mut facts.body;
    (b.rows, b.counts, b.carried) = (
        outcome.counts.rows,
        counts_json(&outcome.counts),
        outcome.carried,
    );
    (b.requests, b.retries, b.waited_seconds) =
        (outcome.requests, outcome.retries, seconds(outcome.waited));
    if !global.quiet {
        crate::term::write_stderr(bounces::summary(&outcome, &opts).as_bytes());
    } else if let Some(e) = &outcome.input_error {
        crate::say(format_args!("okta-org: error: {e}"));
    } else if let Some(stop) = outcome.stop.as_ref().filter(|_| !opts.interrupt.stopping()) {
        // --quiet keeps errors: why the run stopped (a refused token, an outage, a --max-wait stop) is
        // the one line a cron job mails.
        crate::say(format_args!("okta-org: error: {}", stop.message));
    }
    let exit = exit_of(&outcome);
    // --verify: after a run that ended by itself, for what Okta accepted. The worse of the two statuses
    // (0, then 3, then 4) is the run's.
    if let (Some(wait), Some(client)) = (args.verify, &client)
        && matches!(exit, Exit::Ok | Exit::Partial)
        && !opts.interrupt.stopping()
        && !outcome.accepted.is_empty()
    {
        let accepted = std::mem::take(&mut outcome.accepted);
        let checked = verify::check(client, accepted, Some(wait), &opts.interrupt).await?;
        facts.body.verify = Some(VerifyCounts::of(
            checked.results.iter().map(|c| c.verdict),
            checked.gave_up,
        ));
        if !global.quiet {
            crate::say(verify::summary(&checked));
        }
        let after = verify::exit_of(&checked);
        return Ok(if after.code() > exit.code() {
            after
        } else {
            exit
        });
    }
    Ok(exit)
}

/// The latest "retry after TIME" in the reasons of an earlier report's failed rows (what a `--max-wait`
/// stop writes).
fn retry_after_of(rows: &[report::Record]) -> Option<SystemTime> {
    rows.iter()
        .filter_map(|r| {
            let (_, rest) = r.reason.split_once("retry after ")?;
            let time = rest.split([' ', ';', ')', ',']).next()?;
            humantime::parse_rfc3339_weak(time).ok()
        })
        .max()
}

/// Why a run ended before the end of its inputs, for the summary.
fn stop_of(o: &RemoveOutcome, opts: &RemoveOptions) -> Option<Stop> {
    if o.report_cut {
        return Some(Stop::new(
            "report_closed",
            "the report's reader went away (a closed pipe); nothing more was sent",
        ));
    }
    if let Some(sig) = opts.interrupt.signal() {
        return Some(Stop::interrupted(sig, o.ended_by_signal.is_some()));
    }
    if let Some(e) = &o.input_error {
        return Some(Stop::new("input_error", e.clone()));
    }
    o.stop.as_ref().map(Stop::of_reason)
}

/// The exit status of a run, from what became of its rows and why it stopped.
fn exit_of(o: &RemoveOutcome) -> Exit {
    let failed = o.counts.get(Status::Failed) > 0;
    let flawed = o.counts.get(Status::Rejected) + o.counts.get(Status::Invalid) > 0;
    match (&o.ended_by_signal, &o.input_error, &o.stop) {
        (Some(sig), _, _) => Exit::Signal(*sig),
        (None, Some(_), _) => Exit::Usage,
        _ if o.report_cut => Exit::Retry,
        (None, None, Some(stop)) => stop.failure.into(),
        _ if failed || o.interrupted => Exit::Retry,
        _ if flawed => Exit::Partial,
        _ => Exit::Ok,
    }
}
