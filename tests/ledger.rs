//! `bounces history` through the binary, on ledgers the tests build with the ledger's own API: what it
//! shows per removal and per address, its filters, and that it needs no org, token or network.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::Sandbox;
use okta_org::ledger::{Answer, EventKind, Ledger, NewEvent, NewRemoval, OrgKey, RunEnd};
use serde_json::Value;

const DAY: Duration = Duration::from_secs(86_400);

fn event(uuid: &str, kind: EventKind, to: &str, at: SystemTime) -> NewEvent {
    NewEvent {
        uuid: uuid.into(),
        event_type: if kind == EventKind::Removal {
            "system.email.bounce.removal".into()
        } else {
            "system.email.delivery".into()
        },
        kind,
        published: at,
        recipients: vec![to.into()],
        user: None,
        detail: if kind == EventKind::Bounce {
            "550 5.1.1 user unknown".into()
        } else {
            String::new()
        },
    }
}

/// A ledger of two orgs, as `bounces sync` would leave it: in acme, jane cleared and then delivered to,
/// loop cleared three times and bounced again (held), bob refused by Okta, grey only soft-bounced; in
/// beta, one address cleared.
fn build(path: &Path) {
    let mut l = Ledger::open(path).unwrap();
    let acme = OrgKey::parse("https://acme.okta.com").unwrap();
    let lock = l.lock_org(&acme, "bounces sync").unwrap();
    let now = SystemTime::now();
    let start = now - 5 * DAY;
    let run = l.begin_run(&lock, "bounces sync", start).unwrap();
    let take = |l: &mut Ledger, e: NewEvent| {
        let at = e.published + Duration::from_secs(30);
        l.take_page(&acme, run, &[e], Some("/api/v1/logs?after=x"), at)
            .unwrap();
    };
    let clear = |l: &mut Ledger, a: &str, bounce: &str, at: SystemTime, answer: Answer| {
        let ids = l
            .record_sending(
                run,
                &[NewRemoval {
                    address: a.into(),
                    bounce: Some(bounce.into()),
                }],
                at,
            )
            .unwrap();
        l.record_answers(&[(ids[0], answer)], at + Duration::from_secs(1))
            .unwrap();
    };
    take(
        &mut l,
        event("j1", EventKind::Bounce, "Jane@Acme.example", start),
    );
    clear(
        &mut l,
        "jane@acme.example",
        "j1",
        start + Duration::from_secs(60),
        Answer::Accepted,
    );
    take(
        &mut l,
        event(
            "j2",
            EventKind::Removal,
            "jane@acme.example",
            start + Duration::from_secs(90),
        ),
    );
    take(
        &mut l,
        event("j3", EventKind::Delivered, "jane@acme.example", start + DAY),
    );
    for i in 0..3u32 {
        let at = start + i * DAY;
        let uuid = format!("l{i}");
        take(
            &mut l,
            event(&uuid, EventKind::Bounce, "loop@acme.example", at),
        );
        clear(
            &mut l,
            "loop@acme.example",
            &uuid,
            at + Duration::from_secs(60),
            Answer::Accepted,
        );
    }
    take(
        &mut l,
        event(
            "l3",
            EventKind::Bounce,
            "loop@acme.example",
            start + 3 * DAY,
        ),
    );
    take(
        &mut l,
        event("b1", EventKind::Bounce, "bob@acme.example", start),
    );
    clear(
        &mut l,
        "bob@acme.example",
        "b1",
        start + Duration::from_secs(60),
        Answer::Rejected("=HYPERLINK(\"x\") not a valid address".into()),
    );
    take(
        &mut l,
        event("g1", EventKind::Soft, "grey@acme.example", start),
    );
    l.end_run(
        run,
        &RunEnd {
            cause: "completed".into(),
            exit_status: 0,
            counts: serde_json::json!({"accepted": 4}),
        },
        now - DAY,
    )
    .unwrap();
    drop(lock);
    let beta = OrgKey::parse("https://beta.okta.com").unwrap();
    let lock = l.lock_org(&beta, "bounces sync").unwrap();
    let run = l.begin_run(&lock, "bounces sync", now - DAY).unwrap();
    l.take_page(
        &beta,
        run,
        &[event(
            "x1",
            EventKind::Bounce,
            "kim@beta.example",
            now - DAY,
        )],
        None,
        now - DAY,
    )
    .unwrap();
    let ids = l
        .record_sending(
            run,
            &[NewRemoval {
                address: "kim@beta.example".into(),
                bounce: Some("x1".into()),
            }],
            now - DAY + Duration::from_secs(10),
        )
        .unwrap();
    l.record_answers(
        &[(ids[0], Answer::Accepted)],
        now - DAY + Duration::from_secs(11),
    )
    .unwrap();
}

fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

fn column(header: &[String], rows: &[Vec<String>], name: &str) -> Vec<String> {
    let i = header.iter().position(|h| h == name).unwrap();
    rows.iter().map(|r| r[i].clone()).collect()
}

#[tokio::test]
async fn history_shows_each_removal_with_its_answer_verdict_and_hold() {
    let sb = Sandbox::new("history-removals");
    let ledger = sb.path("ledger.sqlite3");
    build(&ledger);
    let l = ledger.to_str().unwrap();
    // No token, no org, no okta.yaml: the ledger alone.
    let out = sb
        .run(&["bounces", "history", "--ledger", l], &[], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.all());
    let (header, rows) = csv_rows(&out.stdout);
    assert_eq!(
        header,
        [
            "email",
            "org",
            "removal",
            "requested",
            "run",
            "command",
            "answer",
            "reason",
            "answered",
            "verdict",
            "verdict_at",
            "bounces",
            "held",
            "held_reason"
        ]
    );
    assert_eq!(rows.len(), 6, "{}", out.stdout);
    let emails = column(&header, &rows, "email");
    assert_eq!(
        emails,
        [
            "jane@acme.example",
            "loop@acme.example",
            "bob@acme.example",
            "loop@acme.example",
            "loop@acme.example",
            "kim@beta.example"
        ]
    );
    let answers = column(&header, &rows, "answer");
    assert_eq!(answers[2], "rejected");
    // Okta's words as a spreadsheet shows them, not as a formula.
    assert!(column(&header, &rows, "reason")[2].starts_with("'=HYPERLINK"));
    let verdicts = column(&header, &rows, "verdict");
    assert_eq!(verdicts[0], "delivered");
    // Each removal of loop was followed by a bounce, and none was logged: no verdict.
    assert_eq!(
        [&verdicts[1], &verdicts[3], &verdicts[4]],
        ["", "", ""],
        "no removal of loop was logged"
    );
    let held = column(&header, &rows, "held");
    assert_eq!(held, ["false", "true", "false", "true", "true", "false"]);
    let reason = &column(&header, &rows, "held_reason")[1];
    assert!(
        reason.starts_with("bounced again after 3 removals in 30 days"),
        "{reason}"
    );
    assert_eq!(column(&header, &rows, "org")[5], "https://beta.okta.com");
    assert!(
        out.stderr.contains("6 removals of 4 addresses (1 held)"),
        "{}",
        out.stderr
    );

    // One address, any case; one org by its URL as typed.
    let out = sb
        .run(
            &["bounces", "history", "--ledger", l, "JANE@acme.EXAMPLE"],
            &[],
            None,
        )
        .await;
    let (header, rows) = csv_rows(&out.stdout);
    assert_eq!(column(&header, &rows, "email"), ["jane@acme.example"]);
    assert_eq!(column(&header, &rows, "command"), ["bounces sync"]);
    let out = sb
        .run(
            &[
                "bounces",
                "history",
                "--ledger",
                l,
                "--org-url",
                "https://BETA.okta.com/",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.all());
    let (header, rows) = csv_rows(&out.stdout);
    assert_eq!(column(&header, &rows, "email"), ["kim@beta.example"]);
    // Removals of the last two days only.
    let out = sb
        .run(
            &["bounces", "history", "--ledger", l, "--since", "2d"],
            &[],
            None,
        )
        .await;
    let (header, rows) = csv_rows(&out.stdout);
    assert_eq!(column(&header, &rows, "email"), ["kim@beta.example"]);
    // A policy that holds nothing yet.
    let out = sb
        .run(
            &[
                "bounces",
                "history",
                "--ledger",
                l,
                "--held",
                "--hold-after",
                "4/30d",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.all());
    let (header, rows) = csv_rows(&out.stdout);
    assert!(rows.is_empty() && header.len() == 14, "{}", out.stdout);
}

#[tokio::test]
async fn history_by_address_says_where_each_stands() {
    let sb = Sandbox::new("history-addresses");
    let ledger = sb.path("ledger.sqlite3");
    build(&ledger);
    let l = ledger.to_str().unwrap();
    let summary = sb.path("summary.json");
    let out = sb
        .run(
            &[
                "bounces",
                "history",
                "--ledger",
                l,
                "--by",
                "address",
                "--format",
                "jsonl",
                "--org-url",
                "https://acme.okta.com",
                "--summary",
                summary.to_str().unwrap(),
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.all());
    let rows: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let status: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r["email"].as_str().unwrap(), r["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        status,
        [
            ("bob@acme.example", "rejected"),
            ("grey@acme.example", "no_hard_bounce"),
            ("jane@acme.example", "cleared"),
            ("loop@acme.example", "held"),
        ]
    );
    let jane = &rows[2];
    assert_eq!(jane["bounces"], 1);
    assert_eq!(jane["removals"], 1);
    assert_eq!(jane["last_answer"], "accepted");
    assert_eq!(jane["verdict"], "delivered");
    assert_eq!(jane["held_reason"], Value::Null);
    assert_eq!(rows[1]["soft"], 1);
    let lp = &rows[3];
    assert_eq!(
        (lp["bounces"].as_u64(), lp["accepted"].as_u64()),
        (Some(4), Some(3))
    );
    assert!(lp["held_reason"].as_str().unwrap().contains("needs fixing"));
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();
    assert_eq!(s["command"], "bounces history");
    assert_eq!((s["rows"].as_u64(), s["held"].as_u64()), (Some(4), Some(1)));
    assert_eq!(s["exit_status"], 0);
}

#[tokio::test]
async fn history_takes_the_org_of_a_profile() {
    let sb = Sandbox::new("history-profile");
    let ledger = sb.path("ledger.sqlite3");
    build(&ledger);
    sb.write(
        "okta.yaml",
        "okta:\n  profiles:\n    beta:\n      client:\n        orgUrl: https://beta.okta.com\n",
    );
    let out = sb
        .run(
            &[
                "bounces",
                "history",
                "--ledger",
                ledger.to_str().unwrap(),
                "--profile",
                "beta",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.all());
    let (header, rows) = csv_rows(&out.stdout);
    assert_eq!(column(&header, &rows, "email"), ["kim@beta.example"]);
    // A profile that is not there is a usage error, as everywhere.
    let out = sb
        .run(
            &[
                "bounces",
                "history",
                "--ledger",
                ledger.to_str().unwrap(),
                "--profile",
                "gamma",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 2, "{}", out.all());
}

#[tokio::test]
async fn history_finds_the_ledger_where_xdg_says_and_says_where_it_looked() {
    let sb = Sandbox::new("history-where");
    // No ledger yet: a clear error naming the place, status 2, and nothing made there.
    let out = sb.run(&["bounces", "history"], &[], None).await;
    assert_eq!(out.code, 2, "{}", out.all());
    let default = sb.path(".local/state/okta-org/ledger.sqlite3");
    assert!(
        out.stderr.contains(&default.display().to_string()),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(!default.exists());
    let state = sb.path("state");
    let xdg = state.join("okta-org/ledger.sqlite3");
    let env = [("XDG_STATE_HOME", state.to_str().unwrap())];
    let out = sb.run(&["bounces", "history"], &env, None).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains(&xdg.display().to_string()),
        "{}",
        out.stderr
    );
    // Once there, read from there; an empty ledger is a header and no rows.
    drop(Ledger::open(&xdg).unwrap());
    let out = sb.run(&["bounces", "history"], &env, None).await;
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>().len(),
        1,
        "{}",
        out.stdout
    );
    assert!(out.stdout.starts_with("email,org,removal,"));
    // The rows may not overwrite the ledger.
    let out = sb
        .run(
            &["bounces", "history", "--output", xdg.to_str().unwrap()],
            &env,
            None,
        )
        .await;
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("would overwrite the ledger"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn history_refuses_a_ledger_of_a_newer_okta_org_and_leaves_it() {
    let sb = Sandbox::new("history-newer");
    let ledger = sb.path("ledger.sqlite3");
    build(&ledger);
    let c = rusqlite::Connection::open(&ledger).unwrap();
    c.pragma_update(None, "user_version", okta_org::ledger::SCHEMA_VERSION + 1)
        .unwrap();
    // Everything on disk, in the file itself.
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    drop(c);
    let before = std::fs::read(&ledger).unwrap();
    let out = sb
        .run(
            &["bounces", "history", "--ledger", ledger.to_str().unwrap()],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("newer okta-org"), "{}", out.stderr);
    assert_eq!(std::fs::read(&ledger).unwrap(), before);
}
