//! Records of a delimited export, read one physical line at a time, so that each record knows the true line
//! it starts on (LF, CRLF and CR line ends alike, mixed or not) and no record can swallow the rows after it.
//!
//! A quoted field may run over line ends. It is taken for a stray quote when an address follows it on its
//! own line, when it runs past [`MAX_QUOTED_LINES`] lines or [`MAX_QUOTED_BYTES`] bytes, into a line that
//! reads as a row of its own, or to the end of the input: the row where it opened is then returned as its first line alone would give it,
//! marked [`Unclosed`], and reading starts again on the next line. Fields are parsed by `csv_core`; what is
//! kept of each is bounded, so a giant line costs time but not memory. The last record stays buffered
//! while it is not too long, to be read again under another layout when another export starts with it.

use std::fmt;
use std::io::{self, Read};

use csv_core::{ReadRecordResult, Reader as Core, ReaderBuilder as CoreBuilder, Terminator};

use super::decode::cell_text;
use crate::address;

/// How much input is buffered. A longer line is parsed in parts (it cannot be inside a multi-line field).
pub const BUFFER_BYTES: usize = 256 * 1024;
/// How many line ends one quoted field may run over.
pub const MAX_QUOTED_LINES: u64 = 100;
/// How many bytes of lines after the first one quoted field may run over.
pub const MAX_QUOTED_BYTES: usize = 64 * 1024;
/// What is kept of one field; the rest is counted (see [`Records::field_len`]).
pub const FIELD_KEEP: usize = 4 * 1024;
/// How many fields of one record are kept; the rest are counted.
pub const MAX_FIELDS: usize = 1024;

/// How one input is split into records.
#[derive(Debug, Clone)]
pub struct Config {
    pub delimiter: u8,
    /// The column that holds the addresses, when known: a line a quoted field runs into that would give an
    /// address there on its own reads as a row (see [`Runaway::IntoRow`]).
    pub address_column: Option<usize>,
    /// How many columns a row has, when known: an address a quoted field's closing line puts past them is a
    /// row's own (see [`Runaway::IntoRow`]).
    pub width: Option<usize>,
    /// Lines starting with `#` that hold no `@` are not records (one-column lists).
    pub comments: bool,
    /// Physical lines at the start that are not records (`sep=;`, `#TYPE ...`).
    pub skip_lines: u64,
}

impl Config {
    /// A csv_core parser for this input: any of CR, LF and CRLF ends a record.
    fn core(&self) -> Core {
        CoreBuilder::new()
            .delimiter(self.delimiter)
            .terminator(Terminator::CRLF)
            .build()
    }
}

/// Why a quote that opened on a row was taken for a stray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runaway {
    /// The input ended inside the quoted field.
    EndOfInput,
    /// The quoted field ran into this line, which reads as a row of its own.
    IntoRow(u64),
    /// The quoted field ran past [`MAX_QUOTED_LINES`] lines or [`MAX_QUOTED_BYTES`] bytes.
    TooFar,
    /// The quote is not closed on its line, and an address follows it there: it took in its own row's
    /// cells.
    OverAddress,
    /// The quote closed in the middle of its field (not before a delimiter or the line end), which then
    /// took in the delimiters and cells after it: the address is not in its column.
    ClosedMidField,
}

impl fmt::Display for Runaway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Runaway::EndOfInput => f.write_str("is never closed"),
            Runaway::IntoRow(line) => {
                write!(f, "runs into line {line}, which reads as a row of its own")
            }
            Runaway::OverAddress => {
                f.write_str("is not closed on its line, and an address follows it there")
            }
            Runaway::ClosedMidField => f.write_str(
                "closes in the middle of its field, which takes in the cells after it (the address too)",
            ),
            Runaway::TooFar => write!(
                f,
                "runs past {MAX_QUOTED_LINES} lines or {} KiB",
                MAX_QUOTED_BYTES / 1024
            ),
        }
    }
}

/// A row whose quote was taken for a stray: it was read up to the end of the line where that quote opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unclosed {
    /// 0-based field where the quote opened.
    pub column: usize,
    /// The line where the quote opened (the row may start on an earlier one).
    pub line: u64,
    pub why: Runaway,
}

/// Where a record starts, and whether it was cut short at an unclosed quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Start {
    pub line: u64,
    pub unclosed: Option<Unclosed>,
    /// The record runs over more lines, or holds more delimiters in quotes, than a row should.
    pub sprawl: Option<Sprawl>,
}

/// A record taken whole although it runs over more than [`MAX_QUOTED_LINES`] line ends, or its quoted
/// cells that run over line ends hold more delimiters than a row has columns: it may have taken in rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sprawl {
    /// The line ends inside the record.
    pub lines: u64,
    /// The delimiters inside its quoted cells.
    pub delimiters: usize,
}

/// Reads records; the fields of the last one are read with [`Records::field`].
pub struct Records<R> {
    src: Source<R>,
    cfg: Config,
    core: Core,
    fields: Fields,
    /// For reading a line on its own (is it a row?); made when first needed.
    alone_core: Option<Core>,
    alone: Fields,
    /// The line the next byte of input belongs to.
    line: u64,
    skip: u64,
    /// Where the last record starts: its first line, and its position in the buffer while it is kept
    /// there (see [`Records::restart`]).
    start_line: u64,
}

impl<'a> Records<&'a [u8]> {
    /// Records of bytes already in memory (the sample the layout is worked out from).
    pub fn over(bytes: &'a [u8], cfg: Config) -> Records<&'a [u8]> {
        // One byte more than the input, so the read that finds its end has room.
        Records::new(Source::new(bytes, bytes.len() + 1), cfg)
    }
}

impl<R: Read> Records<R> {
    pub fn new(src: Source<R>, cfg: Config) -> Records<R> {
        Records {
            src,
            core: cfg.core(),
            alone_core: None,
            fields: Fields::new(),
            alone: Fields::new(),
            line: 1,
            skip: cfg.skip_lines,
            start_line: 1,
            cfg,
        }
    }

    /// The input under the records.
    pub fn input(&mut self) -> &mut R {
        &mut self.src.src
    }

    /// Where the last record starts in the input (in bytes from its start).
    pub fn start_offset(&self) -> u64 {
        self.src.base + self.src.hold.unwrap_or(self.src.pos) as u64
    }

    /// What is buffered from the start of the last record on (see [`Records::fill_from_start`]), unless
    /// the record was too long to be kept.
    pub fn start_bytes(&self) -> Option<&[u8]> {
        self.src.hold.map(|h| &self.src.buf[h..self.src.end])
    }

    /// Reads until at least `want` bytes from the start of the last record on are buffered (as many as
    /// half the buffer holds), or the input ends.
    pub fn fill_from_start(&mut self, want: usize) -> io::Result<()> {
        let want = want.min(self.src.buf.len() / 2 - 1);
        while let Some(h) = self.src.hold
            && self.src.end - h < want
            && self.src.fill()?
        {}
        Ok(())
    }

    /// Whether the whole input has been read into the buffer.
    pub fn at_eof(&self) -> bool {
        self.src.eof
    }

    /// Reads the input again from the start of the last record, split as `cfg` says (another export
    /// starts there). False when the record was too long to be kept.
    pub fn restart(&mut self, cfg: Config) -> bool {
        let Some(h) = self.src.hold else {
            return false;
        };
        self.src.pos = h;
        self.src.mark = None;
        self.line = self.start_line;
        self.skip = cfg.skip_lines;
        self.core = cfg.core();
        self.alone_core = None;
        self.fields.clear();
        self.cfg = cfg;
        true
    }

    /// How many fields the last record has (kept or not).
    pub fn width(&self) -> usize {
        self.fields.width()
    }

    /// Field `i` of the last record; at most [`FIELD_KEEP`] bytes of it.
    pub fn field(&self, i: usize) -> Option<&[u8]> {
        self.fields.get(i)
    }

    /// The length of field `i` in the input, which is more than [`Records::field`] holds of a long field.
    pub fn field_len(&self, i: usize) -> usize {
        self.fields.full_len(i)
    }

    /// The next record. Blank lines are not records.
    pub fn next_record(&mut self) -> io::Result<Option<Start>> {
        self.fields.clear();
        if self.skip == 0
            && !self.cfg.comments
            && let Some(start) = self.single_line()
        {
            return Ok(Some(start));
        }
        // Its first line: preamble, blank and comment lines are passed over.
        let mut piece = loop {
            let piece = self.src.next_line()?;
            match piece {
                Piece::End => return Ok(None),
                Piece::Line { len, term } => {
                    let text = &self.src.buf[self.src.pos..self.src.pos + len];
                    if self.skip > 0 || len == 0 || (self.cfg.comments && is_comment(text)) {
                        self.skip = self.skip.saturating_sub(1);
                        self.src.pos += len + term;
                        self.line += 1;
                        continue;
                    }
                }
                Piece::Part { .. } => {}
            }
            break piece;
        };
        let first = self.line;
        self.src.hold = Some(self.src.pos);
        self.start_line = first;
        // Where the record's line is in the buffer, when it is there whole.
        let mut whole_line = None;
        // Fed in parts when it is longer than the buffer.
        let done = loop {
            match piece {
                Piece::Part { len } => {
                    let part = &self.src.buf[self.src.pos..self.src.pos + len];
                    self.fields.feed(&mut self.core, part);
                    self.src.pos += len;
                }
                Piece::Line { len, term } => {
                    let whole = &self.src.buf[self.src.pos..self.src.pos + len + term];
                    let mut done = self.fields.feed(&mut self.core, whole);
                    if term == 0 {
                        done = self.fields.feed(&mut self.core, b"\n");
                    }
                    whole_line = Some(self.src.pos..self.src.pos + len);
                    self.src.pos += len + term;
                    self.line += 1;
                    break done;
                }
                Piece::End => break self.fields.feed(&mut self.core, b"\n"),
            }
            piece = self.src.next_line()?;
        };
        if done {
            let unclosed = whole_line.and_then(|r| self.mid_field_quote(&self.src.buf[r], first));
            return Ok(Some(Start {
                line: first,
                unclosed,
                sprawl: None,
            }));
        }
        // A quoted field runs over the line end: keep the lines it takes in, to read them again if it
        // turns out to be a stray quote.
        let mut opened = self.fields.mark();
        let mut quote_line = first;
        self.src.mark = Some(self.src.pos);
        let column = self.cfg.address_column;
        let mut lines = 0;
        let delimiter = self.cfg.delimiter;
        let count = |bytes: &[u8]| memchr::memchr_iter(delimiter, bytes).count();
        let mut delimiters = whole_line.map_or(0, |r| count(&self.src.buf[r]));
        // A line taken into a quoted cell held an address: the record is taken whole, with a warning.
        let mut took_address = false;
        let why = loop {
            let open_part = self.fields.open_part();
            if lines == 0
                && open_part
                    .split(|&b| b == self.cfg.delimiter)
                    .any(looks_like_address)
            {
                break Runaway::OverAddress;
            }
            let (len, term) = match self.src.next_line()? {
                Piece::End => break Runaway::EndOfInput,
                Piece::Part { .. } => break Runaway::TooFar,
                Piece::Line { len, term } => (len, term),
            };
            let kept = self.src.pos + len - self.src.mark.expect("mark");
            if lines == MAX_QUOTED_LINES || kept > MAX_QUOTED_BYTES {
                break Runaway::TooFar;
            }
            let had_address = column.is_some_and(|c| self.fields.s.nend > c);
            // The quoted field is field `nend`; the cells after it on this line come after that.
            let first_new = self.fields.s.nend + 1;
            let text = &self.src.buf[self.src.pos..self.src.pos + len];
            let whole = &self.src.buf[self.src.pos..self.src.pos + len + term];
            let closes = inside_quote(text).len() < text.len();
            took_address |= holds_address(inside_quote(text), delimiter);
            delimiters += count(text);
            let mut done = self.fields.feed(&mut self.core, whole);
            if term == 0 {
                done = self.fields.feed(&mut self.core, b"\n");
            }
            let row = Row {
                cfg: &self.cfg,
                record: &self.fields,
                had_address,
                first_new,
                done,
            };
            let alone_core = self.alone_core.get_or_insert_with(|| self.cfg.core());
            if row.is_swallowed_by(text, &mut self.alone, alone_core) {
                break Runaway::IntoRow(self.line);
            }
            self.src.pos += len + term;
            self.line += 1;
            lines += 1;
            if done {
                self.src.mark = None;
                let inside = delimiters.saturating_sub(self.fields.width().saturating_sub(1));
                let lines = self.line - 1 - first;
                let sprawl = (lines > MAX_QUOTED_LINES
                    || took_address
                    || self.cfg.width.is_some_and(|w| inside > w))
                .then_some(Sprawl {
                    lines,
                    delimiters: inside,
                });
                return Ok(Some(Start {
                    line: first,
                    unclosed: None,
                    sprawl,
                }));
            }
            if closes {
                // The quote closed on this line and another opened: that one is watched from here on.
                opened = self.fields.mark();
                quote_line = self.line - 1;
                self.src.mark = Some(self.src.pos);
                lines = 0;
            }
        };
        // A stray quote: the row stands as it was on the line where the quote opened, and the lines after
        // that one are read again.
        self.fields.close_at(opened);
        self.src.pos = self.src.mark.take().expect("mark");
        self.line = quote_line + 1;
        self.core.reset();
        Ok(Some(Start {
            line: first,
            unclosed: Some(Unclosed {
                column: opened.s.nend + opened.s.dropped,
                line: quote_line,
                why,
            }),
            sprawl: None,
        }))
    }

    /// The common case, found without looking for line ends first: a record that ends within what is
    /// buffered, on its first line. Nothing is read when it is anything else (a record over several lines,
    /// after blank lines, or past the buffer).
    fn single_line(&mut self) -> Option<Start> {
        let buffered = &self.src.buf[self.src.pos..self.src.end];
        if buffered.is_empty() {
            // (An empty input would tell csv_core that the input has ended.)
            return None;
        }
        let (done, read) = self.fields.feed_some(&mut self.core, buffered);
        let mut step = read;
        // Every byte read is a field's, a delimiter or the line end: no quote, no blank line, so no line
        // end inside. Otherwise look.
        let plain = read == self.fields.s.at + self.fields.width();
        let single = done && read > 0 && {
            let (end, body) = (buffered[read - 1], &buffered[..read - 1]);
            let inside = !plain && find_eol(body).is_some();
            // A CRLF's LF follows the CR csv_core stops at; unless it is not buffered yet.
            let crlf = end == b'\r' && buffered.get(read) == Some(&b'\n');
            step += usize::from(crlf);
            !inside && (end == b'\n' || crlf || read < buffered.len() || self.src.eof)
        };
        if !single {
            self.fields.clear();
            self.core.reset();
            return None;
        }
        let line = self.line;
        let unclosed = if plain {
            None
        } else {
            self.mid_field_quote(&self.src.buf[self.src.pos..self.src.pos + read], line)
        };
        self.src.hold = Some(self.src.pos);
        self.start_line = line;
        self.src.pos += step;
        self.line += 1;
        Some(Start {
            line,
            unclosed,
            sprawl: None,
        })
    }

    /// A record read whole from one line (`raw`) whose address cell holds no `@` while a quote in it
    /// closed in the middle of its field (`"550 cut,"a@x.com","170"`): that field took in the cells
    /// after it, an address among them. As a stray quote, on `line`.
    fn mid_field_quote(&self, raw: &[u8], line: u64) -> Option<Unclosed> {
        let column = self.cfg.address_column?;
        let has_at = |i: usize| self.fields.get(i).is_some_and(|b| b.contains(&b'@'));
        if has_at(column) || !raw.contains(&b'"') {
            return None;
        }
        let field = misquoted_field(raw, self.cfg.delimiter)?;
        (0..self.fields.width().min(MAX_FIELDS))
            .any(|i| i != column && has_at(i))
            .then_some(Unclosed {
                column: field,
                line,
                why: Runaway::ClosedMidField,
            })
    }
}

/// The field (0-based) of `line` whose quote closes before something other than a delimiter or the line
/// end, if one does. A quote inside an unquoted field is a character; a quote left open is not this.
pub fn misquoted_field(line: &[u8], delimiter: u8) -> Option<usize> {
    let line = match line {
        [rest @ .., b'\r', b'\n'] | [rest @ .., b'\n'] | [rest @ .., b'\r'] => rest,
        _ => line,
    };
    let (mut i, mut field) = (0, 0);
    loop {
        if line.get(i) == Some(&b'"') {
            i += 1;
            loop {
                let q = i + line[i..].iter().position(|&b| b == b'"')?;
                if line.get(q + 1) == Some(&b'"') {
                    i = q + 2;
                } else {
                    i = q + 1;
                    break;
                }
            }
            match line.get(i) {
                None => return None,
                Some(&b) if b != delimiter => return Some(field),
                Some(_) => {}
            }
        } else {
            i += line[i..].iter().position(|&b| b == delimiter)?;
        }
        i += 1;
        field += 1;
    }
}

/// A record a quoted field is running on in, as it stands after taking in one more line.
struct Row<'a> {
    cfg: &'a Config,
    record: &'a Fields,
    /// The record's address cell was complete before this line.
    had_address: bool,
    /// The first of the record's fields that this line's cells after the closing quote became.
    first_new: usize,
    /// The record ends with this line.
    done: bool,
}

impl Row<'_> {
    /// Does `line`, taken in by the quoted field, read as a row of its own? It may go on with the record
    /// only when the quote closes on it the way a closing quote does (right before a delimiter or the line
    /// end), or not at all; when the part of it inside the quotes holds no address between delimiters; and
    /// when, read on its own, it gives no address in the address column, unless the record takes that very
    /// address from it (`note","a@x.com`: a note over two lines, then the address); and when no address
    /// among the cells after its closing quote lands past the row's width (an address a row has no column
    /// for is a row's own; one in a sender column after a note is where the export put it).
    fn is_swallowed_by(&self, line: &[u8], alone: &mut Fields, core: &mut Core) -> bool {
        let delimiter = self.cfg.delimiter;
        let inside = inside_quote(line);
        let well_closed = line.get(inside.len() + 1).is_none_or(|&b| b == delimiter);
        if !well_closed {
            return true;
        }
        if self.ends_a_cell_over_lines(line, inside) {
            return false;
        }
        if holds_address(inside, delimiter) {
            return true;
        }
        // (Before the address column is known, as while the layout is worked out, nothing is misplaced.)
        let Some(column) = self.cfg.address_column else {
            return false;
        };
        let width = self.cfg.width.unwrap_or(usize::MAX);
        let misplaced = (self.first_new.max(width)..self.record.s.nend)
            .any(|i| self.record.get(i).is_some_and(looks_like_address));
        if misplaced {
            return true;
        }
        core.reset();
        alone.clear();
        alone.feed(core, line);
        if !alone.feed(core, b"\n") {
            // A quote of its own left open: on its own, the line ends the field.
            alone.feed(core, b"");
        }
        // A line that alone falls short of a row's width is no row of its own but the rest of one (a note
        // over two lines, then the address and a sender), as long as the record it ends reaches the row's
        // width (or beyond: trailing empty cells), or goes on into another quoted field.
        if let Some(width) = self.cfg.width
            && alone.width() < width
            && (!self.done || self.record.width() >= width)
        {
            return false;
        }
        let Some(cell) = alone.get(column).filter(|c| looks_like_address(c)) else {
            return false;
        };
        let completed_here = !self.had_address && self.record.s.nend > column;
        !(completed_here && self.record.get(column) == Some(cell))
    }

    /// Is `line` the end of a cell over several lines, as the CSV rules read it, whatever it holds? The
    /// quote closes on it (well, as checked before), the record ends with it at exactly a row's width, and
    /// on its own it would leave a quote unpaired: a row of its own holds its quotes in pairs
    /// (`a@x.com,"forwarded to` then `b@x.com, which said 550",bounce` is one row, a note quoting an
    /// address).
    fn ends_a_cell_over_lines(&self, line: &[u8], inside: &[u8]) -> bool {
        let closes = inside.len() < line.len();
        let quotes = memchr::memchr_iter(b'"', line).count();
        // Alone, the quote would stand inside a cell (`550",bounce`), not open one (`hard,"`: a row of
        // its own whose own note runs on).
        let mid_cell = inside.last().is_some_and(|&b| b != self.cfg.delimiter);
        closes
            && mid_cell
            && self.done
            && quotes % 2 == 1
            && self.cfg.width.is_some_and(|w| self.record.width() == w)
    }
}

/// Does the part of a line inside a quoted field hold an address between delimiters?
fn holds_address(inside: &[u8], delimiter: u8) -> bool {
    inside.split(|&b| b == delimiter).any(looks_like_address)
}

/// The part of a line that a quoted field open at its start still holds: up to the quote that closes it.
fn inside_quote(line: &[u8]) -> &[u8] {
    let mut from = 0;
    while let Some(p) = line[from..].iter().position(|&b| b == b'"') {
        let q = from + p;
        if line.get(q + 1) == Some(&b'"') {
            from = q + 2;
        } else {
            return &line[..q];
        }
    }
    line
}

/// A cell that holds an address, valid or not: an `@`, and no white space once `Name <...>` and `mailto:`
/// are taken off.
pub fn looks_like_address(cell: &[u8]) -> bool {
    if !cell.contains(&b'@') {
        return false;
    }
    let text = cell_text(cell);
    let addr = address::extract(&text);
    addr.contains('@') && !addr.chars().any(char::is_whitespace)
}

/// A comment line of a one-column list: `#` first, and no `@` (a line with an address is never passed over).
fn is_comment(line: &[u8]) -> bool {
    line.trim_ascii_start().first() == Some(&b'#') && !line.contains(&b'@')
}

/// The position of the first line end (`\n` or `\r`) in `bytes`.
fn find_eol(bytes: &[u8]) -> Option<usize> {
    // Eight bytes at a time: a byte equal to `\n` or `\r` turns to zero under the xor, and a zero byte
    // sets its high bit in `(x - 0x01..) & !x & 0x80..`.
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut words = bytes.chunks_exact(8);
    let mut from = 0;
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        let hits =
            zero_byte(w ^ (ONES * u64::from(b'\n'))) | zero_byte(w ^ (ONES * u64::from(b'\r')));
        if hits != 0 {
            // The lowest flagged byte is a true hit (borrows only run upwards from it).
            return Some(from + hits.trailing_zeros() as usize / 8);
        }
        from += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&b| b == b'\n' || b == b'\r')
        .map(|p| from + p)
}

/// The first line of `bytes` (without its line end) and what follows it.
pub fn split_line(bytes: &[u8]) -> (&[u8], &[u8]) {
    match find_eol(bytes) {
        None => (bytes, &[]),
        Some(i) => {
            let term = if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
                2
            } else {
                1
            };
            (&bytes[..i], &bytes[i + term..])
        }
    }
}

/// Input bytes in one buffer, handed out a physical line at a time.
pub struct Source<R> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Bytes from here on stay buffered (the lines a quoted field has run over so far).
    mark: Option<usize>,
    /// Bytes from here on stay buffered while they fill less than half the buffer (the last record, to
    /// read again as another export's).
    hold: Option<usize>,
    /// Where `buf` starts in the input.
    base: u64,
    eof: bool,
}

/// What [`Source::next_line`] found at `pos`.
#[derive(Clone, Copy)]
enum Piece {
    /// A line of `len` bytes and a line end of `term` (0 at the end of the input).
    Line {
        len: usize,
        term: usize,
    },
    /// The first `len` bytes of a line longer than the buffer.
    Part {
        len: usize,
    },
    End,
}

impl<R: Read> Source<R> {
    pub fn new(src: R, capacity: usize) -> Source<R> {
        Source {
            src,
            buf: vec![0; capacity],
            pos: 0,
            end: 0,
            mark: None,
            hold: None,
            base: 0,
            eof: false,
        }
    }

    /// Reads until `want` bytes are buffered or the input ends.
    pub fn fill_to(&mut self, want: usize) -> io::Result<()> {
        while self.end - self.pos < want.min(self.buf.len()) && self.fill()? {}
        Ok(())
    }

    /// The input under the buffer.
    pub fn input(&mut self) -> &mut R {
        &mut self.src
    }

    /// What is buffered and not yet read.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Whether all of the input has been read into the buffer.
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// Reads more input, first moving what is still needed to the front when the buffer is past half
    /// full. False when nothing more can come: the input has ended (a read of 0 bytes ends it for good, so
    /// one Ctrl-D ends typing at a terminal), or the buffer is full of bytes still needed.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let mut keep = self.mark.unwrap_or(self.pos);
        if let Some(h) = self.hold {
            if self.end - h < self.buf.len() / 2 {
                keep = keep.min(h);
            } else {
                self.hold = None;
            }
        }
        if keep > 0 && self.end > self.buf.len() / 2 {
            self.buf.copy_within(keep..self.end, 0);
            self.end -= keep;
            self.pos -= keep;
            self.base += keep as u64;
            for m in [&mut self.mark, &mut self.hold].into_iter().flatten() {
                *m -= keep;
            }
        }
        if self.end == self.buf.len() {
            return Ok(false);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            return Ok(true);
        }
    }

    /// The line at `pos`, reading more input as needed. A `\r` ends a line unless a `\n` follows it, in
    /// which case both do.
    fn next_line(&mut self) -> io::Result<Piece> {
        let mut scanned = 0;
        loop {
            match find_eol(&self.buf[self.pos + scanned..self.end]) {
                Some(i) => {
                    let at = self.pos + scanned + i;
                    let len = at - self.pos;
                    if self.buf[at] == b'\n' {
                        return Ok(Piece::Line { len, term: 1 });
                    }
                    if at + 1 < self.end {
                        let term = if self.buf[at + 1] == b'\n' { 2 } else { 1 };
                        return Ok(Piece::Line { len, term });
                    }
                    if self.eof {
                        return Ok(Piece::Line { len, term: 1 });
                    }
                    // A `\r` last: what follows decides whether it is a CRLF.
                    scanned = len;
                }
                None => {
                    scanned = self.end - self.pos;
                    if self.eof {
                        return Ok(match scanned {
                            0 => Piece::End,
                            len => Piece::Line { len, term: 0 },
                        });
                    }
                }
            }
            if !self.fill()? {
                return Ok(Piece::Part { len: scanned });
            }
        }
    }
}

/// The fields of one record, each kept up to [`FIELD_KEEP`] bytes, at most [`MAX_FIELDS`] of them.
struct Fields {
    out: Vec<u8>,
    ends: Vec<usize>,
    s: State,
    /// Fields cut short: their index and full length.
    long: Vec<(usize, usize)>,
    scratch: Vec<u8>,
}

/// Where the parse of a record stands.
#[derive(Clone, Copy, Default)]
struct State {
    /// Bytes kept in `out`, and fields ended in `ends`.
    nout: usize,
    nend: usize,
    /// Fields past [`MAX_FIELDS`]: counted, not kept.
    dropped: usize,
    /// csv_core's count of field bytes in this record (it counts what is not kept, too).
    at: usize,
    /// Where the current field started, in csv_core's count.
    field_at: usize,
    /// The current field has reached [`FIELD_KEEP`]: the rest of it is counted, not kept.
    cut: bool,
}

/// A point in a record to go back to (see [`Fields::close_at`]).
#[derive(Clone, Copy)]
struct Mark {
    s: State,
    long: usize,
}

impl Fields {
    fn new() -> Fields {
        Fields {
            out: vec![0; 2 * FIELD_KEEP],
            ends: vec![0; MAX_FIELDS],
            s: State::default(),
            long: Vec::new(),
            scratch: vec![0; 4096],
        }
    }

    fn clear(&mut self) {
        self.s = State::default();
        self.long.clear();
    }

    fn width(&self) -> usize {
        self.s.nend + self.s.dropped
    }

    fn start_of(&self, i: usize) -> usize {
        if i == 0 { 0 } else { self.ends[i - 1] }
    }

    fn get(&self, i: usize) -> Option<&[u8]> {
        (i < self.s.nend).then(|| &self.out[self.start_of(i)..self.ends[i]])
    }

    /// What is kept of the field still open.
    fn open_part(&self) -> &[u8] {
        &self.out[self.start_of(self.s.nend)..self.s.nout]
    }

    fn full_len(&self, i: usize) -> usize {
        match self.long.iter().find(|(k, _)| *k == i) {
            Some(&(_, len)) => len,
            None if i < self.s.nend => self.ends[i] - self.start_of(i),
            None => 0,
        }
    }

    /// Parses `input` into the record; true once the record is complete.
    fn feed(&mut self, core: &mut Core, input: &[u8]) -> bool {
        self.feed_some(core, input).0
    }

    /// Like [`Fields::feed`], and how much of `input` was read: less than all of it when the record ends
    /// before.
    fn feed_some(&mut self, core: &mut Core, input: &[u8]) -> (bool, usize) {
        let mut read = 0;
        loop {
            let rest = &input[read..];
            let (res, nin) = if self.s.cut || self.s.nend == MAX_FIELDS {
                self.feed_counting(core, rest)
            } else {
                self.feed_keeping(core, rest)
            };
            read += nin;
            match res {
                ReadRecordResult::Record | ReadRecordResult::End => return (true, read),
                ReadRecordResult::InputEmpty => return (false, read),
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
            }
        }
    }

    fn feed_keeping(&mut self, core: &mut Core, input: &[u8]) -> (ReadRecordResult, usize) {
        let limit = self.start_of(self.s.nend) + FIELD_KEEP;
        if self.out.len() < limit {
            let grown = (self.out.len() * 2).max(limit);
            self.out.resize(grown, 0);
        }
        // csv_core counts positions from the record's start, kept or not.
        let shift = self.s.at - self.s.nout;
        let (res, nin, nout, nend) = core.read_record(
            input,
            &mut self.out[self.s.nout..limit],
            &mut self.ends[self.s.nend..],
        );
        if shift > 0 {
            for e in &mut self.ends[self.s.nend..self.s.nend + nend] {
                *e -= shift;
            }
        }
        self.s.nout += nout;
        self.s.at += nout;
        self.s.nend += nend;
        if nend > 0 {
            self.s.field_at = self.ends[self.s.nend - 1] + shift;
        }
        // Full because the current field reached FIELD_KEEP (not an earlier field of this call)?
        if res == ReadRecordResult::OutputFull
            && self.s.nout - self.start_of(self.s.nend) >= FIELD_KEEP
        {
            self.s.cut = true;
        }
        (res, nin)
    }

    fn feed_counting(&mut self, core: &mut Core, input: &[u8]) -> (ReadRecordResult, usize) {
        let mut end = [0usize; 1];
        let (res, nin, nout, nend) = core.read_record(input, &mut self.scratch, &mut end);
        self.s.at += nout;
        if nend == 1 {
            if self.s.nend < MAX_FIELDS {
                self.end_cut_field(end[0] - self.s.field_at);
            } else {
                self.s.dropped += 1;
            }
            self.s.field_at = end[0];
        }
        (res, nin)
    }

    fn end_cut_field(&mut self, full: usize) {
        if full > self.s.nout - self.start_of(self.s.nend) {
            self.long.push((self.s.nend, full));
        }
        self.ends[self.s.nend] = self.s.nout;
        self.s.nend += 1;
        self.s.cut = false;
    }

    fn mark(&self) -> Mark {
        Mark {
            s: self.s,
            long: self.long.len(),
        }
    }

    /// Goes back to `m`, taken at the end of a record's first line inside a quoted field, and ends that
    /// field there (without the line end): the record as its first line alone gives it.
    fn close_at(&mut self, m: Mark) {
        self.s = m.s;
        self.long.truncate(m.long);
        if self.s.nend == MAX_FIELDS {
            self.s.dropped += 1;
            return;
        }
        let start = self.start_of(self.s.nend);
        let full = if self.s.cut {
            self.s.at - self.s.field_at
        } else {
            while self.s.nout > start && matches!(self.out[self.s.nout - 1], b'\r' | b'\n') {
                self.s.nout -= 1;
            }
            self.s.nout - start
        };
        self.end_cut_field(full);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (line, fields, unclosed) of every record.
    type Got = Vec<(u64, Vec<String>, Option<Unclosed>)>;

    fn read_with(input: impl Read, cfg: Config) -> Got {
        let mut r = Records::new(Source::new(input, BUFFER_BYTES), cfg);
        let mut out = Vec::new();
        while let Some(start) = r.next_record().unwrap() {
            let fields = (0..r.width())
                .map(|i| String::from_utf8_lossy(r.field(i).unwrap_or(b"<dropped>")).into_owned())
                .collect();
            out.push((start.line, fields, start.unclosed));
        }
        out
    }

    fn cfg(column: Option<usize>) -> Config {
        Config {
            delimiter: b',',
            address_column: column,
            width: None,
            comments: false,
            skip_lines: 0,
        }
    }

    fn read(text: &str) -> Got {
        read_with(text.as_bytes(), cfg(Some(0)))
    }

    fn lines_and_first(got: &Got) -> Vec<(u64, &str)> {
        got.iter().map(|(l, f, _)| (*l, f[0].as_str())).collect()
    }

    /// Hands out one byte per read, so every line end falls on a buffer boundary at some point.
    struct Trickle<'a>(&'a [u8]);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.split_first() {
                Some((&b, rest)) if !buf.is_empty() => {
                    buf[0] = b;
                    self.0 = rest;
                    Ok(1)
                }
                _ => Ok(0),
            }
        }
    }

    #[test]
    fn line_numbers_are_true_for_every_line_end() {
        for eol in ["\n", "\r\n", "\r"] {
            let text = ["email", "a@x.com", "", "b@x.com", "\"c@x.com\""].join(eol) + eol;
            let want = vec![(1, "email"), (2, "a@x.com"), (4, "b@x.com"), (5, "c@x.com")];
            assert_eq!(lines_and_first(&read(&text)), want, "{eol:?}");
            let trickled = read_with(Trickle(text.as_bytes()), cfg(Some(0)));
            assert_eq!(lines_and_first(&trickled), want, "{eol:?} trickled");
        }
        let mixed = read("a@x.com\r\nb@x.com\rc@x.com\n\rd@x.com");
        assert_eq!(
            lines_and_first(&mixed),
            vec![
                (1, "a@x.com"),
                (2, "b@x.com"),
                (3, "c@x.com"),
                (5, "d@x.com")
            ]
        );
    }

    #[test]
    fn quoted_fields_keep_line_ends_and_the_row_keeps_its_first_line() {
        let got = read("a@x.com,\"two\r\nlines\"\r\nb@x.com,x\r\n");
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].1, vec!["a@x.com", "two\r\nlines"]);
        assert_eq!(got[1].0, 3);
        let got = read_with(
            "\"note\nmore\",a@x.com\nb@x.com,c@x.com\n".as_bytes(),
            cfg(Some(1)),
        );
        assert_eq!(got[0].1, vec!["note\nmore", "a@x.com"]);
        assert_eq!((got[0].2, got[1].0), (None, 3));
    }

    #[test]
    fn a_note_over_lines_before_a_sender_column_is_one_row() {
        let width = |column, width| Config {
            width: Some(width),
            ..cfg(Some(column))
        };
        // Postmark-like: the note, then the address, then the sender.
        let got = read_with(
            "\"smtp;550 user unknown\nplease check\",a@x.com,support@sender.example\nx,b@x.com,s@s.com\n"
                .as_bytes(),
            width(1, 3),
        );
        assert_eq!(
            got.iter()
                .map(|r| (r.0, r.1[1].as_str(), r.2))
                .collect::<Vec<_>>(),
            vec![(1, "a@x.com", None), (3, "b@x.com", None)]
        );
        // The address first, the note, the sender.
        let got = read_with(
            "a@x.com,\"550 mailbox unavailable\nsecond line\",news@sender.example\nb@x.com,ok,n@s.example\n"
                .as_bytes(),
            width(0, 3),
        );
        assert_eq!(lines_and_first(&got), vec![(1, "a@x.com"), (3, "b@x.com")]);
        assert!(got.iter().all(|r| r.2.is_none()));
        // A note over two lines after other cells, then the address and a sender: the line alone has
        // fewer cells than a row, the joined record exactly a row's.
        let got = read_with(
            "1,\"multi\nline\",a@x.com,s@y.com\n2,x,b@x.com,s@y.com\n".as_bytes(),
            width(2, 4),
        );
        assert_eq!(
            got.iter()
                .map(|r| (r.0, r.1[2].as_str(), r.2))
                .collect::<Vec<_>>(),
            vec![(1, "a@x.com", None), (3, "b@x.com", None)]
        );
        let got = read_with(
            "1,a@x.com,\"multi\nline\",s@corp.com\n".as_bytes(),
            width(1, 4),
        );
        assert_eq!((got.len(), got[0].2), (1, None));
        // An address put past the row's width is a row's own.
        let got = read_with("a@x.com,\"cut\nmore\",x,b@x.com\n".as_bytes(), width(0, 3));
        assert_eq!(got[0].2.map(|u| u.why), Some(Runaway::IntoRow(2)));
    }

    #[test]
    fn a_note_that_quotes_an_address_on_its_closing_line_is_one_row() {
        let width = |column, width| Config {
            width: Some(width),
            ..cfg(Some(column))
        };
        // A truncated quote, then a row of its own whose own note opens at its end: a stray quote.
        let got = read_with(
            "a@x.com,hard,\"550 cut\nb@x.com,hard,\"\n550 user unknown\"\nc@x.com,hard,ok\n"
                .as_bytes(),
            width(0, 3),
        );
        assert_eq!(got[0].2.map(|u| u.why), Some(Runaway::IntoRow(2)));
        assert_eq!(lines_and_first(&got)[1..], [(2, "b@x.com"), (4, "c@x.com")]);
        // The closing line starts with an address and a delimiter, but alone it would leave its quote
        // unpaired, and the record ends at a row's width: one row, taken whole with a warning.
        let text = "a@x.com,\"forwarded to\nb@x.com, which said 550\",bounce\nc@x.com,x,bounce\n";
        let got = read_with(text.as_bytes(), width(0, 3));
        assert_eq!(lines_and_first(&got), vec![(1, "a@x.com"), (3, "c@x.com")]);
        assert_eq!(got[0].2, None);
        let mut r = Records::new(Source::new(text.as_bytes(), BUFFER_BYTES), width(0, 3));
        let first = r.next_record().unwrap().unwrap();
        assert!(
            first.sprawl.is_some(),
            "a row that took in an address line is flagged"
        );
        assert_eq!(r.next_record().unwrap().unwrap().sprawl, None);
        // The same closing line, but the record then falls short of a row's width: a stray quote.
        let got = read_with(
            "a@x.com,\"forwarded to\nb@x.com, which said 550\"\nc@x.com,x,bounce\n".as_bytes(),
            width(0, 3),
        );
        assert_eq!(got[0].2.map(|u| u.why), Some(Runaway::IntoRow(2)));
        // A row of its own on the line (its quotes in pairs) is still one.
        let got = read_with(
            "a@x.com,\"cut\nb@x.com,\"550\",bounce\n".as_bytes(),
            width(0, 3),
        );
        assert_eq!(got[0].2.map(|u| u.why), Some(Runaway::IntoRow(2)));
        assert_eq!(got[1].1[0], "b@x.com");
    }

    #[test]
    fn a_quote_closed_mid_field_is_told_from_a_quoted_delimiter() {
        assert_eq!(misquoted_field(b"a,\"b\"c,d\n", b','), Some(1));
        assert_eq!(misquoted_field(b"\"a,b\",\"c\"\"d\"\r\n", b','), None);
        assert_eq!(misquoted_field(b"a,O\"Brien,c", b','), None);
        assert_eq!(misquoted_field(b"a,\"open", b','), None);
        let cfg3 = || Config {
            width: Some(4),
            ..cfg(Some(2))
        };
        let got = read_with(
            "\"bounce\",\"550 cut,\"a@x.com\",\"170\"\n\"bounce\",\"ok\",\"b@x.com\",\"1\"\n"
                .as_bytes(),
            cfg3(),
        );
        assert_eq!(
            got[0].2.map(|u| (u.column, u.why)),
            Some((1, Runaway::ClosedMidField))
        );
        assert_eq!(got[1].2, None);
        // A properly quoted reason holding the delimiter and an address, the email cell empty: a row.
        let got = read_with(
            ",\"550 5.1.1 <bob@x.com>: rejected, user unknown\"\n".as_bytes(),
            Config {
                width: Some(2),
                ..cfg(Some(0))
            },
        );
        assert_eq!(got[0].2, None);
    }

    #[test]
    fn an_unclosed_quote_cannot_swallow_the_rows_after_it() {
        let got = read("email,name\na@x.com,\"Smith\nb@x.com,Jones\nc@x.com,Brown\n");
        assert_eq!(
            lines_and_first(&got),
            vec![(1, "email"), (2, "a@x.com"), (3, "b@x.com"), (4, "c@x.com")]
        );
        assert_eq!(
            got[1].2,
            Some(Unclosed {
                column: 1,
                line: 2,
                why: Runaway::IntoRow(3)
            })
        );
        assert_eq!(got[1].1, vec!["a@x.com", "Smith"]);
        assert!(got[2].2.is_none() && got[3].2.is_none());
    }

    #[test]
    fn a_stray_quote_closed_by_a_later_one_hides_nothing() {
        let got = read("a@x.com,\"Smith\nb@x.com,Jones\nc@x.com,\"Brown\nd@x.com,ok\n");
        assert_eq!(got.len(), 4);
        let unclosed: Vec<u64> = got.iter().filter(|r| r.2.is_some()).map(|r| r.0).collect();
        assert_eq!(unclosed, vec![1, 3]);
        // Quoted addresses on the next line, which close the stray quote at once.
        let got = read("a@x.com,\"Smith\n\"b@x.com\",Jones\n");
        assert_eq!(lines_and_first(&got), vec![(1, "a@x.com"), (2, "b@x.com")]);
        // The same address again on the next line still is a row of its own.
        let got = read("a@x.com,\"Smith\na@x.com,Jones\"\n");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn a_quote_before_the_address_column_cannot_take_the_address_in() {
        // The stray quote takes in the row's own address, and the next row's opening quote would close it.
        let text = "name,email\n\"Smith,a@x.com\n\"Jones\",b@x.com\n";
        let got = read_with(text.as_bytes(), cfg(Some(1)));
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].2.map(|u| u.why), Some(Runaway::OverAddress));
        assert_eq!(got[2], (3, vec!["Jones".into(), "b@x.com".into()], None));
    }

    #[test]
    fn a_closing_quote_must_be_followed_by_a_delimiter_or_the_line_end() {
        // `"note` on line 2 would close line 1's stray quote; text right after a closing quote is no CSV.
        let text = "\"Smith,x\n\"note Smith\nmore\",b@x.com\n";
        let got = read_with(text.as_bytes(), cfg(Some(1)));
        assert_eq!(got.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(got[1].1, vec!["note Smith\nmore", "b@x.com"]);
    }

    #[test]
    fn a_stray_after_a_real_note_is_cut_where_it_opened() {
        // Lines 1-2 are a note over two lines; the quote opened on line 2 is the stray.
        let text = "x,\"note\nmore\",\"a@x.com\n\ny,z,b@x.com\n";
        let got = read_with(text.as_bytes(), cfg(Some(2)));
        assert_eq!(got[0].0, 1);
        assert_eq!(got[0].1, vec!["x", "note\nmore", "a@x.com"]);
        assert_eq!(
            got[0].2,
            Some(Unclosed {
                column: 2,
                line: 2,
                why: Runaway::OverAddress
            })
        );
        assert_eq!(
            got[1],
            (4, vec!["y".into(), "z".into(), "b@x.com".into()], None)
        );
    }

    #[test]
    fn quotes_inside_a_field_are_literal() {
        let got = read("a@x.com,O\"Brien\nb@x.com,5.1.1 \"user\" unknown\n");
        assert_eq!(got[0].1, vec!["a@x.com", "O\"Brien"]);
        assert!(got.iter().all(|r| r.2.is_none()));
    }

    #[test]
    fn the_last_row_unterminated() {
        for text in [
            "a@x.com,ok\nb@x.com,\"Brown",
            "a@x.com,ok\nb@x.com,\"Brown\r\n",
        ] {
            let got = read(text);
            assert_eq!(got.len(), 2, "{text:?}");
            assert_eq!(got[1].1, vec!["b@x.com", "Brown"]);
            assert_eq!(got[1].2.map(|u| u.why), Some(Runaway::EndOfInput));
        }
        // Junk lines without addresses after the quote: read again as rows at the end.
        let got = read("a@x.com,\"x\nnote\nmore\n");
        assert_eq!(
            lines_and_first(&got),
            vec![(1, "a@x.com"), (2, "note"), (3, "more")]
        );
    }

    #[test]
    fn a_quote_running_too_far_is_a_stray() {
        let mut text = String::from("a@x.com,\"x\n");
        for i in 0..150 {
            text.push_str(&format!("line {i}\n"));
        }
        text.push_str("end\"\n");
        let got = read(&text);
        assert_eq!(got[0].2.map(|u| u.why), Some(Runaway::TooFar));
        assert_eq!(got.len(), 152);
        assert_eq!(got[151].0, 152);
    }

    #[test]
    fn a_row_over_many_lines_or_with_many_quoted_delimiters_is_flagged() {
        let sprawls = |text: &str, width: usize| {
            let cfg = Config {
                width: Some(width),
                ..cfg(Some(0))
            };
            let mut r = Records::new(Source::new(text.as_bytes(), BUFFER_BYTES), cfg);
            let mut out = Vec::new();
            while let Some(start) = r.next_record().unwrap() {
                out.push((start.line, start.sprawl));
            }
            out
        };
        // Two notes of 60 lines each: one row, which runs over 121 lines.
        let note = |c: char| (0..60).map(|i| format!("{c}{i}\n")).collect::<String>();
        let text = format!("a@x.com,\"{}\",\"{}\"\nb@x.com,x,y\n", note('n'), note('m'));
        let sprawl = Sprawl {
            lines: 120,
            delimiters: 0,
        };
        assert_eq!(sprawls(&text, 3), vec![(1, Some(sprawl)), (122, None)]);
        // A note over two lines holding more delimiters than a row has columns.
        let text = "a@x.com,\"x, y, z\nw, v\"\nb@x.com,\"one, two\nthree\"\n";
        let sprawl = Sprawl {
            lines: 1,
            delimiters: 3,
        };
        assert_eq!(sprawls(text, 2), vec![(1, Some(sprawl)), (3, None)]);
    }

    #[test]
    fn fields_are_bounded_and_their_length_counted() {
        let big = "x".repeat(3 * BUFFER_BYTES);
        let text = format!("a@x.com,{big},b@x.com\nc@x.com\n");
        let mut r = Records::new(Source::new(text.as_bytes(), BUFFER_BYTES), cfg(Some(0)));
        assert_eq!(r.next_record().unwrap().unwrap().line, 1);
        assert_eq!(r.width(), 3);
        assert_eq!(r.field(1).unwrap().len(), FIELD_KEEP);
        assert_eq!(r.field_len(1), big.len());
        assert_eq!(r.field(2), Some(&b"b@x.com"[..]));
        assert_eq!(r.next_record().unwrap().unwrap().line, 2);
        assert_eq!(r.field(0), Some(&b"c@x.com"[..]));
        // Many fields: counted, the first MAX_FIELDS kept.
        let text = ",".repeat(5000) + "\nz@x.com\n";
        let got = read(&text);
        assert_eq!(got[0].1.len(), 5001);
        assert_eq!(got[1], (2, vec!["z@x.com".to_string()], None));
    }

    #[test]
    fn a_giant_quoted_line_is_bounded_too() {
        let text = format!("a@x.com,\"{}\nb@x.com\n", "y".repeat(2 * BUFFER_BYTES));
        let got = read(&text);
        assert_eq!(lines_and_first(&got), vec![(1, "a@x.com"), (2, "b@x.com")]);
        assert_eq!(got[0].1[1].len(), FIELD_KEEP);
    }

    #[test]
    fn preamble_and_comment_lines_are_not_records() {
        let mut c = cfg(Some(0));
        c.skip_lines = 1;
        c.comments = true;
        c.delimiter = 0x1f;
        let got = read_with(
            "sep=,\r# list of 2026-10-01\r#a@x.com\r\r  # end\rb@x.com\r".as_bytes(),
            c,
        );
        assert_eq!(lines_and_first(&got), vec![(3, "#a@x.com"), (6, "b@x.com")]);
    }

    #[test]
    fn split_line_knows_every_line_end() {
        assert_eq!(split_line(b"a\r\nb"), (&b"a"[..], &b"b"[..]));
        assert_eq!(split_line(b"a\rb"), (&b"a"[..], &b"b"[..]));
        assert_eq!(split_line(b"a"), (&b"a"[..], &b""[..]));
        let long = [b'x'; 100];
        assert_eq!(find_eol(&long), None);
        for at in 0..100 {
            for eol in [b'\r', b'\n'] {
                let mut with = long;
                with[at] = eol;
                // Bytes next to a line end that could fool a word-at-a-time search.
                if at < 99 {
                    with[at + 1] = eol ^ 1;
                }
                with[at.saturating_sub(1)] ^= u8::from(at > 0) * (b'x' ^ 0x0e);
                assert_eq!(find_eol(&with), Some(at), "{at} {eol}");
            }
        }
    }
}
