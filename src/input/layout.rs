//! Working out the shape of an export from its first 64 KiB: the delimiter, preamble lines that are not
//! data (`sep=;`, PowerShell's `#TYPE`), whether the first row is a header, and which column holds the
//! addresses — by header name first, then by content.

use std::fmt;

use super::decode::cell_text;
use super::records::{self, Records};
use crate::address;

/// How the user chose the address column (`--column`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnChoice {
    Auto,
    /// 1-based, as spreadsheets count.
    Number(usize),
    Name(String),
}

impl ColumnChoice {
    pub fn parse(s: &str) -> ColumnChoice {
        match s.trim().parse::<usize>() {
            Ok(n) => ColumnChoice::Number(n),
            Err(_) => ColumnChoice::Name(s.trim().to_string()),
        }
    }
}

/// What was found out about one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub delimiter: u8,
    /// Physical lines before the data that are not data (`sep=;`, `#TYPE ...`).
    pub preamble_lines: u64,
    pub header: Option<Vec<String>>,
    /// 0-based index of the address column.
    pub column: usize,
    /// How many columns a row has: the header's, or else the most common width of the sampled rows.
    pub width: usize,
    pub how: &'static str,
}

impl Layout {
    /// How the records of this input are read: one-column lists have comment lines.
    pub fn records_config(&self) -> records::Config {
        records::Config {
            delimiter: self.delimiter,
            address_column: Some(self.column),
            width: Some(self.width),
            comments: self.delimiter == SINGLE_COLUMN,
            skip_lines: self.preamble_lines,
        }
    }

    pub fn column_label(&self) -> String {
        match self.header.as_ref().and_then(|h| h.get(self.column)) {
            Some(name) => format!("column {} \"{}\"", self.column + 1, name),
            None => format!("column {}", self.column + 1),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let delim = match self.delimiter {
            b',' => "comma".to_string(),
            b';' => "semicolon".to_string(),
            b'\t' => "tab".to_string(),
            b'|' => "pipe".to_string(),
            SINGLE_COLUMN => "none (one value a line)".to_string(),
            d => format!("{:?}", d as char),
        };
        write!(
            f,
            "delimiter {delim}, {}, addresses in {} ({})",
            if self.header.is_some() {
                "header row"
            } else {
                "no header row"
            },
            self.column_label(),
            self.how
        )
    }
}

/// A delimiter that never occurs in text, for plain lists.
pub const SINGLE_COLUMN: u8 = 0x1F;

const CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How many rows of the sample the layout is worked out from.
pub const SNIFF_ROWS: usize = 200;

/// Header names that hold the recipient address, best first, lowercased with spaces, `_`, `-` and `.`
/// removed. Sender columns (`sender_address`, `from`, `return_path`) are deliberately absent.
const ADDRESS_HEADERS: &[&str] = &[
    "email",
    "emailaddress",
    "recipient",
    "recipients",
    "to(envelope)",
    "envelopeto",
    "recipientaddress",
    "recipientemail",
    "recipientemailaddress",
    "address",
    "emailaddr",
    "mail",
    "to",
    "toaddress",
    "bouncedaddress",
    "bounceaddress",
    "bouncedemail",
    "subscriberemail",
    "subscriber",
    "contactemail",
    "useremail",
    "addr",
    "emailid",
    "emailadresse",
    "adresseemail",
    "adressemail",
    "courriel",
    "correoelectronico",
    "correo",
    // Microsoft 365's historical message trace: `a@x.com##Receive, Fail`.
    "recipientstatus",
];

pub fn normalize_header(s: &str) -> String {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("no column named \"{name}\" in the header row (columns: {})", .header.join(", "))]
    NoSuchColumnName { name: String, header: Vec<String> },
    #[error("no column named \"{0}\": the first row is not a header (use --column with a number)")]
    NoHeader(String),
    #[error("--column numbers start at 1")]
    ColumnZero,
    #[error(
        "no column of recipients: the addresses are all in sender or Message-ID columns (columns: {}); \
         name the recipients' column with --column",
        .header.join(", ")
    )]
    OnlySenders { header: Vec<String> },
    #[error(
        "--column {number}: {} has that many columns (the widest has {width})",
        match looked_at {
            Some(n) => format!("none of the first {n} rows"),
            None => "no row".to_string(),
        }
    )]
    ColumnBeyond {
        number: usize,
        width: usize,
        /// How many rows were looked at, when they are not the whole input.
        looked_at: Option<usize>,
    },
}

/// Decides the layout from the first bytes of the (decoded) input. `complete` says whether `sample` is the
/// whole input, so its last line can be trusted.
pub fn sniff(sample: &[u8], complete: bool, choice: &ColumnChoice) -> Result<Layout, LayoutError> {
    let sample = if complete {
        sample
    } else {
        match sample.iter().rposition(|&b| b == b'\n' || b == b'\r') {
            Some(end) => &sample[..=end],
            None => sample,
        }
    };
    let (preamble_lines, forced_delimiter, body) = preamble(sample);
    let delimiter = forced_delimiter
        .or_else(|| header_delimiter(body))
        .unwrap_or_else(|| pick_delimiter(body));
    let records = parse(body, delimiter, SNIFF_ROWS);
    decide(&records, complete, choice, delimiter, preamble_lines)
}

/// Decides the layout from the first rows of an input, already split into cells: those of a delimited
/// sample, or a sheet's (`crate::input::sheet`). `complete` says whether `records` are all the rows.
pub fn decide(
    records: &[Vec<String>],
    complete: bool,
    choice: &ColumnChoice,
    delimiter: u8,
    preamble_lines: u64,
) -> Result<Layout, LayoutError> {
    let first = records.first().map(|r| r.as_slice()).unwrap_or(&[]);
    // A row with an address in it is data, whatever its other cells say.
    let first_has_at = first.iter().any(|c| c.contains('@'));
    let named = if first_has_at {
        None
    } else {
        known_header(first)
    };

    let (column, has_header, how) = match choice {
        ColumnChoice::Number(0) => return Err(LayoutError::ColumnZero),
        ColumnChoice::Number(n) => {
            let width = records.iter().map(Vec::len).max().unwrap_or(0);
            if width > 0 && *n > width {
                let looked_at = (!complete || records.len() == SNIFF_ROWS).then_some(records.len());
                return Err(LayoutError::ColumnBeyond {
                    number: *n,
                    width,
                    looked_at,
                });
            }
            let header = named.is_some() || guessed_header(first, records, delimiter);
            (n - 1, header, "--column")
        }
        ColumnChoice::Name(name) => {
            let want = normalize_header(name);
            match first.iter().position(|c| normalize_header(c) == want) {
                Some(i) if !first_has_at => (i, true, "--column"),
                _ => {
                    return Err(if first_has_at {
                        LayoutError::NoHeader(name.clone())
                    } else {
                        LayoutError::NoSuchColumnName {
                            name: name.clone(),
                            header: first.to_vec(),
                        }
                    });
                }
            }
        }
        ColumnChoice::Auto => match named {
            Some((_, i)) => (i, true, "by header name"),
            None => {
                let header = guessed_header(first, records, delimiter);
                let (data, names) = if header {
                    (&records[1..], first)
                } else {
                    (records, &[][..])
                };
                let column = by_content(data, names).ok_or_else(|| LayoutError::OnlySenders {
                    header: first.to_vec(),
                })?;
                (column, header, "by content")
            }
        },
    };
    // Without a header, the most common width of the sampled rows (the wider on a tie: a row cut short
    // at a stray quote is narrower than the others), and at least up to the address column.
    let width = if has_header {
        first.len()
    } else {
        mode(&records.iter().map(Vec::len).collect::<Vec<_>>())
    }
    .max(column + 1);
    Ok(Layout {
        delimiter,
        preamble_lines,
        header: has_header.then(|| first.to_vec()),
        column,
        width,
        how,
    })
}

/// Whether `line` (without its line end) reads as the header row of an export: no `@`, and its cells (split
/// at any of the delimiters it holds, or not at all) hold a name this tool knows for an address column.
pub fn header_line(line: &[u8]) -> bool {
    if line.contains(&b'@') || line.trim_ascii().is_empty() {
        return false;
    }
    let named = |d: u8| {
        let cells = parse(line, d, 1).into_iter().next().unwrap_or_default();
        (d == SINGLE_COLUMN || cells.len() >= 2) && known_header(&cells).is_some()
    };
    CANDIDATES
        .iter()
        .filter(|&&d| line.contains(&d))
        .any(|&d| named(d))
        || named(SINGLE_COLUMN)
}

/// Whether `line` is a line that comes before the header of an export (`sep=;`, `#TYPE ...`).
pub fn preamble_line(line: &[u8]) -> bool {
    sep_line(line).is_some() || line.starts_with(b"#TYPE ")
}

/// The best-ranked known address header name in `row`: (rank, column).
pub fn known_header(row: &[String]) -> Option<(usize, usize)> {
    row.iter()
        .enumerate()
        .filter_map(|(i, cell)| {
            let n = normalize_header(cell);
            ADDRESS_HEADERS
                .iter()
                .position(|h| *h == n)
                .map(|rank| (rank, i))
        })
        .min()
}

/// Leading lines that are not data: Excel's `sep=X` (which also names the delimiter) and the `#TYPE` line
/// of PowerShell's `Export-Csv`.
fn preamble(sample: &[u8]) -> (u64, Option<u8>, &[u8]) {
    let mut lines = 0;
    let mut delimiter = None;
    let mut rest = sample;
    // Blank lines before a preamble line are passed over with it (they are never rows anyway).
    let mut blank = 0;
    loop {
        let (line, next) = records::split_line(rest);
        if rest.is_empty() {
            return (lines, delimiter, rest);
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            blank += 1;
        } else if let Some(d) = sep_line(line) {
            delimiter = Some(d);
            (lines, blank) = (lines + blank + 1, 0);
        } else if line.starts_with(b"#TYPE ") {
            (lines, blank) = (lines + blank + 1, 0);
        } else {
            return (lines, delimiter, after_lines(sample, lines));
        }
        rest = next;
    }
}

/// The delimiter an Excel `sep=X` line names, in the forms spreadsheets write it: `sep=;`, quoted as a
/// cell (`"sep=,"`), or padded with the delimiter to the width of the rows (`sep=;;;`, LibreOffice).
fn sep_line(line: &[u8]) -> Option<u8> {
    let (delimiter, rest) = match line {
        [s, e, p, b'=', d, rest @ ..] if [*s, *e, *p].eq_ignore_ascii_case(b"sep") => (*d, rest),
        [b'"', s, e, p, b'=', d, b'"', rest @ ..] if [*s, *e, *p].eq_ignore_ascii_case(b"sep") => {
            (*d, rest)
        }
        _ => return None,
    };
    let fits = !delimiter.is_ascii_alphanumeric()
        && delimiter != b'"'
        && rest.iter().all(|&b| b == delimiter);
    fits.then_some(delimiter)
}

/// `sample` after its first `n` lines.
fn after_lines(sample: &[u8], n: u64) -> &[u8] {
    let mut rest = sample;
    for _ in 0..n {
        rest = records::split_line(rest).1;
    }
    rest
}

/// The delimiter that splits the first row into two or more cells, one of them a known address header
/// name: a header says more than a vote among data rows, some of which may be ragged.
fn header_delimiter(body: &[u8]) -> Option<u8> {
    CANDIDATES
        .iter()
        .filter_map(|&d| {
            let first = parse(body, d, 1).into_iter().next()?;
            let fits = first.len() >= 2
                && !first.iter().any(|c| c.contains('@'))
                && known_header(&first).is_some();
            fits.then_some((first.len(), d))
        })
        .max_by_key(|&(width, _)| width)
        .map(|(_, d)| d)
}

fn pick_delimiter(body: &[u8]) -> u8 {
    // A delimiter is one whose field count is the same (and above one) on at least 60 % of the sampled
    // records; among those, the one with the most agreeing fields (records agreeing × fields) wins, so a
    // comma inside every row of a semicolon file does not steal it.
    // A line whose quotes one candidate reads as quoted cells, and another as quotes inside unquoted cells
    // (`a@x.com;"Doe, Jane"` under `,`), is no evidence for the other: the rows agreeing with it are
    // counted without such lines (else a comma in a quoted name of every row ties with `;`, and wins).
    let misread = misread_lines(body, 100);
    let mut best: Option<(usize, u8)> = None;
    for (k, &d) in CANDIDATES.iter().enumerate() {
        let counts: Vec<usize> = parse(body, d, 100).iter().map(Vec::len).collect();
        if counts.is_empty() {
            continue;
        }
        let mode = mode(&counts);
        let agreeing = counts
            .iter()
            .filter(|&&c| c == mode)
            .count()
            .saturating_sub(misread[k]);
        let score = agreeing * mode;
        if mode >= 2 && agreeing * 10 >= counts.len() * 6 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, d));
        }
    }
    best.map_or(SINGLE_COLUMN, |(_, d)| d)
}

/// For each of [`CANDIDATES`], how many of the first `limit` lines of `body` it misreads: it finds a quote
/// inside an unquoted cell where another candidate reads every quote of the line as quoting a whole cell.
fn misread_lines(body: &[u8], limit: usize) -> [usize; CANDIDATES.len()] {
    let mut misread = [0; CANDIDATES.len()];
    let lines = body
        .split(|&b| b == b'\n' || b == b'\r')
        .filter(|l| l.contains(&b'"'))
        .take(limit);
    for line in lines {
        let read = CANDIDATES.map(|d| quoting(line, d));
        let clean = read
            .iter()
            .any(|r| r.is_some_and(|(quoted, inner)| quoted > 0 && inner == 0));
        if !clean {
            continue;
        }
        for (k, r) in read.iter().enumerate() {
            if r.is_some_and(|(_, inner)| inner > 0) {
                misread[k] += 1;
            }
        }
    }
    misread
}

/// How `delimiter` reads the quotes of one line: how many cells it finds quoted (a quote at the cell's
/// start, closed right before a delimiter or the line's end), and how many with a quote anywhere else.
/// `None` when a quoted cell does not close on the line (it may run on to the next: no evidence).
fn quoting(line: &[u8], delimiter: u8) -> Option<(usize, usize)> {
    let (mut quoted, mut inner) = (0, 0);
    let mut i = 0;
    loop {
        if line.get(i) == Some(&b'"') {
            // A quoted cell: to its closing quote (a doubled quote is a quote in it).
            let mut j = i + 1;
            loop {
                match line[j.min(line.len())..].iter().position(|&b| b == b'"') {
                    None => return None,
                    Some(p) if line.get(j + p + 1) == Some(&b'"') => j += p + 2,
                    Some(p) => {
                        j += p + 1;
                        break;
                    }
                }
            }
            match line.get(j) {
                None => return Some((quoted + 1, inner)),
                Some(&b) if b == delimiter => {
                    quoted += 1;
                    i = j + 1;
                }
                // Closed in the middle of the cell: the rest of it runs to the next delimiter.
                Some(_) => {
                    inner += 1;
                    match line[j..].iter().position(|&b| b == delimiter) {
                        Some(p) => i = j + p + 1,
                        None => return Some((quoted, inner)),
                    }
                }
            }
        } else {
            let end = line[i..]
                .iter()
                .position(|&b| b == delimiter)
                .map_or(line.len(), |p| i + p);
            if line[i..end].contains(&b'"') {
                inner += 1;
            }
            if end == line.len() {
                return Some((quoted, inner));
            }
            i = end + 1;
        }
    }
}

/// The most common of `counts`; the largest among equally common ones.
fn mode(counts: &[usize]) -> usize {
    let mut sorted = counts.to_vec();
    sorted.sort_unstable();
    let mut best = (0, 0);
    let mut i = 0;
    while i < sorted.len() {
        let j = sorted[i..].iter().take_while(|&&c| c == sorted[i]).count();
        if j >= best.0 {
            best = (j, sorted[i]);
        }
        i += j;
    }
    best.1
}

/// The first `limit` records of `body`, read as the whole input will be (stray quotes included).
fn parse(body: &[u8], delimiter: u8, limit: usize) -> Vec<Vec<String>> {
    let mut rdr = Records::over(
        body,
        records::Config {
            delimiter,
            address_column: None,
            width: None,
            comments: delimiter == SINGLE_COLUMN,
            skip_lines: 0,
        },
    );
    let mut out = Vec::new();
    while out.len() < limit && matches!(rdr.next_record(), Ok(Some(_))) {
        out.push(
            (0..rdr.width())
                .map(|i| cell_text(rdr.field(i).unwrap_or_default()).into_owned())
                .collect(),
        );
    }
    out
}

/// A first row whose names this tool does not know is taken for a header only when it looks like one:
/// no `@`, every cell made of letters and a few separators, and addresses in the rows after it. A plain
/// list (one column) has a header only by a known name. A row wrongly taken for data is reported
/// `invalid`; one wrongly taken for a header would vanish, so the guess stays narrow.
fn guessed_header(first: &[String], records: &[Vec<String>], delimiter: u8) -> bool {
    let header_like = |c: &String| {
        let t = c.trim_matches(|ch: char| ch.is_whitespace() || ch == '\u{feff}');
        !t.is_empty()
            && t.chars().any(char::is_alphabetic)
            && t.chars()
                .all(|ch| ch.is_alphabetic() || " _-./#()".contains(ch))
    };
    delimiter != SINGLE_COLUMN
        && first.len() > 1
        && first.iter().all(header_like)
        && any_at(&records[1.min(records.len())..])
}

fn any_at(records: &[Vec<String>]) -> bool {
    records.iter().any(|r| r.iter().any(|c| c.contains('@')))
}

/// The column where the most values are an address and nothing else (`Name <addr>` and `mailto:` count),
/// then where the most hold exactly one `@` somewhere (an SMTP reply quoting the address counts only
/// there); leftmost on a tie; column 1 when none holds an `@`. A column whose header names a sender is
/// never chosen: `None` when only such columns hold an `@`.
fn by_content(records: &[Vec<String>], names: &[String]) -> Option<usize> {
    let width = records.iter().map(Vec::len).max().unwrap_or(0);
    let mut best = ((0, 0, 0), 0);
    for col in (0..width).filter(|&c| !names.get(c).is_some_and(|n| is_sender_header(n))) {
        let (mut whole, mut some) = (0, 0);
        let mut distinct = std::collections::HashSet::new();
        for cell in records.iter().filter_map(|r| r.get(col)) {
            let addr = address::extract(cell);
            if addr.matches('@').count() == 1 {
                some += 1;
                whole += usize::from(!addr.chars().any(char::is_whitespace));
                distinct.insert(addr.to_lowercase());
            }
        }
        // Among columns of addresses, the recipients vary; a sender repeats itself.
        let score = (whole, some, distinct.len());
        if score > best.0 {
            best = (score, col);
        }
    }
    let senders_hold_addresses = (0..width)
        .filter(|&c| names.get(c).is_some_and(|n| is_sender_header(n)))
        .any(|c| {
            records
                .iter()
                .any(|r| r.get(c).is_some_and(|v| v.contains('@')))
        });
    if best.0 == (0, 0, 0) && senders_hold_addresses {
        return None;
    }
    Some(best.1)
}

/// A header name of a column of senders (`From`, `Sender`, `sender_address`, `Return-Path`, `MailFrom`,
/// `Reply-To`), or of Message-IDs (`<id@host>` looks like an address): never the addresses to clear.
fn is_sender_header(name: &str) -> bool {
    let n = normalize_header(name);
    [
        "from",
        "sender",
        "returnpath",
        "replyto",
        "messageid",
        "msgid",
    ]
    .iter()
    .any(|w| n.contains(w))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_quoted_cell_with_a_comma_in_every_row_does_not_make_a_semicolon_file_comma_separated() {
        let body = b"user0@example.com;\"Doe, Jane\"\nuser1@example.com;\"550 5.1.1 <x>: \"\"User unknown\"\", see log\"\nuser2@example.com;\"Doe, Jane\"";
        assert_eq!(pick_delimiter(body), b';');
        // The other way round too, and a stray quote proves nothing.
        let body = b"a@x.com,\"Doe; Jane\"\nb@x.com,\"Roe; Ann\"\nc@x.com,\"Poe; Ed\"\n";
        assert_eq!(pick_delimiter(body), b',');
        let body = b"a@x.com,O\"Neil\nb@x.com,Roe\nc@x.com,Poe\n";
        assert_eq!(pick_delimiter(body), b',');
        assert_eq!(quoting(b"a;\"b, c\"", b';'), Some((1, 0)));
        assert_eq!(quoting(b"a;\"b, c\"", b','), Some((0, 2)));
        assert_eq!(quoting(b"a;\"b, c", b';'), None);
        assert_eq!(quoting(b"\"a\"\"b\",c", b','), Some((1, 0)));
        assert_eq!(quoting(b"\"a\"x,c", b','), Some((0, 1)));
    }

    use super::*;

    fn auto(s: &str) -> Layout {
        sniff(s.as_bytes(), true, &ColumnChoice::Auto).unwrap()
    }

    #[test]
    fn finds_column_by_header_name() {
        let l = auto("created,email,reason,status\n2024-01-01,a@x.com,550,bounce\n");
        assert_eq!((l.delimiter, l.column, l.header.is_some()), (b',', 1, true));
        let l = auto("Email Address;First Name\na@x.com;A\n");
        assert_eq!((l.delimiter, l.column), (b';', 0));
        let l = auto("\"sender_address\",\"recipient_address\"\n\"s@x.com\",\"r@y.com\"\n");
        assert_eq!(l.column, 1);
        let l = auto("ID\tType\tEmail\tFrom\n1\tHardBounce\ta@x.com\tno-reply@y.com\n");
        assert_eq!((l.delimiter, l.column), (b'\t', 2));
    }

    #[test]
    fn finds_column_by_content_without_header() {
        let l = auto("a@x.com,BOUNCE\nb@x.com,COMPLAINT\n");
        assert_eq!((l.column, l.header.is_none()), (0, true));
        let l = auto("id|who|when\n1|Jane <j@x.com>|2024\n2|b@y.com|2024\n");
        assert_eq!((l.delimiter, l.column, l.header.is_some()), (b'|', 1, true));
    }

    #[test]
    fn a_first_row_of_data_is_not_taken_for_a_header() {
        let l = auto("2024-01-01,,hard\n2024-01-02,b@x.com,soft\n");
        assert!(l.header.is_none());
        assert_eq!(l.column, 1);
        let l = auto("not an address\na@x.com\n");
        assert!(l.header.is_none());
    }

    #[test]
    fn plain_lists_are_one_column() {
        let l = auto("a@x.com\nb@x.com\nJane Doe <j@x.com>\n");
        assert_eq!((l.delimiter, l.column), (SINGLE_COLUMN, 0));
        let l = auto("email\na@x.com\n");
        assert!(l.header.is_some());
    }

    #[test]
    fn quoted_delimiters_do_not_confuse_the_count() {
        let l = auto("Email Address,Notes\n\"a@x.com\",\"one, two, three\"\nb@x.com,\"x,y\"\n");
        assert_eq!((l.delimiter, l.column), (b',', 0));
        let l = auto("email;name\na@x.com;Doe, Jane\nb@x.com;Roe, Rick\n");
        assert_eq!(l.delimiter, b';');
    }

    #[test]
    fn preamble_lines_are_skipped() {
        let l = auto("sep=;\r\nEmail;Name\r\na@x.com;A\r\n");
        assert_eq!((l.preamble_lines, l.delimiter, l.column), (1, b';', 0));
        let l = auto(
            "#TYPE Deserialized.MessageTrace\n\"Received\",\"RecipientAddress\"\n\"x\",\"a@b.com\"\n",
        );
        assert_eq!((l.preamble_lines, l.column), (1, 1));
    }

    #[test]
    fn spreadsheet_sep_lines_in_every_form() {
        for text in [
            "sep=;;;\nReceived;SenderAddress;RecipientAddress;Status\n1;n@corp.example;a@y.com;Failed\n",
            "\"sep=;\"\nReceived;SenderAddress;RecipientAddress;Status\n1;n@corp.example;a@y.com;Failed\n",
            "\r\n\"sep=;\";;;\r\nReceived;SenderAddress;RecipientAddress;Status\r\n1;n@c.example;a@y.com;F\r\n",
        ] {
            let l = auto(text);
            let lines = if text.starts_with('\r') { 2 } else { 1 };
            assert_eq!(
                (l.preamble_lines, l.delimiter, l.column, l.width),
                (lines, b';', 2, 4),
                "{text:?}"
            );
        }
        // Not a preamble: a data row that happens to start so, or a blank line before data.
        assert_eq!(auto("sep=a\nb@x.com\n").preamble_lines, 0);
        assert_eq!(auto("\nemail\na@x.com\n").preamble_lines, 0);
    }

    #[test]
    fn by_content_prefers_whole_addresses_and_never_a_sender_column() {
        let l = auto("Sender,Recipients,Status\nnoreply@corp.example,a@x.com,hard\n");
        assert_eq!(l.column, 1);
        let l = auto("Sender,Rcpt,Status\nnoreply@corp.example,a@x.com,hard\n");
        assert_eq!(l.column, 1);
        // A headerless SendGrid export: the SMTP reply quotes an address too.
        let l = auto(
            "bounce,\"550 5.1.1 <alias@x.com>: Recipient address rejected\",a@x.com,1700000000\n\
             bounce,\"550 5.1.1 <b2@x.com>: Recipient address rejected\",b@x.com,1700000000\n",
        );
        assert_eq!((l.column, l.width), (2, 4));
        // Headerless: the column whose addresses vary, not the sender that repeats.
        assert_eq!(
            auto("s@corp.com,a@x.com\ns@corp.com,b@x.com\ns@corp.com,c@x.com\n").column,
            1
        );
        // Message-IDs are no recipients; Google Workspace's "To (Envelope)" is.
        let l = auto(
            "Date,Message ID,From (Envelope),To (Envelope)\n1,<CAF1abc@mail.gmail.com>,s@g.com,a@x.com\n",
        );
        assert_eq!(l.column, 3);
        let l = auto(
            "Message-ID,Rcpt,Status\n<id1@corp.com>,a@x.com,5.1.1\n<id2@corp.com>,b@x.com,5.1.1\n",
        );
        assert_eq!(l.column, 1);
        // Only a sender or a Message-ID holds an address: no column is guessed.
        for text in [
            "Sender,Subject,Status\nnoreply@corp.example,Hello,bounced\n",
            "Message-ID,Subject,Status\n<CAF1abc@mail.gmail.com>,Hello,bounced\n",
        ] {
            let e = sniff(text.as_bytes(), true, &ColumnChoice::Auto).unwrap_err();
            assert!(matches!(e, LayoutError::OnlySenders { .. }), "{e}");
        }
    }

    #[test]
    fn column_overrides() {
        let s = b"a,b,c\n1,x@y.com,z@w.com\n";
        let l = sniff(s, true, &ColumnChoice::Number(3)).unwrap();
        assert_eq!((l.column, l.header.is_some()), (2, true));
        let l = sniff(s, true, &ColumnChoice::Name("C".into())).unwrap();
        assert_eq!(l.column, 2);
        assert!(matches!(
            sniff(s, true, &ColumnChoice::Name("nope".into())),
            Err(LayoutError::NoSuchColumnName { .. })
        ));
        assert_eq!(
            sniff(s, true, &ColumnChoice::Number(0)),
            Err(LayoutError::ColumnZero)
        );
        let beyond = sniff(s, true, &ColumnChoice::Number(4)).unwrap_err();
        assert!(beyond.to_string().contains("no row has"), "{beyond}");
        let beyond = sniff(s, false, &ColumnChoice::Number(4)).unwrap_err();
        assert!(
            beyond.to_string().contains("none of the first 2 rows"),
            "{beyond}"
        );
    }

    #[test]
    fn truncated_sample_ignores_partial_last_line() {
        let l = sniff(
            b"email,x\na@b.com,1\nc@d.com,2\ne@f.c",
            false,
            &ColumnChoice::Auto,
        )
        .unwrap();
        assert_eq!(l.delimiter, b',');
    }
}
