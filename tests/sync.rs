//! `bounces sync` through the binary against a simulator whose mail keeps flowing: passes back to back,
//! soft signals, the hold policy, a pass killed mid-way, a follow run stopped by SIGTERM and SIGKILL,
//! two syncs at once, a rate-limited log, and `remove --ledger --skip-cleared`.

mod common;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use common::*;
use okta_org_simulator::{MailFlow, MailKind, MailMix, MailTruth, Simulator};

/// A flow of `n` emails `per_tick` at a time, every 20 ms, with the default mix (a tenth stored late).
fn flow(n: u64, per_tick: u32) -> MailFlow {
    let mut f = MailFlow::every(Duration::from_millis(20));
    f.per_tick = per_tick;
    f.max_events = Some(n);
    f.late_by = Duration::from_millis(100);
    f
}

/// Waits until the flow has drawn all its emails and stored its late ones.
async fn flowed(sim: &Simulator, n: usize) -> MailTruth {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let t = sim.mail();
        let drawn = t
            .hard_bounces
            .iter()
            .chain(&t.soft)
            .chain(&t.deliveries)
            .filter(|e| !e.after_removal)
            .count();
        if drawn >= n && t.pending_late == 0 {
            return t;
        }
        assert!(
            Instant::now() < deadline,
            "the flow did not finish: {drawn} of {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sync(sb: &Sandbox, sim: &Simulator, args: &[&str]) -> Output {
    sync_on(sb, sim, "l.sqlite3", args).await
}

/// A pass on the ledger `ledger` (a name in the sandbox).
async fn sync_on(sb: &Sandbox, sim: &Simulator, ledger: &str, args: &[&str]) -> Output {
    let url = sim.url();
    let mut all = vec!["bounces", "sync", "--org-url", &url, "--ledger", ledger];
    all.extend_from_slice(args);
    sb.run(&all, &[("OKTA_CLIENT_TOKEN", TOKEN)], None).await
}

fn spawn_sync(sb: &Sandbox, sim: &Simulator, args: &[&str]) -> tokio::process::Child {
    let url = sim.url();
    let mut all = vec![
        "bounces",
        "sync",
        "--org-url",
        &url,
        "--ledger",
        "l.sqlite3",
    ];
    all.extend_from_slice(args);
    let mut cmd = sb.command(&all);
    cmd.env("OKTA_CLIENT_TOKEN", TOKEN);
    cmd.spawn().expect("spawn okta-org")
}

/// How often each address (lowercased) was in a remove-list request Okta accepted.
fn sends(t: &MailTruth) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in t.removal_requests.iter().filter(|r| r.status == 200) {
        for a in &r.held {
            *m.entry(a.to_lowercase()).or_default() += 1;
        }
    }
    m
}

fn hard_bounced(t: &MailTruth) -> HashSet<String> {
    t.hard_bounces
        .iter()
        .map(|e| e.address.to_lowercase())
        .collect()
}

#[tokio::test]
async fn two_passes_send_nothing_twice_and_never_clear_a_soft_signal() {
    let sim = simulator(org(60, |c| c.mail = Some(flow(300, 10)))).await;
    let truth = flowed(&sim, 300).await;
    let sb = Sandbox::new("sync-twice");
    let first = sync(&sb, &sim, &["--report", "r1.csv", "--summary", "s1.json"]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let report = read_report(&sb.path("r1.csv"));
    assert_rows_in_order_once(&report);
    let hard = hard_bounced(&truth);
    assert!(!hard.is_empty());
    let cleared: HashSet<String> = report.iter().map(|r| r.email.to_lowercase()).collect();
    assert_eq!(cleared, hard, "every hard-bounced address, and only those");
    assert!(
        report
            .iter()
            .all(|r| r.status == "accepted" && r.source == "System Log")
    );
    // Soft signals (4xx replies logged as bounces, deferrals, drops) are never sent.
    let soft_only: HashSet<String> = truth
        .soft
        .iter()
        .map(|e| e.address.to_lowercase())
        .filter(|a| !hard.contains(a))
        .collect();
    assert!(truth.soft.iter().any(|e| e.kind == MailKind::SoftBounce));
    let sent = sends(&sim.mail());
    assert!(
        soft_only.iter().all(|a| !sent.contains_key(a)),
        "{soft_only:?}"
    );
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("s1.json")).unwrap()).unwrap();
    assert_eq!(s["command"], "bounces sync");
    assert_eq!(
        s["hard_bounces"].as_u64().unwrap() as usize,
        truth.hard_bounces.len()
    );
    // The second pass, at once: the removal events and the deliveries after them are read (verdicts),
    // and nothing is sent again.
    let before = sim.mail().removal_requests.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let second = sync(&sb, &sim, &["--report", "r2.csv"]).await;
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(
        sim.mail().removal_requests.len(),
        before,
        "{}",
        second.stderr
    );
    assert!(read_report(&sb.path("r2.csv")).is_empty());
    assert!(
        second.stderr.contains("removal logged"),
        "{}",
        second.stderr
    );
    assert!(
        sim.record().violations.is_empty(),
        "{:?}",
        sim.record().violations
    );
    // history knows each address's removal and its verdict.
    let h = sb
        .run(
            &[
                "bounces",
                "history",
                "--ledger",
                "l.sqlite3",
                "--by",
                "address",
                "--format",
                "jsonl",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(h.code, 0, "{}", h.stderr);
    let rows: Vec<serde_json::Value> = h
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for a in &hard {
        let row = rows
            .iter()
            .find(|r| r["email"] == a.as_str())
            .unwrap_or_else(|| panic!("{a}"));
        assert_eq!(row["status"], "cleared", "{row}");
        assert!(!row["verdict"].as_str().unwrap_or("").is_empty(), "{row}");
    }
}

#[tokio::test]
async fn the_hold_policy_holds_an_address_that_keeps_bouncing() {
    let sim = simulator(org(20, |c| {
        let mut f = MailFlow::every(Duration::from_millis(20));
        f.mix = MailMix {
            hard: 0,
            soft_bounce: 0,
            deferred: 0,
            dropped: 0,
            delivered: 1,
        };
        f.max_events = Some(5);
        f.repeat_bouncers = vec!["user3@example.com".into()];
        f.late_percent = 0;
        c.mail = Some(f);
        c.removal_delay = Duration::from_millis(100);
    }))
    .await;
    let sb = Sandbox::new("sync-hold");
    let bounces = |sim: &Simulator| {
        sim.mail()
            .hard_bounces
            .iter()
            .filter(|e| e.address == "user3@example.com")
            .count()
    };
    for pass in 1..=3 {
        // Each pass finds the bounce that followed the last removal.
        let deadline = Instant::now() + Duration::from_secs(10);
        while bounces(&sim) < pass && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let report = format!("r{pass}.csv");
        let out = sync(&sb, &sim, &["--hold-after", "2/30d", "--report", &report]).await;
        let rows = read_report(&sb.path(&report));
        let row = rows
            .iter()
            .find(|r| r.email == "user3@example.com")
            .unwrap();
        if pass <= 2 {
            assert_eq!(
                (out.code, row.status.as_str()),
                (0, "accepted"),
                "{}",
                out.stderr
            );
        } else {
            // Cleared twice in 30 days and bounced again: held, the address needs fixing (exit 3).
            assert_eq!(
                (out.code, row.status.as_str()),
                (3, "held"),
                "{}",
                out.stderr
            );
            assert!(
                row.reason.contains("bounced again after 2 removals"),
                "{}",
                row.reason
            );
        }
    }
    assert_eq!(sends(&sim.mail()).get("user3@example.com"), Some(&2));
}

#[tokio::test]
async fn a_pass_killed_midway_is_finished_by_the_next_sending_at_most_one_batch_again() {
    // 3,000 hard bounces; the bounce list takes 1 request a second: the first pass is killed after
    // its first batch was accepted.
    let sim = simulator(org(3_000, |c| {
        let mut f = flow(3_000, 1_000);
        f.mix = MailMix {
            hard: 1,
            soft_bounce: 0,
            deferred: 0,
            dropped: 0,
            delivered: 0,
        };
        f.late_percent = 0;
        c.mail = Some(f);
        (c.rate_limit, c.window_secs) = (1, 1);
    }))
    .await;
    let truth = flowed(&sim, 3_000).await;
    let hard = hard_bounced(&truth);
    let sb = Sandbox::new("sync-kill");
    let mut child = spawn_sync(&sb, &sim, &["--report", "r1.csv"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while sim
        .mail()
        .removal_requests
        .iter()
        .filter(|r| r.status == 200)
        .count()
        < 1
    {
        assert!(Instant::now() < deadline, "no request was accepted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    kill(child.id().unwrap(), "-KILL");
    let _ = child.wait().await;
    let out = sync(&sb, &sim, &["--report", "r2.csv"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let sent = sends(&sim.mail());
    assert_eq!(sent.keys().cloned().collect::<HashSet<_>>(), hard);
    // Each address went once, but those of the batch that may have been in flight at the kill: twice.
    let twice = sent.values().filter(|&&n| n == 2).count();
    assert!(sent.values().all(|&n| n <= 2), "{sent:?}");
    assert!(twice <= 1_000, "{twice} sent twice");
    assert!(
        sim.record().violations.is_empty(),
        "{:?}",
        sim.record().violations
    );
}

#[tokio::test]
async fn follow_clears_within_a_poll_survives_sigkill_and_ends_at_sigterm_with_0() {
    let sim = simulator(org(200, |c| {
        let mut f = MailFlow::every(Duration::from_millis(100));
        f.per_tick = 2;
        f.max_events = Some(120);
        f.late_by = Duration::from_millis(300);
        c.mail = Some(f);
    }))
    .await;
    let sb = Sandbox::new("sync-follow");
    let mut child = spawn_sync(
        &sb,
        &sim,
        &[
            "--follow",
            "--poll",
            "1s",
            "--report",
            "f1.csv",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    kill(child.id().unwrap(), "-KILL");
    let _ = child.wait().await;
    let child = spawn_sync(
        &sb,
        &sim,
        &["--follow", "--poll", "1s", "--report", "f2.csv"],
    );
    flowed(&sim, 120).await;
    // Every hard bounce is cleared (a request for its address after it reached the log) within a poll
    // and 10 s of reaching the log.
    let latencies = |t: &MailTruth| -> Vec<(String, Option<i64>)> {
        t.hard_bounces
            .iter()
            .map(|b| {
                let cleared = t
                    .removal_requests
                    .iter()
                    .filter(|r| r.status == 200 && r.arrived_ms >= b.stored_ms)
                    .find(|r| r.held.iter().any(|a| a.eq_ignore_ascii_case(&b.address)));
                (
                    b.address.clone(),
                    cleared.map(|r| r.arrived_ms - b.stored_ms),
                )
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(8);
    while latencies(&sim.mail()).iter().any(|(_, l)| l.is_none()) {
        assert!(
            Instant::now() < deadline,
            "not every hard bounce was cleared: {:?}",
            latencies(&sim.mail())
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let truth = sim.mail();
    for (address, took) in latencies(&truth) {
        assert!(
            took.is_some_and(|ms| ms <= 1_000 + 10_000),
            "{address} cleared after {took:?} ms"
        );
    }
    kill(child.id().unwrap(), "-TERM");
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("stopped after"), "{stderr}");
    // Once per bounce, and at most one extra per kill.
    let sent = sends(&sim.mail());
    let bounces: HashMap<String, usize> =
        truth.hard_bounces.iter().fold(HashMap::new(), |mut m, e| {
            *m.entry(e.address.to_lowercase()).or_default() += 1;
            m
        });
    let extra: usize = sent
        .iter()
        .map(|(a, &n)| n.saturating_sub(bounces[a]))
        .sum();
    assert!(
        extra <= 1,
        "{extra} sent more often than they bounced: {sent:?}"
    );
    assert!(
        sim.record().violations.is_empty(),
        "{:?}",
        sim.record().violations
    );
}

#[tokio::test]
async fn a_second_sync_of_the_same_org_and_ledger_is_refused() {
    let sim = simulator(org(10, |c| c.mail = Some(flow(10, 10)))).await;
    let sb = Sandbox::new("sync-twice-at-once");
    let mut follow = spawn_sync(
        &sb,
        &sim,
        &["--follow", "--poll", "5s", "--report", "f.csv"],
    );
    // The first one holds the lock once its ledger exists.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_dir(&sb.dir)
        .unwrap()
        .any(|e| e.unwrap().file_name().to_string_lossy().ends_with(".lock"))
    {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = sync(&sb, &sim, &["--report", "r.csv"]).await;
    assert_eq!(second.code, 4, "{}", second.stderr);
    let pid = follow.id().unwrap().to_string();
    assert!(second.stderr.contains(&pid), "{}", second.stderr);
    // Named another way (a symbolic link), it is the same ledger, and the same lock.
    std::os::unix::fs::symlink(sb.path("l.sqlite3"), sb.path("link.sqlite3")).unwrap();
    let linked = sync_on(&sb, &sim, "link.sqlite3", &["--report", "r2.csv"]).await;
    assert_eq!(linked.code, 4, "{}", linked.stderr);
    // A hard link has its own journal beside it (SQLite names it by the path): refused, whichever name.
    std::fs::hard_link(sb.path("l.sqlite3"), sb.path("hard.sqlite3")).unwrap();
    let hard = sync_on(&sb, &sim, "hard.sqlite3", &["--report", "r3.csv"]).await;
    assert_eq!(hard.code, 2, "{}", hard.stderr);
    assert!(hard.stderr.contains("hard link"), "{}", hard.stderr);
    std::fs::remove_file(sb.path("hard.sqlite3")).unwrap();
    kill(follow.id().unwrap(), "-TERM");
    assert_eq!(follow.wait().await.unwrap().code(), Some(0));
}

/// `--follow` ended by a second signal while a request is in flight: status 128 + 15, and the summary
/// and the ledger's run say it was interrupted, not completed.
#[tokio::test]
async fn follow_ended_by_a_second_signal_is_recorded_as_interrupted() {
    let sim = simulator(org(10, |c| {
        c.mail = Some(flow(10, 10));
        c.latency = Duration::from_secs(4);
    }))
    .await;
    flowed(&sim, 10).await;
    let sb = Sandbox::new("sync-follow-twice");
    let child = spawn_sync(
        &sb,
        &sim,
        &[
            "--follow",
            "--poll",
            "1s",
            "--report",
            "f.csv",
            "--summary",
            "s.json",
        ],
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    kill(child.id().unwrap(), "-TERM");
    tokio::time::sleep(Duration::from_millis(100)).await;
    kill(child.id().unwrap(), "-TERM");
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("s.json")).unwrap()).unwrap();
    assert_eq!(s["stop"]["cause"], "interrupted", "{s}");
    let ledger = rusqlite::Connection::open(sb.path("l.sqlite3")).unwrap();
    let cause: String = ledger
        .query_row("SELECT cause FROM runs ORDER BY id DESC LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(cause, "interrupted");
}

#[tokio::test]
async fn a_rate_limited_log_is_waited_for_and_nothing_is_lost() {
    // 2,500 events: three pages, with one page a second allowed on the log.
    let sim = simulator(org(2_500, |c| {
        let mut f = flow(2_500, 500);
        f.late_percent = 0;
        c.mail = Some(f);
        c.logs_rate_limit = 1;
        c.window_secs = 1;
    }))
    .await;
    let truth = flowed(&sim, 2_500).await;
    let sb = Sandbox::new("sync-log-limit");
    let out = sync(&sb, &sim, &["--report", "r.csv", "--summary", "s.json"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let s: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(sb.path("s.json")).unwrap()).unwrap();
    assert!(s["pages"].as_u64().unwrap() >= 3, "{s}");
    let cleared: HashSet<String> = read_report(&sb.path("r.csv"))
        .iter()
        .map(|r| r.email.to_lowercase())
        .collect();
    assert_eq!(cleared, hard_bounced(&truth));
    assert!(
        sim.record().violations.is_empty(),
        "{:?}",
        sim.record().violations
    );
}

#[tokio::test]
async fn remove_records_in_the_ledger_and_skips_what_it_cleared() {
    let sim = simulator(org_with_users(5)).await;
    let sb = Sandbox::new("remove-ledger");
    sb.write("in.csv", user_list(0..5));
    let out = sb
        .remove(
            &sim,
            &["in.csv", "--ledger", "l.sqlite3", "--report", "r1.csv"],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    sb.write("more.csv", user_list(0..8));
    let out = sb
        .remove(
            &sim,
            &[
                "more.csv",
                "--ledger",
                "l.sqlite3",
                "--skip-cleared",
                "1d",
                "--report",
                "r2.csv",
            ],
        )
        .await;
    let rows = read_report(&sb.path("r2.csv"));
    let counts = status_counts(&rows);
    // The five cleared before are skipped (with when); the three others are not users: rejected.
    assert_eq!(counts.get("skipped"), Some(&5), "{}", out.stderr);
    assert_eq!(counts.get("rejected"), Some(&3), "{}", out.stderr);
    assert!(
        rows.iter()
            .filter(|r| r.status == "skipped")
            .all(|r| r.reason.starts_with("cleared "))
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    let h = sb
        .run(&["bounces", "history", "--ledger", "l.sqlite3"], &[], None)
        .await;
    assert_eq!(h.code, 0, "{}", h.stderr);
    assert_eq!(h.stdout.lines().count(), 1 + 5 + 3, "{}", h.stdout);
}

/// Okta's time to come back outlives the process: after a pass stopped at --max-wait, the next pass
/// sends nothing before that time, and stops again at once, naming it.
#[tokio::test]
async fn a_retry_after_named_to_one_pass_holds_the_next() {
    let sim = simulator(org(2_000, |c| {
        let mut f = flow(2_000, 1_000);
        f.mix = MailMix {
            hard: 1,
            soft_bounce: 0,
            deferred: 0,
            dropped: 0,
            delivered: 0,
        };
        f.late_percent = 0;
        c.mail = Some(f);
        (c.rate_limit, c.window_secs) = (1, 60);
    }))
    .await;
    flowed(&sim, 2_000).await;
    let sb = Sandbox::new("sync-retry-at");
    let first = sync(&sb, &sim, &["--max-wait", "2s", "--report", "r1.csv"]).await;
    assert_eq!(first.code, 4, "{}", first.stderr);
    let rows = read_report(&sb.path("r1.csv"));
    // The first batch went; the rest waits for the next window, past --max-wait.
    let failed: Vec<&ReportRow> = rows.iter().filter(|r| r.status == "failed").collect();
    assert!(rows.len() > 1_000, "{}", rows.len());
    assert_eq!(failed.len(), rows.len() - 1_000);
    assert!(!failed[0].retry_at.is_empty(), "{failed:?}");
    let sent = sim.mail().removal_requests.len();
    let second = sync(&sb, &sim, &["--max-wait", "2s", "--report", "r2.csv"]).await;
    assert_eq!(second.code, 4, "{}", second.stderr);
    assert_eq!(
        sim.mail().removal_requests.len(),
        sent,
        "sent inside the window"
    );
    // The very time the first pass was given (kept in the ledger), not one worked out again.
    let rows = read_report(&sb.path("r2.csv"));
    let held = rows
        .iter()
        .filter(|r| r.status == "failed" && r.retry_at == failed[0].retry_at)
        .count();
    assert!(
        second.stderr.contains(&failed[0].retry_at[..19]),
        "{} vs {}",
        second.stderr,
        failed[0].retry_at
    );
    assert_eq!(
        held,
        rows.len(),
        "{} of {}: {}",
        held,
        rows.len(),
        second.stderr
    );
    assert!(
        sim.record().violations.is_empty(),
        "{:?}",
        sim.record().violations
    );
}
