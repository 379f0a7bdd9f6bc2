//! A pipe of exports one after another (`cat a.csv b.txt | okta-org bounces remove`), through the real
//! binary: it reads the rows that the same exports named one by one give, each at its line in the stream,
//! whatever the order, encodings and layouts.

mod common;

use common::*;
use std::time::Duration;

const SAMPLES: [&str; 14] = [
    "brevo-blocklist.csv",
    "excel-semicolon.csv",
    "exchange-message-trace.csv",
    "mac-classic-cr.csv",
    "mailchimp-cleaned.csv",
    "mailgun-bounces.csv",
    "mandrill-rejects.csv",
    "org-users.txt",
    "plain-list.txt",
    "postfix-runaway-quote.csv",
    "postmark-bounces.csv",
    "sendgrid-bounces.csv",
    "ses-suppression-import.csv",
    "sparkpost-suppressions.csv",
];

/// One report row: line, email, status, source.
type Row = (u64, String, String, String);

struct Run {
    code: i32,
    rows: Vec<Row>,
    stderr: String,
}

/// A dry run with a JSON-lines report over `inputs` (by path), or over `stdin`.
async fn dry_run(sb: &Sandbox, inputs: &[String], stdin: Option<&[u8]>) -> Run {
    let mut args = vec!["bounces", "remove", "--dry-run", "--report-format", "jsonl"];
    args.extend(inputs.iter().map(String::as_str));
    let out = sb.run(&args, &[], stdin).await;
    let rows = out
        .stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let text = |k: &str| v[k].as_str().unwrap().to_string();
            let line = v["line"].as_u64().unwrap();
            (line, text("email"), text("status"), text("source"))
        })
        .collect();
    Run {
        code: out.code,
        rows,
        stderr: out.stderr,
    }
}

/// The line ends of an export as a reader counts them: CRLF, CR and LF each end a line (UTF-16, which the
/// exports here are when they start with its BOM or hold a NUL byte, is decoded first: BE after its BOM,
/// else LE).
fn line_ends(bytes: &[u8]) -> u64 {
    let be = bytes.starts_with(&[0xFE, 0xFF]);
    let text = if be || bytes.starts_with(&[0xFF, 0xFE]) || bytes.contains(&0) {
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|p| match be {
                true => u16::from_be_bytes([p[0], p[1]]),
                false => u16::from_le_bytes([p[0], p[1]]),
            })
            .collect();
        String::from_utf16_lossy(&units)
    } else {
        String::from_utf8_lossy(bytes).into_owned()
    };
    text.replace("\r\n", "\n")
        .chars()
        .filter(|&c| c == '\r' || c == '\n')
        .count() as u64
}

/// Runs `files` named one by one and piped together, and checks that the pipe gives the same rows with
/// the same statuses (duplicates name other lines, so the reasons are not compared), and the same exit
/// status, each row at the line of the stream where its file's line is.
async fn assert_pipe_reads_as_named(sb: &Sandbox, files: &[(String, Vec<u8>)]) {
    let names: Vec<String> = files.iter().map(|f| f.0.clone()).collect();
    let named = dry_run(sb, &names, None).await;
    let stream: Vec<u8> = files.iter().flat_map(|f| f.1.clone()).collect();
    let piped = dry_run(sb, &[], Some(&stream)).await;
    let order: Vec<&str> = names
        .iter()
        .map(|n| n.rsplit('/').next().unwrap())
        .collect();
    let statuses = |run: &Run| {
        run.rows
            .iter()
            .map(|r| (r.1.clone(), r.2.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        statuses(&piped),
        statuses(&named),
        "{order:?}\n{}",
        piped.stderr
    );
    assert_eq!(piped.code, named.code, "{order:?}\n{}", piped.stderr);
    assert!(!piped.stderr.contains("not text"), "{}", piped.stderr);
    let mut offset = std::collections::HashMap::new();
    let mut lines = 0;
    for (name, bytes) in files {
        offset.insert(name.as_str(), lines);
        lines += line_ends(bytes);
    }
    let want: Vec<u64> = named
        .rows
        .iter()
        .map(|r| offset[r.3.as_str()] + r.0)
        .collect();
    let got: Vec<u64> = piped.rows.iter().map(|r| r.0).collect();
    assert_eq!(got, want, "{order:?}");
}

/// The case: `cat samples/* | okta-org bounces remove` read 13 rows where the 14 files named one by
/// one read 304 (the stream was taken for UTF-16, as one of its exports is), with wrong line numbers. In
/// several orders.
#[tokio::test]
async fn the_samples_piped_together_read_as_named_one_by_one() {
    let sb = Sandbox::new("streams");
    let dir = format!("{}/samples", env!("CARGO_MANIFEST_DIR"));
    let files: Vec<(String, Vec<u8>)> = SAMPLES
        .iter()
        .map(|s| {
            let path = format!("{dir}/{s}");
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    let mut orders = vec![files.clone(), files.iter().rev().cloned().collect()];
    let mut rng = fastrand::Rng::with_seed(16);
    for _ in 0..3 {
        let mut order = files.clone();
        rng.shuffle(&mut order);
        orders.push(order);
    }
    for order in &orders {
        assert_pipe_reads_as_named(&sb, order).await;
    }
    // The figures of the issue.
    let piped = dry_run(
        &sb,
        &[],
        Some(
            &orders[0]
                .iter()
                .flat_map(|f| f.1.clone())
                .collect::<Vec<_>>(),
        ),
    )
    .await;
    assert_eq!(piped.rows.len(), 304);
}

/// The other case: UTF-8, UTF-8 with a BOM and `;`, UTF-16 with tabs, and Windows-1252 exports,
/// piped the other way round, were refused whole as "not text (NUL bytes)". UTF-16 with a BOM (as Excel
/// writes it) and without.
#[tokio::test]
async fn exports_in_four_encodings_piped_in_any_order() {
    let sb = Sandbox::new("streams-enc");
    let utf16 = |text: &str, bom: bool| {
        let mut out = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        out.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        out
    };
    let exports: Vec<(&str, Vec<u8>)> = vec![
        (
            "utf8.csv",
            b"created,email,reason\r\n2026-10-01,a1@x.com,550\r\n2026-10-01,a2@x.com,550\r\n".to_vec(),
        ),
        (
            "bom.csv",
            "\u{feff}E-Mail;Name;Grund\nb1@x.com;Zoë;voll\nb2@x.com;Jürgen;unbekannt\na1@x.com;A;x\n"
                .as_bytes()
                .to_vec(),
        ),
        (
            "unicode.txt",
            utf16(
                "Name\tEmail Address\tStatus\r\nИван\tc1@x.com\tbounced\r\n李\tc2@x.com\tbounced\r\n",
                true,
            ),
        ),
        (
            "cp1252.csv",
            b"sep=;\r\nName;E-Mail-Adresse\r\nJ\xFCrgen Gro\xDF;d1@x.com\r\nRen\xE9;d2@x.com\r\nbad;nope\r\n"
                .to_vec(),
        ),
        (
            "unicode-nobom.txt",
            utf16("Email\tNote\r\ne1@x.com\tÇa va\r\nb1@x.com\t\r\n", false),
        ),
    ];
    let files: Vec<(String, Vec<u8>)> = exports
        .iter()
        .map(|(name, bytes)| (sb.write(name, bytes).display().to_string(), bytes.clone()))
        .collect();
    let forward: Vec<_> = files[..4].to_vec();
    let back: Vec<_> = files[..4].iter().rev().cloned().collect();
    let mut rng = fastrand::Rng::with_seed(4);
    let mut mixed = files.clone();
    rng.shuffle(&mut mixed);
    for order in [&forward, &back, &files, &mixed] {
        assert_pipe_reads_as_named(&sb, order).await;
    }
    let stream: Vec<u8> = back.iter().flat_map(|f| f.1.clone()).collect();
    let piped = dry_run(&sb, &[], Some(&stream)).await;
    let valid: Vec<&str> = piped
        .rows
        .iter()
        .filter(|r| r.2 == "valid")
        .map(|r| r.1.as_str())
        .collect();
    assert_eq!(
        valid,
        [
            "d1@x.com", "d2@x.com", "c1@x.com", "c2@x.com", "b1@x.com", "b2@x.com", "a1@x.com",
            "a2@x.com"
        ]
    );
}

/// A row that runs over more than 100 lines (two long notes) is read as one, with a warning.
#[tokio::test]
async fn a_row_over_hundreds_of_lines_is_warned_about() {
    let sb = Sandbox::new("streams-sprawl");
    let note = |c: char| (0..80).map(|i| format!("{c} {i}\n")).collect::<String>();
    let text = format!(
        "email,note,more\na@x.com,\"{}\",\"{}\"\nb@x.com,x,y\n",
        note('n'),
        note('m')
    );
    let path = sb.write("long.csv", &text);
    let run = dry_run(&sb, &[path.display().to_string()], None).await;
    let rows: Vec<(u64, &str)> = run.rows.iter().map(|r| (r.0, r.1.as_str())).collect();
    assert_eq!(rows, [(2, "a@x.com"), (163, "b@x.com")]);
    assert!(
        run.stderr
            .contains("line 2: one row runs over 161 lines, with 0 delimiters in its quoted cells"),
        "{}",
        run.stderr
    );
    // `--quiet` says nothing of it.
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                "--dry-run",
                "-q",
                path.to_str().unwrap(),
            ],
            &[],
            None,
        )
        .await;
    assert!(!out.stderr.contains("runs over"), "{}", out.stderr);
}

/// Bytes that each reading (8-bit, UTF-16) hands to the other: the decoder once switched between them
/// forever, at full CPU, deaf to SIGTERM. Any end will do but that one: rows, or a refusal as not text.
#[tokio::test]
async fn bytes_that_no_encoding_reads_end_the_run() {
    let sb = Sandbox::new("stream-ping-pong");
    let fixture = format!(
        "{}/tests/fixtures/streams/ping-pong.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    let spliced = std::fs::read(fixture).unwrap();
    let small =
        b"\n\x000\x000\x003\x00,\x00<\x00m\x00s\x00g\x003\x00@\x00a\x00c\x00m\x00e\x00.\x00";
    for bytes in [&spliced[..], &small[..]] {
        let run = tokio::time::timeout(Duration::from_secs(30), dry_run(&sb, &[], Some(bytes)))
            .await
            .expect("the reader ends");
        assert!([2, 3].contains(&run.code), "{}", run.stderr);
        assert!(!run.stderr.contains("panic"), "{}", run.stderr);
    }
}

/// Exports of one mail system piped together (their header again midway), and an export that is only its
/// header, first: no header is read as a row, as when the files are named one by one.
#[tokio::test]
async fn the_same_header_again_and_a_header_alone_are_no_rows() {
    let sb = Sandbox::new("stream-headers");
    let file = |name: &str, text: &[u8]| {
        let path = sb.write(name, text);
        (path.to_str().unwrap().to_string(), text.to_vec())
    };
    let day1 = file(
        "day1.csv",
        b"created,email,reason,status\n2026,walter@acme.example,x,5.1.1\n",
    );
    let day2 = file(
        "day2.csv",
        b"created,email,reason,status\r\n2026,wanda@acme.example,y,5.1.1\r\n",
    );
    let day1_again = file("day1-again.csv", &day1.1);
    let mailgun = file("mailgun.csv", b"address,code\ncarol@acme.example,550\n");
    let header_only = file("empty.csv", b"email,reason\n");
    let excel_header_only = file("excel.csv", b"sep=;\r\nName;E-Mail\r\n");
    for files in [
        vec![day1.clone(), day2.clone()],
        vec![day1.clone(), day1_again.clone(), day2.clone()],
        vec![header_only.clone(), mailgun.clone(), day1.clone()],
        vec![excel_header_only.clone(), day2.clone()],
    ] {
        assert_pipe_reads_as_named(&sb, &files).await;
    }
    let piped = dry_run(&sb, &[], Some(&[day1.1.clone(), day2.1.clone()].concat())).await;
    assert_eq!(piped.code, 0, "{}", piped.stderr);
    assert_eq!(piped.rows.len(), 2);
}

/// UTF-16 exports whose names start with CJK characters whose low byte is a line end (U+4E0A 上, U+4E0D
/// 不), and a Windows-1252 cell holding `ÿþ` (the bytes of a UTF-16 LE BOM): each is read as it is, no
/// row split, lost or taken for another encoding.
#[tokio::test]
async fn bytes_that_look_like_another_encoding_inside_a_line_are_text() {
    let sb = Sandbox::new("stream-lookalikes");
    let utf16 = |text: &str, le: bool| -> Vec<u8> {
        let mut out = if le {
            vec![0xFF, 0xFE]
        } else {
            vec![0xFE, 0xFF]
        };
        for u in text.encode_utf16() {
            out.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        out
    };
    let text =
        "Name\tEmail\r\n上海\ta@x.com\r\n一上海\tb@x.com\r\n上上上\tc@x.com\r\n不明\td@x.com\r\n";
    let win =
        b"Name;E-Mail\r\nJ\xfcrgen;e@x.com\r\nR\xff\xfe;f@x.com\r\nS\xfe\xff;g@x.com\r\n".to_vec();
    let files = [
        ("be.txt", utf16(text, false)),
        ("le.txt", utf16(text, true)),
        ("win.csv", win),
    ];
    let mut named = Vec::new();
    for (name, bytes) in &files {
        let path = sb.write(name, bytes);
        let run = dry_run(&sb, &[path.to_str().unwrap().to_string()], None).await;
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let emails: Vec<&str> = run.rows.iter().map(|r| r.1.as_str()).collect();
        let want: &[&str] = if name.ends_with(".csv") {
            &["e@x.com", "f@x.com", "g@x.com"]
        } else {
            &["a@x.com", "b@x.com", "c@x.com", "d@x.com"]
        };
        assert_eq!(emails, want, "{name}");
        named.push((path.to_str().unwrap().to_string(), bytes.clone()));
    }
    assert_pipe_reads_as_named(&sb, &named).await;
}

/// A binary blob in the middle of a stream (a file that should not have been in the `cat`), past the first
/// 64 KiB: its NUL bytes may read as UTF-16, but the export after it is read again as the 8-bit text it
/// is, its addresses rows of their own, whichever byte of the blob the UTF-16 reading ends on.
#[tokio::test]
async fn the_export_after_a_binary_blob_is_read_as_text() {
    let sb = Sandbox::new("stream-blob");
    let mut head = b"email\n".to_vec();
    for i in 0..5000 {
        head.extend(format!("u{i}@acme.example\n").bytes());
    }
    // Pseudo-random blobs (a fixed generator: the same bytes every run).
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..12 {
        let blob: Vec<u8> = (0..4096).map(|_| next() as u8).collect();
        let stream = [
            &head[..],
            &blob,
            b"\nlast@acme.example\nlast2@acme.example\n",
        ]
        .concat();
        let run = dry_run(&sb, &[], Some(&stream)).await;
        assert!(!run.stderr.contains("panic"), "{}", run.stderr);
        let valid = |email: &str| run.rows.iter().any(|r| r.1 == email && r.2 == "valid");
        assert!(valid("u4999@acme.example"), "{}", run.stderr);
        assert!(
            valid("last@acme.example") && valid("last2@acme.example"),
            "{}",
            run.stderr
        );
    }
}

/// UTF-16 exports (LE and BE, with a BOM or not) whose names are Gurmukhi or Malayalam, whose every
/// character holds a CR or LF byte (`0A xx`, `0D xx`), `@` among the others (ੀ, U+0A40), and ਊ (U+0A0A)
/// or ഊ (U+0D0A) two at once: every row reads as its address, none split or taken for 8-bit text.
#[tokio::test]
async fn utf16_names_whose_bytes_are_line_ends_read_whole() {
    let sb = Sandbox::new("stream-indic");
    let names = [
        "ਊਧਮ ਸਿੰਘ",
        "ਮਨਜੀਤ",
        "ਹਰਪ੍ਰੀਤ ਕੌਰ",
        "ഊമ",
        "ശ്രീകുമാർ",
        "ਜਸਵੀਰ",
        "ഊർമ്മിള",
    ];
    let want: Vec<String> = (0..names.len() * 3)
        .map(|i| format!("u{i}@example.com"))
        .collect();
    for le in [true, false] {
        for bom in [true, false] {
            for (first, eol) in [(true, "\n"), (false, "\r\n"), (true, "\r\n"), (false, "\n")] {
                let mut text = if first { "name,email" } else { "email,name" }.to_string();
                text.push_str(eol);
                for (i, email) in want.iter().enumerate() {
                    let name = names[i % names.len()];
                    text.push_str(&if first {
                        format!("{name},{email}{eol}")
                    } else {
                        format!("{email},{name}{eol}")
                    });
                }
                let mut bytes = match (bom, le) {
                    (false, _) => Vec::new(),
                    (true, true) => vec![0xFF, 0xFE],
                    (true, false) => vec![0xFE, 0xFF],
                };
                for u in text.encode_utf16() {
                    bytes.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
                }
                let path = sb.write("names.txt", &bytes);
                let run = dry_run(&sb, &[path.to_str().unwrap().to_string()], None).await;
                let what = format!("le {le}, bom {bom}, name first {first}, {eol:?}");
                assert_eq!(run.code, 0, "{what}: {}", run.stderr);
                let emails: Vec<&str> = run.rows.iter().map(|r| r.1.as_str()).collect();
                assert_eq!(emails, want, "{what}");
            }
        }
    }
}
