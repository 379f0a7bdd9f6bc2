//! Where settled rows go. The report is the sink every run has: rows in input order, as CSV or JSON lines,
//! to a file or stdout. A report file only ever holds whole rows: each settled stretch is written, synced
//! and then counted as committed, and when a write fails (a full disk) the file is cut back to the end of
//! the last committed row and never written again, so `--resume` can finish the run from it.
//! Other sinks (the ledger) take the same rows through [`Sink`].

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::report::{self, ReportWriter};

/// A sink besides the report: told of each batch before it is sent, and of each settled row.
pub trait Sink: Send {
    /// A batch is about to be sent: these addresses, in order.
    fn sending(&mut self, addresses: &[String]) -> io::Result<()>;
    /// One settled row, in input order.
    fn row(&mut self, row: &report::Row<'_>) -> io::Result<()>;
    /// The end of a settled stretch: make what was taken durable.
    fn commit(&mut self) -> io::Result<()>;
}

/// Decides, before a batch is sent, which of its addresses to leave out, with the status and reason
/// their rows get (`skipped`: cleared recently, by the ledger).
pub trait Gate: Send {
    /// One verdict per address, in order: `None` sends it.
    fn vet(
        &mut self,
        addresses: &[String],
    ) -> Result<Vec<Option<(report::Status, String)>>, String>;
}

/// The report of a run.
pub struct Report {
    writer: ReportWriter,
    out: Guarded,
    path: Option<PathBuf>,
    /// Sync each committed stretch to disk (a regular file of a run that sends).
    sync: bool,
    /// Why writing failed; nothing is written after that.
    failed: Option<io::Error>,
    /// Rows in the report for sure: written and committed before a failure or a closed pipe.
    committed_rows: u64,
}

impl Report {
    /// A report to `path` (created or emptied, its header in it), or to stdout. `sync` asks for each
    /// committed stretch to reach the disk (only a regular file can be synced), so a crash loses at
    /// most what was in flight.
    pub fn create(path: Option<&Path>, format: report::Format, sync: bool) -> io::Result<Report> {
        Report::open(path, format, sync, false)
    }

    /// [`Report::create`] for a run whose input may yet be refused: a regular file that holds an
    /// earlier report is emptied only when the report begins (see [`Report::begin`]: when the input
    /// gives its first rows, before anything is sent). An input refused before that (an empty or binary
    /// pipe, which cannot be looked into up front) leaves the earlier report, and its `failed` rows to
    /// retry, as it was. A new or empty file takes the header at once.
    pub fn create_keeping_earlier(
        path: Option<&Path>,
        format: report::Format,
        sync: bool,
    ) -> io::Result<Report> {
        Report::open(path, format, sync, true)
    }

    fn open(
        path: Option<&Path>,
        format: report::Format,
        sync: bool,
        keep_earlier: bool,
    ) -> io::Result<Report> {
        // A report on a terminal shows outside cells escaped; a file or a pipe gets them exactly.
        let keep = keep_earlier
            && path.is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() > 0));
        let (target, regular, terminal) = match path {
            Some(p) => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(!keep)
                    .open(p)?;
                // (Only a regular file is synced or cut: /dev/stdout, a FIFO or /dev/null cannot be.)
                let regular = file.metadata().is_ok_and(|m| m.is_file());
                let terminal = file.is_terminal();
                (Target::File(file), regular, terminal)
            }
            None => (Target::Stdout, false, io::stdout().is_terminal()),
        };
        let out = Guarded(Arc::new(Mutex::new(Written {
            target,
            regular,
            pending: (regular && keep).then(Vec::new),
            written: 0,
            committed: 0,
            failed: false,
        })));
        let mut writer = ReportWriter::new(Box::new(out.clone()), format)?.for_terminal(terminal);
        // The header is the first thing committed: a report cut back is still a report. (A regular
        // file keeps it until the report begins; anything else takes it now, so a device that cannot
        // take even that is refused before anything is sent.)
        writer.flush()?;
        out.commit(false)?;
        Ok(Report {
            writer,
            out,
            path: path.map(Path::to_path_buf),
            sync: sync && regular,
            failed: None,
            committed_rows: 0,
        })
    }

    /// Where it goes, as messages name it.
    pub fn name(&self) -> String {
        self.path
            .as_ref()
            .map_or_else(|| "stdout".into(), |p| p.display().to_string())
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Writes one settled row. Once writing failed, every call says why (a whole line, for messages).
    /// (Rows written before the report began wait with its header, and reach the file when it begins.)
    pub fn row(&mut self, row: &report::Row<'_>) -> Result<(), String> {
        if self.failed.is_none()
            && let Err(e) = self.writer.write(row)
        {
            self.fail(e);
        }
        self.result()
    }

    /// Whether the report has begun: its header is in the file (or on its way to stdout), or beginning
    /// failed (see [`Report::failed`]).
    pub fn begun(&self) -> bool {
        self.failed.is_some() || self.out.lock().pending.is_none()
    }

    /// Empties the file and writes what waited (the header), once: when the input gives its first rows
    /// (before anything is sent), or at the end of a run whose input was not refused (a report of no
    /// rows is still a report). A failure is the report's failure, said as [`Report::row`] says it.
    pub fn begin(&mut self) -> Result<(), String> {
        if self.failed.is_none()
            && let Err(e) = self.out.begin(self.sync)
        {
            self.fail(e);
        }
        self.result()
    }

    /// Hands the stretch written since the last commit to the file or pipe, syncs it, and counts it as
    /// committed.
    pub fn commit(&mut self) -> Result<(), String> {
        if self.failed.is_none() {
            let done = self
                .writer
                .flush()
                .and_then(|()| self.out.commit(self.sync));
            match done {
                Err(e) => self.fail(e),
                Ok(()) if !self.writer.is_closed() => {
                    self.committed_rows = self.writer.counts().rows
                }
                Ok(()) => {}
            }
        }
        self.result()
    }

    fn result(&self) -> Result<(), String> {
        match &self.failed {
            None => Ok(()),
            Some(e) => Err(format!(
                "cannot write the report to {}: {}",
                self.name(),
                crate::os_error::plain(e)
            )),
        }
    }

    /// Cuts the file back to its last whole row and writes nothing more.
    fn fail(&mut self, e: io::Error) {
        self.out.cut();
        self.failed = Some(e);
    }

    /// Whether the report's reader went away (a closed pipe).
    pub fn is_closed(&self) -> bool {
        self.writer.is_closed()
    }

    pub fn failed(&self) -> Option<&io::Error> {
        self.failed.as_ref()
    }

    /// Rows surely in the report: all of them, unless writing failed or its reader went away.
    pub fn rows_committed(&self) -> u64 {
        self.committed_rows
    }
}

enum Target {
    File(File),
    Stdout,
}

struct Written {
    target: Target,
    regular: bool,
    /// What was written before the report began (its header), held back from the file until then.
    /// `None` once begun.
    pending: Option<Vec<u8>>,
    /// Bytes the target took.
    written: u64,
    /// Bytes that end with a whole row, synced when asked.
    committed: u64,
    failed: bool,
}

/// The report's file or stdout, refusing every write once one failed: the csv writer flushes what it
/// still holds when dropped, and that must not land after a cut.
#[derive(Clone)]
struct Guarded(Arc<Mutex<Written>>);

impl Guarded {
    fn lock(&self) -> std::sync::MutexGuard<'_, Written> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands the file what was held back (the header) in place of the earlier report, committed. The
    /// header is written over the earlier report's start before the rest is cut off, so a full disk
    /// (where overwriting needs no new space) most likely still takes it; if it does not, the report
    /// stays not begun, and nothing cuts the file further.
    fn begin(&self, sync: bool) -> io::Result<()> {
        let mut w = self.lock();
        let Some(held) = &w.pending else {
            return Ok(());
        };
        let len = held.len() as u64;
        if let Target::File(f) = &w.target {
            let mut f: &File = f;
            f.write_all(held)?;
            f.set_len(len)?;
            if sync {
                f.sync_data()?;
            }
        }
        w.pending = None;
        w.written = len;
        w.committed = len;
        Ok(())
    }

    fn commit(&self, sync: bool) -> io::Result<()> {
        let mut w = self.lock();
        if let (true, Target::File(f)) = (sync, &w.target) {
            f.sync_data()?;
        }
        w.committed = w.written;
        Ok(())
    }

    fn cut(&self) {
        let mut w = self.lock();
        w.failed = true;
        // (A report not begun left the file as it was.)
        if let (true, None, Target::File(f)) = (w.regular, &w.pending, &w.target) {
            // Cutting frees space, so it works on a full disk; if it fails too, `report::read` still
            // leaves out a last row without its line end.
            let _ = f.set_len(w.committed);
            let _ = f.sync_data();
        }
    }
}

impl Write for Guarded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut w = self.lock();
        if w.failed {
            return Err(io::Error::other("an earlier write of the report failed"));
        }
        if let Some(held) = &mut w.pending {
            held.extend_from_slice(buf);
            return Ok(buf.len());
        }
        let result = match &mut w.target {
            Target::File(f) => f.write(buf),
            Target::Stdout => io::stdout().write(buf),
        };
        match result {
            Ok(n) => w.written += n as u64,
            // A reader that went away is not a failure of the file: the writer notes it and stops.
            Err(ref e) if e.kind() == io::ErrorKind::BrokenPipe => {}
            Err(_) => w.failed = true,
        }
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        let mut w = self.lock();
        if w.failed {
            return Err(io::Error::other("an earlier write of the report failed"));
        }
        match &mut w.target {
            Target::File(f) => f.flush(),
            Target::Stdout => io::stdout().flush(),
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use crate::report::{Format, Row, Status};

    fn row(line: u64) -> Row<'static> {
        Row {
            line,
            email: "someone.with.a.long.address@example.com",
            status: Status::Accepted,
            reason: "",
            source: "in.csv",
            at: None,
            retry_at: None,
        }
    }

    /// `/dev/full` fails every write with "no space left on device": a report that cannot take even
    /// its header is refused before anything is sent.
    #[test]
    fn a_full_device_refuses_the_report_at_once() {
        let e = Report::create(Some(Path::new("/dev/full")), Format::Csv, true)
            .err()
            .expect("no report on a full device");
        assert_eq!(e.raw_os_error(), Some(28));
    }

    /// A file whose writes start failing midway is cut back to its last committed row: what is left
    /// reads back whole.
    #[test]
    fn a_failed_write_leaves_only_whole_rows() {
        let dir = std::env::temp_dir().join(format!("okta-org-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.csv");
        let mut r = Report::create(Some(&path), Format::Csv, true).unwrap();
        for k in 2..12 {
            r.row(&row(k)).unwrap();
        }
        r.commit().unwrap();
        // Half a row reaches the file, then the disk "fills".
        {
            let mut w = r.out.lock();
            if let Target::File(f) = &mut w.target {
                f.write_all(b"12,half.a.row@exam").unwrap();
            }
            w.written += 18;
        }
        r.fail(io::Error::from_raw_os_error(28));
        let back = report::read(&path).unwrap();
        assert_eq!(back.len(), 10);
        assert!(std::fs::read_to_string(&path).unwrap().ends_with(",\n"));
        // Dropping the writer flushes nothing more.
        r.row(&row(13)).unwrap_err();
        drop(r);
        assert_eq!(report::read(&path).unwrap().len(), 10);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
