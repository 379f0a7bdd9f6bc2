//! `okta-org bounces sync`: find, remove and verify as one stateful command. One pass (for cron) reads the
//! System Log from the ledger's cursor, clears every hard bounce not cleared since, records the verdicts of
//! earlier removals, and writes a report of the pass; `--follow` does the same every `--poll` as a
//! service, with one line per action and, with `--metrics ADDR`, Prometheus metrics and a health check.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;

use super::super::{CmdError, usage};
use super::summary::{Stop, Summary, Target, deliver, seconds};
use super::{ReportFormat, create_report, watch_signals};
use crate::cli::{ConnectArgs, Global, parse_duration, parse_timeout};
use crate::endpoints;
use crate::engine::Ended;
use crate::exit::Exit;
use crate::interrupt::Interrupt;
use crate::ledger::engine::end_run;
use crate::ledger::{self, HoldPolicy, Ledger, OrgKey, parse_hold};
use crate::outputs::{self, refuse_overwrites};
use crate::report::{Counts, Status};
use crate::session::{Session, Tuning};
use crate::sync::follow::{Follow, follow};
use crate::sync::metrics::{self, Metrics};
use crate::sync::{LogRead, Syncer, verdict_counts};
use crate::term::{self, count};

pub const SYNC_HELP: &str = "\
One pass: reads the System Log (GET /api/v1/logs, okta.logs.read) from where
the last pass left off (the ledger keeps the cursor; a first pass reads --since
back), records every email event in the ledger, and clears from the bounce list
every address that hard-bounced since it was last cleared (okta.orgs.manage),
1,000 a request, at the pace the rate limits allow. Soft signals (deferrals,
drops, 4xx replies such as greylisting's 451) are never cleared; an address
that bounced again after --hold-after K/D removals is held (reported 'held':
the address itself needs fixing). Removal and delivery events decide the
verdicts of earlier removals (see bounces history). Two passes back to back
send nothing twice; a second sync of the same org and ledger while one runs is
refused (exit status 4).

--follow runs as a service: a poll every --poll, each poll's new hard bounces
in one request (more past 1,000), one line per action on stderr (--log-format
json for log collectors), SIGTERM/SIGINT finish what is in flight and exit 0.
The ledger records each batch before it is sent: after kill -9 a restart sends
again at most the batch that was in flight.

Exit status of a pass: 0 all cleared; 3 some rejected, invalid or held; 4 some
failed (run again), or interrupted; 5 the token was refused.

Examples:
  okta-org bounces sync --report sync.csv
  okta-org bounces sync --follow --poll 60s --metrics 127.0.0.1:9464
  okta-org bounces history --held";

#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// The ledger [default: $XDG_STATE_HOME/okta-org/ledger.sqlite3, else ~/.local/state/okta-org/ledger.sqlite3]
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// How far back a first pass reads the System Log (later passes go on from the ledger's cursor)
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub since: Duration,
    /// Write the report here instead of stdout (`-`: stdout)
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Report format
    #[arg(long, value_enum, default_value_t = ReportFormat::Csv)]
    pub report_format: ReportFormat,
    /// Write the run's summary as one JSON object to FILE (`-`: stdout, when the report goes to a file),
    /// however the run ends
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Run as a service: poll the System Log every --poll until SIGTERM/SIGINT
    #[arg(long)]
    pub follow: bool,
    /// How often --follow polls
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_poll, requires = "follow")]
    pub poll: Duration,
    /// Hold an address that bounced again after K removals within D, instead of clearing it again
    #[arg(long, value_name = "K/D", default_value = "3/30d", value_parser = parse_hold)]
    pub hold_after: HoldPolicy,
    /// With --follow: serve Prometheus metrics at /metrics and a health check at /healthz on ADDR (a port
    /// on 127.0.0.1, or HOST:PORT)
    #[arg(long, value_name = "ADDR", value_parser = metrics::parse_addr, requires = "follow")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Read the log and record its events, but send nothing: what would be cleared is reported 'valid'
    #[arg(long, conflicts_with = "follow")]
    pub dry_run: bool,
    /// At most this many requests a minute (on top of Okta's own rate-limit headers)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// The most requests in flight at once (default 64, adapting below it)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,
    /// If Okta asks to wait longer than this (Retry-After), stop (a pass) or wait for the next poll
    /// (--follow) instead of sleeping
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_wait: Option<Duration>,
    /// Retries of one request after 429, 5xx and network errors (default 6)
    #[arg(long, value_name = "N")]
    pub max_retries: Option<usize>,
    /// Time limit of one request (default 60s)
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

/// `--poll`: at least a second (Okta asks for no aggressive polling).
fn parse_poll(s: &str) -> Result<Duration, String> {
    match parse_duration(s).map_err(|e| e.to_string())? {
        d if d < Duration::from_secs(1) => Err("must be 1s or more".into()),
        d => Ok(d),
    }
}

/// The summary's fields of `bounces sync`.
#[derive(Debug, Default, Serialize)]
struct Body {
    org: Option<String>,
    ledger: Option<String>,
    report: Option<String>,
    dry_run: bool,
    follow: bool,
    polls: u64,
    pages: u64,
    events: u64,
    new_events: u64,
    hard_bounces: u64,
    soft: u64,
    rows: u64,
    counts: serde_json::Map<String, serde_json::Value>,
    requests: u64,
    retries: u64,
    waited_seconds: f64,
    removal_logged: u64,
    delivered: u64,
    bounced_again: u64,
}

pub async fn run(args: SyncArgs, global: &Global) -> Result<Exit, CmdError> {
    run_counted(args, global, None).await.result
}

/// Starts the metrics listener of `--metrics ADDR` (one for every org a process syncs), stale when an org
/// missed two polls.
pub async fn serve_metrics(
    addr: std::net::SocketAddr,
    poll: Duration,
) -> Result<Arc<Metrics>, CmdError> {
    let m = Arc::new(Metrics::new(poll * 2 + Duration::from_secs(60)));
    let local = metrics::serve(addr, m.clone()).await.map_err(|e| {
        usage(format!(
            "--metrics {addr}: cannot listen: {}",
            crate::os_error::plain(&e)
        ))
    })?;
    term::action(
        "metrics",
        format_args!("metrics at http://{local}/metrics, health at http://{local}/healthz"),
        json!({"address": local.to_string()}),
    );
    Ok(m)
}

/// The run, and what it did: for a caller that runs it for many orgs (the fleet's table), with the
/// metrics they share (`None`: its own, under `--metrics`).
pub async fn run_counted(
    args: SyncArgs,
    global: &Global,
    metrics: Option<Arc<Metrics>>,
) -> crate::cmd::Ran {
    let mut body = Body::default();
    let result = checked_run(args, global, metrics, &mut body).await;
    let counts = &body.counts;
    let get = |s: Status| counts.get(s.as_str()).and_then(|v| v.as_u64());
    let counted = crate::cmd::Counted {
        rows: Some(body.rows),
        accepted: get(Status::Accepted),
        rejected: get(Status::Rejected),
        invalid: get(Status::Invalid),
        failed: get(Status::Failed),
        stop: result.as_ref().err().map(Stop::of_error),
        body: serde_json::to_value(&body).unwrap_or_default(),
    };
    crate::cmd::Ran { result, counted }
}

async fn checked_run(
    mut args: SyncArgs,
    global: &Global,
    metrics: Option<Arc<Metrics>>,
    out: &mut Body,
) -> Result<Exit, CmdError> {
    let started = SystemTime::now();
    if args.report.as_deref() == Some(Path::new("-")) {
        args.report = None;
    }
    let at = ledger::locate(args.ledger.as_deref())?;
    refuse_overwrites(
        &[(format!("the ledger {}", at.path.display()), &at.path)],
        &[
            ("--report", args.report.as_deref()),
            ("--summary", args.summary.as_deref()),
        ],
    )?;
    let target = args.summary.as_deref().map(Target::parse);
    if let Some(t) = &target {
        t.check(args.report.as_deref(), "report")?;
    }
    let mut body = Body {
        ledger: Some(at.path.display().to_string()),
        report: args.report.as_ref().map(|p| p.display().to_string()),
        dry_run: args.dry_run,
        follow: args.follow,
        counts: counts_json(&Counts::default()),
        ..Body::default()
    };
    let mut stop = None;
    let result = sync(&args, global, &at.path, metrics, &mut body, &mut stop).await;
    let Some(t) = target else {
        *out = body;
        return result;
    };
    let summary = Summary::new("bounces sync", started, &result, stop, body);
    let written = t.write(&summary);
    *out = summary.body;
    deliver(result, written)
}

fn counts_json(c: &Counts) -> serde_json::Map<String, serde_json::Value> {
    Status::ALL
        .iter()
        .map(|&s| (s.as_str().to_string(), c.get(s).into()))
        .collect()
}

async fn sync(
    args: &SyncArgs,
    global: &Global,
    ledger_path: &Path,
    shared_metrics: Option<Arc<Metrics>>,
    body: &mut Body,
    stop: &mut Option<Stop>,
) -> Result<Exit, CmdError> {
    if let Some(path) = &args.report {
        outputs::probe_writable(path, "the report ")?;
    }
    let tuning = Tuning {
        timeout: args.timeout,
        max_retries: args.max_retries,
        rate: args.rate,
        max_wait: args.max_wait,
        concurrency: args.concurrency.map(u32::from),
        min_backoff: None,
    };
    let mut needs = vec![&endpoints::LIST_LOGS];
    if !args.dry_run {
        needs.push(&endpoints::REMOVE_BOUNCES);
    }
    let session = Session::connect(&args.conn.connect(), global.quiet, tuning, &needs).await?;
    let client = session.client.clone();
    let org = OrgKey::from_url(client.base());
    body.org = Some(org.to_string());
    let mut ledger = Ledger::open(ledger_path)?;
    // One sync of an org on a ledger at a time: a second is refused, naming the first.
    let lock = ledger.lock_org(&org, "bounces sync")?;
    // What can fail before the run begins does so before it is recorded (a run recorded without an end
    // is one that was killed).
    // (A pass has no input to be refused: its report begins now, even if the pass ends before a row.)
    let report = create_report(
        args.report.as_deref(),
        args.report_format,
        !args.dry_run,
        false,
    )?;
    let metrics = match (shared_metrics, args.metrics) {
        (Some(m), _) => Some(m),
        (None, Some(addr)) => Some(serve_metrics(addr, args.poll).await?),
        (None, None) => None,
    };
    let run = ledger.begin_run(&lock, "bounces sync", SystemTime::now())?;
    let ledger = Arc::new(Mutex::new(ledger));
    let interrupt = Arc::new(Interrupt::default());
    let syncer = Syncer {
        ledger: ledger.clone(),
        org: org.clone(),
        run,
        client: client.clone(),
        policy: args.hold_after,
        since: args.since,
        interrupt: interrupt.clone(),
    };
    watch_signals(
        Some(client.clone()),
        interrupt.clone(),
        "the report",
        global.signals(),
    );
    let (outcome, exit, counts) = if args.follow {
        if let Some(m) = &metrics {
            m.watch(org.as_str());
        }
        term::action(
            "started",
            format_args!(
                "following the System Log of {org} every {} (ledger {})",
                humantime::format_duration(args.poll),
                ledger_path.display()
            ),
            json!({"org": org.to_string(), "poll_seconds": args.poll.as_secs(), "ledger": ledger_path.display().to_string()}),
        );
        let opts = Follow {
            poll: args.poll,
            concurrency: args.concurrency.map(usize::from),
            metrics,
        };
        let followed = follow(&syncer, report, &opts).await;
        let (done, _report) = match followed {
            Ok(f) => f,
            Err(e) => {
                return Err(ended_badly(&ledger, run, e));
            }
        };
        fill(body, &done.read, done.verdicts, &done.counts, &client);
        body.polls = done.polls;
        // A second signal ended it at once (what was in flight abandoned): 128 + N, as everywhere, and
        // so the ledger's run and the summary say. A first signal is how a service is stopped: its work
        // is saved, and it ends as completed (0).
        let ended = match interrupt.ended_by_signal() {
            Some(sig) => Some(Ended::SignalledTwice(sig)),
            None => done.ended,
        };
        let exit = ended.as_ref().map_or(Exit::Ok, |e| e.exit(&done.counts));
        *stop = ended.as_ref().and_then(Stop::of_ended);
        term::action(
            "stopped",
            format_args!(
                "stopped after {}: {} cleared, {} held, {} failed",
                count(done.polls, "poll", "polls"),
                done.counts.get(Status::Accepted),
                done.counts.get(Status::Held),
                done.counts.get(Status::Failed)
            ),
            json!({"org": org.to_string(), "polls": done.polls}),
        );
        (ended, exit, done.counts)
    } else {
        let started = std::time::Instant::now();
        let read = match syncer.read_log().await {
            Ok(r) => r,
            Err(e) => {
                return Err(ended_badly(&ledger, run, e));
            }
        };
        let clears = if read.interrupted {
            ledger::Clears::default()
        } else {
            match syncer.clears() {
                Ok(c) => c,
                Err(e) => {
                    return Err(ended_badly(&ledger, run, e));
                }
            }
        };
        let (outcome, _report, verdicts) = syncer
            .clear(
                &clears,
                |_| true,
                report,
                1,
                args.concurrency.map(usize::from),
                args.dry_run,
            )
            .await;
        let mut read = read;
        read.verdicts.extend(verdicts);
        let [(_, logged), (_, delivered), (_, again)] = verdict_counts(&read.verdicts);
        fill(
            body,
            &read,
            [logged, delivered, again],
            &outcome.counts,
            &client,
        );
        body.polls = 1;
        said(&read, &outcome, started.elapsed(), args.report.as_deref());
        *stop = Stop::of_ended(&outcome.ended);
        let exit = outcome.exit();
        (Some(outcome.ended), exit, outcome.counts)
    };
    end_run(&ledger, run, outcome.as_ref(), exit, &counts);
    drop(lock);
    Ok(exit)
}

/// Records in the ledger a run that failed before it could clear anything, and gives its error.
fn ended_badly(
    ledger: &Arc<Mutex<Ledger>>,
    run: ledger::RunId,
    e: crate::sync::SyncError,
) -> CmdError {
    let ended = match &e {
        crate::sync::SyncError::Api(a) => Ended::Stopped(a.stop_reason()),
        crate::sync::SyncError::Ledger(l) => Ended::RecordFailed(l.to_string()),
    };
    let e = CmdError::from(e);
    end_run(ledger, run, Some(&ended), e.exit(), &Counts::default());
    e
}

/// The summary's counts: what was read (`verdicts`: removal logged, delivered, bounced again), cleared
/// and sent.
fn fill(
    body: &mut Body,
    read: &LogRead,
    verdicts: [u64; 3],
    counts: &Counts,
    client: &crate::client::Client,
) {
    let [logged, delivered, again] = verdicts;
    body.pages = read.pages;
    body.events = read.events;
    body.new_events = read.new;
    body.hard_bounces = read.hard_bounces;
    body.soft = read.soft;
    body.removal_logged = logged;
    body.delivered = delivered;
    body.bounced_again = again;
    body.rows = counts.rows;
    body.counts = counts_json(counts);
    body.requests = client
        .stats()
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    body.retries = client
        .stats()
        .retries
        .load(std::sync::atomic::Ordering::Relaxed);
    body.waited_seconds = seconds(client.waited());
}

/// What a pass says on stderr: what it read, what it cleared, how it ended (`took`: the whole pass, the
/// log's reading and its waits too).
fn said(
    read: &LogRead,
    o: &crate::engine::Outcome,
    took: std::time::Duration,
    report: Option<&Path>,
) {
    if term::quiet() {
        if let Some(m) = o.ended.message().filter(|_| o.ended.is_error()) {
            term::error(m);
        }
        return;
    }
    term::note(read);
    let c = &o.counts;
    let parts: Vec<String> = Status::ALL
        .iter()
        .filter(|&&s| c.get(s) > 0)
        .map(|&s| format!("{} {s}", c.get(s)))
        .collect();
    term::note(format_args!(
        "{} to clear{}; {} ({}), {:.1} s held back, {:.1} s in all",
        count(c.rows, "address", "addresses"),
        if parts.is_empty() {
            String::new()
        } else {
            format!(": {}", parts.join(", "))
        },
        count(o.requests, "request", "requests"),
        count(o.retries, "retry", "retries"),
        o.waited.as_secs_f64(),
        took.as_secs_f64()
    ));
    match &o.ended {
        Ended::InputError(e) | Ended::ReportFailed(e) | Ended::RecordFailed(e) => term::error(e),
        other => {
            if let Some(line) = other.line() {
                term::say(line);
            }
        }
    }
    if let Some(p) = report {
        term::say(format_args!("report: {}", p.display()));
    }
}
