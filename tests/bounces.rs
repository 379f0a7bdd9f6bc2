//! `okta-org bounces remove` end to end: the real binary against the simulator over HTTP on 127.0.0.1.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use okta_org_simulator::{RetryAfterFormat, RetryAfterMode, SimConfig};

/// Every sample: the report has each data row once, in order, with the counts each status should have,
/// and what the simulator accepted is exactly the `accepted` rows, each sent once.
#[tokio::test]
async fn every_sample_works_with_no_flags() {
    // (file, rows, [accepted, rejected, invalid, duplicate])
    let samples = [
        ("sendgrid-bounces.csv", 40, [30, 5, 2, 3]),
        ("mailgun-bounces.csv", 20, [14, 2, 2, 2]),
        ("mailchimp-cleaned.csv", 19, [15, 1, 2, 1]),
        ("ses-suppression-import.csv", 15, [12, 1, 1, 1]),
        ("postmark-bounces.csv", 16, [12, 3, 0, 1]),
        ("excel-semicolon.csv", 13, [10, 2, 0, 1]),
        ("exchange-message-trace.csv", 12, [9, 1, 1, 1]),
        ("plain-list.txt", 12, [8, 1, 2, 1]),
        ("sparkpost-suppressions.csv", 9, [6, 1, 1, 1]),
        ("mandrill-rejects.csv", 9, [6, 1, 1, 1]),
        ("brevo-blocklist.csv", 9, [6, 2, 0, 1]),
        ("postfix-runaway-quote.csv", 12, [7, 1, 3, 1]),
        ("mac-classic-cr.csv", 10, [7, 2, 0, 1]),
    ];
    let in_samples = std::fs::read_dir(format!("{}/samples", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name() != "org-users.txt")
        .count();
    assert_eq!(in_samples, samples.len(), "a sample without expectations");
    for (name, rows, [accepted, rejected, invalid, duplicate]) in samples {
        let sim = simulator(SimConfig::demo(TOKEN)).await;
        let sb = Sandbox::new("sample");
        let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        let out = sb.remove(&sim, &[&path]).await;
        assert_eq!(out.code, 3, "{name}: {}", out.stderr);
        let report = parse_report(&out.stdout);
        assert_eq!(report.len(), rows, "{name}");
        assert_rows_in_order_once(&report);
        let counts = status_counts(&report);
        let count = |s: &str| counts.get(s).copied().unwrap_or(0);
        assert_eq!(
            [
                count("accepted"),
                count("rejected"),
                count("invalid"),
                count("duplicate")
            ],
            [accepted, rejected, invalid, duplicate],
            "{name}: {counts:?}"
        );
        let accepted: Vec<String> = report
            .iter()
            .filter(|r| r.status == "accepted")
            .map(|r| r.email.to_lowercase())
            .collect();
        let record = sim.record();
        let sim_accepted: Vec<String> = record.accepted.iter().map(|a| a.to_lowercase()).collect();
        assert_eq!(accepted, sim_accepted, "{name}");
        assert!(
            record.sent_counts.values().all(|&n| n == 1),
            "{name}: an address was sent twice"
        );
        assert!(
            record.violations.is_empty(),
            "{name}: {:?}",
            record.violations
        );
        for r in report.iter().filter(|r| r.status == "rejected") {
            assert!(
                r.reason.starts_with("This email address does not belong"),
                "{name}: {r:?}"
            );
        }
    }
}

/// The sample with stray quotes: a real SMTP reply over three lines stays one row; an unclosed quote in
/// a reason or a name is reported on its own line, and the rows after it are read.
#[tokio::test]
async fn the_runaway_quote_sample_line_by_line() {
    let sb = Sandbox::new("runaway-sample");
    let path = format!(
        "{}/samples/postfix-runaway-quote.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = sb
        .run(&["bounces", "remove", &path, "--dry-run"], &[], None)
        .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    let lines: Vec<(u64, &str)> = report.iter().map(|r| (r.line, r.status.as_str())).collect();
    assert_eq!(
        lines,
        vec![
            (2, "valid"),
            (3, "valid"),
            (6, "invalid"),
            (7, "valid"),
            (8, "valid"),
            (9, "valid"),
            (10, "invalid"),
            (11, "valid"),
            (12, "valid"),
            (13, "valid"),
            (14, "duplicate"),
            (15, "invalid"),
        ]
    );
    assert_eq!(report[2].email, "chloe.chen@acme.example");
    assert_eq!(
        report[2].reason,
        "the quote opened in column 5 on line 6 runs into line 7, which reads as a row of its own; \
         not sent"
    );
    assert_eq!(
        report[11].reason,
        "the quote opened in column 5 on line 15 is never closed; not sent"
    );
    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("okta-org: warning:"))
        .collect();
    assert_eq!(warnings.len(), 3, "{}", out.stderr);
    assert!(warnings[0].contains("line 6: the quote opened in column 5"));
}

/// Old Mac line ends (CR only), with Excel's `sep=` line: true line numbers.
#[tokio::test]
async fn the_cr_only_sample_has_true_line_numbers() {
    let sb = Sandbox::new("cr-sample");
    let path = format!("{}/samples/mac-classic-cr.csv", env!("CARGO_MANIFEST_DIR"));
    let out = sb
        .run(&["bounces", "remove", &path, "--dry-run"], &[], None)
        .await;
    let report = parse_report(&out.stdout);
    let lines: Vec<u64> = report.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 6, 7, 9, 10, 11, 12, 13, 14]);
    assert_eq!(report[3].email, "noah.nguyen@acme.example");
}

#[tokio::test]
async fn stdin_and_dash_read_the_same_rows_as_a_file() {
    let sim = simulator(SimConfig::demo(TOKEN)).await;
    let sb = Sandbox::new("stdin");
    let path = format!("{}/samples/mailgun-bounces.csv", env!("CARGO_MANIFEST_DIR"));
    let data = std::fs::read(&path).unwrap();
    let url = sim.url();
    let out = sb
        .run(
            &["bounces", "remove", "--org-url", &url],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            Some(&data),
        )
        .await;
    let from_stdin = parse_report(&out.stdout);
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                "-",
                "--org-url",
                &url,
                "--report-format",
                "csv",
            ],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            Some(&data),
        )
        .await;
    let from_dash = parse_report(&out.stdout);
    assert_eq!(from_stdin.len(), 20);
    let statuses = |rows: &[ReportRow]| {
        rows.iter()
            .map(|r| (r.line, r.status.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(statuses(&from_stdin), statuses(&from_dash));
    assert!(from_stdin.iter().all(|r| r.source == "<stdin>"));
    // The second run found the same addresses already accepted: Okta takes them again, harmlessly.
    assert_eq!(
        from_dash.iter().filter(|r| r.status == "accepted").count(),
        14
    );
}

/// Batches are exactly 1,000 addresses, all full but the last, and nothing is sent twice.
#[tokio::test]
async fn batches_are_full_and_every_address_goes_once() {
    let run = remove_run(
        org_with_users(3500),
        &user_list(0..3500),
        &["--report", "r.csv"],
    )
    .await;
    run.expect(0);
    assert!(run.out.stdout.is_empty());
    let report = run.report();
    assert_eq!(report.len(), 3500);
    assert!(report.iter().all(|r| r.status == "accepted"));
    let record = run.record();
    let mut sizes: Vec<usize> = record.requests.iter().filter_map(|r| r.batch).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![500, 1000, 1000, 1000]);
    assert_eq!(record.accepted.len(), 3500);
    assert!(record.sent_counts.values().all(|&n| n == 1));
}

/// Throttles and failures the transport sits out: every address ends `accepted`, each accepted once,
/// nothing arrives inside a `Retry-After` window, and the fault was met. One line a case.
#[tokio::test]
async fn faults_are_sat_out_and_every_address_is_accepted() {
    use RetryAfterMode::{Omit, Seconds};
    let cases: Vec<(&str, SimConfig, &[&str], u16)> = vec![
        // The 429 that crashes Okta's Python SDK: Retry-After and nothing else, shorter than the window.
        (
            "429 with only Retry-After",
            org(3000, |c| {
                (c.rate_limit, c.window_secs, c.advertise_limits) = (1, 2, false);
                c.retry_after = Seconds(1);
            }),
            &["--concurrency", "2"],
            429,
        ),
        (
            "429 with an HTTP-date Retry-After",
            org(2000, |c| {
                (c.rate_limit, c.window_secs, c.advertise_limits) = (1, 2, false);
                (c.retry_after, c.retry_after_format) = (Seconds(1), RetryAfterFormat::HttpDate);
            }),
            &[],
            429,
        ),
        (
            "429 with no Retry-After and no rate-limit headers (backoff)",
            org(2000, |c| {
                (c.rate_limit, c.window_secs, c.advertise_limits) = (1, 1, false);
                c.retry_after = Omit;
            }),
            &["--max-retries", "10"],
            429,
        ),
        (
            "503 with Retry-After",
            org(3000, |c| (c.fail_every, c.fail_status) = (Some(2), 503)),
            &[],
            503,
        ),
        (
            "500 (backoff)",
            org(2000, |c| (c.fail_every, c.fail_status) = (Some(2), 500)),
            &[],
            500,
        ),
    ];
    for (case, config, args, met) in cases {
        let n = config.users.len();
        let run = remove_run(config, &user_list(0..n), args).await;
        run.expect(0);
        let record = run.record();
        assert!(
            record.violations.is_empty(),
            "{case}: {:?}",
            record.violations
        );
        assert!(
            record.requests.iter().any(|r| r.status == met),
            "{case}: no {met}"
        );
        assert_eq!(record.accepted.len(), n, "{case}");
        assert!(record.sent_counts.values().all(|&k| k == 1), "{case}");
        assert!(
            run.report().iter().all(|r| r.status == "accepted"),
            "{case}"
        );
        assert!(
            run.out.stderr.contains("retrying in"),
            "{case}: {}",
            run.out.stderr
        );
    }
}

#[tokio::test]
async fn remaining_reaching_zero_waits_for_the_reset_without_a_429() {
    let config = org(5000, |c| (c.rate_limit, c.window_secs) = (2, 2));
    let run = remove_run(config, &user_list(0..5000), &["--concurrency", "2"]).await;
    run.expect(0);
    let record = run.record();
    assert!(
        record.requests.iter().all(|r| r.status == 200),
        "a request went over the advertised budget: {:?}",
        record.requests.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(record.accepted.len(), 5000);
    // 5 requests at 2 per 2-second window need two resets: at least 2 s, and not much more than 4 s.
    assert!(run.took >= Duration::from_secs(2), "{:?}", run.took);
    assert!(run.took < Duration::from_secs(12), "{:?}", run.took);
}

#[tokio::test]
async fn a_list_okta_finds_too_long_is_split() {
    let config = org(2000, |c| c.max_list = 400);
    let run = remove_run(config, &user_list(0..2000), &["--concurrency", "1"]).await;
    run.expect(0);
    let record = run.record();
    assert_eq!(record.accepted.len(), 2000);
    assert!(record.sent_counts.values().all(|&n| n == 1));
    // One refused list of 1,000, then at most 500 and soon at most 250 a request.
    let refused = record.requests.iter().filter(|r| r.status == 400).count();
    assert!(refused <= 2, "{refused} refusals");
}

#[tokio::test]
async fn a_batch_refused_whole_is_bisected_to_the_bad_address() {
    let config = org(1000, |c| c.poison = vec!["user617@example.com".into()]);
    let run = remove_run(config, &user_list(0..1000), &[]).await;
    run.expect(3);
    let report = run.report();
    let rejected: Vec<_> = report.iter().filter(|r| r.status == "rejected").collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].email, "user617@example.com");
    assert!(
        rejected[0].reason.contains("Api validation failed"),
        "{:?}",
        rejected[0]
    );
    assert_eq!(run.counts().get("accepted"), Some(&999));
    let requests = run.record().requests.len();
    assert!(requests <= 25, "{requests} requests to isolate one address");
}

#[tokio::test]
async fn a_wrong_token_stops_at_once_and_fails_every_row() {
    // Default flags, and answers slow enough that another batch would be ready to go beside the 401.
    let sim = simulator(org(3000, |c| c.latency = Duration::from_millis(300))).await;
    let sb = Sandbox::new("401");
    let input = sb.write("in.csv", user_list(0..3000));
    let url = sim.url();
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                input.to_str().unwrap(),
                "--org-url",
                &url,
            ],
            &[("OKTA_CLIENT_TOKEN", "wrong-token")],
            None,
        )
        .await;
    assert_eq!(out.code, 5, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    assert_eq!(report.len(), 3000);
    assert!(report.iter().all(|r| r.status == "failed"));
    assert!(report[0].reason.contains("E0000011"), "{:?}", report[0]);
    assert!(out.stderr.contains("OKTA_CLIENT_TOKEN"), "{}", out.stderr);
    assert_eq!(sim.record().requests.len(), 1, "sent on after a 401");
    // --quiet keeps the error that stopped the run: the one line a cron job mails.
    let quiet = sb
        .run(
            &[
                "bounces",
                "remove",
                input.to_str().unwrap(),
                "--org-url",
                &url,
                "-q",
                "--report",
                "q.csv",
            ],
            &[("OKTA_CLIENT_TOKEN", "wrong-token")],
            None,
        )
        .await;
    assert_eq!(quiet.code, 5);
    assert_eq!(quiet.stderr.lines().count(), 1, "{}", quiet.stderr);
    assert!(
        quiet.stderr.starts_with("okta-org: error: HTTP 401"),
        "{}",
        quiet.stderr
    );
}

#[tokio::test]
async fn max_wait_stops_with_the_time_to_retry() {
    let config = org(3000, |c| {
        (c.rate_limit, c.window_secs, c.advertise_limits) = (1, 600, false);
    });
    let args = ["--max-wait", "2s", "--concurrency", "1"];
    let run = remove_run(config, &user_list(0..3000), &args).await;
    assert!(run.took < Duration::from_secs(20));
    run.expect(4);
    let counts = run.counts();
    assert_eq!(counts.get("accepted"), Some(&1000));
    assert_eq!(counts.get("failed"), Some(&2000));
    let report = run.report();
    let failed = report.iter().find(|r| r.status == "failed").unwrap();
    assert!(failed.reason.contains("retry after"), "{failed:?}");
    assert!(failed.reason.contains("--max-wait"), "{failed:?}");
    // Only the one 429 that said to wait: nothing was sent inside the window.
    assert!(run.record().violations.is_empty());
}

/// Messy input: BOM, CRLF, quoted newlines and delimiters, blank lines, short rows, the header again (as
/// `cat` of exports of one layout gives it), junk, duplicates in other case: every data row is reported
/// exactly once, and a header is not a data row.
#[tokio::test]
async fn every_row_of_a_messy_export_is_reported_exactly_once() {
    let sim = simulator(org_with_users(1500)).await;
    let sb = Sandbox::new("messy");
    let mut text = String::from("\u{feff}Created;Email Address;Note\r\n");
    let mut expected = 0;
    for i in 0..1500 {
        match i % 10 {
            0 => text.push_str(&format!(
                "2024;\"USER{i}@EXAMPLE.COM\";\"multi\r\nline; note\"\r\n"
            )),
            1 => text.push_str(&format!("2024;User {i} <user{i}@example.com>;x\r\n")),
            2 => text.push_str("\r\n"), // blank line: not a data row
            3 => text.push_str("2024\r\n"),
            4 => text.push_str("Created;Email Address;Note\r\n"),
            5 => text.push_str(&format!("2024;user{}@example.com;dup\r\n", i - 5)),
            6 => text.push_str("2024;=HYPERLINK(\"http://x\");formula\r\n"),
            _ => text.push_str(&format!("2024;mailto:user{i}@example.com;ok\r\n")),
        }
        if i % 10 != 2 && i % 10 != 4 {
            expected += 1;
        }
    }
    let input = sb.write("messy.csv", text);
    let out = sb.remove(&sim, &[input.to_str().unwrap()]).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    assert_eq!(report.len(), expected);
    assert_rows_in_order_once(&report);
    let counts = status_counts(&report);
    assert_eq!(counts.get("duplicate"), Some(&150));
    assert_eq!(counts.get("invalid"), Some(&300));
    assert_eq!(counts.get("accepted"), Some(&750));
    let formula = report.iter().find(|r| r.reason.contains("no @")).unwrap();
    assert!(formula.email.starts_with("'="), "{formula:?}");
    assert!(
        !report
            .iter()
            .any(|r| r.email.contains("Email Address") || r.reason == "repeated header row")
    );
    assert!(
        report
            .iter()
            .any(|r| r.reason.starts_with("row has no column 2"))
    );
    let sent: HashSet<_> = sim.record().accepted.into_iter().collect();
    assert_eq!(sent.len(), 750);
}

#[tokio::test]
async fn the_token_never_appears_in_any_output() {
    let sim = simulator(org_with_users(1200)).await;
    let sb = Sandbox::new("secret");
    let input = sb.write("in.csv", user_list(0..1200));
    let url = sim.url();
    for verbosity in ["-v", "-vv", "-vvv"] {
        let out = sb
            .run(
                &[
                    "bounces",
                    "remove",
                    input.to_str().unwrap(),
                    "--org-url",
                    &url,
                    verbosity,
                    "--report-format",
                    "jsonl",
                ],
                &[("OKTA_CLIENT_TOKEN", TOKEN), ("RUST_LOG", "trace")],
                None,
            )
            .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(!out.all().contains(TOKEN), "token leaked at {verbosity}");
        assert!(
            !out.all().contains("Zq9xY7wV5uT3sR1pN"),
            "token leaked at {verbosity}"
        );
        // A wrong token (which is still a secret) is not echoed either.
        let wrong = "00WRONG-secret-value-4242";
        let out = sb
            .run(
                &[
                    "bounces",
                    "remove",
                    input.to_str().unwrap(),
                    "--org-url",
                    &url,
                    verbosity,
                ],
                &[("OKTA_CLIENT_TOKEN", wrong), ("RUST_LOG", "trace")],
                None,
            )
            .await;
        assert_eq!(out.code, 5);
        assert!(
            !out.all().contains(wrong),
            "wrong token leaked at {verbosity}"
        );
    }
    let token_file = sb.write("tok", format!("{TOKEN}\n"));
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                input.to_str().unwrap(),
                "--org-url",
                &url,
                "--token-file",
                token_file.to_str().unwrap(),
                "-vvv",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.all().contains(TOKEN));
}

#[tokio::test]
async fn a_dry_run_sends_nothing_and_needs_no_org() {
    let sb = Sandbox::new("dry");
    let path = format!(
        "{}/samples/sendgrid-bounces.csv",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = sb
        .run(&["bounces", "remove", &path, "--dry-run"], &[], None)
        .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    assert_eq!(report.len(), 40);
    assert_eq!(status_counts(&report).get("valid"), Some(&35));
    assert!(out.stderr.contains("dry run"));
}

#[tokio::test]
async fn plain_http_is_refused_except_to_loopback() {
    let sb = Sandbox::new("http");
    let input = sb.write("in.csv", user_list(0..3));
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                input.to_str().unwrap(),
                "--org-url",
                "http://acme.okta.com",
            ],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            None,
        )
        .await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("only https://"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn bad_input_is_one_line_and_status_2() {
    let sb = Sandbox::new("badinput");
    let cases: [&[&str]; 4] = [
        &["bounces", "remove", "no-such-file.csv", "--dry-run"],
        &[
            "bounces",
            "remove",
            "in.csv",
            "--dry-run",
            "--column",
            "Nope",
        ],
        &["bounces", "remove", "in.csv", "--dry-run", "--column", "0"],
        &["bounces", "remove", "-", "-", "--dry-run"],
    ];
    sb.write("in.csv", "email,name\na@example.com,A\n");
    for args in cases {
        let out = sb.run(args, &[], None).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "{args:?}: {}",
            out.stderr
        );
        assert!(out.stderr.starts_with("okta-org: error:"), "{}", out.stderr);
        assert!(!out.stderr.contains("panicked"));
    }
    let out = sb.run(&["bounces", "remove", "in.csv"], &[], None).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("OKTA_CLIENT_ORGURL"), "{}", out.stderr);
}

/// A pipe after a file is checked before the file's rows are sent: not text, or empty, sends nothing.
#[tokio::test]
async fn a_bad_pipe_after_a_file_stops_the_run_before_anything_is_sent() {
    let sim = simulator(org_with_users(1500)).await;
    let sb = Sandbox::new("badpipe");
    let input = sb.write("in.csv", user_list(0..1500));
    let url = sim.url();
    let args = [
        "bounces",
        "remove",
        "--org-url",
        &url,
        input.to_str().unwrap(),
        "-",
    ];
    let env = [("OKTA_CLIENT_TOKEN", TOKEN)];
    for (stdin, extra, why) in [
        (&b"\x7fELF\x02\x01\x01\x00\x00\x00"[..], None, "not text"),
        (&b""[..], None, "empty (0 bytes)"),
        (
            &b"foo,bar\n1,2\n"[..],
            Some(["--column", "email"]),
            "no column named \"email\"",
        ),
    ] {
        let mut args = args.to_vec();
        args.extend(extra.iter().flatten());
        let out = sb.run(&args, &env, Some(stdin)).await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains(&format!("<stdin>: {why}")),
            "{}",
            out.stderr
        );
    }
    assert_eq!(sim.record().requests.len(), 0);
}

/// SIGINT: stop sending, finish the report with the rest `failed` (interrupted), exit non-zero.
#[tokio::test]
async fn sigint_finishes_the_report() {
    let sim = simulator(org(5000, |c| (c.rate_limit, c.window_secs) = (1, 60))).await;
    let sb = Sandbox::new("sigint");
    let input = sb.write("in.csv", user_list(0..5000));
    let child = sb.spawn_remove(&sim, &[input.to_str().unwrap(), "--report", "r.csv"]);
    wait_for_requests(&sim, 1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    kill(child.id().unwrap(), "-INT");
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exits promptly after SIGINT")
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let report = read_report(&sb.path("r.csv"));
    assert_eq!(report.len(), 5000);
    let counts = status_counts(&report);
    assert_eq!(counts.get("accepted"), Some(&1000));
    assert_eq!(counts.get("failed"), Some(&4000));
    assert!(
        report
            .iter()
            .filter(|r| r.status == "failed")
            .all(|r| r.reason == "interrupted before it was sent (or sent again after a refusal)")
    );
}

/// A named pipe (or `<(...)` process substitution) is read once, from its first byte.
#[cfg(unix)]
#[tokio::test]
async fn a_named_pipe_loses_no_rows() {
    let sb = Sandbox::new("fifo");
    let fifo = sb.path("in.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let writer_path = fifo.clone();
    let writer =
        std::thread::spawn(move || std::fs::write(writer_path, user_list(0..3000)).unwrap());
    let out = sb
        .run(
            &["bounces", "remove", fifo.to_str().unwrap(), "--dry-run"],
            &[],
            None,
        )
        .await;
    writer.join().unwrap();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    assert_eq!(report.len(), 3000);
    assert_eq!((report[0].line, report[2999].line), (2, 3001));
}

#[tokio::test]
async fn an_absurd_retry_after_stops_cleanly_under_max_wait() {
    let config = org(2000, |c| {
        (c.rate_limit, c.window_secs, c.advertise_limits) = (1, 60, false);
        c.retry_after = RetryAfterMode::Seconds(u64::MAX);
    });
    let run = remove_run(config, &user_list(0..2000), &["--max-wait", "5m"]).await;
    run.expect(4);
    assert_eq!(run.report().len(), 2000);
    assert_eq!(run.counts().get("failed"), Some(&1000));
}

#[tokio::test]
async fn the_report_may_not_overwrite_an_input() {
    let sb = Sandbox::new("overwrite");
    let input = sb.write("in.csv", user_list(0..10));
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                input.to_str().unwrap(),
                "--dry-run",
                "--report",
                input.to_str().unwrap(),
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("would overwrite the input"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read_to_string(&input).unwrap(), user_list(0..10));
}

/// Writes `bytes` to `name` in the sandbox and runs a dry run over it with `args` added.
async fn dry_run(sb: &Sandbox, name: &str, bytes: &[u8], args: &[&str]) -> Output {
    let path = sb.write(name, bytes);
    let mut all = vec!["bounces", "remove", path.to_str().unwrap(), "--dry-run"];
    all.extend_from_slice(args);
    sb.run(&all, &[], None).await
}

fn lines_and_statuses(out: &Output) -> Vec<(u64, String, String)> {
    parse_report(&out.stdout)
        .into_iter()
        .map(|r| (r.line, r.email, r.status))
        .collect()
}

fn row(line: u64, email: &str, status: &str) -> (u64, String, String) {
    (line, email.to_string(), status.to_string())
}

/// The report's rows are exactly `want`: (line, email, status).
#[track_caller]
fn assert_rows(out: &Output, want: &[(u64, &str, &str)]) {
    let want: Vec<_> = want.iter().map(|&(l, e, s)| row(l, e, s)).collect();
    assert_eq!(lines_and_statuses(out), want, "{}", out.stderr);
}

/// The issue's example: one unclosed quote used to turn the rest of the file into one cell, exit 0.
#[tokio::test]
async fn an_unclosed_quote_hides_no_row() {
    let sb = Sandbox::new("unclosed");
    let out = dry_run(
        &sb,
        "in.csv",
        b"email,name\na@x.com,\"Smith\nb@x.com,Jones\nc@x.com,Brown\n",
        &[],
    )
    .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_rows(
        &out,
        &[
            (2, "a@x.com", "invalid"),
            (3, "b@x.com", "valid"),
            (4, "c@x.com", "valid"),
        ],
    );
    assert!(
        out.stderr
            .contains("in.csv: line 2: the quote opened in column 2 runs into line 3"),
        "{}",
        out.stderr
    );
    // Many stray quotes: five are described, the rest counted.
    let mut text = String::from("email,name\n");
    for i in 0..20 {
        text.push_str(&format!("user{i}@x.com,\"Name {i}\n"));
    }
    let out = dry_run(&sb, "many.csv", text.as_bytes(), &[]).await;
    let report = parse_report(&out.stdout);
    assert_eq!(report.len(), 20);
    assert!(report.iter().all(|r| r.status == "invalid"));
    assert_eq!(out.stderr.matches("the quote opened").count(), 5);
    assert!(out.stderr.contains("15 more rows with an unclosed quote"));
}

/// Stray quotes found by an independent review: a quote that closes at the start of the next line, before
/// that line's own address (which would otherwise land in a note's column and vanish); and a quote opened
/// before the address column (the row is invalid, but its address is shown).
#[tokio::test]
async fn a_quote_closing_on_the_next_line_hides_no_address() {
    let sb = Sandbox::new("unclosed-next");
    type Want<'a> = &'a [(u64, &'a str, &'a str)];
    let cases: [(&[u8], Want<'_>); 2] = [
        (
            b"name,email,note\nSmith,a@x.com,\"550 truncated\n\",b@x.com,ok\nJones,c@x.com,ok\n",
            &[
                (2, "a@x.com", "invalid"),
                (3, "b@x.com", "invalid"),
                (4, "c@x.com", "valid"),
            ],
        ),
        (
            b"name,email\n\"Smith,a@x.com\nJones,b@x.com\n",
            &[(2, "a@x.com", "invalid"), (3, "b@x.com", "valid")],
        ),
    ];
    for (input, want) in cases {
        let out = dry_run(&sb, "in.csv", input, &[]).await;
        assert_eq!(out.code, 3, "{}", out.stderr);
        assert_rows(&out, want);
    }
}

/// Real multi-line fields keep working, with CRLF inside them and the line where the row starts.
#[tokio::test]
async fn quoted_line_breaks_still_make_one_row() {
    let sb = Sandbox::new("multiline");
    let out = dry_run(
        &sb,
        "in.csv",
        b"email,reason\r\na@x.com,\"550-5.1.1 first\r\n550 5.1.1 second\"\r\n\"note\r\nover lines\",x\r\nb@x.com,O\"Brien\r\n",
        &["--column", "1"],
    )
    .await;
    assert_rows(
        &out,
        &[
            (2, "a@x.com", "valid"),
            (4, "note\r\nover lines", "invalid"),
            (6, "b@x.com", "valid"),
        ],
    );
}

/// A first row holding an address is data, even when another cell of it is a header word.
#[tokio::test]
async fn a_first_row_with_an_address_is_data() {
    let sb = Sandbox::new("firstrow");
    let out = dry_run(&sb, "in.csv", b"a@x.com,mail\nb@x.com,to\n", &[]).await;
    assert_rows(&out, &[(1, "a@x.com", "valid"), (2, "b@x.com", "valid")]);
}

/// A header naming the address column wins over a vote among ragged rows.
#[tokio::test]
async fn a_named_header_wins_over_ragged_rows() {
    let sb = Sandbox::new("ragged");
    let out = dry_run(
        &sb,
        "in.csv",
        b"id;email;name\n1;a@x.com\n2;b@x.com;B;x;y\n3;c@x.com\n4;d@x.com;D;1;2;3\n",
        &[],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let emails: Vec<String> = parse_report(&out.stdout)
        .into_iter()
        .map(|r| r.email)
        .collect();
    assert_eq!(emails, ["a@x.com", "b@x.com", "c@x.com", "d@x.com"]);
}

/// Line numbers for every line end, with preambles, and in UTF-16.
#[tokio::test]
async fn line_numbers_are_true_for_every_line_end_and_encoding() {
    let sb = Sandbox::new("eol");
    let want = vec![row(3, "a@x.com", "valid"), row(5, "b@x.com", "valid")];
    for eol in ["\n", "\r\n", "\r"] {
        let text = [
            "#TYPE Selected.Object",
            "\"Email\",\"Name\"",
            "\"a@x.com\",\"A\"",
            "",
            "b@x.com,B",
        ]
        .join(eol);
        let out = dry_run(&sb, "in.csv", text.as_bytes(), &[]).await;
        assert_eq!(lines_and_statuses(&out), want, "{eol:?}");
        let mut utf16 = vec![0xFF, 0xFE];
        utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        let out = dry_run(&sb, "in16.csv", &utf16, &[]).await;
        assert_eq!(lines_and_statuses(&out), want, "UTF-16 {eol:?}");
    }
    let out = dry_run(
        &sb,
        "mixed.csv",
        b"sep=,\r\nemail\ra@x.com\n\r\nb@x.com",
        &[],
    )
    .await;
    assert_eq!(lines_and_statuses(&out), want, "mixed");
}

/// What cannot be read is refused in one line, with status 2, before anything is sent.
#[tokio::test]
async fn unreadable_inputs_are_one_line_errors_and_nothing_is_sent() {
    let sim = simulator(org_with_users(10)).await;
    let sb = Sandbox::new("unreadable");
    let good = sb.write("good.csv", user_list(0..10));
    let good = good.to_str().unwrap();
    sb.write("empty.csv", b"");
    sb.write("book.xlsx", b"PK\x03\x04\x14\x00\x06\x00\x08\x00");
    std::fs::create_dir(sb.path("dir.csv")).unwrap();
    sb.write(
        "suppressed.json",
        b"{\"SuppressedDestinationSummaries\": [{\"EmailAddress\": \"a@x.com\"}]}\n",
    );
    let cases = [
        (
            "/bin/ls",
            "/bin/ls: not text (it holds NUL bytes: a binary file?)",
        ),
        (
            "book.xlsx",
            "book.xlsx: a zip archive that cannot be read (a damaged or cut .xlsx or .ods file?): \
             invalid Zip archive: Could not find EOCD",
        ),
        ("dir.csv", "dir.csv: is a directory"),
        (
            "suppressed.json",
            "suppressed.json: JSON, not a delimited export: take the addresses out first, e.g. jq -r \
             '.[].email' FILE | okta-org bounces remove - (for JSON lines: jq -r .email)",
        ),
        ("missing.csv", "missing.csv: no such file"),
        (
            "empty.csv",
            "empty.csv: empty (0 bytes); if no rows can be right, pass --allow-empty",
        ),
    ];
    for (bad, message) in cases {
        let out = sb.remove(&sim, &[good, bad]).await;
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert_eq!(out.stderr, format!("okta-org: error: {message}\n"), "{bad}");
        assert!(out.stdout.is_empty(), "{bad}");
    }
    assert!(sim.record().requests.is_empty(), "something was sent");
    for args in [&["--column", "3"][..], &["--column", "Nope"]] {
        let mut all = vec![good];
        all.extend_from_slice(args);
        let out = sb.remove(&sim, &all).await;
        assert_eq!(out.code, 2, "{args:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
    assert!(
        sb.remove(&sim, &[good, "--column", "3"])
            .await
            .stderr
            .contains("--column 3: no row has that many columns (the widest has 1)")
    );
    // An empty pipe, as from a failed `curl`: the same error, even with --quiet.
    let out = sb
        .run(&["bounces", "remove", "--dry-run", "-q"], &[], Some(b""))
        .await;
    assert_eq!(out.code, 2);
    assert_eq!(
        out.stderr,
        "okta-org: error: <stdin>: empty (0 bytes); if no rows can be right, pass --allow-empty\n"
    );
    // A pipe refused before its first row (empty, or binary) leaves yesterday's report, and its failed
    // rows to retry, as it was; a pipe with rows replaces it.
    let earlier =
        "line,email,status,reason,source,at,retry_at\n2,a@x.com,failed,timed out,in.csv,,\n";
    let report = sb.write("yesterday.csv", earlier);
    let report = report.to_str().unwrap();
    for input in [&b""[..], b"\x00\x01\x02\x03binary\x00\x00\xff\xfe\x00"] {
        let out = sb
            .run(
                &["bounces", "remove", "-", "--dry-run", "--report", report],
                &[],
                Some(input),
            )
            .await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert_eq!(std::fs::read_to_string(report).unwrap(), earlier);
    }
    let out = sb
        .run(
            &["bounces", "remove", "-", "--dry-run", "--report", report],
            &[],
            Some(b"email\nb@x.com\n"),
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let now = std::fs::read_to_string(report).unwrap();
    assert_eq!(
        now,
        "line,email,status,reason,source,at,retry_at\n2,b@x.com,valid,,<stdin>,,\n"
    );
}

/// `--allow-empty` accepts an empty input; an input with no rows says so.
#[tokio::test]
async fn empty_inputs_and_inputs_without_rows() {
    let sb = Sandbox::new("norows");
    let out = dry_run(&sb, "empty.csv", b"", &["--allow-empty"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("okta-org: warning: "), "{}", out.stderr);
    assert!(out.stderr.contains("empty.csv: no rows"), "{}", out.stderr);
    let out = dry_run(&sb, "header.csv", b"email,name\r\n\r\n", &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("header.csv: no rows"), "{}", out.stderr);
    assert!(parse_report(&out.stdout).is_empty());
}

/// Comment lines of a one-column list are not rows; a line with an @ always is.
#[tokio::test]
async fn comment_lines_of_a_plain_list_are_not_rows() {
    let sb = Sandbox::new("comments");
    let out = dry_run(
        &sb,
        "list.txt",
        b"# bounces of 2026-10-01\nemail\na@x.com\n  # b@x.com was fixed\n#tag@x.com\nc@x.com\n",
        &[],
    )
    .await;
    assert_rows(
        &out,
        &[
            (3, "a@x.com", "valid"),
            (4, "# b@x.com was fixed", "invalid"),
            (5, "#tag@x.com", "valid"),
            (6, "c@x.com", "valid"),
        ],
    );
}

/// A giant cell is cut in the report, its length in the reason; memory stays small.
#[tokio::test]
async fn giant_cells_are_cut_in_the_report() {
    let sb = Sandbox::new("giant");
    let mut text = b"email,reason\n".to_vec();
    text.extend(std::iter::repeat_n(b'x', 3 << 20));
    text.extend(b",junk\na@x.com,ok\n");
    let out = dry_run(&sb, "in.csv", &text, &["--report-format", "jsonl"]).await;
    let rows: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{}", out.stderr);
    assert_eq!(rows[0]["email"].as_str().unwrap().len(), 320);
    assert_eq!(
        rows[0]["reason"],
        "longer than any address; the value is 3145728 bytes in the input, cut to its first 320 \
         characters here"
    );
    assert_eq!(
        (rows[1]["line"].as_u64(), rows[1]["status"].as_str()),
        (Some(3), Some("valid"))
    );
}
