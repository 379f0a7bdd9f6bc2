//! Where a run's rows come from. Every source yields rows with a source name and a line, which pass the
//! same checks and reach the same sinks; to add a new source of addresses, add a variant to [`Source`] and
//! its reader here.
//!
//! Sources are read on a thread of their own (the csv reader is blocking I/O) into segments handed to the
//! engine over a bounded channel, so a slow API slows the reader, not memory.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::check::{Checker, is_reported_as, reported_value};
use super::rows::Segment;
use crate::input::{InputError, InputSpec, ReadOptions, SourceReader};
use crate::interrupt::{Interrupt, Level};
use crate::report::{self, Status};
use crate::term::count;

/// Rows of an earlier report by source and line (what `--resume` carries).
pub type Carried = HashMap<String, HashMap<u64, report::Record>>;

/// Where a run's rows come from.
pub enum Source {
    /// Mail-system exports (files, pipes, stdin), read one after another.
    Inputs {
        inputs: Vec<InputSpec>,
        read: ReadOptions,
    },
    /// `--resume`: the same inputs, where a row an earlier report settled is carried into this report as
    /// it was (a `failed` one is sent again).
    Resume {
        inputs: Vec<InputSpec>,
        read: ReadOptions,
        earlier: Carried,
    },
    /// `--retry-failed`: the rows an earlier report left `failed`, sent again with their sources and lines.
    Failed { rows: Vec<report::Record> },
    /// Addresses handed over inside the process (the System Log's hard bounces), under one source name;
    /// their lines count from `first_line` (1, or on from an earlier run's rows in the same report). The
    /// run reads until the sender is dropped.
    Addresses {
        name: String,
        addresses: mpsc::Receiver<Handed>,
        first_line: u64,
    },
}

/// One address handed over inside the process: to be checked and sent, or settled already by whoever
/// handed it over (`held` by the ledger's policy), with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handed {
    pub address: String,
    pub settled: Option<(Status, String)>,
}

impl Handed {
    pub fn send(address: impl Into<String>) -> Handed {
        Handed {
            address: address.into(),
            settled: None,
        }
    }
}

impl Source {
    /// A list of addresses handed over whole, under the source name `name`, lines from 1.
    pub fn addresses(name: impl Into<String>, list: Vec<Handed>) -> Source {
        Source::addresses_from(name, list, 1)
    }

    /// The same, with lines from `first_line` (a report that goes on from an earlier run's rows).
    pub fn addresses_from(name: impl Into<String>, list: Vec<Handed>, first_line: u64) -> Source {
        let (tx, rx) = mpsc::channel(list.len().max(1));
        for a in list {
            tx.try_send(a).expect("the channel holds the whole list");
        }
        Source::Addresses {
            name: name.into(),
            addresses: rx,
            first_line,
        }
    }

    /// `--resume` of the run that wrote `report` over `inputs`. A report whose sources are none of the
    /// inputs (a path given another way, another export) carries nothing: a warning says so, since every
    /// row will be sent again.
    pub fn resume(
        inputs: Vec<InputSpec>,
        read: ReadOptions,
        report: &Path,
    ) -> Result<Source, report::ReadError> {
        let mut earlier = Carried::new();
        for r in report::read(report)? {
            earlier
                .entry(r.source.clone())
                .or_default()
                .insert(r.line, r);
        }
        let names: Vec<String> = inputs.iter().map(InputSpec::name).collect();
        if !earlier.is_empty() && !earlier.keys().any(|k| names.contains(k)) {
            let mut sources: Vec<&str> = earlier.keys().map(String::as_str).collect();
            sources.sort_unstable();
            tracing::warn!(
                "{} has rows of {}, none of which is an input of this run: nothing is carried, every row \
                 is read and sent (name the inputs as that run did)",
                report.display(),
                sources.join(", ")
            );
        }
        Ok(Source::Resume {
            inputs,
            read,
            earlier,
        })
    }

    /// The names of the rows' sources, by index: the inputs, or the sources of the rows retried.
    pub fn names(&self) -> Vec<String> {
        match self {
            Source::Inputs { inputs, .. } | Source::Resume { inputs, .. } => {
                inputs.iter().map(InputSpec::name).collect()
            }
            Source::Failed { rows } => {
                let mut names: Vec<String> = Vec::new();
                for r in rows {
                    if !names.contains(&r.source) {
                        names.push(r.source.clone());
                    }
                }
                names
            }
            Source::Addresses { name, .. } => vec![name.clone()],
        }
    }

    /// The inputs' size in bytes, when every input is a regular file (for the progress bar).
    pub fn size(&self) -> Option<u64> {
        match self {
            Source::Inputs { inputs, .. } | Source::Resume { inputs, .. } => {
                inputs.iter().map(InputSpec::size).sum()
            }
            _ => None,
        }
    }

    /// The latest time to retry that the rows name (an earlier `--max-wait` stop): nothing may be sent
    /// before it.
    pub fn not_before(&self) -> Option<SystemTime> {
        match self {
            Source::Failed { rows } => rows.iter().filter_map(|r| r.retry_at).max(),
            _ => None,
        }
    }

    /// Checks up front that every named file opens and has a usable layout, so a typo in the third file
    /// name does not stop a run after the first two were sent. Only regular files are looked into: reading
    /// from a pipe or `/dev/fd/N` here would lose those bytes.
    pub fn preflight(&self) -> Result<(), InputError> {
        let (Source::Inputs { inputs, read } | Source::Resume { inputs, read, .. }) = self else {
            return Ok(());
        };
        for spec in inputs {
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
                SourceReader::open(spec, read, Arc::default(), None)?;
            }
        }
        Ok(())
    }

    /// A guess at how many distinct addresses the source holds (about 64 bytes a row), to size the set.
    fn expected_rows(&self) -> usize {
        let bytes = match self {
            Source::Inputs { inputs, .. } | Source::Resume { inputs, .. } => {
                inputs.iter().filter_map(InputSpec::size).sum()
            }
            Source::Failed { rows } => rows.len() as u64 * 64,
            Source::Addresses { addresses, .. } => addresses.len() as u64 * 64,
        };
        usize::try_from(bytes / 64)
            .unwrap_or(usize::MAX)
            .min(4_000_000)
    }
}

/// What the reader did besides reading: where it stopped early, and the rows it carried.
#[derive(Default)]
pub(super) struct ReadDone {
    /// How reading ended, when it did not reach the end of every input.
    pub stopped: Option<String>,
    pub carried: u64,
}

/// What a reader thread needs besides its source.
pub(super) struct Reading {
    pub bytes_read: Arc<AtomicU64>,
    pub interrupt: Arc<Interrupt>,
    pub tx: mpsc::Sender<Segment>,
}

/// How many unclosed quotes of one input are described one by one.
const UNCLOSED_SHOWN: u64 = 5;

impl Reading {
    /// Hands a full segment over; `false` when the engine is gone.
    fn hand_over(&self, seg: &mut Segment) -> bool {
        !(seg.full() && self.tx.blocking_send(std::mem::take(seg)).is_err())
    }
}

/// Reads `source` to its end (or until the run stops) into segments. Whatever happens, the rows read so
/// far reach the engine. Once the run starts stopping, a pipe or terminal ends at once (see
/// [`crate::input::pump`]); regular files are still read to the end, so their rows are reported
/// (`failed`), unless the run must end now.
pub(super) fn read(source: Source, r: Reading) -> Result<ReadDone, InputError> {
    let names = source.names();
    let mut checker = Checker::new(names, source.expected_rows());
    let mut seg = Segment::default();
    let result = match source {
        Source::Inputs { inputs, read } => {
            read_inputs(&inputs, &read, None, &r, &mut checker, &mut seg)
        }
        Source::Resume {
            inputs,
            read,
            earlier,
        } => read_inputs(&inputs, &read, Some(&earlier), &r, &mut checker, &mut seg),
        Source::Failed { rows } => read_failed(&rows, &r, &mut checker, &mut seg),
        Source::Addresses {
            addresses,
            first_line,
            ..
        } => read_addresses(addresses, first_line, &r, &mut checker, &mut seg),
    };
    if !seg.rows.is_empty() {
        let _ = r.tx.blocking_send(seg);
    }
    result
}

/// `--retry-failed`: the rows an earlier report left `failed`, checked and sent again, with their lines
/// and sources.
fn read_failed(
    rows: &[report::Record],
    r: &Reading,
    checker: &mut Checker,
    seg: &mut Segment,
) -> Result<ReadDone, InputError> {
    for row in rows {
        let source = checker
            .names
            .iter()
            .position(|n| *n == row.source)
            .unwrap_or(0) as u32;
        checker.push_address(seg, source, row.line, &row.email);
        if !r.hand_over(seg) || r.interrupt.level() == Level::Now {
            break;
        }
    }
    Ok(ReadDone::default())
}

/// Addresses handed over inside the process, until the sender is dropped.
fn read_addresses(
    mut addresses: mpsc::Receiver<Handed>,
    first_line: u64,
    r: &Reading,
    checker: &mut Checker,
    seg: &mut Segment,
) -> Result<ReadDone, InputError> {
    let mut line = first_line.saturating_sub(1);
    while let Some(h) = addresses.blocking_recv() {
        line += 1;
        match &h.settled {
            Some((status, why)) => seg.push(0, line, &h.address, Some(*status), why),
            None => checker.push_address(seg, 0, line, &h.address),
        }
        if !r.hand_over(seg) || r.interrupt.level() == Level::Now {
            break;
        }
    }
    Ok(ReadDone::default())
}

/// Mail-system exports, one after another; with `earlier` (`--resume`), the rows that report settled are
/// carried as they were.
fn read_inputs(
    inputs: &[InputSpec],
    options: &ReadOptions,
    earlier: Option<&Carried>,
    r: &Reading,
    checker: &mut Checker,
    seg: &mut Segment,
) -> Result<ReadDone, InputError> {
    let interrupt = &r.interrupt;
    let mut done = ReadDone::default();
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
        match SourceReader::open(spec, options, r.bytes_read.clone(), Some(interrupt)) {
            Err(_) if interrupt.stopping() && !finite => Ok(None),
            opened => opened.map(Some),
        }
    };
    // Files were checked before the run (`Source::preflight`); pipes and stdin after the first input are
    // opened here, before any row is read, so that one that is not text (or empty) stops the run before
    // anything is sent.
    let mut early: Vec<Option<SourceReader>> = Vec::with_capacity(inputs.len());
    for (i, spec) in inputs.iter().enumerate() {
        let pipe = i > 0 && spec.size().is_none() && spec.path.as_ref().is_none_or(|p| !p.is_dir());
        early.push(if pipe { open(spec)? } else { None });
    }
    for (source, spec) in inputs.iter().enumerate() {
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
            done.stopped = not_read(spec);
            return Ok(done);
        };
        tracing::info!("{}: {}", reader.name(), reader.describe());
        let name = reader.name().to_string();
        let (mut rows, mut unclosed, mut sprawled) = (0u64, 0u64, 0u64);
        let mut last_line = 0;
        let carried = earlier.and_then(|c| c.get(&name));
        while let Some(row) = reader.next_row()? {
            rows += 1;
            last_line = row.line;
            if let Some(u) = row.unclosed {
                unclosed += 1;
                if unclosed <= UNCLOSED_SHOWN {
                    tracing::warn!(
                        "{name}: line {}: the quote opened in column {} {}: the row is reported \
                         invalid, and the lines after it are read as rows",
                        u.line,
                        u.column + 1,
                        u.why,
                    );
                }
            }
            if let Some(s) = row.sprawl {
                sprawled += 1;
                if sprawled <= UNCLOSED_SHOWN {
                    tracing::warn!(
                        "{name}: line {}: one row runs over {} lines, with {} delimiters in its quoted \
                         cells: check that it did not take in other rows",
                        row.line,
                        s.lines + 1,
                        s.delimiters,
                    );
                }
            }
            // `--resume`: a row the earlier report settled is carried as it was (a `failed` one is sent
            // again); the addresses it sent still count for the duplicates that follow.
            let settled = carried.and_then(|c| c.get(&row.line));
            if let Some(rec) = settled
                && !is_reported_as(&row, &rec.email)
            {
                return Err(InputError::ResumeMismatch {
                    name,
                    line: row.line,
                    earlier: rec.email.clone(),
                    now: reported_value(&row).into_owned(),
                });
            }
            match settled {
                Some(rec) if rec.status != Status::Failed => {
                    done.carried += 1;
                    if matches!(
                        rec.status,
                        Status::Accepted | Status::Rejected | Status::Valid
                    ) {
                        checker.remember(&rec.email, source, row.line);
                    }
                    seg.push_settled(source, rec);
                }
                _ => checker.push(seg, source, &row, row.column_label),
            }
            if !r.hand_over(seg) || interrupt.level() == Level::Now {
                done.stopped = stopped_at(last_line);
                return Ok(done);
            }
        }
        if unclosed > UNCLOSED_SHOWN {
            tracing::warn!(
                "{name}: {} with an unclosed quote (see the report)",
                count(unclosed - UNCLOSED_SHOWN, "more row", "more rows")
            );
        }
        if sprawled > UNCLOSED_SHOWN {
            tracing::warn!(
                "{name}: {} over many lines or delimiters",
                count(sprawled - UNCLOSED_SHOWN, "more row runs", "more rows run")
            );
        }
        // A pipe ended by the interrupt looks like its end; say that it was not.
        if !finite && interrupt.stopping() {
            done.stopped = stopped_at(last_line);
            return Ok(done);
        }
        if rows == 0 {
            tracing::warn!("{name}: no rows");
        }
    }
    Ok(done)
}
