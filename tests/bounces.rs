//! `okta-org bounces remove` end to end: the real binary against the simulator over HTTP on 127.0.0.1.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use okta_org::simulator::{RetryAfterFormat, RetryAfterMode, SimConfig};

/// Every sample: the report has each data row once, in order, and what the simulator accepted is exactly
/// the `accepted` rows, each sent once.
#[tokio::test]
async fn every_sample_works_with_no_flags() {
    let samples = [
        ("sendgrid-bounces.csv", 40),
        ("mailgun-bounces.csv", 20),
        ("mailchimp-cleaned.csv", 19),
        ("ses-suppression-import.csv", 15),
        ("postmark-bounces.csv", 16),
        ("excel-semicolon.csv", 13),
        ("exchange-message-trace.csv", 12),
        ("plain-list.txt", 12),
        ("sparkpost-suppressions.csv", 9),
        ("mandrill-rejects.csv", 9),
        ("brevo-blocklist.csv", 9),
    ];
    for (name, rows) in samples {
        let sim = simulator(SimConfig::demo(TOKEN)).await;
        let sb = Sandbox::new("sample");
        let path = format!("{}/samples/{name}", env!("CARGO_MANIFEST_DIR"));
        let out = sb.remove(&sim, &[&path]).await;
        assert!(
            out.code == 0 || out.code == 3,
            "{name}: exit {} {}",
            out.code,
            out.stderr
        );
        let report = parse_report(&out.stdout);
        assert_eq!(report.len(), rows, "{name}");
        assert_rows_in_order_once(&report);
        let counts = status_counts(&report);
        assert!(
            counts.get("accepted").copied().unwrap_or(0) >= 6,
            "{name}: {counts:?}"
        );
        assert!(
            counts.get("duplicate").copied().unwrap_or(0) >= 1,
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
    let sim = simulator(org_with_users(3500)).await;
    let sb = Sandbox::new("batches");
    let input = sb.write("in.csv", user_list(0..3500));
    let out = sb
        .remove(&sim, &[input.to_str().unwrap(), "--report", "r.csv"])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let report = read_report(&sb.path("r.csv"));
    assert_eq!(report.len(), 3500);
    assert!(report.iter().all(|r| r.status == "accepted"));
    let record = sim.record();
    let mut sizes: Vec<usize> = record.requests.iter().filter_map(|r| r.batch).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![500, 1000, 1000, 1000]);
    assert_eq!(record.accepted.len(), 3500);
    assert!(record.sent_counts.values().all(|&n| n == 1));
}

/// A 429 that carries only `Retry-After` (the case that crashes Okta's Python SDK).
#[tokio::test]
async fn a_429_with_only_retry_after_is_honoured() {
    let mut config = org_with_users(3000);
    config.rate_limit = 1;
    config.window_secs = 30;
    config.advertise_limits = false;
    config.retry_after = RetryAfterMode::Seconds(1);
    // Retry-After says 1 s; the window is longer, so the 1 s wait must be honoured exactly, request after
    // request, and every request inside the window is answered 429 again.
    config.window_secs = 2;
    let sim = simulator(config).await;
    let sb = Sandbox::new("ra-only");
    let input = sb.write("in.csv", user_list(0..3000));
    let out = sb
        .remove(
            &sim,
            &[input.to_str().unwrap(), "--concurrency", "2", "-vv"],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    assert!(
        report.iter().all(|r| r.status == "accepted"),
        "{}",
        out.stderr
    );
    let record = sim.record();
    assert!(record.violations.is_empty(), "{:?}", record.violations);
    assert!(
        record.requests.iter().any(|r| r.status == 429),
        "expected a 429"
    );
    assert_eq!(record.accepted.len(), 3000);
}

#[tokio::test]
async fn an_http_date_retry_after_is_honoured() {
    let mut config = org_with_users(2000);
    config.rate_limit = 1;
    config.window_secs = 2;
    config.advertise_limits = false;
    config.retry_after = RetryAfterMode::Seconds(1);
    config.retry_after_format = RetryAfterFormat::HttpDate;
    let sim = simulator(config).await;
    let sb = Sandbox::new("ra-date");
    let input = sb.write("in.csv", user_list(0..2000));
    let out = sb.remove(&sim, &[input.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let record = sim.record();
    assert!(record.violations.is_empty(), "{:?}", record.violations);
    assert!(record.requests.iter().any(|r| r.status == 429));
    assert_eq!(record.accepted.len(), 2000);
}

/// A 429 with neither `Retry-After` nor rate-limit headers: exponential backoff, and still no address lost.
#[tokio::test]
async fn a_bare_429_backs_off() {
    let mut config = org_with_users(2000);
    config.rate_limit = 1;
    config.window_secs = 1;
    config.advertise_limits = false;
    config.retry_after = RetryAfterMode::Omit;
    let sim = simulator(config).await;
    let sb = Sandbox::new("bare429");
    let input = sb.write("in.csv", user_list(0..2000));
    let out = sb
        .remove(&sim, &[input.to_str().unwrap(), "--max-retries", "10"])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(sim.record().accepted.len(), 2000);
}

#[tokio::test]
async fn remaining_reaching_zero_waits_for_the_reset_without_a_429() {
    let mut config = org_with_users(5000);
    config.rate_limit = 2;
    config.window_secs = 2;
    let sim = simulator(config).await;
    let sb = Sandbox::new("remaining");
    let input = sb.write("in.csv", user_list(0..5000));
    let started = Instant::now();
    let out = sb
        .remove(&sim, &[input.to_str().unwrap(), "--concurrency", "2"])
        .await;
    let took = started.elapsed();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let record = sim.record();
    assert!(
        record.requests.iter().all(|r| r.status == 200),
        "a request went over the advertised budget: {:?}",
        record.requests.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(record.accepted.len(), 5000);
    // 5 requests at 2 per 2-second window need two resets: at least 2 s, and not much more than 4 s.
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(12), "{took:?}");
}

#[tokio::test]
async fn service_unavailable_is_retried_after_its_retry_after() {
    let mut config = org_with_users(3000);
    config.fail_every = Some(2);
    config.fail_status = 503;
    let sim = simulator(config).await;
    let sb = Sandbox::new("503");
    let input = sb.write("in.csv", user_list(0..3000));
    let out = sb.remove(&sim, &[input.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let record = sim.record();
    assert!(record.violations.is_empty(), "{:?}", record.violations);
    assert!(record.requests.iter().any(|r| r.status == 503));
    assert_eq!(record.accepted.len(), 3000);
    assert!(out.stderr.contains("retries"), "{}", out.stderr);
}

#[tokio::test]
async fn internal_errors_are_retried_with_backoff() {
    let mut config = org_with_users(2000);
    config.fail_every = Some(2);
    config.fail_status = 500;
    let sim = simulator(config).await;
    let sb = Sandbox::new("500");
    let input = sb.write("in.csv", user_list(0..2000));
    let out = sb.remove(&sim, &[input.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(sim.record().requests.iter().any(|r| r.status == 500));
    assert_eq!(sim.record().accepted.len(), 2000);
}

#[tokio::test]
async fn a_list_okta_finds_too_long_is_split() {
    let mut config = org_with_users(2000);
    config.max_list = 400;
    let sim = simulator(config).await;
    let sb = Sandbox::new("toolong");
    let input = sb.write("in.csv", user_list(0..2000));
    let out = sb
        .remove(&sim, &[input.to_str().unwrap(), "--concurrency", "1"])
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let record = sim.record();
    assert_eq!(record.accepted.len(), 2000);
    assert!(record.sent_counts.values().all(|&n| n == 1));
    // One refused list of 1,000, then at most 500 and soon at most 250 a request.
    let refused = record.requests.iter().filter(|r| r.status == 400).count();
    assert!(refused <= 2, "{refused} refusals");
}

#[tokio::test]
async fn a_batch_refused_whole_is_bisected_to_the_bad_address() {
    let mut config = org_with_users(1000);
    config.poison = vec!["user617@example.com".into()];
    let sim = simulator(config).await;
    let sb = Sandbox::new("bisect");
    let input = sb.write("in.csv", user_list(0..1000));
    let out = sb.remove(&sim, &[input.to_str().unwrap()]).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    let rejected: Vec<_> = report.iter().filter(|r| r.status == "rejected").collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].email, "user617@example.com");
    assert!(
        rejected[0].reason.contains("Api validation failed"),
        "{:?}",
        rejected[0]
    );
    assert_eq!(
        report.iter().filter(|r| r.status == "accepted").count(),
        999
    );
    let requests = sim.record().requests.len();
    assert!(requests <= 25, "{requests} requests to isolate one address");
}

#[tokio::test]
async fn a_wrong_token_stops_at_once_and_fails_every_row() {
    let sim = simulator(org_with_users(3000)).await;
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
                "--concurrency",
                "1",
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
}

#[tokio::test]
async fn max_wait_stops_with_the_time_to_retry() {
    let mut config = org_with_users(3000);
    config.rate_limit = 1;
    config.window_secs = 600;
    config.advertise_limits = false;
    let sim = simulator(config).await;
    let sb = Sandbox::new("maxwait");
    let input = sb.write("in.csv", user_list(0..3000));
    let started = Instant::now();
    let out = sb
        .remove(
            &sim,
            &[
                input.to_str().unwrap(),
                "--max-wait",
                "2s",
                "--concurrency",
                "1",
            ],
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(out.code, 4, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    let counts = status_counts(&report);
    assert_eq!(counts.get("accepted"), Some(&1000));
    assert_eq!(counts.get("failed"), Some(&2000));
    let failed = report.iter().find(|r| r.status == "failed").unwrap();
    assert!(failed.reason.contains("retry after"), "{failed:?}");
    assert!(failed.reason.contains("--max-wait"), "{failed:?}");
    // Only the one 429 that said to wait: nothing was sent inside the window.
    assert!(sim.record().violations.is_empty());
}

/// Messy input: BOM, CRLF, quoted newlines and delimiters, blank lines, short rows, a repeated header,
/// junk, duplicates in other case: every data row is reported exactly once.
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
        if i % 10 != 2 {
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
    assert_eq!(counts.get("invalid"), Some(&450));
    assert_eq!(counts.get("accepted"), Some(&750));
    let formula = report.iter().find(|r| r.reason.contains("no @")).unwrap();
    assert!(formula.email.starts_with("'="), "{formula:?}");
    assert!(report.iter().any(|r| r.reason == "repeated header row"));
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

/// SIGINT: stop sending, finish the report with the rest `failed` (interrupted), exit non-zero.
#[tokio::test]
async fn sigint_finishes_the_report() {
    let mut config = org_with_users(5000);
    config.rate_limit = 1;
    config.window_secs = 60;
    let sim = simulator(config).await;
    let sb = Sandbox::new("sigint");
    let input = sb.write("in.csv", user_list(0..5000));
    let url = sim.url();
    let mut cmd = sb.command(&[
        "bounces",
        "remove",
        input.to_str().unwrap(),
        "--org-url",
        &url,
        "--report",
        "r.csv",
    ]);
    cmd.env("OKTA_CLIENT_TOKEN", TOKEN);
    let child = cmd.spawn().unwrap();
    let pid = child.id().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sim.record().requests.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = std::process::Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
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
            .all(|r| r.reason == "interrupted before it was sent")
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

/// An input that fails after others were read: every row read so far is still reported.
#[tokio::test]
async fn rows_read_before_an_input_error_are_reported() {
    let sim = simulator(org_with_users(1500)).await;
    let sb = Sandbox::new("midrun");
    let input = sb.write("in.csv", user_list(0..1500));
    let url = sim.url();
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                input.to_str().unwrap(),
                "-",
                "--column",
                "email",
                "--org-url",
                &url,
            ],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            Some(b"foo,bar\n1,2\n"),
        )
        .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("no column named \"email\""),
        "{}",
        out.stderr
    );
    let report = parse_report(&out.stdout);
    assert_eq!(
        report.len(),
        1500,
        "every row of the first input is reported"
    );
    assert_eq!(
        report.iter().filter(|r| r.status == "accepted").count(),
        1500
    );
}

#[tokio::test]
async fn an_absurd_retry_after_stops_cleanly_under_max_wait() {
    let mut config = org_with_users(2000);
    config.rate_limit = 1;
    config.window_secs = 60;
    config.advertise_limits = false;
    config.retry_after = RetryAfterMode::Seconds(u64::MAX);
    let sim = simulator(config).await;
    let sb = Sandbox::new("hugera");
    let input = sb.write("in.csv", user_list(0..2000));
    let out = sb
        .remove(&sim, &[input.to_str().unwrap(), "--max-wait", "5m"])
        .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    assert_eq!(report.len(), 2000);
    assert_eq!(report.iter().filter(|r| r.status == "failed").count(), 1000);
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
