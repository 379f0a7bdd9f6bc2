//! Workbook inputs end to end: the real binary reads the .xlsx, .xls and .ods fixtures of
//! tests/fixtures/sheets (made with openpyxl, xlwt, odfpy and msoffcrypto-tool: see make.py there), from a
//! file or stdin, and reports every row with the sheet's row number; broken workbooks are refused.

mod common;

use common::*;
use okta_org_simulator::SimConfig;

fn fixture(name: &str) -> String {
    format!(
        "{}/tests/fixtures/sheets/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// (line, email, status, reason, source) of each row of a JSON-lines report.
type Rows = Vec<(u64, String, String, String, String)>;

fn jsonl_rows(text: &str) -> Rows {
    text.lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let s = |k: &str| {
                v[k].as_str()
                    .unwrap_or_else(|| panic!("{k}: {l}"))
                    .to_string()
            };
            (
                v["line"].as_u64().unwrap(),
                s("email"),
                s("status"),
                s("reason"),
                s("source"),
            )
        })
        .collect()
}

/// `bounces remove ARGS --dry-run --report-format jsonl`, with `stdin` fed in.
async fn dry(sb: &Sandbox, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut all = vec!["bounces", "remove"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--dry-run", "--report-format", "jsonl"]);
    sb.run(&all, &[], stdin).await
}

/// What each fixture's sheet reads as: (line, email, status, reason, when checked).
fn expected(name: &str) -> Vec<(u64, &'static str, &'static str, Option<&'static str>)> {
    match name {
        // A title row (merged over B1:F1) above the header on row 3; the data from column B; an address
        // merged over rows 10-11; a number, an empty cell, a repeated header, a formula never computed.
        "bounces.xlsx" => vec![
            (4, "a@example.com", "valid", None),
            (5, "b@example.com", "valid", None),
            (6, "c@example.com", "valid", None),
            (7, "12345", "invalid", Some("not an email address (no @)")),
            (8, "", "invalid", Some("empty value")),
            (10, "d@example.com", "valid", None),
            (
                11,
                "d@example.com",
                "duplicate",
                Some("duplicate of line 10"),
            ),
            (
                12,
                "A@Example.com",
                "duplicate",
                Some("duplicate of line 4"),
            ),
            (13, "not-an-address", "invalid", None),
            (14, "", "invalid", Some("repeated header row")),
            (15, "e@example.com", "valid", None),
            (16, "=LOWER(H16)", "invalid", None),
            (17, "h@example.com", "valid", None),
        ],
        // An address merged over rows 3-4, a number, a blank row; a hidden sheet before it is not read.
        "bounces.xls" => vec![
            (2, "a@example.com", "valid", None),
            (3, "b@example.com", "valid", None),
            (4, "b@example.com", "duplicate", Some("duplicate of line 3")),
            (5, "42", "invalid", Some("not an email address (no @)")),
            (7, "c@example.com", "valid", None),
            (8, "bad@", "invalid", None),
        ],
        // A title row above the header on row 2; three blank rows stored as one repeated row.
        "bounces.ods" => vec![
            (3, "a@example.com", "valid", None),
            (4, "b@example.com", "valid", None),
            (8, "c@example.com", "valid", None),
            (9, "a@example.com", "duplicate", Some("duplicate of line 3")),
            (10, "x at example.com", "invalid", None),
        ],
        _ => unreachable!(),
    }
}

fn assert_rows(name: &str, source: &str, got: &Rows) {
    let want = expected(name);
    assert_eq!(got.len(), want.len(), "{name}: {got:#?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(
            (g.0, g.1.as_str(), g.2.as_str(), g.4.as_str()),
            (w.0, w.1, w.2, source),
            "{name}: {got:#?}"
        );
        if let Some(reason) = w.3 {
            assert_eq!(g.3, reason, "{name} line {}", g.0);
        }
    }
}

#[tokio::test]
async fn each_format_reads_as_the_spreadsheet_shows_it_from_a_file_or_stdin() {
    let sb = Sandbox::new("sheets");
    for name in ["bounces.xlsx", "bounces.xls", "bounces.ods"] {
        let path = fixture(name);
        let out = dry(&sb, &[&path], None).await;
        // (3: some rows are invalid.)
        assert_eq!(out.code, 3, "{name}: {}", out.stderr);
        assert_rows(name, &path, &jsonl_rows(&out.stdout));
        assert!(!out.all().contains("hidden@"), "{name}: {}", out.all());
        // The same bytes on stdin, and under a name that says nothing (the bytes tell the format).
        let bytes = std::fs::read(&path).unwrap();
        let out = dry(&sb, &["-"], Some(&bytes)).await;
        assert_eq!(out.code, 3, "{name} on stdin: {}", out.stderr);
        assert_rows(name, "<stdin>", &jsonl_rows(&out.stdout));
        let renamed = sb.write("export.csv", &bytes);
        let out = dry(&sb, &[renamed.to_str().unwrap()], None).await;
        assert_eq!(out.code, 3, "{name} as .csv: {}", out.stderr);
        assert_rows(name, renamed.to_str().unwrap(), &jsonl_rows(&out.stdout));
    }
}

#[tokio::test]
async fn the_sheet_read_is_told_and_sheet_picks_another() {
    let sb = Sandbox::new("sheet-flag");
    let book = fixture("bounces.xlsx");
    let out = dry(&sb, &[&book], None).await;
    // Hidden and chart sheets are passed over, an empty one is named, and so are the sheets not read.
    assert!(
        out.stderr
            .contains("bounces.xlsx: sheet \"Blank\" has no cells; reading \"Bounces\""),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(
            "bounces.xlsx: only sheet \"Bounces\" is read, not \"More\" (--sheet NAME reads another)"
        ),
        "{}",
        out.stderr
    );
    let quiet = sb
        .run(&["bounces", "remove", &book, "--dry-run", "-q"], &[], None)
        .await;
    assert_eq!(quiet.stderr, "", "--quiet");
    let ods = dry(&sb, &[&fixture("bounces.ods")], None).await;
    assert!(ods.stderr.contains("not \"Other\""), "{}", ods.stderr);

    // By name (any case), a hidden sheet too.
    let more = dry(&sb, &[&book, "--sheet", "more"], None).await;
    assert_eq!(more.code, 0, "{}", more.stderr);
    let got: Vec<(u64, String)> = jsonl_rows(&more.stdout)
        .into_iter()
        .map(|r| (r.0, r.1))
        .collect();
    assert_eq!(
        got,
        [
            (2, "more@example.org".into()),
            (3, "more2@example.org".into())
        ]
    );
    let hidden = dry(&sb, &[&book, "--sheet", "Notes"], None).await;
    assert_eq!(hidden.code, 0, "{}", hidden.stderr);
    assert_eq!(jsonl_rows(&hidden.stdout)[0].1, "hidden@example.com");

    // --column counts as the spreadsheet does (C is 3), and names a header below a title.
    for column in ["3", "email address"] {
        let out = dry(&sb, &[&book, "--column", column], None).await;
        assert_eq!(out.code, 3, "{}", out.stderr);
        assert_rows("bounces.xlsx", &book, &jsonl_rows(&out.stdout));
    }
    let out = dry(&sb, &[&book, "--column", "Nope"], None).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("no column named \"Nope\"")
            && out
                .stderr
                .contains("Date, Email Address, Code, Reason, Count"),
        "{}",
        out.stderr
    );

    // A sheet that is not there, a chart, an empty one: exit 2, naming the sheets.
    let list = "(sheets: \"Notes\" (hidden), \"Chart\" (chart), \"Blank\", \"Bounces\", \"More\")";
    for (sheet, why) in [
        ("Nope", "no sheet named \"Nope\" "),
        ("Chart", "sheet \"Chart\" is not a worksheet "),
    ] {
        let out = dry(&sb, &[&book, "--sheet", sheet], None).await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("bounces.xlsx: {why}{list}")),
            "{}",
            out.stderr
        );
        assert_eq!(out.stdout, "");
    }
    let blank = dry(&sb, &[&book, "--sheet", "Blank"], None).await;
    assert_eq!(blank.code, 2, "{}", blank.stderr);
    assert!(
        blank
            .stderr
            .contains("sheet \"Blank\" has no cells; if no rows can be right, pass --allow-empty"),
        "{}",
        blank.stderr
    );
    let allowed = dry(&sb, &[&book, "--sheet", "Blank", "--allow-empty"], None).await;
    assert_eq!(
        (allowed.code, allowed.stdout.as_str()),
        (0, ""),
        "{}",
        allowed.stderr
    );

    // Only an empty sheet is visible: refused, naming the hidden one.
    let only = fixture("hidden-only.xlsx");
    let out = dry(&sb, &[&only], None).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "no visible worksheet has cells (sheets: \"Sheet1\", \"Data\" (hidden)); if no rows can \
             be right, pass --allow-empty"
        ),
        "{}",
        out.stderr
    );
    let out = dry(&sb, &[&only, "--sheet", "Data"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(jsonl_rows(&out.stdout).len(), 2);

    // --sheet beside a text input: the workbook's sheet is read, the text as it is, and stderr says so
    // once, naming the input (not silently ignored).
    let text = sb.dir.join("plain.csv");
    std::fs::write(&text, "email\ntext@example.com\n").unwrap();
    let text = text.to_str().unwrap();
    let out = dry(&sb, &[&book, text, "--sheet", "More"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let emails: Vec<String> = jsonl_rows(&out.stdout).into_iter().map(|r| r.1).collect();
    assert_eq!(
        emails,
        ["more@example.org", "more2@example.org", "text@example.com"]
    );
    let said =
        format!("{text}: --sheet \"More\" is for workbooks: this input is text, read as it is");
    assert_eq!(out.stderr.matches(&said).count(), 1, "{}", out.stderr);
}

#[tokio::test]
async fn broken_workbooks_are_refused_with_a_reason_and_never_a_panic() {
    let sb = Sandbox::new("sheet-broken");
    let refused = |out: &Output, what: &str| {
        assert_eq!(out.code, 2, "{what}: {}", out.all());
        assert!(!out.stderr.contains("panicked"), "{what}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{what}: {}", out.stderr);
        assert_eq!(out.stdout, "", "{what}");
    };
    let encrypted = dry(&sb, &[&fixture("encrypted.xlsx")], None).await;
    refused(&encrypted, "encrypted");
    assert!(
        encrypted
            .stderr
            .contains("the workbook is password-protected (encrypted)"),
        "{}",
        encrypted.stderr
    );
    let zipped = dry(&sb, &[&fixture("export.zip")], None).await;
    refused(&zipped, "zipped CSV");
    assert!(
        zipped
            .stderr
            .contains("a zip archive, but no workbook (.xlsx or .ods)"),
        "{}",
        zipped.stderr
    );
    let bytes = std::fs::read(fixture("bounces.xlsx")).unwrap();
    for keep in [8, 100, bytes.len() / 2, bytes.len() - 10] {
        let cut = sb.write("cut.xlsx", &bytes[..keep]);
        let out = dry(&sb, &[cut.to_str().unwrap()], None).await;
        refused(&out, &format!("cut to {keep} bytes"));
        assert!(
            out.stderr.contains("a zip archive that cannot be read"),
            "{}",
            out.stderr
        );
        let out = dry(&sb, &["-"], Some(&bytes[..keep])).await;
        refused(&out, &format!("cut to {keep} bytes, on stdin"));
    }
    // Damage inside the archive: every workbook member is checked (CRC) or parsed; a run may read a
    // workbook whose damage is in a member it does not need, but never panics.
    for at in (40..bytes.len() - 100).step_by(bytes.len() / 12) {
        let mut damaged = bytes.clone();
        for b in &mut damaged[at..at + 16] {
            *b ^= 0x5A;
        }
        let path = sb.write("damaged.xlsx", &damaged);
        let out = dry(&sb, &[path.to_str().unwrap()], None).await;
        assert!(
            matches!(out.code, 0 | 2 | 3) && !out.stderr.contains("panicked"),
            "damaged at {at}: {}",
            out.all()
        );
        if out.code == 2 {
            assert_eq!(out.stdout, "", "damaged at {at}");
        }
    }
    // A member that declares it unzips to 4 GiB (a zip bomb's shape): refused before it is unzipped.
    let mut bomb = bytes.clone();
    let central = bomb.windows(4).position(|w| w == b"PK\x01\x02").unwrap();
    bomb[central + 24..central + 28].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let out = dry(&sb, &["-"], Some(&bomb)).await;
    refused(&out, "zip bomb");
    assert!(
        out.stderr
            .contains("a workbook that unzips to over 2 GiB is not read"),
        "{}",
        out.stderr
    );
    let mut ole = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec();
    ole.resize(2048, 0);
    let out = dry(&sb, &["-"], Some(&ole)).await;
    refused(&out, "OLE junk");
    assert!(
        out.stderr.contains("an OLE compound file"),
        "{}",
        out.stderr
    );
}

/// A cell at the sheet's last row and column (XFD1048576) is one cell, not a billion: it is read, with
/// its row number, at once.
#[tokio::test]
async fn a_far_cell_is_read_with_its_row_number() {
    let sb = Sandbox::new("sheet-far");
    let out = dry(&sb, &[&fixture("far.xlsx")], None).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let got: Vec<(u64, String, String)> = jsonl_rows(&out.stdout)
        .into_iter()
        .map(|r| (r.0, r.1, r.2))
        .collect();
    assert_eq!(
        got,
        [
            (2, "a@example.com".into(), "valid".into()),
            (1_048_576, "".into(), "invalid".into())
        ]
    );
}

/// A workbook on stdin is held in memory to be unzipped: past the named limit, a clear error.
#[tokio::test]
async fn a_workbook_on_stdin_over_the_limit_is_refused() {
    let sb = Sandbox::new("sheet-limit");
    let mut big = b"PK\x03\x04".to_vec();
    big.resize((256 << 20) + 1, b'x');
    let out = dry(&sb, &["-"], Some(&big)).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(
            "<stdin>: a workbook over 256 MiB is not read (save the sheet as CSV: CSV is read as a stream)"
        ),
        "{}",
        out.stderr
    );
}

/// The report of a sheet input names the file and the sheet's rows: `--retry-failed` sends its failed
/// rows again with those lines, and `--resume` carries what it settled and sends only the rest.
#[tokio::test]
async fn retry_failed_and_resume_work_on_reports_of_a_sheet() {
    let users: Vec<String> = ["a", "b", "c", "d", "e", "h"]
        .iter()
        .map(|u| format!("{u}@example.com"))
        .collect();
    let config = |faults: bool| {
        let mut c = SimConfig::new(TOKEN);
        c.users = users.clone();
        if faults {
            (c.fail_every, c.fail_status) = (Some(1), 500);
        }
        c
    };
    let sb = Sandbox::new("sheet-loop");
    let book = fixture("bounces.xlsx");
    let failing = simulator(config(true)).await;
    let first = sb
        .remove(
            &failing,
            &[&book, "--max-retries", "0", "--report", "first.csv"],
        )
        .await;
    assert_ne!(first.code, 0, "{}", first.stderr);
    let failed: Vec<(u64, String, String)> = read_report(&sb.path("first.csv"))
        .into_iter()
        .filter(|r| r.status == "failed")
        .map(|r| (r.line, r.email, r.source))
        .collect();
    let lines: Vec<u64> = failed.iter().map(|f| f.0).collect();
    assert_eq!(lines, [4, 5, 6, 10, 15, 17]);
    assert!(failed.iter().all(|f| f.2 == book));

    let sim = simulator(config(false)).await;
    let again = sb
        .remove(
            &sim,
            &["--retry-failed", "first.csv", "--report", "second.csv"],
        )
        .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    let retried: Vec<(u64, String, String)> = read_report(&sb.path("second.csv"))
        .into_iter()
        .map(|r| {
            assert_eq!(r.status, "accepted", "{r:?}");
            (r.line, r.email, r.source)
        })
        .collect();
    assert_eq!(retried, failed);
    assert_eq!(sim.record().accepted.len(), 6);

    // A run cut short after line 8: the resumed run carries lines 4-8 and sends d, e and h only.
    let sim = simulator(config(false)).await;
    let full = sb.remove(&sim, &[&book, "--report", "full.csv"]).await;
    assert_eq!(full.code, 3, "{}", full.stderr);
    let text = std::fs::read_to_string(sb.path("full.csv")).unwrap();
    let cut: Vec<&str> = text.lines().take(6).collect();
    assert!(cut[5].starts_with("8,"), "{cut:?}");
    sb.write("cut.csv", cut.join("\n") + "\n");
    let sim = simulator(config(false)).await;
    let resumed = sb
        .remove(
            &sim,
            &[&book, "--resume", "cut.csv", "--report", "resumed.csv"],
        )
        .await;
    assert_eq!(resumed.code, 3, "{}", resumed.stderr);
    let before = read_report(&sb.path("full.csv"));
    let after = read_report(&sb.path("resumed.csv"));
    assert_eq!(after.len(), 13);
    assert_rows_in_order_once(&after);
    for (old, new) in before.iter().zip(&after) {
        assert_eq!(
            (old.line, &old.email, &old.status, &old.source),
            (new.line, &new.email, &new.status, &new.source)
        );
        if old.line <= 8 {
            assert_eq!(old.at, new.at, "line {} is carried as it was", old.line);
        }
    }
    let mut sent = sim.record().accepted;
    sent.sort();
    assert_eq!(sent, ["d@example.com", "e@example.com", "h@example.com"]);
}
