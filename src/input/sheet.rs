//! Workbooks read as they are: an .xlsx, .xlsb, .xls or .ods input is told by its bytes (not its name),
//! one sheet of it is read with calamine, and its rows go through the same column detection and report as
//! a CSV export's, `line` being the sheet's row number as the spreadsheet shows it.
//!
//! Memory: unlike a CSV export, which streams, a sheet is held whole, as the list of its non-empty cells
//! (about 40 bytes a cell plus its text; an .xlsx or .xlsb sheet is streamed into it cell by cell, while
//! calamine reads .xls and .ods workbooks whole when it opens them), and the workbook's bytes are read into
//! memory first (at most [`WORKBOOK_MAX_BYTES`]). Measured on a 100,000-row, 6-column .xlsx (2.3 MB,
//! release build): peak RSS 66 MB (15 MB for the same rows as CSV) and 0.5 s of CPU a read; a file is
//! read twice (checked before the run, then read), stdin once.

mod book;

use std::borrow::Cow;

use super::layout::{self, ColumnChoice, Layout};
use super::{Cell, ReadOptions, Row};
use book::{Cells, Loaded, is_blank, load_sheet, quoted, text};
pub use book::{HEAD_BYTES, WORKBOOK_MAX_BYTES, is_workbook, read_whole};

/// One sheet of a workbook, read row by row.
pub struct SheetReader {
    /// `.xlsx`, `.xls`, ...
    format: &'static str,
    sheet: String,
    cells: Cells,
    /// Index in `cells` of the next row's first cell.
    next: usize,
    /// The address column, 0-based from column A.
    column: u32,
    /// The header row, 1-based, and how many rows with cells are above it (titles).
    header_row: Option<(u64, usize)>,
    header_cell: Option<String>,
    /// Said on stderr when the rows are first read (not when the input is only checked).
    notes: Vec<String>,
    name: String,
}

/// The first rows with cells, as text, each cell at its column's index (from column A) up to the
/// row's last non-empty cell: the sample the layout is worked out from, and each row's number.
fn sample(cells: &Cells, limit: usize) -> (Vec<Vec<String>>, Vec<u32>) {
    let (mut rows, mut numbers) = (Vec::new(), Vec::new());
    for row in cells.chunk_by(|a, b| a.0 == b.0) {
        if rows.len() == limit {
            break;
        }
        if is_blank(row) {
            continue;
        }
        let mut texts = Vec::new();
        for (_, c, v) in row {
            let c = *c as usize;
            if c >= super::records::MAX_FIELDS {
                break;
            }
            texts.resize(c, String::new());
            texts.push(text(v).into_owned());
        }
        rows.push(texts);
        numbers.push(row[0].0);
    }
    (rows, numbers)
}

/// A header row below title rows: the first row, among those above any address, that names the address
/// column (the name `--column` gives, or else a known header name). 0 when there is none.
fn header_index(rows: &[Vec<String>], choice: &ColumnChoice) -> usize {
    let above = || {
        rows.iter()
            .take_while(|r| !r.iter().any(|c| c.contains('@')))
    };
    let named = match choice {
        ColumnChoice::Name(name) => {
            let want = layout::normalize_header(name);
            above().position(|r| r.iter().any(|c| layout::normalize_header(c) == want))
        }
        _ => None,
    };
    // (A name no row has: the error then lists the header's names, not a title's.)
    named
        .or_else(|| above().position(|r| layout::known_header(r).is_some()))
        .unwrap_or(0)
}

/// A column's letters as the spreadsheet shows them: 0 is A, 25 is Z, 26 is AA.
fn letters(column: usize) -> String {
    let mut n = column + 1;
    let mut out = Vec::new();
    while n > 0 {
        n -= 1;
        out.push(b'A' + (n % 26) as u8);
        n /= 26;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// The "delimiter" a sheet's layout names: cells are not split on one, and any but
/// [`layout::SINGLE_COLUMN`] lets a header with names this tool does not know be told as in a delimited
/// file.
const CELLS: u8 = b'\t';

impl SheetReader {
    /// Opens the workbook in `bytes` and works out the layout of the sheet to read.
    pub fn open(
        name: &str,
        bytes: Vec<u8>,
        options: &ReadOptions,
    ) -> Result<(SheetReader, Layout), super::InputError> {
        let fail = |why: String| super::InputError::Workbook {
            name: name.to_string(),
            why,
        };
        let Loaded {
            format,
            sheet,
            cells,
            notes,
        } = load_sheet(bytes, options.sheet.as_deref(), options.allow_empty).map_err(fail)?;
        // Title rows above the header are looked for among the first rows, then the layout is worked
        // out from the rows that follow, as many as from a CSV export.
        let (rows, numbers) = sample(&cells, 2 * layout::SNIFF_ROWS);
        let h = header_index(&rows[..rows.len().min(layout::SNIFF_ROWS)], &options.column);
        let after = &rows[h..];
        let complete = rows.len() < 2 * layout::SNIFF_ROWS && after.len() <= layout::SNIFF_ROWS;
        let after = &after[..after.len().min(layout::SNIFF_ROWS)];
        let layout =
            layout::decide(after, complete, &options.column, CELLS, 0).map_err(|source| {
                super::InputError::Layout {
                    name: name.to_string(),
                    source,
                }
            })?;
        let header_row = layout
            .header
            .as_ref()
            .and_then(|_| numbers.get(h))
            .map(|&r| (u64::from(r) + 1, h));
        // The data starts after the header row, or at the first row with cells.
        let next = match header_row {
            Some((number, _)) => cells.partition_point(|&(r, _, _)| u64::from(r) < number),
            None => 0,
        };
        let header_cell = layout
            .header
            .as_ref()
            .and_then(|h| h.get(layout.column))
            .map(|c| layout::normalize_header(c))
            .filter(|c| !c.is_empty());
        let reader = SheetReader {
            format,
            sheet,
            cells,
            next,
            column: u32::try_from(layout.column).unwrap_or(u32::MAX),
            header_row,
            header_cell,
            notes,
            name: name.to_string(),
        };
        Ok((reader, layout))
    }

    /// What was found out, for `--verbose`.
    pub fn describe(&self, layout: &Layout) -> String {
        let header = match self.header_row {
            Some((row, 0)) => format!("header row {row}"),
            Some((row, titles)) => format!(
                "header row {row} (below {})",
                crate::term::count(titles as u64, "title row", "title rows")
            ),
            None => "no header row".into(),
        };
        let label = layout.column_label();
        let label = label.replacen(
            &format!("column {}", layout.column + 1),
            &format!("column {} ({})", layout.column + 1, letters(layout.column)),
            1,
        );
        format!(
            "{} workbook, sheet {}, {header}, addresses in {label} ({})",
            self.format,
            quoted(&self.sheet),
            layout.how
        )
    }

    /// The next data row: blank rows are passed over, as blank lines are in a CSV export.
    /// `column_label` names the address column in the reader's messages.
    pub fn next_row<'a>(&'a mut self, column_label: &'a str) -> Option<Row<'a>> {
        for note in self.notes.drain(..) {
            tracing::warn!("{}: {note}", self.name);
        }
        let (start, end) = loop {
            let start = self.next;
            let row = self.cells.get(start)?.0;
            let end = start + self.cells[start..].partition_point(|c| c.0 == row);
            self.next = end;
            if !is_blank(&self.cells[start..end]) {
                break (start, end);
            }
        };
        let row = &self.cells[start..end];
        let value = row
            .binary_search_by_key(&self.column, |&(_, c, _)| c)
            .map_or(Cow::Borrowed(""), |i| text(&row[i].2));
        let repeated = self
            .header_cell
            .as_ref()
            .is_some_and(|h| !value.contains('@') && *h == layout::normalize_header(&value));
        let cell = if repeated {
            Cell::RepeatedHeader
        } else {
            Cell::Value {
                len: value.len(),
                text: value,
                cut: false,
            }
        };
        Some(Row {
            line: u64::from(row[0].0) + 1,
            cell,
            unclosed: None,
            sprawl: None,
            column_label,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_lettered_as_the_spreadsheet_does() {
        let got: Vec<String> = [0, 2, 25, 26, 51, 701, 702, 16_383]
            .into_iter()
            .map(letters)
            .collect();
        assert_eq!(got, ["A", "C", "Z", "AA", "AZ", "ZZ", "AAA", "XFD"]);
    }

    #[test]
    fn a_header_below_titles_is_found_above_the_first_address_only() {
        let rows = |r: &[&[&str]]| -> Vec<Vec<String>> {
            r.iter()
                .map(|r| r.iter().map(|c| c.to_string()).collect())
                .collect()
        };
        let titled = rows(&[
            &["Bounces, May"],
            &["", "Email", "Reason"],
            &["", "a@x.com", "550"],
        ]);
        assert_eq!(header_index(&titled, &ColumnChoice::Auto), 1);
        let named = rows(&[&["Report"], &["Who", "Why"], &["a@x.com", "550"]]);
        assert_eq!(header_index(&named, &ColumnChoice::Name("who".into())), 1);
        assert_eq!(header_index(&named, &ColumnChoice::Auto), 0);
        let known = rows(&[&["Report"], &["Email", "Why"], &["a@x.com", "550"]]);
        assert_eq!(header_index(&known, &ColumnChoice::Name("nope".into())), 1);
        // A header name below an address is a value, not the header.
        let late = rows(&[&["a@x.com"], &["email"], &["b@x.com"]]);
        assert_eq!(header_index(&late, &ColumnChoice::Auto), 0);
    }
}
