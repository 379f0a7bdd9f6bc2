//! `okta-org bounces remove`: the main job's command line. It checks the inputs and the outputs before
//! anything is sent, connects (unless `--dry-run`), watches for Ctrl-C/SIGTERM, hands the run to the
//! engine (`crate::engine`), says how it ended, and with `--verify` checks the System Log afterwards.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::super::{CmdError, Counted, Ran, usage, write_stdout};
use super::progress::Progress;
use super::summary::{Stop, Summary, Target, VerifyCounts, deliver, seconds};
use super::{ReportFormat, create_report, verify, watch_signals};
use crate::cli::{ConnectArgs, Global, parse_duration, parse_timeout};
use crate::client::Client;
use crate::endpoints;
use crate::engine::{Ended, Engine, Outcome, Source};
use crate::exit::Exit;
use crate::input::{ColumnChoice, InputSpec, ReadOptions};
use crate::interrupt::Interrupt;
use crate::logs;
use crate::outputs::{self, refuse_overwrites};
use crate::report::{self, Status};
use crate::session::{Session, Tuning};
use crate::term::{self, count};

pub const REMOVE_HELP: &str = "\
Reads CSV exports of SendGrid, Mailgun, Mailchimp, Brevo, SparkPost, SES,
Postmark, Mandrill, Exchange message traces, or plain lists of addresses
(UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or pipe), and
spreadsheets (.xlsx, .xls, .ods; one sheet: --sheet, or the first visible one
with cells; `line` is the sheet's row number). The address column is found by
its header name, or by content; --column overrides.

Every input row gets one report row (line, email, status, reason, source, at,
retry_at) with status accepted, rejected, invalid, duplicate or failed (valid
under --dry-run; skipped under --skip-cleared). Rows marked failed are safe to
send again. A quote left open
in a cell cannot hide the rows after it: that row is reported invalid (and
named on stderr).
An input that is missing, not text, empty (unless --allow-empty), or a workbook
that cannot be read (encrypted, damaged, no such --sheet) is refused before
anything is sent (exit status 2).

Examples:
  okta-org bounces remove samples/sendgrid-bounces.csv --simulate
  okta-org bounces remove bounces.csv --report report.csv
  okta-org bounces remove suppressions.xlsx --sheet Bounces --dry-run
  cat export.csv | okta-org bounces remove - --max-wait 5m --report r.csv";

#[derive(Debug, Clone, clap::Args)]
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
    /// Write the report here instead of stdout (`-`: stdout); with --profiles, `{profile}` in the path
    /// names each org's (required for more than one org)
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
    /// If Okta asks to wait longer than this (Retry-After, or the reset of a spent rate-limit window),
    /// stop and report the rest as failed with the time to retry, instead of sleeping (e.g. 90s, 5m)
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
    /// Record this run's removals in the ledger that bounces sync keeps (see bounces history)
    #[arg(long, value_name = "FILE", conflicts_with = "dry_run")]
    pub ledger: Option<PathBuf>,
    /// Leave out addresses the ledger says Okta accepted a removal of within DURATION and that have not
    /// bounced since (reported 'skipped', with when); records this run too. Uses --ledger, or the default
    /// ledger [$XDG_STATE_HOME/okta-org/ledger.sqlite3]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "dry_run")]
    pub skip_cleared: Option<Duration>,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

/// The summary's fields of `bounces remove` (the shape is documented in docs/report.md).
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
    /// Rows settled but not in the report (it could not be written, or its reader went away).
    unrecorded: u64,
}

/// What a run left for its summary, filled in as it goes.
#[derive(Default)]
struct Facts {
    body: Body,
    /// Why the run ended early, when it ended without an error.
    stop: Option<Stop>,
    /// The pipeline ran (so a report was written).
    reported: bool,
    /// The report could not be written (it ends at its last whole row).
    report_failed: bool,
    /// The report was begun: a summary may follow its rows (`--report-summary`). An input refused
    /// before its first rows leaves an earlier report at the path, which takes nothing of this run.
    report_begun: bool,
}

pub async fn run(args: RemoveArgs, global: &Global) -> Result<Exit, CmdError> {
    run_counted(args, global).await.result
}

/// The run, and what it settled: for a caller that runs it for many orgs (the fleet's table).
pub async fn run_counted(args: RemoveArgs, global: &Global) -> Ran {
    let mut facts = Facts::default();
    let result = checked_run(args, global, &mut facts).await;
    let c = &facts.body.counts;
    let get = |s: Status| {
        facts
            .reported
            .then(|| c.get(s.as_str()).and_then(|v| v.as_u64()))?
    };
    let counted = Counted {
        rows: facts.reported.then_some(facts.body.rows),
        accepted: get(Status::Accepted),
        rejected: get(Status::Rejected),
        invalid: get(Status::Invalid),
        failed: get(Status::Failed),
        stop: match &result {
            Ok(_) => facts.stop.clone(),
            Err(e) => Some(Stop::of_error(e)),
        },
        body: serde_json::to_value(&facts.body).unwrap_or_default(),
    };
    Ran { result, counted }
}

async fn checked_run(
    mut args: RemoveArgs,
    global: &Global,
    facts: &mut Facts,
) -> Result<Exit, CmdError> {
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
    facts.body.dry_run = args.dry_run;
    facts.body.report = args.report.as_ref().map(|p| p.display().to_string());
    facts.body.counts = counts_json(&report::Counts::default());
    let result = remove(&args, global, facts).await;
    if target.is_none() && !(args.report_summary && facts.report_begun && !facts.report_failed) {
        return result;
    }
    let summary = Summary::new(
        "bounces remove",
        started,
        &result,
        facts.stop.clone(),
        &facts.body,
    );
    let mut written = Ok(());
    if args.report_summary && facts.report_begun && !facts.report_failed {
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
        // On a terminal, what JSON leaves raw in the messages is escaped (the same JSON).
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            let text = String::from_utf8_lossy(&line);
            return write_stdout(crate::escape::json(&text).as_bytes()).map(|_| ());
        }
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
    let inputs = if args.inputs.is_empty() {
        vec![InputSpec::stdin()]
    } else {
        args.inputs.iter().map(|a| InputSpec::parse(a)).collect()
    };
    if inputs.iter().filter(|i| i.path.is_none()).count() > 1 {
        return Err(usage("stdin (-) can be read only once"));
    }
    let read = ReadOptions {
        column: args
            .column
            .as_deref()
            .map_or(ColumnChoice::Auto, ColumnChoice::parse),
        allow_empty: args.allow_empty,
        sheet: args.sheet.clone(),
    };
    let source = match (&args.retry_failed, &args.resume) {
        (Some(path), _) => {
            let rows: Vec<report::Record> = report::read(path)?
                .into_iter()
                .filter(|r| r.status == Status::Failed)
                .collect();
            if rows.is_empty() {
                term::note(format_args!(
                    "{} has no failed rows: nothing to send",
                    path.display()
                ));
            }
            Source::Failed { rows }
        }
        (None, Some(path)) => Source::resume(inputs, read, path)?,
        (None, None) => Source::Inputs { inputs, read },
    };
    facts.body.inputs = match &args.retry_failed {
        Some(earlier) => vec![earlier.display().to_string()],
        None => source.names(),
    };
    source.preflight()?;
    if let Some(path) = &args.report {
        outputs::probe_writable(path, "the report ")?;
    }
    let reads_terminal = matches!(&source, Source::Inputs { inputs, .. } | Source::Resume { inputs, .. }
        if inputs.iter().any(|i| i.path.is_none()));
    if reads_terminal && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        term::note(format_args!(
            "reading addresses from the terminal; end with Ctrl-D (or pass a file)"
        ));
    }
    // A dry run needs no org at all.
    let session = if args.dry_run {
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
    // --retry-failed after a --max-wait stop: Okta named when to come back; the engine sends nothing
    // before then.
    if let (Some(at), Some(_), Some(path)) = (source.not_before(), &client, &args.retry_failed)
        && let Ok(left) = at.duration_since(SystemTime::now())
    {
        term::note(format_args!(
            "Okta told the run that wrote {} to retry after {}: holding back {} s",
            path.display(),
            humantime::format_rfc3339_seconds(at),
            left.as_secs_f64().ceil()
        ));
    }
    // --ledger / --skip-cleared: this run's removals are recorded (each batch before it goes), under the
    // org's lock, so a sync of the same org does not run beside it (refused before the report is begun).
    let locked = match (
        &client,
        args.ledger.is_some() || args.skip_cleared.is_some(),
    ) {
        (Some(c), true) => Some(Recorded::lock(args, c)?),
        _ => None,
    };
    // A report file of a run that sends is synced after each settled stretch, so a crash (a power loss,
    // an OOM kill) loses at most what was in flight, and `--resume` can carry the rest.
    let sink = create_report(
        args.report.as_deref(),
        args.report_format,
        client.is_some(),
        true,
    )?;
    let recorded = locked.map(Recorded::begin).transpose()?;
    let interrupt = Arc::new(Interrupt::default());
    let (sinks, gate) = match &recorded {
        Some(r) => r.engine_parts(args.skip_cleared),
        None => (Vec::new(), None),
    };
    let engine = Engine {
        source,
        report: sink,
        sinks,
        gate,
        client: client.clone(),
        interrupt: interrupt.clone(),
        concurrency: args.concurrency.map(usize::from),
        keep_accepted: args.verify.is_some() && !args.dry_run,
        not_before: None,
        tally: Arc::default(),
    };
    let progress = Progress::new(
        engine.tally.clone(),
        engine.source.size(),
        args.report.is_none(),
        client.clone(),
        !global.in_fleet(),
    );
    watch_signals(
        client.clone(),
        interrupt.clone(),
        "the report",
        global.signals(),
    );
    // Once Okta has advertised the bounce list's limit: when it holds the run back and is a share of the
    // org's bucket (principal rate limits), say so, once, with the time the run takes at that pace.
    let pace = client.as_ref().filter(|_| !term::quiet()).map(|c| {
        let app = session
            .as_ref()
            .and_then(|s| s.oauth.as_ref())
            .map(|o| o.client_id().to_string());
        let (tally, size) = (engine.tally.clone(), engine.source.size());
        tokio::spawn(term::carry(pace_note(c.clone(), app, tally, size)))
    });
    let mut outcome = engine.run().await;
    if let Some(p) = pace {
        p.abort();
    }
    progress.finish();
    if let Some(r) = recorded {
        r.end(&outcome);
    }
    facts.reported = true;
    facts.report_failed = outcome.report_failed;
    facts.report_begun = outcome.report_begun;
    facts.stop = Stop::of_ended(&outcome.ended);
    let b = &mut facts.body;
    (b.rows, b.counts, b.carried, b.unrecorded) = (
        outcome.counts.rows,
        counts_json(&outcome.counts),
        outcome.carried,
        outcome.unrecorded,
    );
    (b.requests, b.retries, b.waited_seconds) =
        (outcome.requests, outcome.retries, seconds(outcome.waited));
    let what = match &args.retry_failed {
        Some(_) => Read::Failed,
        None => Read::Inputs(facts.body.inputs.len()),
    };
    said(&outcome, what, args.dry_run, args.report.as_deref());
    let exit = outcome.exit();
    // --verify: after a run that ended by itself, for what Okta accepted. The worse of the two statuses
    // (0, then 3, then 4) is the run's.
    if let (Some(wait), Some(client)) = (args.verify, &client)
        && matches!(exit, Exit::Ok | Exit::Partial)
        && !interrupt.stopping()
        && !outcome.accepted.is_empty()
    {
        let accepted = std::mem::take(&mut outcome.accepted);
        let checked = logs::verify::check(client, accepted, Some(wait), &interrupt).await?;
        facts.body.verify = Some(VerifyCounts::of(
            checked.results.iter().map(|c| c.verdict),
            checked.gave_up,
        ));
        term::note(verify::summary(&checked));
        let after = verify::exit_of(&checked);
        return Ok(if after.code() > exit.code() {
            after
        } else {
            exit
        });
    }
    Ok(exit)
}

/// How often the note on the pace looks whether the run will be held back.
const PACE_LOOK: Duration = Duration::from_millis(50);

/// Says once, when the bounce list's advertised limit holds the run back (its rows need more requests
/// than a window allows) and is a share of the org's bucket (principal rate limits), the limits and how
/// long the rest of the run takes at that pace. The share is asked (one request, in a bucket of its own)
/// only for such a run.
async fn pace_note(
    client: Arc<Client>,
    app: Option<String>,
    tally: Arc<crate::engine::Tally>,
    size: Option<u64>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let pacer = client.pacer(endpoints::REMOVE_BOUNCES.bucket);
    let per_request = crate::engine::submit::MAX_BATCH as u64;
    // The rows of the whole input: those read so far, or more from the share of its bytes read.
    let rows = || {
        let (rows, bytes) = (tally.rows.load(Relaxed), tally.bytes.load(Relaxed));
        match size {
            Some(size) if bytes > 0 && size > bytes => rows.max(rows.saturating_mul(size) / bytes),
            _ => rows,
        }
    };
    // Okta's first answer tells the limit; until then, and after, only the run's counters are read
    // (no lock the sending path takes).
    let limit = loop {
        tokio::time::sleep(PACE_LOOK).await;
        if tally.sent.load(Relaxed) == 0 {
            continue;
        }
        match pacer.window().filter(|(l, _)| *l > 0) {
            Some((limit, _)) => break u64::from(limit),
            // No limit advertised: nothing to say.
            None => return,
        }
    };
    while rows().div_ceil(per_request) <= limit {
        tokio::time::sleep(PACE_LOOK).await;
    }
    let share = super::super::limits::token_share(&client, app.as_deref()).await;
    let Some(percent) = share.percent().filter(|p| (1..100).contains(p)) else {
        return;
    };
    let rows = rows();
    let left = rows.saturating_sub(tally.settled.load(Relaxed));
    let time = pacer
        .time_for(left.div_ceil(per_request), tokio::time::Instant::now())
        .map_or_else(
            || "longer".to_string(),
            |t| {
                format!(
                    "about {}",
                    humantime::format_duration(Duration::from_secs(t.as_secs().max(1)))
                )
            },
        );
    term::note(format_args!(
        "Okta lets this {} use {percent} % of the bounce list's rate limit (principal rate limits): \
         {limit} requests a window ({} addresses) of the org's {}; the rest of the run's {} take \
         {time} at that pace (okta-org limits tells more)",
        if app.is_some() {
            "service app"
        } else {
            "API token"
        },
        limit * per_request,
        limit * 100 / percent,
        count(rows, "row", "rows"),
    ));
}

/// What a run read, for the first line of what it says.
enum Read {
    Inputs(usize),
    Failed,
}

/// What a run says on stderr at its end: the counts, the requests, and how it ended; under `--quiet`, only
/// an end that is an error (the one line a cron job mails).
fn said(o: &Outcome, what: Read, dry_run: bool, report: Option<&Path>) {
    if term::quiet() {
        if let Some(m) = o.ended.message().filter(|_| o.ended.is_error()) {
            term::error(m);
        }
        return;
    }
    // An input or a report that failed is said as an error, after the counts; a stop on a line of them.
    let error = match &o.ended {
        Ended::InputError(e) | Ended::ReportFailed(e) | Ended::RecordFailed(e) => Some(e),
        _ => None,
    };
    let c = &o.counts;
    // Nothing read at all: the error is the whole story, in the one-line form of every error.
    if let (Some(e), 0) = (error, c.rows) {
        return term::error(e);
    }
    let mut parts: Vec<String> = Status::ALL
        .iter()
        // held and skipped only where the ledger made some.
        .filter(|&&s| match s {
            Status::Valid => dry_run,
            Status::Held | Status::Skipped => c.get(s) > 0,
            _ => true,
        })
        .map(|&s| format!("{} {}", c.get(s), s))
        .collect();
    if dry_run {
        parts.retain(|p| {
            !p.ends_with(" accepted") && !p.ends_with(" rejected") && !p.ends_with(" failed")
        });
    }
    let rows = count(c.rows, "row", "rows");
    let mut s = match what {
        Read::Failed => format!(
            "okta-org: {rows} an earlier report left failed, sent again: {}\n",
            parts.join(", ")
        ),
        Read::Inputs(n) => format!(
            "okta-org: {rows} from {}: {}\n",
            count(n as u64, "input", "inputs"),
            parts.join(", ")
        ),
    };
    if o.carried > 0 {
        s.push_str(&format!(
            "{} carried as the earlier report settled {}\n",
            count(o.carried, "row", "rows"),
            if o.carried == 1 { "it" } else { "them" }
        ));
    }
    if dry_run {
        s.push_str("dry run: nothing was sent to Okta\n");
    } else {
        s.push_str(&format!(
            "{} ({}), {:.1} s held back (rate limits, Retry-After, backoff), {:.1} s in all\n",
            count(o.requests, "request", "requests"),
            count(o.retries, "retry", "retries"),
            o.waited.as_secs_f64(),
            o.elapsed.as_secs_f64()
        ));
    }
    if o.unmatched_errors > 0 {
        s.push_str(&format!(
            "warning: Okta's answers held {} naming no address that was sent (see -v)\n",
            count(o.unmatched_errors, "error entry", "error entries")
        ));
    }
    if error.is_none()
        && let Some(line) = o.ended.line()
    {
        s.push_str(&line);
        s.push('\n');
    }
    if let Some(r) = &o.stopped_reading {
        s.push_str(&format!("{r}\n"));
    }
    term::write_stderr(s.as_bytes());
    if let Some(e) = error {
        term::error(e);
    }
    if let Ended::ReportFailed(_) = o.ended {
        term::say(format_args!(
            "{} settled but not in the report; finish the run with --resume {} (rows it holds are \
             carried, the rest are sent again, which is harmless)",
            count(o.unrecorded, "row was", "rows were"),
            report.map_or_else(|| "REPORT".into(), |p| p.display().to_string())
        ));
    }
    if let Some(p) = report {
        term::say(format_args!("report: {}", p.display()));
    }
}

/// A run recorded in the ledger (`--ledger`, `--skip-cleared`): the ledger, the org's lock and the run.
struct Recorded {
    ledger: crate::ledger::engine::Shared,
    org: crate::ledger::OrgKey,
    run: crate::ledger::RunId,
    _lock: crate::ledger::OrgLock,
}

impl Recorded {
    /// Opens the ledger and takes the org's lock (refused while another run of the org holds it).
    fn lock(
        args: &RemoveArgs,
        client: &crate::client::Client,
    ) -> Result<
        (
            crate::ledger::Ledger,
            crate::ledger::OrgKey,
            crate::ledger::OrgLock,
        ),
        CmdError,
    > {
        let at = crate::ledger::locate(args.ledger.as_deref())?;
        let ledger = crate::ledger::Ledger::open(&at.path)?;
        let org = crate::ledger::OrgKey::from_url(client.base());
        let lock = ledger.lock_org(&org, "bounces remove")?;
        Ok((ledger, org, lock))
    }

    /// Begins the run in the ledger, once nothing more can fail before the engine runs.
    fn begin(
        (mut ledger, org, lock): (
            crate::ledger::Ledger,
            crate::ledger::OrgKey,
            crate::ledger::OrgLock,
        ),
    ) -> Result<Recorded, CmdError> {
        let run = ledger.begin_run(&lock, "bounces remove", SystemTime::now())?;
        Ok(Recorded {
            ledger: Arc::new(std::sync::Mutex::new(ledger)),
            org,
            run,
            _lock: lock,
        })
    }

    /// The engine's ledger sink, and with `--skip-cleared` its gate.
    fn engine_parts(&self, skip: Option<Duration>) -> crate::ledger::engine::EngineParts {
        let recorder =
            crate::ledger::engine::Recorder::new(self.ledger.clone(), self.run, Default::default());
        let gate = skip.map(|within| {
            Box::new(crate::ledger::engine::SkipCleared {
                ledger: self.ledger.clone(),
                org: self.org.clone(),
                within,
            }) as Box<dyn crate::engine::Gate>
        });
        (vec![Box::new(recorder)], gate)
    }

    /// Records how the run ended.
    fn end(self, o: &Outcome) {
        crate::ledger::engine::end_run(&self.ledger, self.run, Some(&o.ended), o.exit(), &o.counts);
    }
}
