//! Reading mail-system exports as a stream of (line, address cell) rows, one input after another, with one
//! reused record buffer: memory stays flat however long the export is.

pub mod decode;
pub mod layout;
pub mod pump;
pub mod records;
pub mod sheet;
pub mod stretch;
pub mod transcode;

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use decode::{DynRead, Encoding, cell_text};
pub use layout::{ColumnChoice, Layout};
use records::{BUFFER_BYTES, Records, Source, Start};
pub use records::{Runaway, Sprawl, Unclosed};
use stretch::{Look, Watch, Why};
use transcode::Decoded;

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

/// How inputs are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    pub column: ColumnChoice,
    /// An input with no bytes at all (a workbook: no cells) is not an error.
    pub allow_empty: bool,
    /// The sheet of a workbook to read (`--sheet`); by default the first visible one with cells.
    pub sheet: Option<String>,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            column: ColumnChoice::Auto,
            allow_empty: false,
            sheet: None,
        }
    }
}

/// Why an input cannot be read. Shown as `<name>: <reason>`.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{name}: {}", plain(source))]
    Io { name: String, source: io::Error },
    #[error("{name}: {source}")]
    Layout {
        name: String,
        source: layout::LayoutError,
    },
    #[error("{name}: {why}")]
    NotText { name: String, why: &'static str },
    /// A workbook that cannot be read, or has no such sheet, or none with cells.
    #[error("{name}: {why}")]
    Workbook { name: String, why: String },
    #[error("{name}: {}; if no rows can be right, pass --allow-empty", emptiness(*bytes))]
    Empty { name: String, bytes: u64 },
    /// `--resume` with a report of another input (or of this one before it was edited).
    #[error(
        "{name}: line {line} is {now:?}, but the report given to --resume has {earlier:?} there: it is \
         not this input's report (or the input changed since); nothing from line {line} on was read"
    )]
    ResumeMismatch {
        name: String,
        line: u64,
        earlier: String,
        now: String,
    },
}

/// What an input with no text held: nothing, or only a byte-order mark.
fn emptiness(bytes: u64) -> String {
    match bytes {
        0 => "empty (0 bytes)".to_string(),
        n => format!("empty (nothing after its {n}-byte byte-order mark)"),
    }
}

/// (Kept here too for the reader's own messages.)
pub use crate::os_error::plain;

/// One data row: the physical line where it starts, and its address cell.
#[derive(Debug, PartialEq, Eq)]
pub struct Row<'a> {
    pub line: u64,
    pub cell: Cell<'a>,
    /// The row opened a quote that was taken for a stray: only its first line was read into it.
    pub unclosed: Option<Unclosed>,
    /// The row was taken whole although it runs over more lines, or holds more delimiters in quotes,
    /// than a row should: worth a warning.
    pub sprawl: Option<Sprawl>,
    /// The address column of the export the row is in (a stream may hold several), as messages name it.
    pub column_label: &'a str,
}

/// The address cell of one data row.
#[derive(Debug, PartialEq, Eq)]
pub enum Cell<'a> {
    /// `text` holds at most [`records::FIELD_KEEP`] bytes of the value; `len` is its length in the input
    /// (decoded from UTF-16, not yet from Windows-1252), and `cut` says that `text` is only its start.
    Value {
        text: Cow<'a, str>,
        len: usize,
        cut: bool,
    },
    /// The row is shorter than the address column.
    Missing,
    /// The row repeats the header (files concatenated with `cat`).
    RepeatedHeader,
}

/// Counts bytes as they are read, for the progress bar, and ends the input at the first read of 0 bytes
/// (at a terminal, one Ctrl-D).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
    ended: bool,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        self.ended = n == 0 && !buf.is_empty();
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

pub struct SourceReader {
    name: String,
    /// The layout of the export being read (of the first one until another starts).
    pub layout: Layout,
    /// The encoding of the first export.
    pub encoding: Encoding,
    records: Records<Decoded>,
    header_cell: Option<String>,
    skip_header: bool,
    column: ColumnChoice,
    label: String,
    watch: Watch,
    /// A workbook's sheet, read instead of `records` (which then read nothing).
    sheet: Option<Box<sheet::SheetReader>>,
    /// Said on stderr when the rows are first read: `--sheet` given for an input that is text.
    note: Option<String>,
}

impl SourceReader {
    /// Opens one input and works out its layout. `bytes_read` counts the raw bytes consumed. With
    /// `interrupt`, a pipe or terminal is read on a thread of its own and ends as soon as the run starts
    /// stopping.
    pub fn open(
        spec: &InputSpec,
        options: &ReadOptions,
        bytes_read: Arc<AtomicU64>,
        interrupt: Option<&Arc<crate::interrupt::Interrupt>>,
    ) -> Result<SourceReader, InputError> {
        let name = spec.name();
        let raw: DynRead = match &spec.path {
            Some(p) => Box::new(File::open(p).map_err(|source| InputError::Io {
                name: name.clone(),
                source,
            })?),
            None => Box::new(io::stdin()),
        };
        let raw = match interrupt {
            Some(i) if spec.size().is_none() => pump::interruptible(raw, i),
            _ => raw,
        };
        Self::from_reader(name, raw, options, bytes_read)
    }

    pub fn from_reader(
        name: String,
        raw: DynRead,
        options: &ReadOptions,
        bytes_read: Arc<AtomicU64>,
    ) -> Result<SourceReader, InputError> {
        let io_err = |source| InputError::Io {
            name: name.clone(),
            source,
        };
        // (The count is shared by the inputs of a run: this one's bytes are what it adds.)
        let before = bytes_read.load(Ordering::Relaxed);
        let mut counted: DynRead = Box::new(Counting {
            inner: raw,
            count: bytes_read.clone(),
            ended: false,
        });
        // A workbook (.xlsx, .xls, .ods) is told by its first bytes, whatever its name, on stdin too.
        let mut head = [0; sheet::HEAD_BYTES];
        let n = decode::read_full(&mut counted, &mut head).map_err(io_err)?;
        if sheet::is_workbook(&head[..n]) {
            let bytes = sheet::read_whole(&head[..n], &mut counted, sheet::WORKBOOK_MAX_BYTES)
                .map_err(io_err)?
                .map_err(|why| InputError::Workbook {
                    name: name.clone(),
                    why,
                })?;
            let (reader, layout) = sheet::SheetReader::open(&name, bytes, options)?;
            let (empty, _) = Decoded::new(Box::new(io::empty())).map_err(io_err)?;
            let records = Records::new(Source::new(empty, 0), layout.records_config());
            return Ok(SourceReader {
                name,
                label: layout.column_label(),
                layout,
                // (Cells are Unicode text; `describe` names the workbook instead.)
                encoding: Encoding::Utf8,
                records,
                header_cell: None,
                skip_header: false,
                column: options.column.clone(),
                watch: Watch::default(),
                sheet: Some(Box::new(reader)),
                note: None,
            });
        }
        let counted: DynRead = Box::new(Cursor::new(head[..n].to_vec()).chain(counted));
        let (decoded, encoding) = Decoded::new(counted).map_err(io_err)?;
        let mut source = Source::new(decoded, BUFFER_BYTES);
        source.fill_to(SAMPLE_BYTES).map_err(io_err)?;
        // (Where the decoder found the next export to start, in another encoding.)
        let next = source.input().starts().front().map(|s| s.at as usize);
        let buffered = source.buffered();
        if buffered.is_empty() && !options.allow_empty {
            let bytes = bytes_read.load(Ordering::Relaxed) - before;
            return Err(InputError::Empty { name, bytes });
        }
        let sample = &buffered[..buffered.len().min(SAMPLE_BYTES)];
        if let Some(why) = decode::not_text(sample).or_else(|| decode::not_delimited(sample)) {
            return Err(InputError::NotText { name, why });
        }
        // The layout of the first export, from its own lines (the stream may hold others after it).
        let (sample, _, cut) = stretch::cut(sample, usize::MAX, SAMPLE_BYTES, next);
        let complete = cut || (source.at_eof() && buffered.len() <= SAMPLE_BYTES);
        let layout = stretch::sniff(sample, complete, &options.column).map_err(|source| {
            InputError::Layout {
                name: name.clone(),
                source,
            }
        })?;
        let records = Records::new(source, layout.records_config());
        Ok(SourceReader {
            name,
            skip_header: layout.header.is_some(),
            header_cell: header_cell(&layout),
            label: layout.column_label(),
            layout,
            encoding,
            records,
            column: options.column.clone(),
            watch: Watch::default(),
            sheet: None,
            note: options.sheet.as_ref().map(|sheet| {
                format!(
                    "--sheet \"{}\" is for workbooks: this input is text, read as it is",
                    crate::escape::text(sheet)
                )
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// What was found out about the input, for `--verbose`: its encoding and layout, or its sheet.
    pub fn describe(&self) -> String {
        match &self.sheet {
            Some(sheet) => sheet.describe(&self.layout),
            None => format!("{}; {}", self.encoding, self.layout),
        }
    }

    /// The first word holding an `@` in a field of the current record (`which` picks the fields), and the
    /// field.
    fn address_elsewhere(&self, which: impl Fn(usize, &str) -> bool) -> Option<(usize, String)> {
        (0..records::MAX_FIELDS)
            .map_while(|i| self.records.field(i).map(|b| (i, cell_text(b))))
            .filter(|(i, text)| which(*i, text))
            .find_map(|(i, text)| {
                text.split(|c: char| c.is_whitespace() || matches!(c, '"' | ',' | ';' | '|' | '\t'))
                    .find(|w| w.contains('@'))
                    .map(|w| (i, w.to_string()))
            })
    }

    /// Whether every cell of the current record is empty or white space.
    fn is_blank(&self) -> bool {
        self.records.width() <= records::MAX_FIELDS
            && (0..self.records.width()).all(|i| {
                self.records.field_len(i) <= records::FIELD_KEEP
                    && self
                        .records
                        .field(i)
                        .is_none_or(|b| b.iter().all(u8::is_ascii_whitespace))
            })
    }

    /// Whether the record is the header of the export being read, cell for cell (names compared as
    /// [`layout::normalize_header`] does). Data rows leave at the first test: their address cell has an
    /// `@`.
    fn repeats_header(&self) -> bool {
        let Some(header) = &self.layout.header else {
            return false;
        };
        let column = self.layout.column;
        !self
            .records
            .field(column)
            .is_some_and(|b| b.contains(&b'@'))
            && self.records.width() == header.len()
            && header.iter().enumerate().all(|(i, name)| {
                self.records.field_len(i) <= records::FIELD_KEEP
                    && self.records.field(i).is_some_and(|b| {
                        layout::normalize_header(&cell_text(b)) == layout::normalize_header(name)
                    })
            })
    }

    /// The address cell's value: at most [`records::FIELD_KEEP`] bytes, not cut inside a UTF-8 character.
    fn value<'b>(&self, bytes: &'b [u8], column: usize) -> (Cow<'b, str>, usize, bool) {
        let len = self.records.field_len(column);
        let cut = len > bytes.len();
        let bytes = match std::str::from_utf8(bytes) {
            Err(e) if cut && e.error_len().is_none() => &bytes[..e.valid_up_to()],
            _ => bytes,
        };
        (cell_text(bytes), len, cut)
    }

    /// Whether another export starts with the current record (which then is read again, under the layout
    /// of that export). `fits`: the record's address cell fits the layout in use ([`stretch::fits`]).
    fn another_export(&mut self, start: &Start, fits: bool) -> io::Result<bool> {
        let offset = self.records.start_offset();
        let starts = self.records.input().starts();
        let mut encoding = None;
        while let Some(s) = starts.front().copied()
            && s.at <= offset
        {
            starts.pop_front();
            encoding = Some(s.encoding);
        }
        let (why, line) = match encoding {
            Some(e) => (Why::Encoding(e), Vec::new()),
            None if start.unclosed.is_some() => return Ok(false),
            None if fits => return Ok(false),
            None => {
                let auto = self.column == ColumnChoice::Auto;
                let Some(rest) = self.records.start_bytes() else {
                    return Ok(false);
                };
                let line = records::split_line(rest).0;
                // (A line already found to start no export, however it seemed to: not again.)
                if self.watch.known_not_a_header(line) {
                    return Ok(false);
                }
                match stretch::trigger(&self.records, &self.layout, line, auto) {
                    Some(why) => (why, line.to_vec()),
                    None => return Ok(false),
                }
            }
        };
        if !self.watch.worth_a_look(start.line, why, &line) {
            return Ok(false);
        }
        // The lines from here on, up to where the decoder found yet another encoding to start.
        self.records.fill_from_start(stretch::WINDOW_BYTES)?;
        let stop = self
            .records
            .input()
            .starts()
            .front()
            .map(|s| (s.at - offset) as usize);
        let eof = self.records.at_eof();
        let Some(rest) = self.records.start_bytes() else {
            return Ok(false);
        };
        let (window, _, cut) =
            stretch::cut(rest, stretch::WINDOW_LINES, stretch::WINDOW_BYTES, stop);
        let complete = cut || (eof && window.len() == rest.len());
        let layout = match stretch::look(window, complete, &self.layout, why, &self.column) {
            Look::Starts(layout) => layout,
            Look::No { quiet } => {
                self.watch.looked(start.line, why, &line, quiet);
                return Ok(false);
            }
        };
        if !self.records.restart(layout.records_config()) {
            return Ok(false);
        }
        match encoding {
            Some(e) => tracing::info!(
                "{}: line {}: another export starts, in {e}: {layout}",
                self.name,
                start.line
            ),
            None => tracing::info!(
                "{}: line {}: another export starts: {layout}",
                self.name,
                start.line
            ),
        }
        self.watch.switched(start.line);
        self.skip_header = layout.header.is_some();
        self.header_cell = header_cell(&layout);
        self.label = layout.column_label();
        self.layout = layout;
        Ok(true)
    }

    /// The next data row.
    pub fn next_row(&mut self) -> Result<Option<Row<'_>>, InputError> {
        if let Some(note) = self.note.take() {
            tracing::warn!("{}: {note}", self.name);
        }
        if self.sheet.is_some() {
            let label = &self.label;
            return Ok(self.sheet.as_mut().and_then(|s| s.next_row(label)));
        }
        let io_err = |name: &str, source| InputError::Io {
            name: name.to_string(),
            source,
        };
        let start = loop {
            let start = self
                .records
                .next_record()
                .map_err(|e| io_err(&self.name, e))?;
            match start {
                None => return Ok(None),
                Some(_) if self.skip_header => self.skip_header = false,
                // A row of empty cells (`;;;` of a spreadsheet, spaces) is a blank line, not a row.
                Some(start) if start.unclosed.is_none() && self.is_blank() => {}
                Some(start) => {
                    // (An address cell that fits the layout, the common case, rules out the rest.)
                    let fits = self
                        .records
                        .field(self.layout.column)
                        .is_some_and(stretch::fits);
                    if self
                        .another_export(&start, fits)
                        .map_err(|e| io_err(&self.name, e))?
                    {
                        continue;
                    }
                    // The header again, cell for cell: another export of the same layout starts (`cat`
                    // of two files of one mail system), as when the files are named one by one. (After
                    // the look for another export: one in another encoding may start with it.)
                    if !fits && start.unclosed.is_none() && self.repeats_header() {
                        tracing::info!(
                            "{}: line {}: the header again: another export of the same layout starts",
                            self.name,
                            start.line
                        );
                        continue;
                    }
                    break start;
                }
            }
        };
        let column = self.layout.column;
        let unclosed = start.unclosed;
        let has_at = |b: &[u8]| b.contains(&b'@');
        let cell = match self.records.field(column) {
            // A row cut short at a stray quote may hold its address elsewhere on the line (the quote opened
            // before the address column): the report shows it.
            found if unclosed.is_some() && !found.is_some_and(has_at) => {
                match self.address_elsewhere(|i, _| i != column).map(|(_, a)| a) {
                    Some(a) => Cell::Value {
                        len: a.len(),
                        text: Cow::Owned(a),
                        cut: false,
                    },
                    None => match found {
                        Some(bytes) => {
                            let (text, len, cut) = self.value(bytes, column);
                            Cell::Value { text, len, cut }
                        }
                        None => Cell::Missing,
                    },
                }
            }
            None => Cell::Missing,
            Some(bytes) => {
                let (text, len, cut) = self.value(bytes, column);
                let repeated = unclosed.is_none()
                    && self.header_cell.as_ref().is_some_and(|h| {
                        !text.contains('@') && *h == layout::normalize_header(&text)
                    });
                if repeated {
                    Cell::RepeatedHeader
                } else {
                    Cell::Value { text, len, cut }
                }
            }
        };
        Ok(Some(Row {
            line: start.line,
            cell,
            unclosed,
            sprawl: start.sprawl,
            column_label: &self.label,
        }))
    }
}

/// The header's name of the address column, normalized, to know the header again when it repeats.
fn header_cell(layout: &Layout) -> Option<String> {
    layout
        .header
        .as_ref()
        .and_then(|h| h.get(layout.column))
        .map(|c| layout::normalize_header(c))
        .filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn rows(text: &[u8]) -> Vec<(u64, String)> {
        let mut r = SourceReader::from_reader(
            "t".into(),
            Box::new(Cursor::new(text.to_vec())),
            &ReadOptions::default(),
            Arc::default(),
        )
        .unwrap();
        let mut out = Vec::new();
        while let Some(row) = r.next_row().unwrap() {
            let v = match row.cell {
                _ if row.unclosed.is_some() => "<unclosed>".into(),
                Cell::Value { text, .. } => text.into_owned(),
                Cell::Missing => "<missing>".into(),
                Cell::RepeatedHeader => "<header>".into(),
            };
            out.push((row.line, v));
        }
        out
    }

    #[test]
    fn lines_follow_the_file_including_quoted_newlines_and_blank_lines() {
        let got = rows(
            // (The last line is the header again: no row.)
            b"email,note\r\na@x.com,\"two\r\nlines\"\r\n\r\nb@x.com,ok\r\nshort\r\nemail,note\r\n",
        );
        assert_eq!(
            got,
            vec![
                (2, "a@x.com".into()),
                (5, "b@x.com".into()),
                (6, "short".into()),
            ]
        );
    }

    fn utf16(s: &str, le: bool, bom: bool) -> Vec<u8> {
        let mut out = match (bom, le) {
            (false, _) => Vec::new(),
            (true, true) => vec![0xFF, 0xFE],
            (true, false) => vec![0xFE, 0xFF],
        };
        for u in s.encode_utf16() {
            out.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        out
    }

    /// Exports one after another in one stream, each with its own encoding and layout: every row as the
    /// export read alone gives it, at its line in the stream, and no header, `sep=` or comment line as a
    /// row.
    #[test]
    fn a_stream_of_exports_reads_each_as_it_is() {
        let mut text = b"created,email,reason\n2026,a@x.com,550\n".to_vec();
        text.extend(utf16("ID\tRecipient\r\n1\tb@x.com\r\n", true, true));
        text.extend(b"c@x.com,BOUNCE\nd@x.com,COMPLAINT\n");
        text.extend(b"sep=;\r\nName;E-Mail\r\nJ\xFCrgen;e@x.com\r\n");
        text.extend(b"# a list\nf@x.com\ng@x.com\n");
        text.extend(utf16("email\ng@x.com\n", false, false));
        text.extend(b"\xEF\xBB\xBFemail\nh@x.com\n");
        text.extend(b"email\ni@x.com\n");
        let got = rows(&text);
        let want: Vec<(u64, String)> = [
            (2, "a@x.com"),
            (4, "b@x.com"),
            (5, "c@x.com"),
            (6, "d@x.com"),
            (9, "e@x.com"),
            (11, "f@x.com"),
            (12, "g@x.com"),
            (14, "g@x.com"),
            (16, "h@x.com"),
            // (Line 17: the same header again, `cat` of two exports of one layout: not a row.)
            (18, "i@x.com"),
        ]
        .iter()
        .map(|(l, a)| (*l, a.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn old_mac_line_ends() {
        let got = rows(b"sep=,\remail,name\ra@x.com,A\r\rb@x.com,B\r");
        assert_eq!(got, vec![(3, "a@x.com".into()), (5, "b@x.com".into())]);
    }

    /// A terminal: lines as they are typed, one read of 0 bytes for Ctrl-D, and more if read again.
    struct Terminal(Vec<&'static [u8]>);

    impl Read for Terminal {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let chunk = self.0.remove(0);
            buf[..chunk.len()].copy_from_slice(chunk);
            Ok(chunk.len())
        }
    }

    #[test]
    fn one_ctrl_d_ends_the_input() {
        let typed = Terminal(vec![b"a@x.com\n", b"b@x.com\n", b"", b"c@x.com\n", b""]);
        let mut r = SourceReader::from_reader(
            "<stdin>".into(),
            Box::new(typed),
            &ReadOptions::default(),
            Arc::default(),
        )
        .unwrap();
        let mut lines = Vec::new();
        while let Some(row) = r.next_row().unwrap() {
            lines.push(row.line);
        }
        assert_eq!(lines, vec![1, 2]);
    }

    #[test]
    fn os_errors_in_plain_words() {
        let plain_of = |kind: io::ErrorKind| plain(&io::Error::from(kind));
        assert_eq!(plain_of(io::ErrorKind::NotFound), "no such file");
        assert_eq!(
            plain_of(io::ErrorKind::PermissionDenied),
            "permission denied"
        );
        assert_eq!(plain_of(io::ErrorKind::IsADirectory), "is a directory");
        assert_eq!(
            plain(&io::Error::from_raw_os_error(5)),
            "input/output error"
        );
    }

    #[test]
    fn a_quote_closed_inside_its_field_shows_the_address_it_took_in() {
        let got = rows(
            b"\"status\",\"reason\",\"email\",\"created\"\n\"bounce\",\"550 cut,\"a@x.com\",\"17\"\n\"bounce\",\"ok\",\"b@x.com\",\"1\"\n",
        );
        assert_eq!(got, vec![(2, "<unclosed>".into()), (3, "b@x.com".into())]);
    }

    #[test]
    fn rows_of_empty_cells_are_blank_lines() {
        let got = rows(b"email;name;x\na@x.com;A;1\n;;\n   \n\"\";;\nb@x.com;B;2\n;Bob;\n");
        assert_eq!(
            got,
            vec![(2, "a@x.com".into()), (6, "b@x.com".into()), (7, "".into())]
        );
    }

    #[test]
    fn a_long_cell_is_cut_on_a_character_boundary() {
        let mut text = "email\na".to_string();
        text.extend(std::iter::repeat_n('é', 2500));
        text.push('\n');
        let mut r = SourceReader::from_reader(
            "t".into(),
            Box::new(Cursor::new(text.into_bytes())),
            &ReadOptions::default(),
            Arc::default(),
        )
        .unwrap();
        let row = r.next_row().unwrap().unwrap();
        let Cell::Value { text, len, cut } = row.cell else {
            panic!("{:?}", row.cell)
        };
        assert_eq!((len, cut), (5001, true));
        assert!(text.starts_with("aéé") && text.chars().skip(1).all(|c| c == 'é'));
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
