//! The per-row report of `bounces remove`: one row for every input data row, in input order, as CSV (safe to
//! open in a spreadsheet) or JSON lines, plus the counts behind the summary printed on stderr. On a
//! terminal the cells that came from outside are escaped ([`crate::escape`]); a file or a pipe gets them
//! exactly.

use std::fmt;
use std::io::{self, Write};
use std::time::SystemTime;

use serde::Serialize;

use crate::escape;

/// What became of one input row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Okta took the address for removal from the bounce list.
    Accepted,
    /// Okta returned an error for the address; the reason is Okta's text.
    Rejected,
    /// The row failed local checks and was not sent.
    Invalid,
    /// The address appeared on an earlier row; it was sent once, for that row.
    Duplicate,
    /// Not confirmed sent (rate limited, unavailable, interrupted, auth error); safe to run again.
    Failed,
    /// `--dry-run` only: passed every local check and would have been sent.
    Valid,
    /// Not sent by the ledger's policy: it bounced again after being cleared too often (`bounces sync`);
    /// the address itself needs fixing.
    Held,
    /// Not sent: the ledger says it was cleared recently and has not bounced since (`--skip-cleared`).
    Skipped,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Accepted,
        Status::Rejected,
        Status::Invalid,
        Status::Duplicate,
        Status::Failed,
        Status::Valid,
        Status::Held,
        Status::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::Invalid => "invalid",
            Status::Duplicate => "duplicate",
            Status::Failed => "failed",
            Status::Valid => "valid",
            Status::Held => "held",
            Status::Skipped => "skipped",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

/// One report row.
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    pub line: u64,
    pub email: &'a str,
    pub status: Status,
    pub reason: &'a str,
    pub source: &'a str,
    /// When Okta answered for the row (accepted and rejected rows), UTC.
    #[serde(serialize_with = "time_or_null")]
    pub at: Option<SystemTime>,
    /// When Okta said to try again (`failed` rows of a `--max-wait` stop), UTC; what `--retry-failed`
    /// holds back for.
    #[serde(serialize_with = "time_or_null")]
    pub retry_at: Option<SystemTime>,
}

pub const COLUMNS: [&str; 7] = [
    "line", "email", "status", "reason", "source", "at", "retry_at",
];

/// A report time as the System Log writes its times (RFC 3339, UTC, milliseconds).
pub fn time_text(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn time_or_null<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&time_text(*t)),
        None => s.serialize_none(),
    }
}

/// Writes report rows as they are settled. A closed pipe (the reader of stdout went away) stops the
/// writing but not the job: the job's outcome still decides the exit status.
pub struct ReportWriter {
    format: Format,
    csv: Option<csv::Writer<Box<dyn Write + Send>>>,
    jsonl: Option<io::BufWriter<Box<dyn Write + Send>>>,
    closed: bool,
    /// The report goes to a terminal: cells are shown with their control characters escaped.
    terminal: bool,
    counts: Counts,
    scratch: String,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub rows: u64,
    by_status: [u64; Status::ALL.len()],
}

impl Counts {
    pub fn get(&self, s: Status) -> u64 {
        self.by_status[s as usize]
    }

    pub fn add(&mut self, s: Status) {
        self.rows += 1;
        self.by_status[s as usize] += 1;
    }
}

impl ReportWriter {
    pub fn new(out: Box<dyn Write + Send>, format: Format) -> io::Result<ReportWriter> {
        let mut w = ReportWriter {
            format,
            csv: None,
            jsonl: None,
            closed: false,
            terminal: false,
            counts: Counts::default(),
            scratch: String::new(),
        };
        match format {
            Format::Csv => {
                let mut c = csv::WriterBuilder::new()
                    .buffer_capacity(64 * 1024)
                    .from_writer(out);
                let r = c.write_record(COLUMNS);
                w.csv = Some(c);
                w.check(r.map_err(csv_io))?;
            }
            Format::Jsonl => w.jsonl = Some(io::BufWriter::with_capacity(64 * 1024, out)),
        }
        Ok(w)
    }

    /// Shows the rows for a terminal (`terminal`): the address, reason and source cells with their
    /// control characters and bidi overrides escaped, JSON lines with those as `\uXXXX`.
    pub fn for_terminal(mut self, terminal: bool) -> ReportWriter {
        self.terminal = terminal;
        self
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn write(&mut self, row: &Row<'_>) -> io::Result<()> {
        self.counts.add(row.status);
        if self.closed {
            return Ok(());
        }
        let result = match self.format {
            Format::Csv => {
                let c = self.csv.as_mut().expect("csv writer");
                self.scratch.clear();
                std::fmt::write(&mut self.scratch, format_args!("{}", row.line)).expect("string");
                let at = row.at.map(time_text).unwrap_or_default();
                let retry_at = row.retry_at.map(time_text).unwrap_or_default();
                let cell = |s| escape::for_terminal(s, self.terminal);
                c.write_record([
                    self.scratch.as_bytes(),
                    neutralise(&cell(row.email)).as_bytes(),
                    row.status.as_str().as_bytes(),
                    neutralise(&cell(row.reason)).as_bytes(),
                    neutralise(&cell(row.source)).as_bytes(),
                    at.as_bytes(),
                    retry_at.as_bytes(),
                ])
                .map_err(csv_io)
            }
            Format::Jsonl if self.terminal => {
                let j = self.jsonl.as_mut().expect("jsonl writer");
                serde_json::to_string(row)
                    .map_err(io::Error::from)
                    .and_then(|line| j.write_all(escape::json(&line).as_bytes()))
                    .and_then(|()| j.write_all(b"\n"))
            }
            Format::Jsonl => {
                let j = self.jsonl.as_mut().expect("jsonl writer");
                serde_json::to_writer(&mut *j, row)
                    .map_err(io::Error::from)
                    .and_then(|()| j.write_all(b"\n"))
            }
        };
        self.check(result)
    }

    /// Hands what is buffered to the file or pipe.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let r = match (&mut self.csv, &mut self.jsonl) {
            (Some(c), _) => c.flush(),
            (_, Some(j)) => j.flush(),
            _ => Ok(()),
        };
        self.check(r)
    }

    pub fn finish(&mut self) -> io::Result<()> {
        self.flush()
    }

    /// Whether the reader of the report went away (a broken pipe).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    fn check(&mut self, r: io::Result<()>) -> io::Result<()> {
        match r {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

/// The csv crate's error as the I/O error beneath it, so a broken pipe is seen as one; any other (a row
/// that cannot be written as CSV) is kept whole as the source of an I/O error.
pub fn csv_io(e: csv::Error) -> io::Error {
    if !e.is_io_error() {
        return io::Error::other(e);
    }
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        _ => unreachable!("is_io_error said so"),
    }
}

/// A cell a spreadsheet would run as a formula (leading `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`,
/// which spreadsheets show as text (OWASP's advice on CSV injection).
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// One row of a report read back (by `bounces verify`, `--retry-failed`, `--resume`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: u64,
    pub email: String,
    pub status: Status,
    pub reason: String,
    pub source: String,
    pub at: Option<SystemTime>,
    /// When Okta said to try again: the `retry_at` column, or (in a report written before that column
    /// existed) the time a `--max-wait` stop named in the reason.
    pub retry_at: Option<SystemTime>,
}

/// The time a `--max-wait` stop named in a `failed` row's reason ("... retry after TIME"), for reports
/// written before the `retry_at` column: the only place the tool reads its own words back.
fn legacy_retry_at(reason: &str) -> Option<SystemTime> {
    let (_, rest) = reason.split_once("retry after ")?;
    let time = rest.split([' ', ';', ')', ',']).next()?;
    humantime::parse_rfc3339_weak(time).ok()
}

/// Why a report cannot be read back.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {}", crate::os_error::plain(source))]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a report of bounces remove (it has no {missing} column)")]
    NotAReport { path: String, missing: &'static str },
    #[error("{path}: line {line}: {why}")]
    Row {
        path: String,
        line: u64,
        why: String,
    },
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s.trim())
    }
}

/// Reads a report written by `bounces remove`, CSV or JSON lines (told by its first character). A last
/// row cut short (the run died while writing it: no line end after it) is left out, since it says
/// nothing reliable; a formula guard (a leading `'`) is taken off again.
pub fn read(path: &std::path::Path) -> Result<Vec<Record>, ReadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: name.clone(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let complete = text.ends_with('\n');
    let body: &str = if complete {
        &text
    } else {
        text.rfind('\n').map_or("", |i| &text[..=i])
    };
    let row_error = |line: u64, why: String| ReadError::Row {
        path: name.clone(),
        line,
        why,
    };
    let time = |s: &str| humantime::parse_rfc3339_weak(s.trim()).ok();
    let mut out = Vec::new();
    if body.trim_start().starts_with('{') {
        for (k, l) in body
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let v: serde_json::Value =
                serde_json::from_str(l).map_err(|e| row_error(k as u64 + 1, e.to_string()))?;
            // A summary record at the end is not a row.
            if v.get("line").is_none() {
                continue;
            }
            let field = |n: &str| v.get(n).and_then(|x| x.as_str()).unwrap_or("").to_string();
            let status = Status::parse(&field("status")).ok_or_else(|| {
                row_error(
                    k as u64 + 1,
                    format!("unknown status {:?}", field("status")),
                )
            })?;
            let retry_at = match v.get("retry_at") {
                Some(_) => time(&field("retry_at")),
                None => legacy_retry_at(&field("reason")),
            };
            out.push(Record {
                line: v.get("line").and_then(|x| x.as_u64()).unwrap_or(0),
                email: field("email"),
                status,
                reason: field("reason"),
                source: field("source"),
                at: time(&field("at")),
                retry_at,
            });
        }
        return Ok(out);
    }
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(body.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| row_error(1, e.to_string()))?
        .clone();
    let col = |n: &'static str| {
        headers
            .iter()
            .position(|h| h.trim() == n)
            .ok_or(ReadError::NotAReport {
                path: name.clone(),
                missing: n,
            })
    };
    let (c_line, c_email, c_status, c_reason, c_source) = (
        col("line")?,
        col("email")?,
        col("status")?,
        col("reason")?,
        col("source")?,
    );
    let c_at = col("at").ok();
    let c_retry_at = col("retry_at").ok();
    let unguard = |s: &str| -> String {
        match s.strip_prefix('\'') {
            Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest.to_string(),
            _ => s.to_string(),
        }
    };
    for (k, rec) in rdr.records().enumerate() {
        let at_line = k as u64 + 2;
        let rec = rec.map_err(|e| row_error(at_line, e.to_string()))?;
        let get = |i: usize| rec.get(i).unwrap_or("");
        let line = get(c_line)
            .trim()
            .parse()
            .map_err(|_| row_error(at_line, format!("line {:?} is not a number", get(c_line))))?;
        let status = Status::parse(get(c_status))
            .ok_or_else(|| row_error(at_line, format!("unknown status {:?}", get(c_status))))?;
        let reason = unguard(get(c_reason));
        let retry_at = match c_retry_at {
            Some(c) => time(get(c)),
            None => legacy_retry_at(&reason),
        };
        out.push(Record {
            line,
            email: unguard(get(c_email)),
            status,
            reason,
            source: unguard(get(c_source)),
            at: c_at.and_then(|c| time(get(c))),
            retry_at,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn row<'a>(email: &'a str, status: Status, reason: &'a str) -> Row<'a> {
        Row {
            line: 7,
            email,
            status,
            reason,
            source: "in.csv",
            at: (status == Status::Accepted).then(|| {
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_000_000_123)
            }),
            retry_at: (status == Status::Failed).then(|| {
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_795_000_060_000)
            }),
        }
    }

    #[test]
    fn csv_neutralises_formulas_and_quotes_commas() {
        let buf = Shared::default();
        let mut w = ReportWriter::new(Box::new(buf.clone()), Format::Csv).unwrap();
        w.write(&row("=cmd@x.com", Status::Invalid, "bad, very"))
            .unwrap();
        w.write(&row("+a@x.com", Status::Accepted, "")).unwrap();
        w.finish().unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "line,email,status,reason,source,at,retry_at\n7,'=cmd@x.com,invalid,\"bad, very\",in.csv,,\n7,'+a@x.com,accepted,,in.csv,2026-11-18T11:06:40.123Z,\n"
        );
        assert_eq!(w.counts().get(Status::Invalid), 1);
        assert_eq!(w.counts().rows, 2);
    }

    #[test]
    fn reports_read_back_as_written_and_a_cut_last_row_is_left_out() {
        let dir = std::env::temp_dir().join(format!("okta-org-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for format in [Format::Csv, Format::Jsonl] {
            let buf = Shared::default();
            let mut w = ReportWriter::new(Box::new(buf.clone()), format).unwrap();
            w.write(&row("=cmd@x.com", Status::Invalid, "bad, very"))
                .unwrap();
            w.write(&row("+a@x.com", Status::Accepted, "")).unwrap();
            w.finish().unwrap();
            let mut bytes = buf.0.lock().unwrap().clone();
            let path = dir.join("r");
            std::fs::write(&path, &bytes).unwrap();
            let back = read(&path).unwrap();
            assert_eq!(back.len(), 2, "{format:?}");
            assert_eq!(back[0].email, "=cmd@x.com");
            assert_eq!(back[0].reason, "bad, very");
            assert_eq!(
                (back[1].status, back[1].at.is_some()),
                (Status::Accepted, true)
            );
            // Cut in the middle of the last row.
            bytes.truncate(bytes.len() - 5);
            std::fs::write(&path, &bytes).unwrap();
            assert_eq!(read(&path).unwrap().len(), 1, "{format:?}");
        }
        std::fs::write(dir.join("x.csv"), "email,name\na@x.com,A\n").unwrap();
        assert!(matches!(
            read(&dir.join("x.csv")),
            Err(ReadError::NotAReport {
                missing: "line",
                ..
            })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// `--retry-failed` reads the time to retry from the `retry_at` column; a report written before that
    /// column existed still gives it, from the reason a `--max-wait` stop wrote.
    #[test]
    fn the_time_to_retry_reads_from_its_column_or_an_older_reason() {
        let dir = std::env::temp_dir().join(format!("okta-org-retry-at-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
        let old_reason = "rate limited: Okta asked to wait 600 s (more than --max-wait 60 s); retry after \
                          2026-11-18T11:06:40Z";
        let cases = [
            (
                "line,email,status,reason,source,at,retry_at\n2,a@x.com,failed,held,in.csv,,\
                 2026-11-18T11:06:40.000Z\n"
                    .to_string(),
                Some(at),
            ),
            (
                format!(
                    "line,email,status,reason,source,at\n2,a@x.com,failed,\"{old_reason}\",in.csv,\n"
                ),
                Some(at),
            ),
            (
                format!(
                    "{{\"line\":2,\"email\":\"a@x.com\",\"status\":\"failed\",\"reason\":\"{old_reason}\",\
                     \"source\":\"in.csv\",\"at\":null}}\n"
                ),
                Some(at),
            ),
            // With the column, the column decides: a reason's words are not read.
            (
                format!(
                    "line,email,status,reason,source,at,retry_at\n2,a@x.com,failed,\"{old_reason}\",in.csv,,\n"
                ),
                None,
            ),
        ];
        for (k, (text, want)) in cases.iter().enumerate() {
            let path = dir.join(format!("r{k}"));
            std::fs::write(&path, text).unwrap();
            assert_eq!(read(&path).unwrap()[0].retry_at, *want, "{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// On a terminal the outside cells are escaped (and still formula-guarded); in a file they are exact.
    #[test]
    fn cells_are_escaped_only_for_a_terminal() {
        let hostile = Row {
            source: "in\u{1b}]0;title\u{7}.csv",
            ..row(
                "-\u{1b}[2J@x.com",
                Status::Invalid,
                "bad\u{9b}31m \u{202e}txt.exe",
            )
        };
        let mut written = Vec::new();
        for (format, terminal) in [
            (Format::Csv, true),
            (Format::Csv, false),
            (Format::Jsonl, true),
            (Format::Jsonl, false),
        ] {
            let buf = Shared::default();
            let mut w = ReportWriter::new(Box::new(buf.clone()), format)
                .unwrap()
                .for_terminal(terminal);
            w.write(&hostile).unwrap();
            w.finish().unwrap();
            written.push(String::from_utf8(buf.0.lock().unwrap().clone()).unwrap());
        }
        assert_eq!(
            written[0],
            "line,email,status,reason,source,at,retry_at\n7,'-\\x1b[2J@x.com,invalid,bad\\u{9b}31m \\u{202e}txt.exe,in\\x1b]0;title\\x07.csv,,\n"
        );
        assert_eq!(
            written[1],
            "line,email,status,reason,source,at,retry_at\n7,'-\u{1b}[2J@x.com,invalid,bad\u{9b}31m \u{202e}txt.exe,in\u{1b}]0;title\u{7}.csv,,\n"
        );
        assert!(
            !written[2]
                .chars()
                .any(|c| escape::is_unsafe(c) && c != '\n'),
            "{}",
            written[2]
        );
        let shown: serde_json::Value = serde_json::from_str(&written[2]).unwrap();
        let exact: serde_json::Value = serde_json::from_str(&written[3]).unwrap();
        assert_eq!(shown, exact);
        assert_eq!(exact["reason"], "bad\u{9b}31m \u{202e}txt.exe");
    }

    #[test]
    fn jsonl_keeps_values_verbatim() {
        let buf = Shared::default();
        let mut w = ReportWriter::new(Box::new(buf.clone()), Format::Jsonl).unwrap();
        w.write(&row("=cmd@x.com", Status::Rejected, "Okta \"said\" no"))
            .unwrap();
        w.finish().unwrap();
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(
            text,
            "{\"line\":7,\"email\":\"=cmd@x.com\",\"status\":\"rejected\",\"reason\":\"Okta \\\"said\\\" no\",\"source\":\"in.csv\",\"at\":null,\"retry_at\":null}\n"
        );
    }
}
