//! Reading mail-system exports as a stream of (line, address cell) rows, one input after another, with one
//! reused record buffer: memory stays flat however long the export is.

pub mod decode;
pub mod layout;
pub mod pump;

use std::borrow::Cow;
use std::fmt;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use csv::{ByteRecord, ReaderBuilder};

use decode::{DynRead, Encoding, cell_text, read_full};
pub use layout::{ColumnChoice, Layout};

/// How many decoded bytes are looked at to work out the layout.
const SAMPLE_BYTES: usize = 64 * 1024;

/// One input named on the command line: a path, or stdin for `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSpec {
    pub path: Option<PathBuf>,
}

impl InputSpec {
    pub fn parse(arg: &str) -> InputSpec {
        InputSpec {
            path: (arg != "-").then(|| PathBuf::from(arg)),
        }
    }

    pub fn stdin() -> InputSpec {
        InputSpec { path: None }
    }

    /// The name shown in the report's `source` column and in messages.
    pub fn name(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => "<stdin>".to_string(),
        }
    }

    /// Size in bytes, when it is a regular file (for the progress bar).
    pub fn size(&self) -> Option<u64> {
        let meta = std::fs::metadata(self.path.as_ref()?).ok()?;
        meta.is_file().then_some(meta.len())
    }
}

#[derive(Debug)]
pub enum InputError {
    Open {
        name: String,
        source: io::Error,
    },
    Read {
        name: String,
        source: io::Error,
    },
    Layout {
        name: String,
        source: layout::LayoutError,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::Open { name, source } => write!(f, "cannot open {name}: {source}"),
            InputError::Read { name, source } => write!(f, "cannot read {name}: {source}"),
            InputError::Layout { name, source } => write!(f, "{name}: {source}"),
        }
    }
}

impl std::error::Error for InputError {}

/// The address cell of one data row.
#[derive(Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    Value(Cow<'a, str>),
    /// The row is shorter than the address column.
    Missing,
    /// The row repeats the header (files concatenated with `cat`).
    RepeatedHeader,
}

/// Counts bytes as they are read, for the progress bar.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

pub struct SourceReader {
    name: String,
    pub layout: Layout,
    pub encoding: Encoding,
    rdr: csv::Reader<DynRead>,
    rec: ByteRecord,
    header_cell: Option<String>,
    skip_header: bool,
}

impl SourceReader {
    /// Opens one input and works out its layout. `bytes_read` counts the raw bytes consumed. With
    /// `interrupt`, a pipe or terminal is read on a thread of its own and ends as soon as the run starts
    /// stopping.
    pub fn open(
        spec: &InputSpec,
        choice: &ColumnChoice,
        bytes_read: Arc<AtomicU64>,
        interrupt: Option<&Arc<crate::interrupt::Interrupt>>,
    ) -> Result<SourceReader, InputError> {
        let name = spec.name();
        let raw: DynRead = match &spec.path {
            Some(p) => Box::new(File::open(p).map_err(|source| InputError::Open {
                name: name.clone(),
                source,
            })?),
            None => Box::new(io::stdin()),
        };
        let raw = match interrupt {
            Some(i) if spec.size().is_none() => pump::interruptible(raw, i),
            _ => raw,
        };
        Self::from_reader(name, raw, choice, bytes_read)
    }

    pub fn from_reader(
        name: String,
        raw: DynRead,
        choice: &ColumnChoice,
        bytes_read: Arc<AtomicU64>,
    ) -> Result<SourceReader, InputError> {
        let read_err = |source| InputError::Read {
            name: name.clone(),
            source,
        };
        let counted: DynRead = Box::new(Counting {
            inner: raw,
            count: bytes_read,
        });
        let (mut decoded, encoding) = decode::decode(counted).map_err(read_err)?;
        let mut sample = vec![0u8; SAMPLE_BYTES];
        let n = read_full(&mut decoded, &mut sample).map_err(read_err)?;
        sample.truncate(n);
        let layout = layout::sniff(&sample, n < SAMPLE_BYTES, choice).map_err(|source| {
            InputError::Layout {
                name: name.clone(),
                source,
            }
        })?;
        // Lines end at `\n` (a `\r` before it is trimmed with the value), or at `\r` in files that
        // have no `\n` at all (old Mac line ends).
        let eol = if !sample.contains(&b'\n') && sample.contains(&b'\r') {
            b'\r'
        } else {
            b'\n'
        };
        let stream: DynRead = Box::new(Cursor::new(sample).chain(decoded));
        let rdr = ReaderBuilder::new()
            .delimiter(layout.delimiter)
            .has_headers(false)
            .flexible(true)
            // (With CRLF terminators the csv crate's line count lags behind the file.)
            .terminator(csv::Terminator::Any(eol))
            .buffer_capacity(256 * 1024)
            .from_reader(stream);
        let header_cell = layout
            .header
            .as_ref()
            .and_then(|h| h.get(layout.column))
            .map(|c| layout::normalize_header(c))
            .filter(|c| !c.is_empty());
        Ok(SourceReader {
            name,
            skip_header: layout.header.is_some(),
            layout,
            encoding,
            rdr,
            rec: ByteRecord::new(),
            header_cell,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next data row: its physical line (1-based, where the record starts) and its address cell.
    pub fn next_row(&mut self) -> Result<Option<(u64, Cell<'_>)>, InputError> {
        loop {
            let more = self
                .rdr
                .read_byte_record(&mut self.rec)
                .map_err(|e| InputError::Read {
                    name: self.name.clone(),
                    source: io::Error::other(e),
                })?;
            if !more {
                return Ok(None);
            }
            let line = self.rec.position().map_or(0, |p| p.line());
            if line <= self.layout.preamble_lines || is_blank_line(&self.rec) {
                continue;
            }
            if self.skip_header {
                self.skip_header = false;
                continue;
            }
            let last = self.rec.len() - 1;
            let cell = match self.rec.get(self.layout.column) {
                None => Cell::Missing,
                Some(bytes) => {
                    let bytes = match bytes {
                        [head @ .., b'\r'] if self.layout.column == last => head,
                        b => b,
                    };
                    let text = cell_text(bytes);
                    if self.header_cell.as_ref().is_some_and(|h| {
                        !text.contains('@') && *h == layout::normalize_header(&text)
                    }) {
                        Cell::RepeatedHeader
                    } else {
                        Cell::Value(text)
                    }
                }
            };
            return Ok(Some((line, cell)));
        }
    }
}

/// A line holding nothing (or only the `\r` of a CRLF) is not a data row.
fn is_blank_line(rec: &ByteRecord) -> bool {
    rec.len() == 1 && matches!(&rec[0], b"" | b"\r")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &[u8]) -> Vec<(u64, String)> {
        let mut r = SourceReader::from_reader(
            "t".into(),
            Box::new(Cursor::new(text.to_vec())),
            &ColumnChoice::Auto,
            Arc::default(),
        )
        .unwrap();
        let mut out = Vec::new();
        while let Some((line, cell)) = r.next_row().unwrap() {
            let v = match cell {
                Cell::Value(v) => v.into_owned(),
                Cell::Missing => "<missing>".into(),
                Cell::RepeatedHeader => "<header>".into(),
            };
            out.push((line, v));
        }
        out
    }

    #[test]
    fn lines_follow_the_file_including_quoted_newlines_and_blank_lines() {
        let got = rows(
            b"email,note\r\na@x.com,\"two\r\nlines\"\r\n\r\nb@x.com,ok\r\nshort\r\nemail,note\r\n",
        );
        assert_eq!(
            got,
            vec![
                (2, "a@x.com".into()),
                (5, "b@x.com".into()),
                (6, "short".into()),
                (7, "<header>".into()),
            ]
        );
    }

    #[test]
    fn old_mac_line_ends() {
        let got = rows(b"email\ra@x.com\rb@x.com\r");
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[1].1, "b@x.com");
    }

    #[test]
    fn short_rows_report_a_missing_cell() {
        let got = rows(b"id,email\n1,a@x.com\n2\n");
        assert_eq!(got, vec![(2, "a@x.com".into()), (3, "<missing>".into())]);
    }

    #[test]
    fn large_inputs_stream_past_the_sample() {
        let mut text = b"email\n".to_vec();
        for i in 0..20_000 {
            text.extend(format!("user{i}@example.com\n").as_bytes());
        }
        let got = rows(&text);
        assert_eq!(got.len(), 20_000);
        assert_eq!(got[19_999], (20_001, "user19999@example.com".into()));
    }
}
