//! The loop around the main job: `--retry-failed` after a stop, `--resume` after the process is killed, and
//! (with the simulator's System Log) `bounces find` and `bounces verify`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::*;
use okta_org_simulator::Simulator;

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
    // At once: the retry holds back until the time Okta named (the simulator counts any request inside
    // its Retry-After window as a violation).
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
        again.stderr.contains("to retry after") && again.stderr.contains("holding back"),
        "{}",
        again.stderr
    );
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
    let mut child = sb.spawn_remove(&sim, &[input.to_str().unwrap(), "--report", "first.csv"]);
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

/// Removes users 0..n (written to in.csv), with the report in r.csv; every one accepted.
async fn removed_to_report(sim: &Simulator, sb: &Sandbox, n: usize) {
    sb.write("in.csv", user_list(0..n));
    let removed = okta(
        sim,
        sb,
        &["bounces", "remove", "in.csv", "--report", "r.csv"],
        None,
    )
    .await;
    assert_eq!(removed.code, 0, "{}", removed.stderr);
}

/// Runs `okta-org ARGS --org-url SIM` with the test token, `stdin` fed in.
async fn okta(sim: &Simulator, sb: &Sandbox, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let url = sim.url();
    let mut all = args.to_vec();
    all.extend_from_slice(&["--org-url", &url]);
    sb.run(&all, &[("OKTA_CLIENT_TOKEN", TOKEN)], stdin).await
}

fn rows_of(csv_text: &str) -> Vec<HashMap<String, String>> {
    let mut rdr = csv::Reader::from_reader(csv_text.as_bytes());
    let headers = rdr.headers().unwrap().clone();
    rdr.records()
        .map(|r| {
            let r = r.unwrap();
            headers
                .iter()
                .zip(r.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// An event as the notes say Okta writes one, `hours_ago` hours back.
fn bounce_event(to: &str, hours_ago: u64, shape: usize) -> serde_json::Value {
    let published = humantime::format_rfc3339_millis(
        std::time::SystemTime::now() - Duration::from_secs(hours_ago * 3600),
    )
    .to_string();
    let mut e = serde_json::json!({
        "uuid": format!("ev-{to}-{hours_ago}"),
        "published": published,
        "eventType": "system.email.delivery",
        "displayMessage": "An email's delivery status was updated",
        "outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"},
        "actor": {"id": "0oa1", "type": "SystemPrincipal", "alternateId": "system@okta.com"},
        "target": [],
        "debugContext": {"debugData": {"sender": "noreply@okta.com", "smtpResponse": "550 5.1.1 no such user"}}
    });
    match shape % 3 {
        0 => e["target"] = serde_json::json!([{"id": "00uX", "type": "User", "alternateId": to}]),
        1 => e["debugContext"]["debugData"]["recipient"] = serde_json::json!(to),
        _ => e["displayMessage"] = serde_json::json!(format!("Email to {to} bounced")),
    }
    e
}

/// `find` over many pages of a rate-limited log bucket: every bounced recipient once, with its count,
/// whatever shape its events take; never a sender's or the actor's address; nothing sent inside a
/// Retry-After window.
#[tokio::test]
async fn find_reads_every_page_of_a_rate_limited_log() {
    let users = 1200;
    let config = org(users, |c| {
        (c.logs_rate_limit, c.window_secs) = (1, 2);
        c.advertise_limits = false;
    });
    let sim = simulator(config).await;
    let mut events = Vec::new();
    for i in 0..users {
        events.push(bounce_event(&format!("user{i}@example.com"), 30, i));
        if i.is_multiple_of(4) {
            events.push(bounce_event(&format!("USER{i}@example.com"), 20, i + 1));
        }
    }
    sim.add_log_events(events);
    let sb = Sandbox::new("find-pages");
    let out = okta(&sim, &sb, &["bounces", "find", "--since", "2d"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows = rows_of(&out.stdout);
    assert_eq!(rows.len(), users, "{}", out.stderr);
    for r in &rows {
        let n: usize = r["email"]
            .trim_start_matches("user")
            .trim_end_matches("@example.com")
            .parse()
            .unwrap();
        assert_eq!(r["kind"], "bounce");
        assert_eq!(
            r["events"],
            if n.is_multiple_of(4) { "2" } else { "1" },
            "{r:?}"
        );
        assert_eq!(r["reason"], "550 5.1.1 no such user");
    }
    assert!(!out.stdout.contains("okta.com"));
    let record = sim.record();
    let pages = record
        .requests
        .iter()
        .filter(|r| r.path == "/api/v1/logs" && r.status == 200)
        .count();
    assert!(pages >= 2, "{pages} pages");
    assert!(record.requests.iter().any(|r| r.status == 429));
    assert!(record.violations.is_empty(), "{:?}", record.violations);
}

/// Events as they come in the wild: one without `outcome` (its kind only in words), a provider's
/// `bounceType`, a self-service reset whose recipient is the actor, a recipient field beside a User
/// target's login, and a Message-ID or a return path as the only address-shaped strings (no one).
#[tokio::test]
async fn find_reads_events_as_they_come_in_the_wild() {
    let sim = simulator(org(10, |_| {})).await;
    let published =
        humantime::format_rfc3339_millis(std::time::SystemTime::now() - Duration::from_secs(3600))
            .to_string();
    let with = |uuid: &str, fields: serde_json::Value| {
        let mut e = serde_json::json!({
            "uuid": uuid, "published": published, "eventType": "system.email.delivery",
        });
        e.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        e
    };
    sim.add_log_events(vec![
        with("w1", serde_json::json!({
            "displayMessage": "Email delivery FAILURE: Bounce for quinn@x.example"})),
        with("w2", serde_json::json!({"outcome": {"result": "FAILURE"},
            "target": [{"id": "00uS", "type": "User", "alternateId": "sue@x.example"}],
            "debugContext": {"debugData": {"bounceType": "Permanent"}}})),
        with("w3", serde_json::json!({"outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"},
            "actor": {"id": "00uR", "type": "User", "alternateId": "rita@x.example"},
            "target": [{"id": "00uR", "type": "User", "alternateId": "rita@x.example"}]})),
        with("w4", serde_json::json!({"outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"},
            "target": [{"id": "00uK", "type": "User", "alternateId": "kyle.login@corp.example"}],
            "debugContext": {"debugData": {"recipient": "kyle@x.example"}}})),
        with("w5", serde_json::json!({"outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"},
            "debugContext": {"debugData": {"messageId": "<0100018c1a2b3c4d-5e6f@email.amazonses.com>",
                                            "path": "bounces+123-ab=x.example@em.acme.example"}}})),
        with("w6", serde_json::json!({"outcome": {"result": "SUCCESS"},
            "target": [{"id": "00uD", "type": "User", "alternateId": "del@x.example"}]})),
    ]);
    let sb = Sandbox::new("find-wild");
    let out = okta(&sim, &sb, &["bounces", "find", "--since", "2h"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut found: Vec<String> = rows_of(&out.stdout)
        .iter()
        .map(|r| r["email"].clone())
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "kyle@x.example",
            "quinn@x.example",
            "rita@x.example",
            "sue@x.example"
        ]
    );
    assert!(out.stderr.contains("1 failure event"), "{}", out.stderr);
}

/// The demo org's events in all their shapes; `find | remove -` reads find's CSV as it is.
#[tokio::test]
async fn find_feeds_remove() {
    let sim = simulator(okta_org_simulator::SimConfig::demo(TOKEN)).await;
    let sb = Sandbox::new("find-remove");
    let found = okta(&sim, &sb, &["bounces", "find"], None).await;
    assert_eq!(found.code, 0, "{}", found.stderr);
    let rows = rows_of(&found.stdout);
    let emails: Vec<&str> = rows.iter().map(|r| r["email"].as_str()).collect();
    for who in [
        "ben.baker",
        "chloe.chen",
        "daniel.diaz",
        "elena.evans",
        "jonas.jones",
        "liam.lopez",
    ] {
        assert!(
            emails.contains(&format!("{who}@acme.example").as_str()),
            "{who} not found: {emails:?}"
        );
    }
    for sender in ["okta.com", "it-noreply@acme.example", "okta.admin@"] {
        assert!(
            !found.stdout.contains(sender),
            "{sender} in {}",
            found.stdout
        );
    }
    let elena = rows
        .iter()
        .find(|r| r["email"].starts_with("elena"))
        .unwrap();
    assert_eq!(elena["removal_requested"], "true");
    assert!(
        found.stderr.contains("named no recipient"),
        "{}",
        found.stderr
    );
    let removed = okta(
        &sim,
        &sb,
        &["bounces", "remove", "-"],
        Some(found.stdout.as_bytes()),
    )
    .await;
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    let report = parse_report(&removed.stdout);
    assert_eq!(report.len(), rows.len());
    assert!(report.iter().all(|r| r.status == "accepted"));
}

/// `verify` after a run: removals logged late and split over several events; without --wait the ones
/// not logged yet say so (4); --wait polls one cursor until they all are or the time is up; deliveries
/// and bounces after the removal decide.
#[tokio::test]
async fn verify_waits_for_removals_logged_late() {
    let config = org(2200, |c| {
        c.removal_delay = Duration::from_secs(2);
        c.bounce_again = vec!["user5@example.com".into()];
        c.removal_skips = vec!["user6@example.com".into()];
    });
    let sim = simulator(config).await;
    let sb = Sandbox::new("verify");
    removed_to_report(&sim, &sb, 2200).await;
    // At once: nothing logged yet.
    let now = okta(&sim, &sb, &["bounces", "verify", "r.csv"], None).await;
    assert_eq!(now.code, 4, "{}", now.stderr);
    let rows = rows_of(&now.stdout);
    assert_eq!(rows.len(), 2200);
    assert!(rows.iter().all(|r| r["verdict"] == "not-yet-logged"));
    // Waiting: 44 removal events (50 addresses each) arrive; user5 bounces again, user6 is never logged.
    let started = Instant::now();
    let waited = okta(
        &sim,
        &sb,
        &[
            "bounces", "verify", "r.csv", "--wait", "20s", "--output", "v.csv",
        ],
        None,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(40));
    // user6 is still not logged: run again later (4), which comes before user5's bounce (3).
    assert_eq!(waited.code, 4, "{}", waited.stderr);
    let rows = rows_of(&std::fs::read_to_string(sb.path("v.csv")).unwrap());
    let verdict = |who: &str| {
        rows.iter()
            .find(|r| r["email"] == who)
            .map(|r| r["verdict"].clone())
            .unwrap()
    };
    assert_eq!(verdict("user5@example.com"), "bounced-again");
    assert_eq!(verdict("user6@example.com"), "not-yet-logged");
    assert_eq!(
        rows.iter()
            .filter(|r| r["verdict"] == "removal-logged")
            .count(),
        2198
    );
    assert!(
        waited.stderr.contains("2198 removal-logged"),
        "{}",
        waited.stderr
    );
    // The wait was one polling query: its later pages follow the first one's cursor.
    let record = sim.record();
    let log_queries: Vec<&str> = record
        .requests
        .iter()
        .filter(|r| r.path == "/api/v1/logs")
        .filter_map(|r| r.query.as_deref())
        .collect();
    assert!(
        log_queries.iter().any(|q| q.contains("after=")),
        "{log_queries:?}"
    );
    assert!(record.violations.is_empty(), "{:?}", record.violations);
}

/// `remove --verify` checks at the end of the run, until every address has a verdict: its removal logged,
/// or (with mail since) delivered.
#[tokio::test]
async fn remove_verify_checks_at_the_end_of_the_run() {
    let config = org(1500, |c| {
        c.removal_delay = Duration::from_millis(500);
        c.deliver_after_removal = true;
    });
    let sim = simulator(config).await;
    let sb = Sandbox::new("remove-verify");
    sb.write("in.csv", user_list(0..1500));
    let out = okta(
        &sim,
        &sb,
        &[
            "bounces",
            "remove",
            "in.csv",
            "--verify=30s",
            "--report",
            "r.csv",
        ],
        None,
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("verified 1500 addresses") && out.stderr.contains("0 not-yet-logged"),
        "{}",
        out.stderr
    );
}

/// Without `okta.logs.read`, a 403 names the scope.
#[tokio::test]
async fn find_without_the_logs_scope_names_it() {
    let config = org(10, |c| {
        c.scoped_tokens = vec![("only-orgs".into(), vec!["okta.orgs.manage".into()])];
    });
    let sim = simulator(config).await;
    let sb = Sandbox::new("find-403");
    let url = sim.url();
    let out = sb
        .run(
            &["bounces", "find", "--org-url", &url],
            &[("OKTA_CLIENT_TOKEN", "only-orgs")],
            None,
        )
        .await;
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("okta.logs.read"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// A bounded `verify` reads to the last page: a bounce on the second page, after every address already has
/// its removal logged on the first, still turns that address's verdict.
#[tokio::test]
async fn verify_reads_the_bounded_query_to_its_last_page() {
    let config = org(60, |c| c.removal_delay = Duration::from_millis(100));
    let sim = simulator(config).await;
    let sb = Sandbox::new("verify-pages");
    removed_to_report(&sim, &sb, 60).await;
    // Every removal logged, then 1,100 deliveries to someone else, then a bounce from user3.
    let logged = Instant::now();
    while sim
        .log_events()
        .iter()
        .filter(|e| e["eventType"] == "system.email.bounce.removal")
        .count()
        < 2
    {
        assert!(
            logged.elapsed() < Duration::from_secs(10),
            "removals never logged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let at = |ms: u64| {
        humantime::format_rfc3339_millis(std::time::SystemTime::now() + Duration::from_millis(ms))
            .to_string()
    };
    let delivery = |i: u64, to: &str, result: &str| {
        serde_json::json!({
            "uuid": format!("d-{i}"),
            "published": at(i),
            "eventType": "system.email.delivery",
            "outcome": {"result": result, "reason": if result == "SUCCESS" { "" } else { "Bounce" }},
            "target": [{"id": "00uX", "type": "User", "alternateId": to}]
        })
    };
    let mut events: Vec<serde_json::Value> = (0..1100)
        .map(|i| delivery(i, "someone.else@example.com", "SUCCESS"))
        .collect();
    events.push(delivery(1100, "user3@example.com", "FAILURE"));
    sim.add_log_events(events);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let out = okta(&sim, &sb, &["bounces", "verify", "r.csv"], None).await;
    assert_eq!(out.code, 3, "{}", out.stderr);
    let rows = rows_of(&out.stdout);
    assert_eq!(rows.len(), 60);
    let user3 = rows.iter().find(|r| r["email"] == "user3@example.com");
    assert_eq!(user3.unwrap()["verdict"], "bounced-again", "{rows:?}");
    assert_eq!(
        rows.iter()
            .filter(|r| r["verdict"] == "removal-logged")
            .count(),
        59
    );
}

/// With nothing to list, `find` still writes its CSV header, so a script reading the file finds its
/// columns (and `remove` reading it finds an empty export, not an unreadable one).
#[tokio::test]
async fn find_with_nothing_found_writes_the_header() {
    let sim = simulator(org(10, |_| {})).await;
    let sb = Sandbox::new("find-empty");
    let out = okta(&sim, &sb, &["bounces", "find", "--since", "1h"], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "email,kind,events,first_seen,last_seen,reason,user,removal_requested\n"
    );
    assert!(out.stderr.contains("0 recipients"), "{}", out.stderr);
}

/// `--resume` carries rows only from the report of the same input: a report whose addresses are not the
/// input's is refused before anything is sent (exit 2, naming the line); one whose sources are none of the
/// inputs carries nothing, and says so.
#[tokio::test]
async fn resume_refuses_the_report_of_another_input() {
    let sim = simulator(org(40, |_| {})).await;
    let sb = Sandbox::new("resume-other");
    sb.write("in.csv", user_list(0..20));
    let first = sb.remove(&sim, &["in.csv", "--report", "first.csv"]).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    let sent = sim.record().requests.len();
    // The same name, other addresses.
    sb.write("in.csv", user_list(20..40));
    let out = sb
        .remove(
            &sim,
            &["in.csv", "--resume", "first.csv", "--report", "second.csv"],
        )
        .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("in.csv: line 2") && out.stderr.contains("--resume"),
        "{}",
        out.stderr
    );
    assert_eq!(sim.record().requests.len(), sent, "something was sent");
    // Another name: nothing carried, every row sent, and a warning.
    sb.write("other.csv", user_list(20..40));
    let out = sb
        .remove(
            &sim,
            &[
                "other.csv",
                "--resume",
                "first.csv",
                "--report",
                "third.csv",
            ],
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("nothing is carried"), "{}", out.stderr);
    let report = read_report(&sb.path("third.csv"));
    assert_eq!(report.len(), 20);
    assert!(report.iter().all(|r| r.status == "accepted"));
}
