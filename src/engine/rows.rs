//! The rows of a run on their way to the sinks, kept compactly: rows are read into segments (the rows
//! between two batches, and the batch that ends them), and a segment keeps the text of all its rows in one
//! buffer, so a row costs no allocation of its own and memory stays flat on long exports.

use std::time::SystemTime;

use super::submit::Outcome;
use crate::report::{self, Status};

/// One input row on its way to the report. Its text lives in its segment's `text`.
pub(super) struct Row {
    pub source: u32,
    pub line: u64,
    pub email: Span,
    /// `None` while its batch is in flight.
    pub status: Option<Status>,
    pub reason: Span,
    /// When Okta answered for it.
    pub at: Option<SystemTime>,
    /// When Okta said to try again (a `failed` row of a `--max-wait` stop).
    pub retry_at: Option<SystemTime>,
}

/// A range of a segment's `text`.
#[derive(Clone, Copy, Default)]
pub(super) struct Span {
    start: u32,
    len: u32,
}

/// The rows read between two batches, and the batch that ends them (indices into `rows`).
#[derive(Default)]
pub(super) struct Segment {
    pub rows: Vec<Row>,
    pub batch: Vec<usize>,
    pub text: String,
    /// The size of `text` when the segment joined the queue (what the queue's bound counts).
    pub queued_text: usize,
}

/// A segment is cut when its batch is full, or (so memory stays flat on inputs that are mostly
/// duplicates or junk) when it holds this many rows or this much text; the batch then goes out early.
const SEGMENT_MAX_ROWS: usize = 100_000;
const SEGMENT_MAX_TEXT: usize = 64 << 20;

impl Segment {
    fn put(&mut self, s: &str) -> Span {
        let start = self.text.len() as u32;
        self.text.push_str(s);
        Span {
            start,
            len: s.len() as u32,
        }
    }

    pub fn get(&self, span: Span) -> &str {
        &self.text[span.start as usize..(span.start + span.len) as usize]
    }

    /// A row: settled already (`status`), or, with `None`, waiting for its batch.
    pub fn push(
        &mut self,
        source: u32,
        line: u64,
        email: &str,
        status: Option<Status>,
        reason: &str,
    ) {
        let email = self.put(email);
        let reason = self.put(reason);
        self.rows.push(Row {
            source,
            line,
            email,
            status,
            reason,
            at: None,
            retry_at: None,
        });
    }

    /// A new address for the batch.
    pub fn push_to_batch(&mut self, source: u32, line: u64, email: &str) {
        self.batch.push(self.rows.len());
        self.push(source, line, email, None, "");
    }

    /// A row settled before it was read (carried from an earlier report).
    pub fn push_settled(&mut self, source: u32, rec: &report::Record) {
        self.push(source, rec.line, &rec.email, Some(rec.status), &rec.reason);
        if let Some(r) = self.rows.last_mut() {
            r.at = rec.at;
            r.retry_at = rec.retry_at;
        }
    }

    /// Settles row `row` of the segment with what became of its address.
    pub fn settle(&mut self, row: usize, o: &Outcome) {
        let reason = self.put(&o.reason);
        let r = &mut self.rows[row];
        r.status = Some(o.status);
        r.reason = reason;
        r.at = o.at;
        r.retry_at = o.retry_at;
    }

    /// Settles every row of the batch alike (a dry run's `valid`, or `failed` when nothing is sent).
    pub fn settle_batch(&mut self, o: &Outcome) {
        for k in 0..self.batch.len() {
            let row = self.batch[k];
            self.settle(row, o);
        }
    }

    /// The addresses of the batch, in order.
    pub fn batch_addresses(&self) -> Vec<String> {
        self.batch
            .iter()
            .map(|&i| self.get(self.rows[i].email).to_string())
            .collect()
    }

    pub fn full(&self) -> bool {
        self.batch.len() == super::submit::MAX_BATCH
            || self.rows.len() >= SEGMENT_MAX_ROWS
            || self.text.len() >= SEGMENT_MAX_TEXT
    }

    pub fn settled(&self) -> bool {
        self.rows.iter().all(|r| r.status.is_some())
    }

    /// Row `k` as the sinks take it (settled rows only).
    pub fn view<'a>(&'a self, k: usize, names: &'a [String]) -> report::Row<'a> {
        let r = &self.rows[k];
        report::Row {
            line: r.line,
            email: self.get(r.email),
            status: r.status.expect("settled"),
            reason: self.get(r.reason),
            source: &names[r.source as usize],
            at: r.at,
            retry_at: r.retry_at,
        }
    }
}
