//! `okta-org bounces remove`: the main job. A reader thread streams the exports, checks every row and cuts
//! the good, distinct addresses into batches of 1,000; a bounded channel hands them to the async side, which
//! sends up to `--concurrency` batches at once through the shared client, and writes the report in input
//! order as batches settle. Every row read is written exactly once, whatever happens to the run.

pub mod progress;
pub mod submit;

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::address;
use crate::client::pacer::DEFAULT_CEILING;
use crate::client::{Client, Failure, StopReason};
use crate::dedupe::{RowRef, Seen};
use crate::input::{Cell, InputError, InputSpec, ReadOptions, Row as InputRow, SourceReader};
use crate::interrupt::{Interrupt, Level};
use crate::report::{self, Counts, ReportWriter, Status};
use crate::term::count;
use progress::Progress;
use submit::{MAX_BATCH, Outcome};

/// What `bounces remove` was asked to do.
#[derive(Debug, Clone)]
pub struct RemoveOptions {
    pub inputs: Vec<InputSpec>,
    /// Raised by SIGINT/SIGTERM (and by the report's reader going away).
    pub interrupt: Arc<Interrupt>,
    pub read: ReadOptions,
    pub report: Option<PathBuf>,
    pub format: report::Format,
    pub dry_run: bool,
    /// `--concurrency`: the most batches in flight (default [`DEFAULT_CEILING`], adapting below it).
    pub concurrency: Option<usize>,
    pub quiet: bool,
    /// `--retry-failed`: the rows of an earlier report to send again, instead of reading inputs.
    pub retry: Option<Arc<Vec<report::Record>>>,
    /// `--resume`: the rows an earlier report settled, carried into this one as they were.
    pub carry: Option<Arc<Carried>>,
    /// Keep the accepted addresses and when Okta took them (for `--verify`).
    pub keep_accepted: bool,
}

/// Rows of an earlier report by source and line.
pub type Carried =
    std::collections::HashMap<String, std::collections::HashMap<u64, report::Record>>;

impl RemoveOptions {
    /// The names of the rows' sources, by index: the inputs, or the sources of the rows retried.
    pub fn source_names(&self) -> Vec<String> {
        match &self.retry {
            Some(rows) => {
                let mut names: Vec<String> = Vec::new();
                for r in rows.iter() {
                    if !names.contains(&r.source) {
                        names.push(r.source.clone());
                    }
                }
                names
            }
            None => self.inputs.iter().map(InputSpec::name).collect(),
        }
    }
}

/// Why the job could not go on (every other failure ends in the report as `failed` rows).
#[derive(Debug, thiserror::Error)]
pub enum RemoveError {
    #[error("cannot write the report to {path}: {}", crate::input::plain(source))]
    Report {
        path: String,
        source: std::io::Error,
    },
}

/// How the run ended, for the summary and the exit status.
#[derive(Debug)]
pub struct RemoveOutcome {
    pub counts: Counts,
    pub requests: u64,
    pub retries: u64,
    pub waited: Duration,
    pub elapsed: Duration,
    pub stop: Option<StopReason>,
    pub input_error: Option<String>,
    /// Where reading ended early (an interrupt), for the summary.
    pub stopped_reading: Option<String>,
    /// The report's reader went away before the end.
    pub report_cut: bool,
    /// `errors[]` entries that named no address of their request.
    pub unmatched_errors: u64,
    /// The run was asked to stop (a signal, or the report's reader went away).
    pub interrupted: bool,
    /// Rows carried from the report given to `--resume`.
    pub carried: u64,
    /// With `keep_accepted`: every accepted address and when Okta took it.
    pub accepted: Vec<(String, SystemTime)>,
    /// A second signal ended the run at once: its number.
    pub ended_by_signal: Option<i32>,
}

/// One input row on its way to the report. Its text lives in its segment's `text`.
struct Row {
    source: u32,
    line: u64,
    email: Span,
    /// `None` while its batch is in flight.
    status: Option<Status>,
    reason: Span,
    /// When Okta answered for it.
    at: Option<SystemTime>,
}

/// A range of a segment's `text`.
#[derive(Clone, Copy, Default)]
struct Span {
    start: u32,
    len: u32,
}

/// The rows read between two batches, and the batch that ends them (indices into `rows`). The text of
/// all its rows shares one buffer, so a row costs no allocation of its own.
#[derive(Default)]
struct Segment {
    rows: Vec<Row>,
    batch: Vec<usize>,
    text: String,
    /// The size of `text` when the segment joined the queue (what the queue's bound counts).
    queued_text: usize,
}

impl Segment {
    fn put(&mut self, s: &str) -> Span {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        Span {
            start,
            len: s.len() as u32,
        }
    }

    fn get(&self, span: Span) -> &str {
        &self.text[span.start as usize..(span.start + span.len) as usize]
    }

    fn push(&mut self, source: u32, line: u64, email: &str, status: Option<Status>, reason: &str) {
        let email = self.put(email);
        let reason = self.put(reason);
        self.rows.push(Row {
            source,
            line,
            email,
            status,
            reason,
            at: None,
        });
    }

    /// A row settled before it was read (carried from an earlier report).
    fn push_settled(&mut self, source: u32, rec: &report::Record) {
        self.push(source, rec.line, &rec.email, Some(rec.status), &rec.reason);
        if let Some(r) = self.rows.last_mut() {
            r.at = rec.at;
        }
    }

    fn settle(&mut self, row: usize, status: Status, reason: &str, at: Option<SystemTime>) {
        let reason = self.put(reason);
        let r = &mut self.rows[row];
        r.status = Some(status);
        r.reason = reason;
        r.at = at;
    }
}

/// A guess at how many distinct addresses the inputs hold (about 64 bytes a row), to size the set.
fn expected_rows(inputs: &[InputSpec]) -> usize {
    let bytes: u64 = inputs.iter().filter_map(InputSpec::size).sum();
    usize::try_from(bytes / 64)
        .unwrap_or(usize::MAX)
        .min(4_000_000)
}

/// A segment is cut when its batch is full, or (so memory stays flat on inputs that are mostly
/// duplicates or junk) when it holds this many rows or this much text; the batch then goes out early.
const SEGMENT_MAX_ROWS: usize = 100_000;
const SEGMENT_MAX_TEXT: usize = 64 << 20;

/// How reading ended, when it did not reach the end of every input.
type ReadEnd = Option<String>;

/// What the reader thread reads, and how.
struct ReadJob {
    inputs: Vec<InputSpec>,
    options: ReadOptions,
    names: Vec<String>,
    retry: Option<Arc<Vec<report::Record>>>,
    carry: Option<Arc<Carried>>,
    warn: Warnings,
}

/// What the reader did besides reading: where it stopped early, and the rows it carried.
#[derive(Default)]
struct ReadDone {
    end: ReadEnd,
    carried: u64,
}

/// Reads every input, in order, into segments. Runs on its own thread: the csv reader is blocking I/O.
/// Whatever happens, the rows read so far reach the coordinator. Once the run starts stopping, a pipe or
/// terminal ends at once (see [`crate::input::pump`]); regular files are still read to the end, so their
/// rows are reported (`failed`), unless the run must end now.
fn read_inputs(
    job: &ReadJob,
    bytes_read: Arc<AtomicU64>,
    interrupt: Arc<Interrupt>,
    tx: mpsc::Sender<Segment>,
) -> Result<ReadDone, InputError> {
    let mut seen = Seen::with_capacity(expected_rows(&job.inputs));
    let mut seg = Segment::default();
    let result = match &job.retry {
        Some(rows) => read_retry(job, rows, &interrupt, &tx, &mut seen, &mut seg),
        None => read_into(job, bytes_read, &interrupt, &tx, &mut seen, &mut seg),
    };
    if !seg.rows.is_empty() {
        let _ = tx.blocking_send(seg);
    }
    result
}

/// `--retry-failed`: the rows an earlier report left `failed`, checked and sent again, with their lines
/// and sources.
fn read_retry(
    job: &ReadJob,
    rows: &[report::Record],
    interrupt: &Arc<Interrupt>,
    tx: &mpsc::Sender<Segment>,
    seen: &mut Seen,
    seg: &mut Segment,
) -> Result<ReadDone, InputError> {
    let mut reason = String::new();
    for r in rows {
        let source = job.names.iter().position(|n| *n == r.source).unwrap_or(0) as u32;
        let row = InputRow {
            line: r.line,
            cell: Cell::Value {
                text: std::borrow::Cow::Borrowed(&r.email),
                len: r.email.len(),
                cut: false,
            },
            unclosed: None,
        };
        push_row(seg, seen, &job.names, source, &row, "email", &mut reason);
        if segment_full(seg) && tx.blocking_send(std::mem::take(seg)).is_err() {
            break;
        }
        if interrupt.level() == Level::Now {
            break;
        }
    }
    Ok(ReadDone::default())
}

fn segment_full(seg: &Segment) -> bool {
    seg.batch.len() == MAX_BATCH
        || seg.rows.len() >= SEGMENT_MAX_ROWS
        || seg.text.len() >= SEGMENT_MAX_TEXT
}

fn read_into(
    job: &ReadJob,
    bytes_read: Arc<AtomicU64>,
    interrupt: &Arc<Interrupt>,
    tx: &mpsc::Sender<Segment>,
    seen: &mut Seen,
    seg: &mut Segment,
) -> Result<ReadDone, InputError> {
    let (options, warn) = (&job.options, &job.warn);
    let mut done = ReadDone::default();
    let mut reason = String::new();
    let not_read = |spec: &InputSpec| {
        Some(format!(
            "{} was not read: the rows of inputs from it on are not in the report",
            spec.name()
        ))
    };
    // Opens one input; `None` when the run is stopping (a pipe the interrupt ended while its start was
    // read looks empty: that is not the input's fault).
    let open = |spec: &InputSpec| -> Result<Option<SourceReader>, InputError> {
        let finite = spec.size().is_some();
        if interrupt.level() == Level::Now || (interrupt.stopping() && !finite) {
            return Ok(None);
        }
        match SourceReader::open(spec, options, bytes_read.clone(), Some(interrupt)) {
            Err(_) if interrupt.stopping() && !finite => Ok(None),
            opened => opened.map(Some),
        }
    };
    // Files were checked before the run (`preflight`); pipes and stdin after the first input are opened
    // here, before any row is read, so that one that is not text (or empty) stops the run before anything
    // is sent.
    let mut early: Vec<Option<SourceReader>> = Vec::with_capacity(job.inputs.len());
    for (i, spec) in job.inputs.iter().enumerate() {
        let pipe = i > 0 && spec.size().is_none() && spec.path.as_ref().is_none_or(|p| !p.is_dir());
        early.push(if pipe { open(spec)? } else { None });
    }
    for (source, spec) in job.inputs.iter().enumerate() {
        let finite = spec.size().is_some();
        let stopped_at = |line: u64| {
            Some(format!(
                "stopped reading {} after line {line}: the rows after it are not in the report",
                spec.name()
            ))
        };
        let opened = match early[source].take() {
            Some(reader) => Some(reader),
            None => open(spec)?,
        };
        let source = source as u32;
        let Some(mut reader) = opened else {
            done.end = not_read(spec);
            return Ok(done);
        };
        tracing::info!("{}: {}", reader.name(), reader.describe());
        let name = reader.name().to_string();
        let column_label = reader.layout.column_label();
        let (mut rows, mut unclosed) = (0u64, 0u64);
        let mut last_line = 0;
        let carried = job.carry.as_ref().and_then(|c| c.get(&name));
        while let Some(row) = reader.next_row()? {
            rows += 1;
            last_line = row.line;
            if let Some(u) = row.unclosed {
                unclosed += 1;
                if unclosed <= Warnings::UNCLOSED_SHOWN {
                    warn.say(format_args!(
                        "{name}: line {}: the quote opened in column {} {}: the row is reported \
                         invalid, and the lines after it are read as rows",
                        u.line,
                        u.column + 1,
                        u.why,
                    ));
                }
            }
            // `--resume`: a row the earlier report settled is carried as it was (a `failed` one is sent
            // again); the addresses it sent still count for the duplicates that follow.
            let earlier = carried.and_then(|c| c.get(&row.line));
            if let Some(rec) = earlier
                && !is_reported_as(&row, &rec.email)
            {
                return Err(InputError::ResumeMismatch {
                    name,
                    line: row.line,
                    earlier: rec.email.clone(),
                    now: reported_value(&row).into_owned(),
                });
            }
            match earlier {
                Some(rec) if rec.status != Status::Failed => {
                    done.carried += 1;
                    if matches!(
                        rec.status,
                        Status::Accepted | Status::Rejected | Status::Valid
                    ) {
                        seen.insert(
                            &rec.email,
                            RowRef {
                                source,
                                line: row.line,
                            },
                        );
                    }
                    seg.push_settled(source, rec);
                }
                _ => push_row(
                    seg,
                    seen,
                    &job.names,
                    source,
                    &row,
                    &column_label,
                    &mut reason,
                ),
            }
            if segment_full(seg) && tx.blocking_send(std::mem::take(seg)).is_err() {
                done.end = stopped_at(last_line);
                return Ok(done);
            }
            if interrupt.level() == Level::Now {
                done.end = stopped_at(last_line);
                return Ok(done);
            }
        }
        if unclosed > Warnings::UNCLOSED_SHOWN {
            warn.say(format_args!(
                "{name}: {} with an unclosed quote (see the report)",
                count(unclosed - Warnings::UNCLOSED_SHOWN, "more row", "more rows")
            ));
        }
        // A pipe ended by the interrupt looks like its end; say that it was not.
        if !finite && interrupt.stopping() {
            done.end = stopped_at(last_line);
            return Ok(done);
        }
        if rows == 0 {
            warn.say(format_args!("{name}: no rows"));
        }
    }
    Ok(done)
}

/// The longest value the report shows; no address is longer.
const SHOWN_MAX: usize = 320;

/// Checks one input row and puts it in the segment: in its batch when it is a new, valid address.
fn push_row(
    seg: &mut Segment,
    seen: &mut Seen,
    names: &[String],
    source: u32,
    row: &InputRow<'_>,
    column_label: &str,
    reason: &mut String,
) {
    use std::fmt::Write as _;
    let line = row.line;
    reason.clear();
    let (text, input_len) = match &row.cell {
        Cell::Value { text, len, cut } => (text.as_ref(), cut.then_some(*len)),
        _ => ("", None),
    };
    let _ = match (&row.cell, row.unclosed) {
        (_, Some(u)) => write!(
            reason,
            "the quote opened in column {} on line {} {}; not sent",
            u.column + 1,
            u.line,
            u.why
        ),
        (Cell::Missing, None) => write!(reason, "row has no {column_label}"),
        (Cell::RepeatedHeader, None) => write!(reason, "repeated header row"),
        (Cell::Value { .. }, None) if input_len.is_some() => {
            write!(reason, "longer than any address")
        }
        (Cell::Value { .. }, None) => {
            let addr = address::extract(text);
            if let Err(why) = address::validate(&addr) {
                let shown = if addr.is_empty() { text.trim() } else { &addr };
                let _ = write!(reason, "{why}");
                return push_invalid(seg, source, line, shown, None, reason);
            }
            match seen.insert(&addr, RowRef { source, line }) {
                Some(first) => {
                    let why = duplicate_reason(first, source, names);
                    seg.push(source, line, &addr, Some(Status::Duplicate), &why);
                }
                None => {
                    seg.batch.push(seg.rows.len());
                    seg.push(source, line, &addr, None, "");
                }
            }
            return;
        }
    };
    let shown = text.trim();
    push_invalid(seg, source, line, shown, input_len, reason);
}

/// What a report's email column says of a row: the address found in its cell, or else the cell itself
/// (trimmed), as [`push_row`] reports it.
fn reported_value<'r>(row: &'r InputRow<'_>) -> std::borrow::Cow<'r, str> {
    match (&row.cell, row.unclosed) {
        (
            Cell::Value {
                text, cut: false, ..
            },
            None,
        ) => {
            let addr = address::extract(text);
            if addr.is_empty() {
                text.trim().into()
            } else {
                addr
            }
        }
        (Cell::Value { text, .. }, _) => text.trim().into(),
        _ => "".into(),
    }
}

/// Whether an earlier report's `email` for this line is what this row would be reported as (a value cut
/// to [`SHOWN_MAX`] bytes there is compared by its start): `--resume` carries a row only from the report
/// of the same input.
fn is_reported_as(row: &InputRow<'_>, earlier: &str) -> bool {
    let now = reported_value(row);
    now.eq_ignore_ascii_case(earlier)
        || (now.len() > SHOWN_MAX
            && now
                .as_bytes()
                .get(..earlier.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(earlier.as_bytes())))
}

/// An invalid row. A value longer than [`SHOWN_MAX`] bytes is cut, its length added to `reason`: in
/// characters, or in the input's bytes when only its start was kept (`input_len`).
fn push_invalid(
    seg: &mut Segment,
    source: u32,
    line: u64,
    shown: &str,
    input_len: Option<usize>,
    reason: &mut String,
) {
    use std::fmt::Write as _;
    let mut cut = shown;
    if shown.len() > SHOWN_MAX || input_len.is_some() {
        let mut end = SHOWN_MAX.min(shown.len());
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        cut = &shown[..end];
        let n = cut.chars().count();
        let _ = match input_len {
            Some(bytes) => write!(
                reason,
                "; the value is {bytes} bytes in the input, cut to its first {n} characters here"
            ),
            None => write!(
                reason,
                "; the value is {} characters, cut to its first {n} here",
                shown.chars().count()
            ),
        };
    }
    seg.push(source, line, cut, Some(Status::Invalid), reason);
}

/// Warnings about the inputs, on stderr unless `--quiet`.
struct Warnings {
    quiet: bool,
}

impl Warnings {
    /// How many unclosed quotes of one input are described one by one.
    const UNCLOSED_SHOWN: u64 = 5;

    fn say(&self, text: std::fmt::Arguments<'_>) {
        if !self.quiet {
            crate::say(format_args!("okta-org: warning: {text}"));
        }
    }
}

fn duplicate_reason(first: RowRef, source: u32, names: &[String]) -> String {
    if first.source == source {
        format!("duplicate of line {}", first.line)
    } else {
        format!(
            "duplicate of line {} of {}",
            first.line, names[first.source as usize]
        )
    }
}

/// Checks up front that every named file opens and has a usable layout, so a typo in the third file name
/// does not stop a run after the first two were sent.
/// Only regular files are looked into: reading from a pipe or `/dev/fd/N` here would lose those bytes.
pub fn preflight(opts: &RemoveOptions) -> Result<(), InputError> {
    for spec in &opts.inputs {
        let Some(path) = &spec.path else { continue };
        let io = |source| InputError::Io {
            name: spec.name(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            return Err(io(std::io::ErrorKind::IsADirectory.into()));
        }
        if meta.is_file() {
            SourceReader::open(spec, &opts.read, Arc::default(), None)?;
        }
    }
    Ok(())
}

/// The most segments waiting in order behind the oldest unsettled one, and the most text they may hold:
/// a slow batch at the head of the report holds up the reader, not memory.
fn queue_limits(ceiling: usize) -> (usize, usize) {
    (2 * ceiling + 4, 256 << 20)
}

/// Runs the job. `client` is `None` for `--dry-run`.
pub async fn remove(
    opts: &RemoveOptions,
    client: Option<Arc<Client>>,
) -> Result<RemoveOutcome, RemoveError> {
    let started = Instant::now();
    let report_error = |source| RemoveError::Report {
        path: opts
            .report
            .as_ref()
            .map_or_else(|| "stdout".into(), |p| p.display().to_string()),
        source,
    };
    // A report file is also synced to disk after each settled stretch of a run that sends, so a crash (a
    // power loss, an OOM kill) loses at most what was in flight, and `--resume` can carry the rest.
    let mut synced: Option<std::fs::File> = None;
    let out: Box<dyn Write + Send> = match &opts.report {
        Some(path) => {
            let file = std::fs::File::create(path).map_err(report_error)?;
            // (Only a regular file is synced: /dev/stdout, a FIFO or /dev/null cannot be.)
            let regular = file.metadata().is_ok_and(|m| m.is_file());
            if client.is_some() && regular {
                synced = Some(file.try_clone().map_err(report_error)?);
            }
            Box::new(file)
        }
        None => Box::new(std::io::stdout()),
    };
    let mut writer = ReportWriter::new(out, opts.format).map_err(report_error)?;
    let names = opts.source_names();
    let progress = Progress::new(opts, client.clone());
    let tally = progress.tally.clone();
    let mut accepted: Vec<(String, SystemTime)> = Vec::new();

    let ceiling = opts.concurrency.unwrap_or(DEFAULT_CEILING as usize).max(1);
    let (max_queued, max_queued_text) = queue_limits(ceiling);
    let (tx, mut rx) = mpsc::channel::<Segment>(2);
    let reader = {
        let job = ReadJob {
            inputs: opts.inputs.clone(),
            options: opts.read.clone(),
            names: names.clone(),
            retry: opts.retry.clone(),
            carry: opts.carry.clone(),
            warn: Warnings { quiet: opts.quiet },
        };
        let bytes = tally.bytes.clone();
        let interrupt = opts.interrupt.clone();
        std::thread::spawn(move || read_inputs(&job, bytes, interrupt, tx))
    };

    let max_len = Arc::new(AtomicUsize::new(MAX_BATCH));
    let mut queue: VecDeque<Segment> = VecDeque::new();
    let mut queued_text = 0usize;
    let mut head_id: u64 = 0;
    let mut inflight: JoinSet<(u64, Vec<Outcome>)> = JoinSet::new();
    let mut tasks: std::collections::HashMap<tokio::task::Id, u64> = Default::default();
    let mut reader_done = false;
    let mut report_cut = false;
    loop {
        let mut wrote = false;
        while queue
            .front()
            .is_some_and(|s| s.rows.iter().all(|r| r.status.is_some()))
        {
            let seg = queue.pop_front().expect("front");
            queued_text -= seg.queued_text;
            head_id += 1;
            for r in &seg.rows {
                if opts.keep_accepted && r.status == Some(Status::Accepted) {
                    accepted.push((
                        seg.get(r.email).to_string(),
                        r.at.unwrap_or_else(SystemTime::now),
                    ));
                }
                writer
                    .write(&report::Row {
                        line: r.line,
                        email: seg.get(r.email),
                        status: r.status.expect("settled"),
                        reason: seg.get(r.reason),
                        source: &names[r.source as usize],
                        at: r.at,
                    })
                    .map_err(report_error)?;
            }
            wrote = true;
        }
        if wrote {
            // Each settled stretch reaches the file (or pipe) at once: a crash loses at most what is in
            // flight, and a reader that went away is noticed now, not 64 KiB later.
            writer.flush().map_err(report_error)?;
            if let Some(f) = &synced {
                f.sync_data().map_err(report_error)?;
            }
            let counts = writer.counts();
            tally.settled.store(counts.rows, Ordering::Relaxed);
            tally
                .failed
                .store(counts.get(Status::Failed), Ordering::Relaxed);
            if writer.is_closed() && !report_cut {
                report_cut = true;
                report_reader_gone(opts, client.as_ref());
            }
        }
        if reader_done && inflight.is_empty() {
            break;
        }
        let room = queue.len() < max_queued && queued_text < max_queued_text;
        tokio::select! {
            Some(done) = inflight.join_next_with_id(), if !inflight.is_empty() => {
                match done {
                    Ok((task, (id, outcomes))) => {
                        tasks.remove(&task);
                        let answered = outcomes
                            .iter()
                            .filter(|o| matches!(o.status, Status::Accepted | Status::Rejected))
                            .count();
                        tally.sent.fetch_add(answered as u64, Ordering::Relaxed);
                        let seg = &mut queue[(id - head_id) as usize];
                        for (k, o) in outcomes.into_iter().enumerate() {
                            let row = seg.batch[k];
                            seg.settle(row, o.status, &o.reason, o.at);
                        }
                    }
                    // A batch whose task failed is not confirmed sent: its rows are `failed`, and the
                    // report goes on.
                    Err(e) => {
                        if let Some(id) = tasks.remove(&e.id()) {
                            let seg = &mut queue[(id - head_id) as usize];
                            settle_all(seg, Status::Failed, "not confirmed: internal error while sending");
                        }
                        tracing::error!("a batch failed unexpectedly: {e}");
                    }
                }
            }
            next = rx.recv(), if !reader_done && room && inflight.len() < ceiling => {
                let Some(mut seg) = next else {
                    reader_done = true;
                    tally.read_all.store(true, Ordering::Relaxed);
                    continue;
                };
                tally.rows.fetch_add(seg.rows.len() as u64, Ordering::Relaxed);
                tally.batched.fetch_add(seg.batch.len() as u64, Ordering::Relaxed);
                let id = head_id + queue.len() as u64;
                match (&client, client.as_ref().and_then(|c| c.control().stopped())) {
                    _ if seg.batch.is_empty() => {}
                    (None, _) => settle_all(&mut seg, Status::Valid, ""),
                    (Some(_), Some(stop)) => settle_all(&mut seg, Status::Failed, &stop.message),
                    (Some(c), None) => {
                        let addrs: Vec<String> =
                            seg.batch.iter().map(|&i| seg.get(seg.rows[i].email).to_string()).collect();
                        let (c, max_len) = (c.clone(), max_len.clone());
                        let task = inflight
                            .spawn(async move { (id, submit::submit(&c, &addrs, &max_len, id).await) });
                        tasks.insert(task.id(), id);
                    }
                }
                seg.queued_text = seg.text.len();
                queued_text += seg.queued_text;
                queue.push_back(seg);
            }
        }
    }
    writer.finish().map_err(report_error)?;
    progress.finish();
    let (input_error, stopped_reading, carried) = match reader.join() {
        Ok(Ok(done)) => (None, done.end, done.carried),
        Ok(Err(e)) => (Some(e.to_string()), None, 0),
        Err(_) => (
            Some("the input reader stopped unexpectedly".to_string()),
            None,
            0,
        ),
    };
    let counts = writer.counts().clone();
    let stop = client.as_ref().and_then(|c| c.control().stopped());
    let ended_by_signal = opts
        .interrupt
        .signal()
        .filter(|_| opts.interrupt.level() == Level::Now);
    let (requests, retries, waited, unmatched_errors) = match &client {
        Some(c) => (
            c.stats().requests.load(Ordering::Relaxed),
            c.stats().retries.load(Ordering::Relaxed),
            c.waited(),
            c.stats().unmatched_errors.load(Ordering::Relaxed),
        ),
        None => (0, 0, Duration::ZERO, 0),
    };
    Ok(RemoveOutcome {
        counts,
        requests,
        retries,
        waited,
        elapsed: started.elapsed(),
        stop,
        input_error,
        stopped_reading,
        report_cut,
        unmatched_errors,
        interrupted: opts.interrupt.stopping(),
        ended_by_signal,
        carried,
        accepted,
    })
}

/// The report's reader went away (`| head`): nothing more can be reported, so nothing more is sent and
/// nothing more is read; requests in flight get the grace of a first interrupt, so that the summary
/// counts what Okta took as `accepted`.
fn report_reader_gone(opts: &RemoveOptions, client: Option<&Arc<Client>>) {
    if let Some(c) = client {
        c.control().stop(StopReason {
            failure: Failure::Retryable,
            message: "not sent: the report's reader went away".into(),
            retry_at: None,
        });
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(crate::interrupt::GRACE).await;
            c.control().abandon();
        });
    }
    opts.interrupt.raise(Level::Now, 0);
}

fn settle_all(seg: &mut Segment, status: Status, reason: &str) {
    for k in 0..seg.batch.len() {
        let row = seg.batch[k];
        seg.settle(row, status, reason, None);
    }
}

/// The summary printed on stderr at the end of a run.
pub fn summary(o: &RemoveOutcome, opts: &RemoveOptions) -> String {
    let c = &o.counts;
    let mut parts: Vec<String> = Status::ALL
        .iter()
        .filter(|&&s| s != Status::Valid || opts.dry_run)
        .map(|&s| format!("{} {}", c.get(s), s))
        .collect();
    if opts.dry_run {
        parts.retain(|p| {
            !p.ends_with(" accepted") && !p.ends_with(" rejected") && !p.ends_with(" failed")
        });
    }
    let rows = count(c.rows, "row", "rows");
    let mut s = if opts.retry.is_some() {
        format!(
            "okta-org: {rows} an earlier report left failed, sent again: {}\n",
            parts.join(", ")
        )
    } else {
        format!(
            "okta-org: {rows} from {}: {}\n",
            count(opts.inputs.len() as u64, "input", "inputs"),
            parts.join(", ")
        )
    };
    if o.carried > 0 {
        s.push_str(&format!(
            "{} carried as the earlier report settled {}\n",
            count(o.carried, "row", "rows"),
            if o.carried == 1 { "it" } else { "them" }
        ));
    }
    if opts.dry_run {
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
    if o.report_cut {
        s.push_str(
            "stopped: the report's reader went away (a closed pipe); nothing more was sent (with \
             --report FILE every row is kept)\n",
        );
    } else if let Some(sig) = opts.interrupt.signal() {
        let at_once = o.ended_by_signal.is_some();
        s.push_str(&format!(
            "stopped: {}\n",
            crate::interrupt::describe(sig, at_once)
        ));
    } else if let Some(stop) = &o.stop {
        s.push_str(&format!("stopped: {}\n", stop.message));
    }
    if let Some(r) = &o.stopped_reading {
        s.push_str(&format!("{r}\n"));
    }
    if let Some(e) = &o.input_error {
        // Nothing read at all: the error is the whole story, in the one-line form of every error.
        if c.rows == 0 {
            return format!("okta-org: error: {e}\n");
        }
        s.push_str(&format!("okta-org: error: {e}\n"));
    }
    if let Some(p) = &opts.report {
        s.push_str(&format!("report: {}\n", p.display()));
    }
    s
}
