//! The local checks every row passes before anything is sent, and the reasons the report gives for the rows
//! that fail them: the address is pulled out of its cell and checked as Okta would (RFC 3696), a repeat of an
//! address seen before is a `duplicate` of the first row that had it, and the rest join the batch.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::rows::Segment;
use crate::address;
use crate::dedupe::{RowRef, Seen};
use crate::input::{Cell, Row as InputRow};
use crate::report::Status;

/// The longest value the report shows; no address is longer.
pub(super) const SHOWN_MAX: usize = 320;

/// Checks rows and puts them in segments; owns the set of addresses seen so far.
pub(super) struct Checker {
    pub seen: Seen,
    /// The sources' names, by index (for "duplicate of line N of FILE").
    pub names: Vec<String>,
    reason: String,
}

impl Checker {
    pub fn new(names: Vec<String>, expected_rows: usize) -> Checker {
        Checker {
            seen: Seen::with_capacity(expected_rows),
            names,
            reason: String::new(),
        }
    }

    /// Checks one input row and puts it in the segment: in its batch when it is a new, valid address.
    /// `column_label` names the address column for a row too short to have one.
    pub fn push(&mut self, seg: &mut Segment, source: u32, row: &InputRow<'_>, column_label: &str) {
        let line = row.line;
        let reason = &mut self.reason;
        reason.clear();
        let (text, input_len) = match &row.cell {
            Cell::Value { text, len, cut } => (text.as_ref(), cut.then_some(*len)),
            _ => ("", None),
        };
        let _ = match (&row.cell, row.unclosed) {
            (_, Some(u)) => write!(
                reason,
                "the quote opened in column {} on line {} {}; not sent",
                u.column + 1,
                u.line,
                u.why
            ),
            (Cell::Missing, None) => write!(reason, "row has no {column_label}"),
            (Cell::RepeatedHeader, None) => write!(reason, "repeated header row"),
            (Cell::Value { .. }, None) if input_len.is_some() => {
                write!(reason, "longer than any address")
            }
            (Cell::Value { .. }, None) => {
                return self.push_address(seg, source, line, text);
            }
        };
        push_invalid(seg, source, line, text.trim(), input_len, reason);
    }

    /// Checks one address (a cell's text, or an address handed over whole) and puts its row in the
    /// segment.
    pub fn push_address(&mut self, seg: &mut Segment, source: u32, line: u64, text: &str) {
        let addr = address::extract(text);
        if let Err(why) = address::validate(&addr) {
            let shown = if addr.is_empty() { text.trim() } else { &addr };
            self.reason.clear();
            let _ = write!(self.reason, "{why}");
            return push_invalid(seg, source, line, shown, None, &mut self.reason);
        }
        match self.seen.insert(&addr, RowRef { source, line }) {
            Some(first) => {
                let why = duplicate_reason(first, source, &self.names);
                seg.push(source, line, &addr, Some(Status::Duplicate), &why);
            }
            None => seg.push_to_batch(source, line, &addr),
        }
    }

    /// An address an earlier report settled as sent: it still counts for the duplicates that follow.
    pub fn remember(&mut self, address: &str, source: u32, line: u64) {
        self.seen.insert(address, RowRef { source, line });
    }
}

fn duplicate_reason(first: RowRef, source: u32, names: &[String]) -> String {
    if first.source == source {
        format!("duplicate of line {}", first.line)
    } else {
        format!(
            "duplicate of line {} of {}",
            first.line, names[first.source as usize]
        )
    }
}

/// An invalid row. A value longer than [`SHOWN_MAX`] bytes is cut, its length added to `reason`: in
/// characters, or in the input's bytes when only its start was kept (`input_len`).
fn push_invalid(
    seg: &mut Segment,
    source: u32,
    line: u64,
    shown: &str,
    input_len: Option<usize>,
    reason: &mut String,
) {
    let mut cut = shown;
    if shown.len() > SHOWN_MAX || input_len.is_some() {
        let mut end = SHOWN_MAX.min(shown.len());
        while !shown.is_char_boundary(end) {
            end -= 1;
        }
        cut = &shown[..end];
        let n = cut.chars().count();
        let _ = match input_len {
            Some(bytes) => write!(
                reason,
                "; the value is {bytes} bytes in the input, cut to its first {n} characters here"
            ),
            None => write!(
                reason,
                "; the value is {} characters, cut to its first {n} here",
                shown.chars().count()
            ),
        };
    }
    seg.push(source, line, cut, Some(Status::Invalid), reason);
}

/// What a report's email column says of a row: the address found in its cell, or else the cell itself
/// (trimmed), as [`Checker::push`] reports it.
pub(super) fn reported_value<'r>(row: &'r InputRow<'_>) -> Cow<'r, str> {
    match (&row.cell, row.unclosed) {
        (
            Cell::Value {
                text, cut: false, ..
            },
            None,
        ) => {
            let addr = address::extract(text);
            if addr.is_empty() {
                text.trim().into()
            } else {
                addr
            }
        }
        (Cell::Value { text, .. }, _) => text.trim().into(),
        _ => "".into(),
    }
}

/// Whether an earlier report's `email` for this line is what this row would be reported as (a value cut
/// to [`SHOWN_MAX`] bytes there is compared by its start): `--resume` carries a row only from the report
/// of the same input.
pub(super) fn is_reported_as(row: &InputRow<'_>, earlier: &str) -> bool {
    let now = reported_value(row);
    now.eq_ignore_ascii_case(earlier)
        || (now.len() > SHOWN_MAX
            && now
                .as_bytes()
                .get(..earlier.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(earlier.as_bytes())))
}
