//! The loop around the main job: `--retry-failed` after a stop, `--resume` after the process is killed, and
//! (with the simulator's System Log) `bounces find` and `bounces verify`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;

/// A `--max-wait` stop leaves rows `failed`; `--retry-failed` sends exactly those, with their lines and
/// sources, and reports just them.
#[tokio::test]
async fn retry_failed_sends_what_a_max_wait_stop_left() {
    let config = org(3000, |c| {
        (c.rate_limit, c.window_secs, c.advertise_limits) = (1, 4, false);
    });
    let sim = simulator(config).await;
    let sb = Sandbox::new("retry-failed");
    let input = sb.write("in.csv", user_list(0..3000));
    let first = sb
        .remove(
            &sim,
            &[
                input.to_str().unwrap(),
                "--max-wait",
                "1s",
                "--report",
                "first.csv",
            ],
        )
        .await;
    assert_eq!(first.code, 4, "{}", first.stderr);
    let before = read_report(&sb.path("first.csv"));
    let failed: Vec<&ReportRow> = before.iter().filter(|r| r.status == "failed").collect();
    assert_eq!(failed.len(), 2000);
    // The window has passed: the retry goes through.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let again = sb
        .remove(
            &sim,
            &[
                "--retry-failed",
                "first.csv",
                "--report",
                "second.csv",
                "--max-wait",
                "10s",
            ],
        )
        .await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    let after = read_report(&sb.path("second.csv"));
    assert_eq!(after.len(), 2000);
    assert!(after.iter().all(|r| r.status == "accepted"));
    let lines = |rows: &[&ReportRow]| {
        rows.iter()
            .map(|r| (r.line, r.email.clone(), r.source.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(lines(&after.iter().collect::<Vec<_>>()), lines(&failed));
    assert!(
        again.stderr.contains("left failed, sent again"),
        "{}",
        again.stderr
    );
    let record = sim.record();
    assert_eq!(record.accepted.len(), 3000);
    assert!(record.sent_counts.values().all(|&n| n == 1));
    assert!(record.violations.is_empty(), "{:?}", record.violations);
    // The new report may not overwrite the one it reads.
    let out = sb
        .remove(
            &sim,
            &["--retry-failed", "first.csv", "--report", "first.csv"],
        )
        .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("earlier report"), "{}", out.stderr);
}

/// `kill -9` in the middle of a run: the report holds every settled batch (it is flushed and synced as
/// they settle); `--resume` carries those rows as they were, sends the rest, and the new report accounts
/// for every input row, each address accepted once.
#[tokio::test]
async fn resume_finishes_a_run_that_was_killed() {
    let config = org(5000, |c| (c.rate_limit, c.window_secs) = (2, 2));
    let sim = simulator(config).await;
    let sb = Sandbox::new("resume");
    let mut text = user_list(0..5000);
    // Some rows that are not sent, so carried rows of every status are seen.
    text.push_str("not-an-address\nuser7@example.com\n");
    let input = sb.write("in.csv", &text);
    let url = sim.url();
    let mut cmd = sb.command(&[
        "bounces",
        "remove",
        input.to_str().unwrap(),
        "--org-url",
        &url,
        "--report",
        "first.csv",
    ]);
    cmd.env("OKTA_CLIENT_TOKEN", TOKEN);
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while sim.record().accepted.len() < 2000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the report catch up with the answers, then kill without a chance to finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().await.unwrap();
    let partial = read_report(&sb.path("first.csv"));
    assert!(
        partial.len() >= 2000 && partial.len() < 5002,
        "{} rows",
        partial.len()
    );
    let out = sb
        .remove(
            &sim,
            &[
                input.to_str().unwrap(),
                "--resume",
                "first.csv",
                "--report",
                "second.csv",
            ],
        )
        .await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let report = read_report(&sb.path("second.csv"));
    assert_eq!(report.len(), 5002);
    assert_rows_in_order_once(&report);
    let counts = status_counts(&report);
    assert_eq!(counts.get("accepted"), Some(&5000), "{counts:?}");
    assert_eq!(counts.get("invalid"), Some(&1));
    assert_eq!(counts.get("duplicate"), Some(&1));
    // Carried rows are as they were, down to when Okta took them.
    let first: HashMap<u64, &ReportRow> = partial.iter().map(|r| (r.line, r)).collect();
    for r in &report {
        if let Some(old) = first.get(&r.line) {
            assert_eq!(
                (&r.status, &r.at),
                (&old.status, &old.at),
                "line {}",
                r.line
            );
        }
    }
    assert!(out.stderr.contains("carried"), "{}", out.stderr);
    let record = sim.record();
    assert!(
        record.sent_counts.values().all(|&n| n == 1),
        "an address was sent twice"
    );
    assert_eq!(record.accepted.len(), 5000);
}

/// A window Okta would refuse is refused before any request, with the reason.
#[tokio::test]
async fn find_refuses_a_window_past_180_days() {
    let sb = Sandbox::new("find-180");
    let out = sb
        .run(
            &[
                "bounces",
                "find",
                "--since",
                "200d",
                "--org-url",
                "https://acme.okta.com",
            ],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            None,
        )
        .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("180 days"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}
