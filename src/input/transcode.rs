//! Turning an export's raw bytes into UTF-8 for the CSV reader, stretch by stretch: a stream may hold several
//! exports one after another (`cat a.csv b.txt | okta-org ...`), each in its own encoding. UTF-8 with or
//! without a BOM passes through; UTF-16 LE/BE (Excel "Unicode text", Exchange message traces), with or
//! without a BOM, is transcoded. A BOM anywhere, or a line of UTF-16 after 8-bit text, starts a new stretch;
//! a UTF-16 stretch ends at a line end followed by a line of 8-bit text. Bytes that are not UTF-8 in an 8-bit
//! stretch are decoded as Windows-1252 cell by cell (see [`cell_text`](super::decode::cell_text)).

use std::collections::VecDeque;
use std::io::{self, Read};

use encoding_rs::{UTF_16BE, UTF_16LE};

use super::decode::{BINARY_SIGNATURES, DynRead, Encoding};

/// How many steps of the decoder in a row may hand nothing out and read nothing before the line is taken
/// as 8-bit bytes. A step that only switches the reading (8-bit, UTF-16 LE or BE) moves on in one or two;
/// more means that the bytes ahead read as neither (a NUL-riddled line that each reading hands to the
/// other).
const STUCK_STEPS: u32 = 16;
/// An 8-bit line after UTF-16 shorter than this, without an `@`, needs the line after it to be 8-bit
/// too (see [`looks_8bit`]).
const SHORT_8BIT_LINE: usize = 6;
/// How much raw input is looked at, at most, at once.
const RAW_BYTES: usize = 64 * 1024;
/// How far ahead the bytes after a line start are looked at to tell UTF-16 from 8-bit text.
const LOOK_BYTES: usize = 512;
/// How far ahead the line ends of UTF-16 without a BOM are looked at, when a blank line at its start
/// leaves in doubt where it starts.
const DECIDE_BYTES: usize = 16 * 1024;

/// Where a stretch after the first one starts in the decoded text, and its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stretch {
    pub at: u64,
    pub encoding: Encoding,
}

/// The decoded text of one input: UTF-8 (or 8-bit) bytes without BOMs, line ends where the input has them.
pub struct Decoded {
    raw: DynRead,
    buf: Vec<u8>,
    /// Raw bytes not yet decoded: `buf[at..end]`.
    at: usize,
    end: usize,
    eof: bool,
    mode: Mode,
    /// 8-bit: `buf[at..clean]` holds no start of a stretch.
    clean: usize,
    /// `at` starts a line that has not been looked at yet (8-bit: the last byte handed out was a line end).
    line_start: bool,
    /// The last 8-bit byte handed out.
    last: u8,
    /// 8-bit: the NUL bytes up to the next line end are bytes (their line is not UTF-16).
    nul_is_byte: bool,
    /// The input starts as a binary file does: it is passed through as it is, to be refused as not text.
    binary: bool,
    /// Decoded UTF-16 not yet handed out: `dec[dec_at..]`.
    dec: Vec<u8>,
    dec_at: usize,
    /// How many decoded bytes were made so far (handed out or in `dec`).
    made: u64,
    starts: VecDeque<Stretch>,
}

enum Mode {
    Bytes,
    Utf16 {
        le: bool,
        decoder: encoding_rs::Decoder,
    },
}

/// What [`Decoded::scan`] found in the 8-bit bytes not yet scanned.
enum Scan {
    /// Nothing: every byte buffered may be handed out.
    Clean,
    /// A byte-order mark at this position.
    Bom(usize, Encoding, usize),
    /// A NUL byte at this position: UTF-16 may start on its line.
    Nul(usize),
    /// A byte that may start a BOM is last in the buffer: more input decides.
    More,
}

impl Decoded {
    /// Looks at the start of `raw` and returns its decoded text and the encoding of its first stretch.
    pub fn new(raw: DynRead) -> io::Result<(Decoded, Encoding)> {
        let mut d = Decoded {
            raw,
            buf: vec![0; RAW_BYTES],
            at: 0,
            end: 0,
            eof: false,
            mode: Mode::Bytes,
            clean: 0,
            line_start: true,
            last: b'\n',
            nul_is_byte: false,
            binary: false,
            dec: Vec::new(),
            dec_at: 0,
            made: 0,
            starts: VecDeque::new(),
        };
        while d.end < LOOK_BYTES && d.more()? {}
        let head = &d.buf[..d.end];
        // A zip, .xls or gzip file is refused as it is (see `not_text`), not read as UTF-16.
        if BINARY_SIGNATURES
            .iter()
            .any(|(sig, _)| head.starts_with(sig))
        {
            d.binary = true;
            return Ok((d, Encoding::Utf8));
        }
        let mut encoding = Encoding::Utf8;
        match d.scan() {
            Scan::Bom(0, e, len) => {
                d.begin(e, len);
                encoding = e;
            }
            Scan::Nul(j) if d.utf16_start(j).is_some_and(|s| s.0 == 0) => {
                if let Some(le) = utf16_order(&d.buf[..d.end.min(LOOK_BYTES)]) {
                    encoding = if le {
                        Encoding::Utf16Le
                    } else {
                        Encoding::Utf16Be
                    };
                    d.begin(encoding, 0);
                }
            }
            _ => {}
        }
        // (The first stretch is not one that starts after another.)
        d.starts.clear();
        d.clean = 0;
        Ok((d, encoding))
    }

    /// Where the stretches after the first one start, in the order they come, as far as decoded so far.
    pub fn starts(&mut self) -> &mut VecDeque<Stretch> {
        &mut self.starts
    }

    /// Reads more raw input, first moving what is not yet decoded to the front. False when nothing more
    /// can come now: the input ended (a read of 0 bytes ends it for good), or the buffer is full.
    fn more(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.at > 0 {
            self.buf.copy_within(self.at..self.end, 0);
            self.end -= self.at;
            self.clean = self.clean.saturating_sub(self.at);
            self.at = 0;
        }
        if self.end == self.buf.len() {
            return Ok(false);
        }
        loop {
            match self.raw.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Starts a stretch in `encoding` at `at`, after a BOM of `bom` bytes.
    /// Hands out the line at `at`, through its line end, as 8-bit bytes (NUL bytes included), and reads
    /// on from the next line as 8-bit text (see [`STUCK_STEPS`]).
    fn line_as_bytes(&mut self, out: &mut [u8]) -> usize {
        if !matches!(self.mode, Mode::Bytes) {
            self.begin(Encoding::Utf8, 0);
            if self.dec_at < self.dec.len() {
                // (What the UTF-16 decoder had left goes out first.)
                return 0;
            }
        }
        let limit = memchr::memchr2(b'\n', b'\r', &self.buf[self.at..self.end])
            .map_or(self.end, |p| self.at + p + 1);
        self.emit(out, limit)
    }

    fn begin(&mut self, encoding: Encoding, bom: usize) {
        if let Mode::Utf16 { decoder, .. } = &mut self.mode {
            // A lone half of a surrogate pair left at the end becomes U+FFFD.
            let mut tail = [0u8; 8];
            let (_, _, n, _) = decoder.decode_to_utf8(&[], &mut tail, true);
            self.dec.extend_from_slice(&tail[..n]);
            self.made += n as u64;
        }
        self.at += bom;
        self.clean = self.at;
        self.mode = match encoding {
            Encoding::Utf8 | Encoding::Utf8Bom => Mode::Bytes,
            Encoding::Utf16Le => Mode::Utf16 {
                le: true,
                decoder: UTF_16LE.new_decoder_without_bom_handling(),
            },
            Encoding::Utf16Be => Mode::Utf16 {
                le: false,
                decoder: UTF_16BE.new_decoder_without_bom_handling(),
            },
        };
        let stretch = Stretch {
            at: self.made,
            encoding,
        };
        // (A stretch with nothing in it, such as a BOM alone, gives way to the one after it.)
        match self.starts.back_mut() {
            Some(last) if last.at == stretch.at => *last = stretch,
            _ if stretch.at == 0 => {}
            _ => self.starts.push_back(stretch),
        }
    }

    /// Hands out 8-bit bytes up to `limit`, as many as `out` takes.
    fn emit(&mut self, out: &mut [u8], limit: usize) -> usize {
        let n = (limit - self.at).min(out.len());
        out[..n].copy_from_slice(&self.buf[self.at..self.at + n]);
        self.at += n;
        self.clean = self.clean.max(self.at);
        if n > 0 {
            self.last = self.buf[self.at - 1];
        }
        self.line_start = n > 0 && is_eol(self.last);
        self.made += n as u64;
        n
    }

    /// Looks through the 8-bit bytes not yet scanned for a BOM or a NUL byte.
    fn scan(&mut self) -> Scan {
        let mut c = self.clean.max(self.at);
        while let Some(k) = memchr::memchr3(0, 0xEF, 0xFE, &self.buf[c..self.end]) {
            let j = c + k;
            let next = |n: usize| self.buf[j + 1..self.end].get(..n);
            let starts_line = |p: usize| {
                if p == self.at {
                    self.line_start
                } else {
                    is_eol(self.buf[p - 1])
                }
            };
            match self.buf[j] {
                0 => {
                    if self.nul_is_byte && memchr::memchr2(b'\n', b'\r', &self.buf[c..j]).is_some()
                    {
                        self.nul_is_byte = false;
                    }
                    if !self.nul_is_byte {
                        self.clean = j;
                        return Scan::Nul(j);
                    }
                }
                0xEF => match next(2) {
                    Some([0xBB, 0xBF]) => {
                        self.clean = j;
                        return Scan::Bom(j, Encoding::Utf8Bom, 3);
                    }
                    None if !self.eof => {
                        self.clean = j;
                        return Scan::More;
                    }
                    _ => {}
                },
                // (A UTF-16 BOM starts another export at a line start only: `ÿþ` inside a line of
                // Windows-1252 text is text.)
                _ if j > self.at && self.buf[j - 1] == 0xFF && starts_line(j - 1) => {
                    self.clean = j - 1;
                    return Scan::Bom(j - 1, Encoding::Utf16Le, 2);
                }
                _ if !starts_line(j) => {}
                _ => match next(1) {
                    Some([0xFF]) => {
                        self.clean = j;
                        return Scan::Bom(j, Encoding::Utf16Be, 2);
                    }
                    None if !self.eof => {
                        self.clean = j;
                        return Scan::More;
                    }
                    _ => {}
                },
            }
            c = j + 1;
        }
        if self.nul_is_byte && memchr::memchr2(b'\n', b'\r', &self.buf[c..self.end]).is_some() {
            self.nul_is_byte = false;
        }
        self.clean = self.end;
        Scan::Clean
    }

    /// Where UTF-16 would start, given its first NUL byte at `j`: at the start of that line. A line end
    /// right before the NUL may end the 8-bit line before, or be the low byte of a UTF-16 LE line end (a
    /// blank line at the start of the UTF-16): then both are given, the likelier first (the line end
    /// starts a line itself: a blank line). `None` when the line started before what is buffered.
    fn utf16_start(&self, j: usize) -> Option<(usize, Option<usize>)> {
        let before = &self.buf[self.at..j];
        match memchr::memrchr2(b'\n', b'\r', before) {
            Some(p) if p + 1 == before.len() => {
                // (The byte before it: a line end, but not the CR of a CRLF that it ends.)
                let prev = match p {
                    0 => self.line_start.then_some(self.last),
                    _ => Some(before[p - 1]),
                };
                let blank = prev.is_some_and(|b| is_eol(b) && !(b == b'\r' && before[p] == b'\n'));
                let (eol, after) = (self.at + p, self.at + p + 1);
                Some(if blank {
                    (eol, Some(after))
                } else {
                    (after, Some(eol))
                })
            }
            Some(p) => Some((self.at + p + 1, None)),
            None => self.line_start.then_some((self.at, None)),
        }
    }

    /// Whether [`Decoded::read_direct`] may serve a read into `out`: 8-bit text, and what waits in the
    /// buffer (the end of a line, at most a quarter of the read) holds no byte that may start a stretch.
    fn direct(&self, out: &[u8]) -> bool {
        let waiting = &self.buf[self.at..self.end];
        matches!(self.mode, Mode::Bytes)
            && !self.eof
            && !self.binary
            && !self.nul_is_byte
            && waiting.len() <= out.len().min(self.buf.len()) / 4
            && memchr::memchr3(0, 0xEF, 0xFE, waiting).is_none()
    }

    /// 8-bit bytes, the common case (a plain export): what waits in the buffer and then the input are
    /// read straight into `out`, and the lines that hold no BOM or NUL byte are handed out; the rest
    /// (from the start of such a line, or the part of a line after the last line end) waits in the buffer
    /// for [`Decoded::read_bytes`] or the next read. (Through the buffer, every byte was copied once
    /// more: 5 % of a plain export's dry run.)
    fn read_direct(&mut self, out: &mut [u8]) -> io::Result<Option<usize>> {
        let room = out.len().min(self.buf.len());
        let waiting = self.end - self.at;
        out[..waiting].copy_from_slice(&self.buf[self.at..self.end]);
        let n = loop {
            match self.raw.read(&mut out[waiting..room]) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            // (What waits stays in the buffer, for `read_bytes` to hand out at the end.)
            self.eof = true;
            return Ok(None);
        }
        let total = waiting + n;
        let got = &out[..total];
        let lines_end = |bytes: &[u8]| memchr::memrchr2(b'\n', b'\r', bytes).map_or(0, |p| p + 1);
        let ready = match memchr::memchr3(0, 0xEF, 0xFE, got) {
            // (From the line before it: the line end before a NUL may be UTF-16's.)
            Some(i) => lines_end(&got[..lines_end(&got[..i]).saturating_sub(1)]),
            None => lines_end(got),
        };
        self.buf[..total - ready].copy_from_slice(&got[ready..]);
        (self.at, self.end, self.clean) = (0, total - ready, 0);
        if ready == 0 {
            return Ok(None);
        }
        self.last = got[ready - 1];
        self.line_start = true;
        self.made += ready as u64;
        Ok(Some(ready))
    }

    /// 8-bit bytes: hands out what holds no start of another stretch, or starts one.
    fn read_bytes(&mut self, out: &mut [u8]) -> io::Result<Option<usize>> {
        if self.binary {
            if self.at == self.end && !self.more()? {
                return Ok(Some(0));
            }
            let end = self.end;
            return Ok(Some(self.emit(out, end)));
        }
        match self.scan() {
            Scan::Bom(i, encoding, len) if i == self.at => {
                self.begin(encoding, len);
                Ok(None)
            }
            Scan::Bom(i, ..) => Ok(Some(self.emit(out, i))),
            Scan::More => {
                if !self.more()? {
                    // The input ended, or the buffer is full: the byte is no BOM's start after all.
                    self.clean += 1;
                }
                Ok(None)
            }
            Scan::Nul(j) => {
                let start = self.utf16_start(j);
                let first = start.map(|(s, other)| other.map_or(s, |o| o.min(s)));
                match first {
                    Some(s) if s > self.at => return Ok(Some(self.emit(out, s))),
                    _ => {}
                }
                let want = if matches!(start, Some((_, Some(_)))) {
                    DECIDE_BYTES
                } else {
                    LOOK_BYTES
                };
                if self.end - self.at < want && !self.eof {
                    // (Positions move as the buffer does: look again.)
                    let moved = self.at > 0;
                    if self.more()? || moved {
                        return Ok(None);
                    }
                }
                // A line end right before the NUL: it starts the UTF-16 (LE) if that breaks fewer of the
                // line ends after it than UTF-16 (BE) from the NUL on does.
                let window = &self.buf[self.at..self.end.min(self.at + DECIDE_BYTES)];
                if let Some((s, Some(_))) = start {
                    let le_from_eol = broken_line_ends(window, true);
                    let be_after = broken_line_ends(&window[1..], false);
                    let after = if le_from_eol < be_after {
                        self.at
                    } else if be_after < le_from_eol {
                        self.at + 1
                    } else {
                        s
                    };
                    if after > self.at {
                        return Ok(Some(self.emit(out, after)));
                    }
                }
                let window = &self.buf[self.at..self.end.min(self.at + LOOK_BYTES)];
                match utf16_order(window) {
                    Some(le) if start.is_some() => {
                        self.begin(
                            if le {
                                Encoding::Utf16Le
                            } else {
                                Encoding::Utf16Be
                            },
                            0,
                        );
                        self.line_start = true;
                    }
                    // The high byte of a lone UTF-16 line end (a BOM-less UTF-16 export of one blank
                    // line): dropped, so that it makes no binary file of the stream.
                    _ if j == self.at && self.line_start => {
                        self.at += 1;
                        self.clean = self.at;
                    }
                    _ if j > self.at && is_eol(self.buf[j - 1]) => {
                        return Ok(Some(self.emit(out, j)));
                    }
                    // Not UTF-16: NUL bytes, which the check for text refuses in the sample.
                    _ => {
                        self.nul_is_byte = true;
                        self.clean = j + 1;
                    }
                }
                Ok(None)
            }
            Scan::Clean if self.at == self.end => {
                if !self.more()? {
                    return Ok(Some(0));
                }
                Ok(None)
            }
            Scan::Clean if self.eof => {
                let end = self.end;
                Ok(Some(self.emit(out, end)))
            }
            Scan::Clean => {
                // The part of a line after the last line end is held back: a NUL byte later in it would
                // start UTF-16 at its start. Unless the buffer is full of that line: then all of it but
                // its last two bytes (which may begin a BOM) goes.
                if let Some(p) = memchr::memrchr2(b'\n', b'\r', &self.buf[self.at..self.end]) {
                    let limit = self.at + p + 1;
                    return Ok(Some(self.emit(out, limit)));
                }
                if self.more()? || self.eof {
                    return Ok(None);
                }
                let limit = self.end - 2;
                Ok(Some(self.emit(out, limit)))
            }
        }
    }

    /// UTF-16: decodes up to the end of the line, first looking at the start of the line for a BOM or
    /// for 8-bit text, either of which starts another stretch.
    fn read_utf16(&mut self) -> io::Result<Option<usize>> {
        let Mode::Utf16 { le, .. } = self.mode else {
            unreachable!("UTF-16 mode")
        };
        if self.line_start {
            if self.end - self.at < LOOK_BYTES && !self.eof && self.more()? {
                return Ok(None);
            }
            self.line_start = false;
            let w = &self.buf[self.at..self.end.min(self.at + LOOK_BYTES)];
            let next = match w {
                [0xFF, 0xFE, ..] => Some((Encoding::Utf16Le, 2)),
                [0xFE, 0xFF, ..] => Some((Encoding::Utf16Be, 2)),
                [0xEF, 0xBB, 0xBF, ..] => Some((Encoding::Utf8Bom, 3)),
                _ if looks_8bit(w, self.eof) => Some((Encoding::Utf8, 0)),
                // The high byte of a line end read one byte off (UTF-16 LE without a BOM after a blank
                // 8-bit line is read as BE from the byte after): the 8-bit text starts after it.
                [0, rest @ ..] if looks_8bit(rest, self.eof) || is_bom(rest) => {
                    Some((Encoding::Utf8, 1))
                }
                // Blank 8-bit lines, then UTF-16 (`(cat a.txt; echo; cat b.txt)`): a CR or LF with no NUL
                // beside it to make it a UTF-16 line end. (In LE, only if LE follows: U+4E0A, 上, is
                // `0A 4E`, and what follows it reads as BE; and only if an ASCII character in LE follows
                // the blank lines, as the first line of an export starts: ਊ, U+0A0A, is `0A 0A`. In BE,
                // only if BE goes on, a NUL next (the high byte of an ASCII character): every character
                // of Gurmukhi, U+0A00–0A7F, starts with `0A` and of Malayalam with `0D`, and the rest of
                // such a line read one byte off reads as LE, ASCII and all: `ഊമ,` is `0D 0A 0D 2E 00
                // 2C`. So UTF-16 LE without a BOM after blank lines after UTF-16 BE reads as BE.)
                [eol, high, ..]
                    if is_eol(*eol)
                        && (if le {
                            *high != 0 && ascii_le(blank_lines(w).1)
                        } else {
                            *high == 0
                        })
                        && utf16_order(blank_lines(w).1).is_some_and(|l| l == le || !le) =>
                {
                    Some((Encoding::Utf8, 0))
                }
                // UTF-16 of the other byte order, without a BOM (unless the first character is an
                // ASCII one in this order).
                [a, b, ..] if *(if le { b } else { a }) != 0 => match utf16_order(w) {
                    Some(true) if !le => Some((Encoding::Utf16Le, 0)),
                    Some(false) if le => Some((Encoding::Utf16Be, 0)),
                    _ => None,
                },
                _ => None,
            };
            if let Some((encoding, skip)) = next {
                self.begin(encoding, skip);
                self.line_start = true;
                return Ok(None);
            }
        }
        // The rest of the line, through its line end: a CR or LF whose other byte is 0.
        let avail = &self.buf[self.at..self.end];
        let mut from = 0;
        let mut take = None;
        let mut into_8bit = false;
        while let Some(k) = memchr::memchr2(b'\n', b'\r', &avail[from..]) {
            let q = from + k;
            from = q + 1;
            let (low, high) = if le {
                (q, q + 1)
            } else {
                (q, q.wrapping_sub(1))
            };
            let paired = low % 2 == usize::from(!le);
            match avail.get(high) {
                Some(0) if paired => {
                    // (A CRLF is one line end.)
                    let end = low.max(high) + 1;
                    let lf = if le { [b'\n', 0] } else { [0, b'\n'] };
                    let crlf = avail[q] == b'\r' && avail.get(end..end + 2) == Some(&lf[..]);
                    take = Some(end + 2 * usize::from(crlf));
                    break;
                }
                // (Its high byte is not buffered yet: it is the last byte.)
                None if paired => break,
                _ => {}
            }
            // A CR or LF byte that is no UTF-16 line end, followed by a line of 8-bit text: the UTF-16
            // ends there. UTF-16 BE without a BOM read as LE one byte early: its last line end takes in
            // the first byte of the 8-bit text after it. Or the UTF-16 was never text: a binary blob in
            // the stream whose NUL bytes read as UTF-16 hands the export after it back as 8-bit text;
            // that takes a whole line of it, since every character of Gurmukhi (U+0A00–0A7F) or
            // Malayalam (U+0D00–0D7F) holds such a byte, with one byte (`@` in U+0A40 ੀ) between.
            let ahead = &avail[q + 1..avail.len().min(q + 1 + LOOK_BYTES)];
            let ahead_eof = self.eof && q + 1 + LOOK_BYTES >= avail.len();
            let misread_be = le && paired;
            let whole_line = || {
                let (_, rest) = blank_lines(ahead);
                rest.iter().position(|&b| is_eol(b)).unwrap_or(rest.len()) >= SHORT_8BIT_LINE
            };
            if is_bom(ahead) || (looks_8bit(ahead, ahead_eof) && (misread_be || whole_line())) {
                take = Some(q);
                into_8bit = true;
                break;
            }
        }
        let line_end = take.is_some() && !into_8bit;
        let take = match take {
            Some(t) => t,
            None if self.eof => avail.len(),
            None => avail.len() & !1,
        };
        if take == 0 && !into_8bit {
            if !self.more()? && self.at == self.end {
                return Ok(Some(0));
            }
            return Ok(None);
        }
        let last = self.eof && self.at + take == self.end;
        let Mode::Utf16 { decoder, .. } = &mut self.mode else {
            unreachable!("UTF-16 mode")
        };
        let room = decoder.max_utf8_buffer_length(take).unwrap_or(take * 3 + 8);
        self.dec.clear();
        self.dec_at = 0;
        self.dec.resize(room, 0);
        let (_, read, written, _) =
            decoder.decode_to_utf8(&self.buf[self.at..self.at + take], &mut self.dec, last);
        debug_assert_eq!(read, take);
        self.dec.truncate(written);
        // U+0000 is no text (the high bytes of two UTF-16 stretches without BOMs read as one character).
        if memchr::memchr(0, &self.dec).is_some() {
            self.dec.retain(|&b| b != 0);
        }
        let written = self.dec.len();
        self.at += read;
        self.made += written as u64;
        self.line_start = line_end;
        if into_8bit {
            // The line end byte goes as 8-bit text.
            self.begin(Encoding::Utf8, 0);
        }
        Ok(None)
    }

    /// Hands out decoded UTF-16 that is waiting.
    fn drain(&mut self, out: &mut [u8]) -> usize {
        let n = (self.dec.len() - self.dec_at).min(out.len());
        out[..n].copy_from_slice(&self.dec[self.dec_at..self.dec_at + n]);
        self.dec_at += n;
        n
    }
}

impl Read for Decoded {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        // Each step hands bytes out, reads more, or changes how the bytes ahead are read. Steps that do
        // none of the first two only ever switch between readings of the same bytes: past a few of
        // them in a row (bytes that each reading hands to the other), the line ahead goes out as 8-bit
        // bytes, its NUL bytes included, so that reading always moves on.
        let mut idle = 0;
        loop {
            if self.dec_at < self.dec.len() {
                return Ok(self.drain(out));
            }
            let before = (self.at, self.end, self.eof, self.made);
            let step = match self.mode {
                Mode::Bytes if self.direct(out) => self.read_direct(out)?,
                Mode::Bytes => self.read_bytes(out)?,
                Mode::Utf16 { .. } => self.read_utf16()?,
            };
            if let Some(n) = step {
                return Ok(n);
            }
            if (self.at, self.end, self.eof, self.made) == before {
                idle += 1;
                if idle > STUCK_STEPS {
                    let n = self.line_as_bytes(out);
                    if n > 0 {
                        return Ok(n);
                    }
                    idle = 0;
                }
            } else {
                idle = 0;
            }
        }
    }
}

/// How many CR and LF bytes of `window` (read as UTF-16 from its start) are the low byte of a character
/// whose high byte is not 0: line ends that this reading breaks.
fn broken_line_ends(window: &[u8], le: bool) -> usize {
    memchr::memchr2_iter(b'\n', b'\r', window)
        .filter(|&q| match le {
            true => q % 2 == 0 && window.get(q + 1).is_some_and(|&h| h != 0),
            false => q % 2 == 1 && window[q - 1] != 0,
        })
        .count()
}

/// Whether a line of `window` holds a NUL byte before a line that starts with a BOM (see [`looks_8bit`]).
fn utf16_goes_on(window: &[u8]) -> bool {
    let mut rest = window;
    while !rest.is_empty() {
        if is_bom(rest) {
            return false;
        }
        let end = rest.iter().position(|&b| is_eol(b)).unwrap_or(rest.len());
        if rest[..end].contains(&0) {
            return true;
        }
        rest = &rest[(end + 1).min(rest.len())..];
    }
    false
}

/// Whether `bytes` start with an ASCII character (not NUL) in UTF-16 LE.
fn ascii_le(bytes: &[u8]) -> bool {
    matches!(bytes, [a, 0, ..] if a.is_ascii() && *a != 0)
}

/// `window` after the line ends at its start: how many, and the rest.
fn blank_lines(window: &[u8]) -> (usize, &[u8]) {
    let n = window.iter().take_while(|&&b| is_eol(b)).count();
    (n, &window[n..])
}

fn is_bom(bytes: &[u8]) -> bool {
    matches!(
        bytes,
        [0xFF, 0xFE, ..] | [0xFE, 0xFF, ..] | [0xEF, 0xBB, 0xBF, ..]
    )
}

fn is_eol(b: u8) -> bool {
    b == b'\n' || b == b'\r'
}

/// Whether `window`, which starts a line, is UTF-16, and then whether little-endian: NUL bytes on one side
/// of its pairs only (ASCII is 0x00XX, and the addresses, digits, delimiters and line ends of an export
/// are ASCII even when its names are Cyrillic or Greek; a binary file has them on both sides).
fn utf16_order(window: &[u8]) -> Option<bool> {
    // Up to a BOM (which starts another stretch); its first line that is not blank, through its line
    // end: what comes after may be another stretch too.
    let bom = (1..window.len()).find(|&i| is_bom(&window[i..]));
    let window = &window[..bom.unwrap_or(window.len())];
    let text = window
        .iter()
        .position(|&b| !matches!(b, 0 | b'\n' | b'\r'))
        .unwrap_or(window.len());
    let line_end = window[text..].iter().enumerate().position(|(i, &b)| {
        let i = text + i;
        is_eol(b) && (window.get(i + 1) == Some(&0) || window[i - 1] == 0)
    });
    let window = match line_end {
        Some(e) => &window[..(text + e + 2).min(window.len())],
        None => window,
    };
    let even = window.iter().step_by(2).filter(|&&b| b == 0).count();
    let odd = window
        .iter()
        .skip(1)
        .step_by(2)
        .filter(|&&b| b == 0)
        .count();
    let (high, low) = (even.max(odd), even.min(odd));
    (high >= 2 && low * 16 <= high).then_some(odd > even)
}

/// Whether `window`, the bytes after a UTF-16 line end, is a line of 8-bit text instead: blank lines and a
/// BOM, or after any blank lines, a line of text with no NUL byte and no control character, UTF-8 or
/// mostly ASCII, whose line end is not followed by a NUL byte either, nor is the line after it. (UTF-16 has a NUL byte in every ASCII character: its delimiters,
/// digits, addresses and line ends; and a CR or LF in it, the low byte of a character such as U+4E0A, is
/// next to bytes that do not make such a line.)
fn looks_8bit(window: &[u8], eof: bool) -> bool {
    let (from, rest) = blank_lines(window);
    if rest.is_empty() {
        return false;
    }
    // (Blank lines, then a BOM: blank lines between two exports.)
    if from > 0 && is_bom(rest) {
        return true;
    }
    let (text, after, next) = match rest.iter().position(|&b| is_eol(b)) {
        Some(e) => {
            let crlf = rest[e] == b'\r' && rest.get(e + 1) == Some(&b'\n');
            let next = &rest[e + 1 + usize::from(crlf)..];
            (&rest[..e], rest.get(e + 1), next)
        }
        None if eof || rest.len() >= LOOK_BYTES / 2 => (rest, None, &[][..]),
        None => return false,
    };
    // A short line with no `@` (nor a `sep=` line or a header such as `email`) is weak evidence: a line of UTF-16 that starts with U+4E0A 上 or U+4E0D 不
    // (whose low byte is a line end), or with two or three such characters, reads as an 8-bit line of 1,
    // 3 or 5 bytes (`N`), and so may the lines after it (`上上上`). Then the lines the window shows after
    // it, up to another export's BOM, must hold no NUL byte either: a NUL says UTF-16 goes on.
    let weak = text.len() < SHORT_8BIT_LINE
        && !text.contains(&b'@')
        && !super::layout::preamble_line(text)
        && !super::layout::header_line(text);
    if weak && utf16_goes_on(next) {
        return false;
    }
    let control = |b: &u8| (*b < 0x20 && *b != b'\t') || *b == 0x7F;
    if text.iter().any(control) {
        return false;
    }
    // (A NUL after its line end: the CR of a UTF-16 LE line end, unless the line is a long one of
    // printable ASCII, which 8 characters of UTF-16 hardly ever make; then UTF-16 BE follows.)
    let printable = text.iter().all(|b| matches!(b, 0x20..=0x7E));
    if after == Some(&0) && !(printable && text.len() >= 16) {
        return false;
    }
    let ascii = text.iter().filter(|b| b.is_ascii()).count();
    std::str::from_utf8(text).is_ok() || ascii * 4 >= text.len() * 3
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn decoded(bytes: Vec<u8>) -> (String, Encoding) {
        let (text, enc, _) = decoded_bytes(Box::new(Cursor::new(bytes)), usize::MAX);
        (String::from_utf8(text).unwrap(), enc)
    }

    /// The decoded bytes, read `chunk` bytes at a time, and where the later stretches start.
    fn decoded_bytes(raw: DynRead, chunk: usize) -> (Vec<u8>, Encoding, Vec<Stretch>) {
        let (mut r, enc) = Decoded::new(raw).unwrap();
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk.min(100_000)];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        (out, enc, r.starts().iter().copied().collect())
    }

    #[test]
    fn bytes_each_reading_hands_to_the_other_still_end() {
        // A line end, then NUL-riddled bytes that neither 8-bit nor UTF-16 (LE or BE) reading keeps: the
        // decoder switched between them forever. Whatever it makes of them, it must reach the end.
        let raw =
            b"\n\x000\x000\x003\x00,\x00<\x00m\x00s\x00g\x003\x00@\x00a\x00c\x00m\x00e\x00.\x00";
        for chunk in [1, 7, usize::MAX] {
            let (r, _) = Decoded::new(Box::new(Trickle(raw.to_vec(), 3, 0))).unwrap();
            let mut r = r;
            let mut buf = vec![0u8; chunk.min(4096)];
            let mut reads = 0;
            while r.read(&mut buf).unwrap() > 0 {
                reads += 1;
                assert!(reads < 1_000, "the decoder does not move on");
            }
        }
    }

    /// Hands out a few bytes per read, so that every boundary falls on a read's end at some point.
    struct Trickle(Vec<u8>, usize, usize);

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(buf.len()).min(self.0.len() - self.2);
            buf[..n].copy_from_slice(&self.0[self.2..self.2 + n]);
            self.2 += n;
            Ok(n)
        }
    }

    fn utf16(s: &str, le: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend(if le { [0xFF, 0xFE] } else { [0xFE, 0xFF] });
        }
        for u in s.encode_utf16() {
            out.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        out
    }

    #[test]
    fn detects_every_supported_encoding() {
        let text = "email\r\njosé@example.com\r\n";
        assert_eq!(decoded(text.into()), (text.into(), Encoding::Utf8));
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(text.as_bytes());
        assert_eq!(decoded(bom), (text.into(), Encoding::Utf8Bom));
        for (le, bom) in [(true, true), (true, false), (false, true), (false, false)] {
            let want = if le {
                Encoding::Utf16Le
            } else {
                Encoding::Utf16Be
            };
            assert_eq!(
                decoded(utf16(text, le, bom)),
                (text.into(), want),
                "{le} {bom}"
            );
        }
    }

    #[test]
    fn utf16_without_a_bom_whose_names_are_not_latin() {
        let text =
            "email\tимя\r\nivan@example.ru\tИван Петров\r\nolga@example.ru\tОльга Смирнова\r\n";
        for le in [true, false] {
            let want = if le {
                Encoding::Utf16Le
            } else {
                Encoding::Utf16Be
            };
            assert_eq!(decoded(utf16(text, le, false)), (text.into(), want));
        }
        // A binary file has zero bytes on both sides.
        let elf = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00";
        let (bytes, encoding, _) = decoded_bytes(Box::new(Cursor::new(elf.to_vec())), 64);
        assert_eq!((bytes.as_slice(), encoding), (&elf[..], Encoding::Utf8));
    }

    #[test]
    fn empty_and_tiny_inputs() {
        assert_eq!(decoded(Vec::new()), (String::new(), Encoding::Utf8));
        assert_eq!(decoded(b"a".to_vec()), ("a".into(), Encoding::Utf8));
    }

    /// Exports one after another in every encoding, with and without BOMs: each stretch is decoded as
    /// what it is, whatever the size of the reads.
    #[test]
    fn a_stream_of_exports_in_many_encodings() {
        let parts: Vec<(Vec<u8>, &[u8], Encoding)> = vec![
            (
                b"email\na@x.com\n".to_vec(),
                b"email\na@x.com\n",
                Encoding::Utf8,
            ),
            (
                utf16("Email\tName\r\nb@x.com\tИван\r\n", true, true),
                "Email\tName\r\nb@x.com\tИван\r\n".as_bytes(),
                Encoding::Utf16Le,
            ),
            (
                b"\xEF\xBB\xBFE-Mail;Name\r\nc@x.com;Zo\xC3\xAB\r\n".to_vec(),
                "E-Mail;Name\r\nc@x.com;Zoë\r\n".as_bytes(),
                Encoding::Utf8Bom,
            ),
            (
                utf16(
                    "recipient|note\nd@x.com|上海\n上\ne@x.com|x\n",
                    false,
                    false,
                ),
                "recipient|note\nd@x.com|上海\n上\ne@x.com|x\n".as_bytes(),
                Encoding::Utf16Be,
            ),
            (
                b"Name;E-Mail\r\nJ\xFCrgen;f@x.com\r\n".to_vec(),
                b"Name;E-Mail\r\nJ\xFCrgen;f@x.com\r\n",
                Encoding::Utf8,
            ),
            (
                utf16("email\r\ng@x.com\r\n", true, false),
                b"email\r\ng@x.com\r\n",
                Encoding::Utf16Le,
            ),
            (
                utf16("address\r\nh@x.com\r\n", false, true),
                b"address\r\nh@x.com\r\n",
                Encoding::Utf16Be,
            ),
        ];
        let raw: Vec<u8> = parts.iter().flat_map(|p| p.0.clone()).collect();
        let want: Vec<u8> = parts.iter().flat_map(|p| p.1.to_vec()).collect();
        let mut want_starts = Vec::new();
        let mut at = 0;
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                want_starts.push(Stretch { at, encoding: p.2 });
            }
            at += p.1.len() as u64;
        }
        for (chunk, trickle) in [(usize::MAX, usize::MAX), (1, usize::MAX), (7, 3), (4096, 1)] {
            let source = Trickle(raw.clone(), trickle, 0);
            let (bytes, encoding, starts) = decoded_bytes(Box::new(source), chunk);
            assert_eq!(encoding, Encoding::Utf8);
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                String::from_utf8_lossy(&want),
                "{chunk} {trickle}"
            );
            assert_eq!(starts, want_starts, "{chunk} {trickle}");
        }
    }

    #[test]
    fn utf16_without_a_bom_after_8bit_text_starts_where_its_line_does() {
        for (le, text) in [
            (true, "\r\nemail\r\na@x.com\r\n"),
            (true, "Имя,email\r\nИван,a@x.com\r\n"),
            (false, "\r\nemail\r\na@x.com\r\n"),
            (true, "上,email\r\n下,a@x.com\r\n"),
            (false, "Имя,email\r\nИван,a@x.com\r\n"),
        ] {
            for before in ["x@y.com\n", "x@y.com\r\n", "x@y.com\r", "\n\n"] {
                let mut raw = before.as_bytes().to_vec();
                raw.extend(utf16(text, le, false));
                raw.extend(b"after@x.com\n");
                let (bytes, _, starts) = decoded_bytes(Box::new(Cursor::new(raw)), usize::MAX);
                let got = String::from_utf8(bytes).unwrap();
                let lines = |s: &str| s.split(['\r', '\n']).filter(|l| !l.is_empty()).count();
                // Line ends and every address come through; non-ASCII text too, but where the first
                // character's low byte is a line end (U+4E0A): then where the UTF-16 starts is in doubt
                // (a blank 8-bit line, then BE?), and it is read as BE from the byte after.
                assert!(
                    got.starts_with(before.trim_end()),
                    "{le} {text:?} {before:?}: {got:?}"
                );
                assert!(
                    got.ends_with("a@x.com\r\nafter@x.com\n"),
                    "{le} {text:?} {before:?}: {got:?}"
                );
                assert_eq!(lines(&got), lines(before) + lines(text) + 1, "{got:?}");
                if !text.starts_with('上') {
                    assert!(
                        got.contains(text.trim_start()),
                        "{le} {text:?} {before:?}: {got:?}"
                    );
                }
                assert_eq!(starts.len(), 2, "{le} {text:?} {before:?}: {starts:?}");
            }
        }
    }

    #[test]
    fn utf16_of_the_other_byte_order_without_a_bom() {
        let mut raw = utf16("email\r\na@x.com\r\n", true, false);
        raw.extend(utf16("email,Имя\nb@x.com,Иван\n", false, false));
        raw.extend(utf16("\nemail\nc@x.com\n", true, false));
        let (bytes, encoding, starts) = decoded_bytes(Box::new(Cursor::new(raw)), 5);
        let text = "email\r\na@x.com\r\nemail,Имя\nb@x.com,Иван\n\nemail\nc@x.com\n";
        assert_eq!(String::from_utf8(bytes).unwrap(), text);
        assert_eq!(encoding, Encoding::Utf16Le);
        let order: Vec<_> = starts.iter().map(|s| (s.at, s.encoding)).collect();
        assert_eq!(
            order,
            vec![(16, Encoding::Utf16Be), (46, Encoding::Utf16Le)]
        );
    }

    /// `(cat a.txt; echo; cat b.txt)` of UTF-16 exports: the blank 8-bit line between them is one, and
    /// the second export is read as UTF-16 again, with a BOM or without.
    #[test]
    fn a_blank_8bit_line_between_utf16_exports() {
        for (eol, bom) in [("\n", true), ("\r\n", true), ("\n", false), ("\r\n", false)] {
            let mut raw = utf16("email\r\na@x.com\r\n", true, true);
            raw.extend(eol.as_bytes());
            raw.extend(utf16("email\r\nb@x.com\r\n", true, bom));
            let (bytes, _, _) = decoded_bytes(Box::new(Cursor::new(raw)), 3);
            let want = format!("email\r\na@x.com\r\n{eol}email\r\nb@x.com\r\n");
            assert_eq!(String::from_utf8(bytes).unwrap(), want, "{eol:?} {bom}");
        }
    }

    /// A proptest found it: a lone UTF-16 line end (`\r\0`) near the end of the buffer, as the input ends.
    #[test]
    fn a_lone_utf16_line_end_as_the_input_ends() {
        let line = b"# exported 2026-10-01\n";
        let mut raw = line.repeat(17);
        raw.extend(b"\r\0");
        raw.extend(line.repeat(7));
        let mut want = line.repeat(17);
        want.push(b'\r');
        want.extend(line.repeat(7));
        for chunk in [usize::MAX, 100, 7] {
            let source = Trickle(raw.clone(), 531, 0);
            let (bytes, _, _) = decoded_bytes(Box::new(source), chunk);
            assert_eq!(
                String::from_utf8(bytes).unwrap(),
                String::from_utf8_lossy(&want)
            );
        }
    }

    #[test]
    fn nul_bytes_that_are_not_utf16_stay_bytes() {
        let raw = b"a@x.com\nab\x00\x00cd\x00\x01\x00\x00\nb@x.com\n".to_vec();
        let (bytes, _, starts) = decoded_bytes(Box::new(Cursor::new(raw.clone())), usize::MAX);
        assert_eq!((bytes, starts), (raw, vec![]));
        let zip = b"PK\x03\x04\x14\x00\x00\x00\x08\x00a\x00b\x00c\x00".to_vec();
        let (bytes, _, _) = decoded_bytes(Box::new(Cursor::new(zip.clone())), usize::MAX);
        assert_eq!(bytes, zip);
    }
}
