//! The local stages of `bounces remove`, one at a time, on generated SendGrid-style data: reading and
//! detecting the layout, extracting and checking addresses, the duplicate set, and writing the report.
//! Run with `cargo bench`; the whole-pipeline figure (a 1,000,000-row `--dry-run`) is in
//! docs/performance.md.

use std::io::Cursor;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use okta_org::address;
use okta_org::dedupe::{RowRef, Seen};
use okta_org::input::{Cell, ReadOptions, SourceReader};
use okta_org::report::{Format, ReportWriter, Row, Status};

const ROWS: usize = 100_000;

fn export() -> Vec<u8> {
    let mut s = String::from("created,email,reason,status\n");
    for i in 0..ROWS {
        s.push_str(&format!(
            "2026-10-01 10:00:00,user{i}@example.com,550 5.1.1 The email account that you tried to reach does not exist,bounce\n"
        ));
    }
    s.into_bytes()
}

fn addresses() -> Vec<String> {
    (0..ROWS).map(|i| format!("user{i}@example.com")).collect()
}

fn bench(c: &mut Criterion) {
    let data = export();
    let addrs = addresses();
    let mut g = c.benchmark_group("local");
    g.throughput(Throughput::Elements(ROWS as u64));
    g.sample_size(20);

    g.bench_function("read_rows", |b| {
        b.iter(|| {
            let mut r = SourceReader::from_reader(
                "bench".into(),
                Box::new(Cursor::new(data.clone())),
                &ReadOptions::default(),
                Arc::default(),
            )
            .unwrap();
            let mut n = 0;
            while let Some(row) = r.next_row().unwrap() {
                if let Cell::Value { text, .. } = row.cell {
                    n += text.len();
                }
            }
            n
        })
    });

    g.bench_function("extract_and_validate", |b| {
        b.iter(|| {
            addrs
                .iter()
                .filter(|a| address::validate(&address::extract(a)).is_ok())
                .count()
        })
    });

    g.bench_function("dedupe", |b| {
        b.iter(|| {
            let mut seen = Seen::new();
            for (i, a) in addrs.iter().enumerate() {
                seen.insert(
                    a,
                    RowRef {
                        source: 0,
                        line: i as u64,
                    },
                );
            }
            seen.len()
        })
    });

    g.bench_function("write_report_csv", |b| {
        b.iter(|| {
            let mut w = ReportWriter::new(Box::new(std::io::sink()), Format::Csv).unwrap();
            for (i, a) in addrs.iter().enumerate() {
                w.write(&Row {
                    line: i as u64,
                    email: a,
                    status: Status::Accepted,
                    reason: "",
                    source: "bounces.csv",
                    at: None,
                    retry_at: None,
                })
                .unwrap();
            }
            w.finish().unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
