//! Opening a workbook by what its bytes hold (.xlsx, .xlsb, .xls, .ods, or why none can be read), choosing
//! its sheet, and loading that sheet's non-empty cells as text a CSV export would hold: the part of
//! reading a sheet that knows calamine and the file formats.

use std::borrow::Cow;
use std::io::{self, Cursor, Read};
use std::sync::Arc;

use calamine::{
    Data, DataRef, DataType, Dimensions, Ods, OdsError, Reader, Sheet, SheetType, SheetVisible,
    Sheets, Xls, XlsError, Xlsb, Xlsx, XlsxError,
};

/// The largest workbook read. It is unzipped from memory, so it is read whole first (from a file or a
/// pipe alike); past this, CSV (read as a stream) is the way.
pub const WORKBOOK_MAX_BYTES: u64 = 256 << 20;

/// The most a zip workbook's members may hold unzipped, in all, as their sizes declare them (the zip
/// reader stops a member at its declared size): a few bytes of a zip can otherwise unzip to gigabytes.
pub const WORKBOOK_MAX_UNZIPPED: u64 = 2 << 30;

/// The most cells of merged areas visited to give them their area's value, over a whole sheet.
const MERGE_VISITS_MAX: usize = 1_000_000;

/// How the first bytes of an OLE2 compound file (.xls, and an encrypted .xlsx) and of a zip archive
/// (.xlsx, .xlsb, .ods) start.
const OLE: &[u8] = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
const ZIP: &[u8] = b"PK\x03\x04";

/// How many first bytes [`is_workbook`] needs.
pub const HEAD_BYTES: usize = OLE.len();

/// Whether an input starting with `head` is a workbook (or meant to be one: a zip or OLE file).
pub fn is_workbook(head: &[u8]) -> bool {
    head.starts_with(ZIP) || head.starts_with(OLE)
}

const ENCRYPTED: &str = "the workbook is password-protected (encrypted); remove its password (Excel: File > Info > \
     Protect Workbook > Encrypt with Password) or save the sheet as CSV";

/// The bytes of a workbook, shared by the readers tried on it without copying them.
#[derive(Clone)]
struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

type Book = Sheets<Cursor<Shared>>;

/// Reads the rest of a workbook whose first bytes are `head` into memory, up to `limit` bytes in all
/// ([`WORKBOOK_MAX_BYTES`]); past it, why not.
pub fn read_whole(
    head: &[u8],
    rest: &mut impl Read,
    limit: u64,
) -> io::Result<Result<Vec<u8>, String>> {
    let mut bytes = head.to_vec();
    rest.take((limit + 1).saturating_sub(head.len() as u64))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Ok(Err(format!(
            "a workbook over {} MiB is not read (save the sheet as CSV: CSV is read as a stream)",
            limit >> 20
        )));
    }
    Ok(Ok(bytes))
}

/// The format of a workbook, by what it holds, opened; or why it is none that can be read.
fn open_book(bytes: Vec<u8>) -> Result<Book, String> {
    let shared = Shared(Arc::new(bytes));
    let cursor = || Cursor::new(shared.clone());
    let cannot = |format: &str, e: &dyn std::fmt::Display| {
        format!(
            "the {format} workbook cannot be read: {}",
            outside(&e.to_string())
        )
    };
    if shared.0.starts_with(OLE) {
        return match Xls::new(cursor()) {
            Ok(book) => Ok(Sheets::Xls(book)),
            Err(XlsError::Password) => Err(ENCRYPTED.into()),
            // An encrypted .xlsx is an OLE file holding the encrypted zip.
            Err(e) => match Xlsx::new(cursor()) {
                Err(XlsxError::Password) => Err(ENCRYPTED.into()),
                _ => Err(format!(
                    "an OLE compound file (Office 97-2003) that cannot be read as an .xls workbook: {}",
                    outside(&e.to_string())
                )),
            },
        };
    }
    let mut zip = zip::ZipArchive::new(cursor()).map_err(|e| {
        format!(
            "a zip archive that cannot be read (a damaged or cut .xlsx or .ods file?): {}",
            outside(&e.to_string())
        )
    })?;
    let mut unzipped = 0u64;
    for i in 0..zip.len() {
        let size = zip.by_index_raw(i).map_or(0, |f| f.size());
        unzipped = unzipped.saturating_add(size);
    }
    if unzipped > WORKBOOK_MAX_UNZIPPED {
        return Err(format!(
            "a workbook that unzips to over {} GiB is not read (a zip bomb? save the sheet as CSV)",
            WORKBOOK_MAX_UNZIPPED >> 30
        ));
    }
    let has = |name: &str| zip.index_for_name(name).is_some();
    if has("xl/workbook.bin") {
        return Xlsb::new(cursor())
            .map(Sheets::Xlsb)
            .map_err(|e| cannot(".xlsb", &e));
    }
    if has("[Content_Types].xml") && zip.file_names_raw().any(|n| n.starts_with(b"xl/")) {
        return match Xlsx::new(cursor()) {
            Ok(book) => Ok(Sheets::Xlsx(book)),
            Err(XlsxError::Password) => Err(ENCRYPTED.into()),
            Err(e) => Err(cannot(".xlsx", &e)),
        };
    }
    if has("mimetype") {
        let mut mime = String::new();
        let read = zip
            .by_name("mimetype")
            .map_err(io::Error::other)
            .and_then(|f| f.take(200).read_to_string(&mut mime));
        if read.is_ok() && mime.trim() != "application/vnd.oasis.opendocument.spreadsheet" {
            return Err(format!(
                "an OpenDocument file, but not a spreadsheet (.ods): it is {}",
                outside(mime.trim())
            ));
        }
        return match Ods::new(cursor()) {
            Ok(book) => Ok(Sheets::Ods(book)),
            Err(OdsError::Password) => Err(ENCRYPTED.into()),
            Err(e) => Err(cannot(".ods", &e)),
        };
    }
    Err(
        "a zip archive, but no workbook (.xlsx or .ods): unzip it, and name the export it holds"
            .into(),
    )
}

/// Text from the file made fit for one line of a message: control and bidi characters escaped, at most
/// 300 characters.
fn outside(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == 300 {
            out.push('…');
            break;
        }
        match c {
            c if c.is_control()
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') =>
            {
                out.extend(c.escape_default())
            }
            c => out.push(c),
        }
    }
    out
}

/// A sheet's name as messages show it: quoted, its control characters escaped.
pub(super) fn quoted(name: &str) -> String {
    format!("\"{}\"", outside(name))
}

/// Every sheet of the workbook, for messages: `"Bounces", "Lists" (hidden), "Chart1" (chart)`.
fn sheet_list(sheets: &[Sheet]) -> String {
    if sheets.is_empty() {
        return "none".into();
    }
    let list: Vec<String> = sheets
        .iter()
        .map(|s| {
            let what = match (s.typ, s.visible) {
                (SheetType::ChartSheet, _) => " (chart)",
                (SheetType::WorkSheet, SheetVisible::Visible) => "",
                (SheetType::WorkSheet, _) => " (hidden)",
                _ => " (not a worksheet)",
            };
            format!("{}{what}", quoted(&s.name))
        })
        .collect();
    list.join(", ")
}

/// The non-empty cells of a sheet, (0-based row, 0-based column, value), sorted by row then column.
pub(super) type Cells = Vec<(u32, u32, Data)>;

/// Loads one sheet: its non-empty cells, each cell of a merged area holding the area's value (as the
/// spreadsheet shows it). `notes` gets what the user should know about it.
fn load(book: &mut Book, name: &str, notes: &mut Vec<String>) -> Result<Cells, String> {
    let why = |e: &dyn std::fmt::Display| {
        format!(
            "sheet {} cannot be read: {}",
            quoted(name),
            outside(&e.to_string())
        )
    };
    let mut cells = Cells::new();
    let merged = match book {
        // (Streamed cell by cell: only non-empty cells take memory, however far apart they are.)
        // A formula whose value was never computed (a file written by a program, not saved by a
        // spreadsheet) reads as its formula, `=...`, so the row is reported, not taken for blank.
        Sheets::Xlsx(x) => {
            let mut reader = x.worksheet_cells_reader(name).map_err(|e| why(&e))?;
            while let Some(c) = reader.next_cell_with_formula().map_err(|e| why(&e))? {
                let (r, col) = c.pos;
                match (c.value, c.formula) {
                    (DataRef::Empty, Some(f)) if !f.is_empty() => {
                        cells.push((r, col, Data::String(format!("={f}"))))
                    }
                    (DataRef::Empty, _) => {}
                    (value, _) => cells.push((r, col, Data::from(value))),
                }
            }
            drop(reader);
            x.merge_cells_by_sheet_name(name).map_err(|e| why(&e))?
        }
        Sheets::Xlsb(x) => {
            let mut reader = x.worksheet_cells_reader(name).map_err(|e| why(&e))?;
            while let Some(c) = reader.next_cell().map_err(|e| why(&e))? {
                if !c.get_value().is_empty() {
                    let (r, col) = c.get_position();
                    cells.push((r, col, Data::from(c.get_value().clone())));
                }
            }
            Vec::new()
        }
        Sheets::Xls(x) => {
            let range = x.worksheet_range(name).map_err(|e| why(&e))?;
            cells.extend(range.used_cells().map(|(r, c, v)| {
                let (r0, c0) = range.start().unwrap_or_default();
                (r0 + r as u32, c0 + c as u32, v.clone())
            }));
            x.merge_cells_by_sheet_name(name).map_err(|e| why(&e))?
        }
        // (calamine does not give the merged areas of an .ods sheet: only their first cell has a value.)
        Sheets::Ods(x) => {
            let range = x.worksheet_range(name).map_err(|e| why(&e))?;
            cells.extend(range.used_cells().map(|(r, c, v)| {
                let (r0, c0) = range.start().unwrap_or_default();
                (r0 + r as u32, c0 + c as u32, v.clone())
            }));
            Vec::new()
        }
    };
    sort(&mut cells);
    fill_merged(&mut cells, &merged, notes);
    Ok(cells)
}

fn sort(cells: &mut Cells) {
    cells.sort_by_key(|&(r, c, _)| (r, c));
    cells.dedup_by_key(|&mut (r, c, _)| (r, c));
}

fn find(cells: &Cells, at: (u32, u32)) -> Option<usize> {
    cells.binary_search_by_key(&at, |&(r, c, _)| (r, c)).ok()
}

/// Gives the empty cells of each merged area its first cell's value, within the sheet's used rows and
/// columns and at most [`MERGE_VISITS_MAX`] cells visited in all.
fn fill_merged(cells: &mut Cells, merged: &[Dimensions], notes: &mut Vec<String>) {
    let Some(&(last_row, _, _)) = cells.last() else {
        return;
    };
    let last_col = cells.iter().map(|&(_, c, _)| c).max().unwrap_or(0);
    let mut visits = 0;
    let mut added = Cells::new();
    'areas: for area in merged {
        let Some(i) = find(cells, area.start) else {
            continue;
        };
        let value = cells[i].2.clone();
        for r in area.start.0..=area.end.0.min(last_row) {
            for c in area.start.1..=area.end.1.min(last_col) {
                visits += 1;
                if visits > MERGE_VISITS_MAX {
                    notes.push(format!(
                        "merged areas of over {MERGE_VISITS_MAX} cells in all: the cells past those \
                         are read empty"
                    ));
                    break 'areas;
                }
                if find(cells, (r, c)).is_none() {
                    added.push((r, c, value.clone()));
                }
            }
        }
    }
    if !added.is_empty() {
        cells.append(&mut added);
        sort(cells);
    }
}

/// A cell as text, as a CSV export of the sheet would hold it: numbers as digits (`42`, `0.5`), dates
/// in ISO 8601, errors as the spreadsheet shows them (`#N/A`), `TRUE`/`FALSE`.
pub(super) fn text(value: &Data) -> Cow<'_, str> {
    match value {
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => Cow::Borrowed(s),
        Data::Empty => Cow::Borrowed(""),
        Data::Int(n) => Cow::Owned(n.to_string()),
        Data::Float(f) => Cow::Owned(f.to_string()),
        Data::Bool(b) => Cow::Borrowed(if *b { "TRUE" } else { "FALSE" }),
        Data::Error(e) => Cow::Owned(e.to_string()),
        Data::DateTime(d) if d.is_duration() => {
            let seconds = (d.as_f64() * 86_400.0).round() as i64;
            Cow::Owned(format!(
                "{}:{:02}:{:02}",
                seconds / 3600,
                seconds / 60 % 60,
                seconds % 60
            ))
        }
        Data::DateTime(d) => {
            let (y, mo, day, h, mi, s, ms) = d.to_ymd_hms_milli();
            Cow::Owned(match (h, mi, s, ms) {
                (0, 0, 0, 0) => format!("{y:04}-{mo:02}-{day:02}"),
                _ => format!("{y:04}-{mo:02}-{day:02} {h:02}:{mi:02}:{s:02}"),
            })
        }
    }
}

/// Whether a row's cells are all empty or white space (a row of a CSV export that is `;;;` or spaces).
pub(super) fn is_blank(cells: &[(u32, u32, Data)]) -> bool {
    cells.iter().all(|(_, _, v)| match v {
        Data::String(s) => s.trim().is_empty(),
        v => v.is_empty(),
    })
}

/// One sheet's cells, and what the user should know about how it was chosen and read.
pub(super) struct Loaded {
    /// `.xlsx`, `.xls`, ...
    pub format: &'static str,
    pub sheet: String,
    pub cells: Cells,
    pub notes: Vec<String>,
}

/// Opens the workbook in `bytes` and loads the sheet named `wanted` (any case), or else the first
/// visible worksheet with cells; a sheet without cells is refused unless `allow_empty`.
pub(super) fn load_sheet(
    bytes: Vec<u8>,
    wanted: Option<&str>,
    allow_empty: bool,
) -> Result<Loaded, String> {
    let mut book = open_book(bytes)?;
    let format = match &book {
        Sheets::Xlsx(_) => ".xlsx",
        Sheets::Xlsb(_) => ".xlsb",
        Sheets::Xls(_) => ".xls",
        Sheets::Ods(_) => ".ods",
    };
    let mut notes = Vec::new();
    let (sheet, cells) = choose(&mut book, wanted, &mut notes)?;
    if cells.is_empty() && !allow_empty {
        let which = match wanted {
            Some(_) => format!("sheet {} has no cells", quoted(&sheet)),
            None => format!(
                "no visible worksheet has cells (sheets: {})",
                sheet_list(book.sheets_metadata())
            ),
        };
        return Err(format!(
            "{which}; if no rows can be right, pass --allow-empty"
        ));
    }
    Ok(Loaded {
        format,
        sheet,
        cells,
        notes,
    })
}

/// Which sheet to read, and what to tell the user about the choice.
fn choose(
    book: &mut Book,
    wanted: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<(String, Cells), String> {
    let sheets = book.sheets_metadata().to_vec();
    let list = sheet_list(&sheets);
    if let Some(want) = wanted {
        let same = |s: &&Sheet| s.name == want;
        let alike = |s: &&Sheet| s.name.trim().to_lowercase() == want.trim().to_lowercase();
        let found = sheets.iter().find(same).or_else(|| {
            let mut alike = sheets.iter().filter(alike);
            alike.next().filter(|_| alike.next().is_none())
        });
        let Some(sheet) = found else {
            return Err(format!("no sheet named {} (sheets: {list})", quoted(want)));
        };
        if sheet.typ != SheetType::WorkSheet {
            return Err(format!(
                "sheet {} is not a worksheet (sheets: {list})",
                quoted(&sheet.name)
            ));
        }
        let cells = load(book, &sheet.name, notes)?;
        return Ok((sheet.name.clone(), cells));
    }
    // The first visible worksheet with cells: hidden sheets hold lookups and helpers, not the export.
    let visible: Vec<&Sheet> = sheets
        .iter()
        .filter(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible)
        .collect();
    let mut empty = Vec::new();
    for (i, sheet) in visible.iter().enumerate() {
        let cells = load(book, &sheet.name, notes)?;
        if cells.is_empty() {
            empty.push(quoted(&sheet.name));
            continue;
        }
        if !empty.is_empty() {
            let (sheets, have) = if empty.len() == 1 {
                ("sheet", "has")
            } else {
                ("sheets", "have")
            };
            notes.push(format!(
                "{sheets} {} {have} no cells; reading {}",
                empty.join(", "),
                quoted(&sheet.name)
            ));
        }
        let others: Vec<String> = visible[i + 1..].iter().map(|s| quoted(&s.name)).collect();
        if !others.is_empty() {
            notes.push(format!(
                "only sheet {} is read, not {} (--sheet NAME reads another)",
                quoted(&sheet.name),
                others.join(", ")
            ));
        }
        return Ok((sheet.name.clone(), cells));
    }
    match visible.first() {
        Some(sheet) => Ok((sheet.name.clone(), Cells::new())),
        None => Err(format!(
            "no visible worksheet (sheets: {list}); name one with --sheet"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{CellErrorType, ExcelDateTime, ExcelDateTimeType};

    #[test]
    fn cells_read_as_a_csv_export_shows_them() {
        assert_eq!(text(&Data::Float(42.0)), "42");
        assert_eq!(text(&Data::Float(0.5)), "0.5");
        assert_eq!(text(&Data::Int(-7)), "-7");
        assert_eq!(text(&Data::Bool(true)), "TRUE");
        assert_eq!(text(&Data::Error(CellErrorType::NA)), "#N/A");
        let date = ExcelDateTime::new(45_943.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(text(&Data::DateTime(date)), "2025-10-13");
        let stamp = ExcelDateTime::new(45_943.5, ExcelDateTimeType::DateTime, false);
        assert_eq!(text(&Data::DateTime(stamp)), "2025-10-13 12:00:00");
        let span = ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false);
        assert_eq!(text(&Data::DateTime(span)), "36:00:00");
    }

    #[test]
    fn merged_areas_take_their_first_cells_value_within_the_used_cells() {
        let s = |t: &str| Data::String(t.into());
        let mut cells = vec![(0, 0, s("email")), (1, 0, s("a@x.com")), (3, 1, s("n"))];
        let merged = [
            Dimensions::new((1, 0), (2, 0)),
            // Far past the used cells: clipped to them, not a billion cells.
            Dimensions::new((3, 1), (1_000_000, 16_000)),
            // An area whose first cell is empty gives nothing.
            Dimensions::new((2, 1), (2, 1)),
        ];
        let mut notes = Vec::new();
        fill_merged(&mut cells, &merged, &mut notes);
        assert_eq!(
            cells,
            vec![
                (0, 0, s("email")),
                (1, 0, s("a@x.com")),
                (2, 0, s("a@x.com")),
                (3, 1, s("n"))
            ]
        );
        assert!(notes.is_empty());
    }

    #[test]
    fn merged_areas_are_filled_within_a_bound() {
        let s = |t: &str| Data::String(t.into());
        let mut cells = vec![(0, 0, s("x")), (5000, 5000, s("y"))];
        let mut notes = Vec::new();
        fill_merged(
            &mut cells,
            &[Dimensions::new((0, 0), (5000, 5000))],
            &mut notes,
        );
        assert_eq!(cells.len(), MERGE_VISITS_MAX + 1);
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    #[test]
    fn a_workbook_is_read_whole_up_to_the_limit() {
        let limit = 3 << 20;
        let mut exact = io::repeat(7).take(limit - 4);
        let bytes = read_whole(ZIP, &mut exact, limit).unwrap().unwrap();
        assert_eq!(bytes.len() as u64, limit);
        assert!(bytes.starts_with(ZIP));
        let mut over = io::repeat(7).take(limit);
        let why = read_whole(ZIP, &mut over, limit).unwrap().unwrap_err();
        assert!(
            why.starts_with("a workbook over 3 MiB is not read"),
            "{why}"
        );
    }

    #[test]
    fn outside_text_is_one_safe_line() {
        assert_eq!(outside("a\u{1b}[2Jb\n\u{202e}"), "a\\u{1b}[2Jb\\n\\u{202e}");
        assert_eq!(outside(&"x".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn what_is_not_a_workbook_says_what_it_is() {
        assert!(is_workbook(b"PK\x03\x04\x14\x00"));
        assert!(is_workbook(OLE));
        assert!(!is_workbook(b"email\na@x.com\n"));
        let cut = open_book(b"PK\x03\x04\x14\x00\x00\x00".to_vec())
            .err()
            .unwrap();
        assert!(
            cut.starts_with("a zip archive that cannot be read"),
            "{cut}"
        );
        let ole = open_book(OLE.to_vec()).err().unwrap();
        assert!(ole.starts_with("an OLE compound file"), "{ole}");
    }
}
