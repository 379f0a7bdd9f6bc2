//! Where another export starts in a stream of several (`cat a.csv b.txt | okta-org ...`): the lines that may
//! start one (the start of another encoding, a `sep=` line, a header row, a row that does not fit the
//! layout in use), and whether the layout worked out from the lines after such a line reads them better
//! than the one in use. Rows that fit the layout in use cost one look for an `@` in their address cell.

use std::io::Read;

use super::decode::{Encoding, cell_text};
use super::layout::{self, ColumnChoice, Layout, SINGLE_COLUMN};
use super::records::{self, Records, looks_like_address, split_line};
use crate::address;

/// How many lines after the one that may start another export are looked at, at most.
pub const WINDOW_LINES: usize = 100;
/// How many bytes of them, at most.
pub const WINDOW_BYTES: usize = 32 * 1024;

/// Why a line may start another export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Another encoding starts at it (a BOM, or UTF-16 after 8-bit text, or back).
    Encoding(Encoding),
    /// It is a `sep=` or `#TYPE` line.
    Preamble,
    /// It reads as a header row.
    Header,
    /// Its address cell holds no address, but another of its cells does, or it is a `#` line in a table,
    /// or, in a one-column list, its cell holds delimiters and is no address.
    Misfit,
}

/// How many lines that only seemed to be a header the watch remembers: rows that take turns naming a known
/// column (`2026,,mail,x` then `2026,,to,x`) each cost a look of up to [`WINDOW_LINES`] lines otherwise
/// (100,000 such rows: 12 s instead of 0.1 s).
const NOT_A_HEADER_KEPT: usize = 8;

/// What the watch for other exports remembers between rows, so that rows that only seem to start one cost
/// one look, not one each.
#[derive(Debug, Default)]
pub struct Watch {
    /// The rows before this line that do not fit the layout in use were looked at with the first of them
    /// and found to go on with it: they are not looked at again as misfits.
    quiet_until: u64,
    /// The last lines that read as a header but were found to start no export (at most
    /// [`NOT_A_HEADER_KEPT`], the latest last): their repeats are not looked at again.
    not_a_header: Vec<Vec<u8>>,
    /// The line another export was found to start at (read again under its layout).
    switched_at: u64,
}

impl Watch {
    /// Whether `line`, number `at`, which may start another export for `why`, is worth a look.
    pub fn worth_a_look(&self, at: u64, why: Why, line: &[u8]) -> bool {
        at != self.switched_at
            && match why {
                Why::Encoding(_) | Why::Preamble => true,
                Why::Header => !self.known_not_a_header(line),
                Why::Misfit => at >= self.quiet_until,
            }
    }

    /// Whether `line` read as a header before and was found to start no export.
    pub fn known_not_a_header(&self, line: &[u8]) -> bool {
        self.not_a_header.iter().any(|l| l == line)
    }

    /// The look at `line`, number `at`, found no other export starting there, nor in the `quiet` lines
    /// from it.
    pub fn looked(&mut self, at: u64, why: Why, line: &[u8], quiet: u64) {
        if why == Why::Misfit {
            self.quiet_until = at + quiet;
        }
        if why == Why::Header {
            if self.not_a_header.len() == NOT_A_HEADER_KEPT {
                self.not_a_header.remove(0);
            }
            self.not_a_header.push(line.to_vec());
        }
    }

    /// Another export starts at line `at`.
    pub fn switched(&mut self, at: u64) {
        self.switched_at = at;
        self.quiet_until = 0;
    }
}

/// Whether an address cell fits the layout at a glance: an `@` in it, and no delimiter (which an address
/// has no need of, but a row of another layout split at the wrong delimiter has). One pass over the cell:
/// it runs for every row.
pub fn fits(cell: &[u8]) -> bool {
    const AT: u8 = 1;
    const DELIMITER: u8 = 2;
    const KIND: [u8; 256] = {
        let mut kind = [0; 256];
        kind[b'@' as usize] = AT;
        kind[b',' as usize] = DELIMITER;
        kind[b';' as usize] = DELIMITER;
        kind[b'\t' as usize] = DELIMITER;
        kind[b'|' as usize] = DELIMITER;
        kind
    };
    cell.iter().fold(0, |seen, &b| seen | KIND[b as usize]) == AT
}

/// Why the current record of `records`, whose first line is `line`, may start another export (it did not
/// [`fit`](fits) the layout). `auto`: the address column was not named by the user, so a row that does
/// not fit may start an export of another layout.
pub fn trigger<R: Read>(
    records: &Records<R>,
    layout: &Layout,
    line: &[u8],
    auto: bool,
) -> Option<Why> {
    if layout::preamble_line(line) {
        return Some(Why::Preamble);
    }
    let cell = records.field(layout.column).unwrap_or_default();
    if !cell.contains(&b'@') && layout::header_line(line) {
        return Some(Why::Header);
    }
    if !auto {
        return None;
    }
    let misfit = if cell.contains(&b'@') {
        !fits(cell) && !is_address(cell)
    } else {
        layout.delimiter != SINGLE_COLUMN
            && (line.trim_ascii_start().starts_with(b"#")
                || (0..records.width().min(records::MAX_FIELDS))
                    .filter(|&i| i != layout.column)
                    .any(|i| records.field(i).is_some_and(looks_like_address)))
    };
    misfit.then_some(Why::Misfit)
}

/// Whether a cell holds an address (which holds no delimiter, though one may be valid: `a|b@x.com`).
fn is_address(cell: &[u8]) -> bool {
    let text = cell_text(cell);
    let address = address::extract(&text);
    !address.contains([',', ';', '\t', '|']) && address::validate(&address).is_ok()
}

/// The part of `sample` (which starts at a line that may start an export) that belongs to that export
/// as far as can be told for sure: up to the next `sep=` or `#TYPE` line after its first row, or `stop`
/// (where the decoder found another encoding to start), at most `max_lines` lines and `max_bytes` bytes.
/// Also how many lines it holds, and whether it was cut (its last line is whole). (A header row may be
/// another export's, or a repeat, or a row of words: what follows it tells, see [`look`].)
pub fn cut(
    sample: &[u8],
    max_lines: usize,
    max_bytes: usize,
    stop: Option<usize>,
) -> (&[u8], usize, bool) {
    let limit = stop.unwrap_or(usize::MAX).min(max_bytes);
    let mut rows = false;
    let (mut at, mut lines) = (0, 0);
    while at < sample.len() {
        let (line, rest) = split_line(&sample[at..]);
        let next = sample.len() - rest.len();
        let preamble = layout::preamble_line(line);
        if (rows && preamble) || (next > limit && at > 0) || lines == max_lines {
            return (&sample[..at], lines, true);
        }
        rows |= !preamble && !line.trim_ascii().is_empty();
        at = next;
        lines += 1;
    }
    (sample, lines, false)
}

/// The layout of the export that `window` starts with: worked out from all of it, or, when that does not
/// read the first row as an address while a layout of another delimiter or width worked out from fewer
/// of its lines does, from those (an export without a header runs on into the next one, of another
/// layout, without a line to tell; but a few rows of one export that lack their address, while another
/// of their cells holds one, a sender's, make no other export).
pub fn sniff(
    window: &[u8],
    complete: bool,
    choice: &ColumnChoice,
) -> Result<Layout, layout::LayoutError> {
    let all = layout::sniff(window, complete, choice)?;
    let reads_first = |l: &Layout| {
        rows(
            window,
            l,
            l.header.is_some(),
            l.preamble_lines,
            1,
            &[l.delimiter],
        )
        .first()
        .is_some_and(|r| r.address == Some(true))
    };
    if all.header.is_some() || *choice != ColumnChoice::Auto || reads_first(&all) {
        return Ok(all);
    }
    for lines in [32, 8, 3] {
        let (part, _, cut) = cut(window, lines, usize::MAX, None);
        if let (true, Ok(l)) = (cut, layout::sniff(part, true, choice))
            && (l.delimiter != all.delimiter || l.width != all.width)
            && reads_first(&l)
        {
            return Ok(l);
        }
    }
    Ok(all)
}

/// What a look at a line that may start another export found.
#[derive(Debug, PartialEq, Eq)]
pub enum Look {
    /// Another export starts at the line, in this layout.
    Starts(Layout),
    /// No export starts at it; nor at the rows after it that do not fit the layout in use either, in
    /// this many lines from it.
    No { quiet: u64 },
}

/// Whether another export starts at the first line of `window` (see [`cut`]): one whose layout differs
/// from `current`'s, and reads the rows from that line on better than `current` does, on some stretch of
/// them (the window may run into yet another export), by the points of [`best_lead`]:
/// - at the start of another encoding, any layout of its own (or a header) will do;
/// - a header (or `sep=`) must gain two points from itself on (the layout in use reads it as a row with no
///   address), or read the rows as well with the same address column;
/// - a row that does not fit (nor does the row after it) must gain two points from itself on, under a
///   layout of another delimiter or width (rows of the same export whose address is missing do not make
///   one of another).
pub fn look(
    window: &[u8],
    complete: bool,
    current: &Layout,
    why: Why,
    choice: &ColumnChoice,
) -> Look {
    // The rows that do not fit `current`, from the first one on: looked at with it.
    let quiet_of = |theirs: &[Row]| match theirs.iter().position(|r| r.address == Some(true)) {
        Some(0) => 1,
        Some(i) => theirs[i - 1].line,
        None => theirs.last().map_or(1, |r| r.line),
    };
    // (A misfit whose next line fits, the common case of a row without its address, costs little: a
    // look at that line split at the delimiter when neither line has a quote, else two rows read.)
    if why == Why::Misfit {
        let (first, rest) = records::split_line(window);
        let next = records::split_line(rest).0;
        let plain = !first.contains(&b'"') && !next.contains(&b'"');
        if plain
            && next
                .split(|&b| b == current.delimiter)
                .nth(current.column)
                .is_some_and(fits)
        {
            return Look::No { quiet: 1 };
        }
    }
    let first_two = rows(window, current, false, 0, 2, &[current.delimiter]);
    if why == Why::Misfit && first_two.get(1).is_some_and(|r| r.address == Some(true)) {
        return Look::No {
            quiet: quiet_of(&first_two),
        };
    }
    let theirs = rows(window, current, false, 0, usize::MAX, &[current.delimiter]);
    let no = Look::No {
        quiet: quiet_of(&theirs),
    };
    let Ok(new) = sniff(window, complete, choice) else {
        return no;
    };
    let shape = new.delimiter != current.delimiter || new.width != current.width;
    let differs = shape
        || new.column != current.column
        || new.preamble_lines > 0
        || (new.header.is_some() && new.header != current.header);
    // (Read again, with a quote that closes in the middle of its field under both delimiters.)
    let delimiters = [new.delimiter, current.delimiter];
    let ours = rows(
        window,
        &new,
        new.header.is_some(),
        new.preamble_lines,
        usize::MAX,
        &delimiters,
    );
    let theirs = rows(window, current, false, 0, usize::MAX, &delimiters);
    let starts = match why {
        Why::Encoding(_) => differs || new.header.is_some(),
        Why::Header | Why::Preamble => {
            // (A header of the same address column reads the rows as the one in use does.)
            let same = new.delimiter == current.delimiter && new.column == current.column;
            // (From the header itself: the layout in use reads it as a row with no address, a point
            // against it, as the stray rows of a first export with almost no good one can take the rest.)
            let (best, found) = best_lead(&ours, &theirs, 1);
            differs && found > 0 && (best >= 2 || (same && best >= 0))
        }
        Why::Misfit => {
            let found = ours.iter().any(|r| r.address == Some(true));
            shape && found && best_lead(&ours, &theirs, 1).0 >= 2
        }
    };
    if starts { Look::Starts(new) } else { no }
}

/// How far ahead of `theirs` `ours` gets at best, counted line by line from line `from` of the window
/// until it falls behind: a row read as an address is one point, a row read as none one off, a row with a
/// stray quote none. Also how many addresses `ours` read up to there (the last line where it is that far
/// ahead).
fn best_lead(ours: &[Row], theirs: &[Row], from: u64) -> (i64, usize) {
    let point = |r: &Row| match r.address {
        Some(true) => 1,
        Some(false) => -1,
        None => 0,
    };
    let mut changes: Vec<(u64, i64)> = ours
        .iter()
        .map(|r| (r.line, point(r)))
        .chain(theirs.iter().map(|r| (r.line, -point(r))))
        .filter(|c| c.0 >= from)
        .collect();
    changes.sort_unstable_by_key(|c| c.0);
    let (mut lead, mut best) = (0, (i64::MIN, 0));
    for (i, c) in changes.iter().enumerate() {
        lead += c.1;
        let last_of_line = changes.get(i + 1).is_none_or(|n| n.0 != c.0);
        // (Behind at any line: what comes after is no export that starts at the window's start.)
        if lead < 0 && last_of_line {
            break;
        }
        // (At the last line it is best at, to count the addresses of all the rows it is best over.)
        if last_of_line && lead >= best.0 {
            let found = ours
                .iter()
                .filter(|r| r.line >= from && r.line <= c.0 && r.address == Some(true))
                .count();
            best = (lead, found);
        }
    }
    best
}

/// A row as a layout reads it.
struct Row {
    /// Its first line.
    line: u64,
    /// Whether its address cell holds an address; `None`: the row has a stray quote.
    address: Option<bool>,
}

/// The rows of `window` as `layout` reads them (at most `max`), after its `preamble` lines and `header`
/// (blank rows are none). A row in which a quote closes in the middle of its field, split at each of
/// `misquoted_by`, is a stray: such a quote shifts the cells after it, and proves no layout right.
fn rows(
    window: &[u8],
    layout: &Layout,
    header: bool,
    preamble: u64,
    max: usize,
    misquoted_by: &[u8],
) -> Vec<Row> {
    let cfg = records::Config {
        skip_lines: preamble,
        ..layout.records_config()
    };
    let mut records = Records::over(window, cfg);
    let mut skip = header;
    let mut rows = Vec::new();
    while rows.len() < max
        && let Ok(Some(start)) = records.next_record()
    {
        if std::mem::take(&mut skip) {
            continue;
        }
        let blank = (0..records.width().min(records::MAX_FIELDS))
            .all(|i| records.field(i).is_none_or(|c| c.trim_ascii().is_empty()));
        if blank && start.unclosed.is_none() {
            continue;
        }
        let misquoted = records.start_bytes().is_some_and(|b| {
            let line = split_line(b).0;
            misquoted_by
                .iter()
                .all(|&d| records::misquoted_field(line, d).is_some())
        });
        let address = (start.unclosed.is_none() && !misquoted)
            .then(|| records.field(layout.column).is_some_and(is_address));
        rows.push(Row {
            line: start.line,
            address,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auto(s: &str) -> Layout {
        layout::sniff(s.as_bytes(), true, &ColumnChoice::Auto).unwrap()
    }

    #[test]
    fn a_window_ends_where_another_export_surely_starts() {
        // (A header row does not end it: it may be a repeat, or a row of words.)
        let text = "email,name\na@x.com,A\nemail,name\nb@x.com,B\nEMAIL;FIRSTNAME\nc@x.com;C\n";
        let (w, lines, was_cut) = cut(text.as_bytes(), 100, 1 << 20, None);
        assert_eq!((w, lines, was_cut), (text.as_bytes(), 6, false));
        let (w, _, _) = cut(
            b"sep=;\nName;E-Mail\na@x.com;A\nsep=,\n",
            100,
            1 << 20,
            None,
        );
        assert_eq!(w, b"sep=;\nName;E-Mail\na@x.com;A\n");
        let (w, lines, was_cut) = cut(b"a@x.com\nb@x.com\nc@x.com\n", 2, 1 << 20, Some(100));
        assert_eq!((w, lines, was_cut), (&b"a@x.com\nb@x.com\n"[..], 2, true));
        let (w, _, _) = cut(b"a@x.com\nb@x.com\nc@x.com\n", 100, 1 << 20, Some(8));
        assert_eq!(w, b"a@x.com\n");
        assert_eq!(
            cut(b"a@x.com\nb", 100, 1 << 20, None),
            (&b"a@x.com\nb"[..], 2, false)
        );
    }

    #[test]
    fn another_layout_is_taken_only_when_it_reads_the_rows_better() {
        let sendgrid = auto("created,email,reason,status\n2026,a@x.com,550,bounce\n");
        // A headerless export after it: its addresses are in column 1.
        let ses = "m@x.com,BOUNCE\nt@x.com,BOUNCE\n";
        let Look::Starts(new) = look(
            ses.as_bytes(),
            true,
            &sendgrid,
            Why::Misfit,
            &ColumnChoice::Auto,
        ) else {
            panic!("no export found")
        };
        assert_eq!((new.delimiter, new.column, new.header), (b',', 0, None));
        // One row whose address is in another cell, and rows that fit after it: no export, and the rows
        // after it are looked at again.
        let odd = "2026,,550,bounce,s@x.com\n2026,b@x.com,550,bounce\n2026,,550,x,s@x.com\n";
        assert_eq!(
            look(
                odd.as_bytes(),
                true,
                &sendgrid,
                Why::Misfit,
                &ColumnChoice::Auto
            ),
            Look::No { quiet: 1 }
        );
        // A header like line whose column holds no addresses in the rows after it: no export.
        let list = auto("Name,Email,Note\nA,a@x.com,mail\n");
        let junk = "mail,x,Smith\nB,b@x.com,y\nC,c@x.com,z\n";
        assert_eq!(
            look(
                junk.as_bytes(),
                true,
                &list,
                Why::Header,
                &ColumnChoice::Auto
            ),
            Look::No { quiet: 1 }
        );
        // The same header again is a repeated header row, unless another encoding starts at it.
        let again = "created,email,reason,status\n2026,b@x.com,550,bounce\n";
        let choice = ColumnChoice::Auto;
        let found = |why| look(again.as_bytes(), true, &sendgrid, why, &choice);
        assert_eq!(found(Why::Header), Look::No { quiet: 1 });
        assert!(matches!(
            found(Why::Encoding(Encoding::Utf16Le)),
            Look::Starts(_)
        ));
    }

    #[test]
    fn rows_that_do_not_fit() {
        assert!(fits(b"a@x.com"));
        assert!(!fits(b"BOUNCE"));
        assert!(!fits(b"a@x.com,BOUNCE"));
        let layout = auto("created,email,reason,status\n2026,a@x.com,550,bounce\n");
        let why = |line: &str| {
            let mut r = Records::over(line.as_bytes(), layout.records_config());
            r.next_record().unwrap();
            trigger(&r, &layout, line.as_bytes(), true)
        };
        assert_eq!(why("sep=;"), Some(Why::Preamble));
        assert_eq!(why("EMAIL;FIRSTNAME;LASTNAME"), Some(Why::Header));
        assert_eq!(why("a@x.com,BOUNCE"), Some(Why::Misfit));
        assert_eq!(why("# users of the org"), Some(Why::Misfit));
        assert_eq!(why("2026,,550 <a@x.com>: unknown,bounce"), None);
        assert_eq!(why(",,,2,2025-03-01"), None);
    }
}
