//! The ledger's behaviour through its API, on real files: pages and cursors, removals and their answers,
//! what is pending or held, verdicts, and a version-1 ledger migrated.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use serde_json::json;

use super::*;
use crate::logs::LogEvent;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "okta-org-ledger-{name}-{}-{}",
        std::process::id(),
        fastrand::u32(..)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d.join("ledger.sqlite3")
}

/// 2026-11-18T11:06:40Z plus `s` seconds.
fn t(s: i64) -> SystemTime {
    let base = UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    if s >= 0 {
        base + Duration::from_secs(s as u64)
    } else {
        base - Duration::from_secs(s.unsigned_abs())
    }
}

const DAY: i64 = 86_400;

fn acme() -> OrgKey {
    OrgKey::parse("https://acme.okta.com").unwrap()
}

fn event(uuid: &str, kind: EventKind, to: &[&str], at: SystemTime) -> NewEvent {
    NewEvent {
        uuid: uuid.into(),
        event_type: if kind == EventKind::Removal {
            "system.email.bounce.removal".into()
        } else {
            "system.email.delivery".into()
        },
        kind,
        published: at,
        recipients: to.iter().map(|a| a.to_string()).collect(),
        user: None,
        detail: String::new(),
    }
}

fn bounce(uuid: &str, to: &str, at: SystemTime) -> NewEvent {
    event(uuid, EventKind::Bounce, &[to], at)
}

/// A ledger, a lock of acme and a run in it.
fn setup(name: &str) -> (Ledger, OrgLock, RunId) {
    let mut l = Ledger::open(&scratch(name)).unwrap();
    let lock = l.lock_org(&acme(), "bounces sync").unwrap();
    let run = l.begin_run(&lock, "bounces sync", t(0)).unwrap();
    (l, lock, run)
}

/// Sends `addresses` (each for its bounce) at `at` and records Okta's acceptance a second later.
fn clear(l: &mut Ledger, run: RunId, addresses: &[(&str, Option<&str>)], at: SystemTime) {
    let new: Vec<NewRemoval> = addresses
        .iter()
        .map(|(a, b)| NewRemoval {
            address: a.to_string(),
            bounce: b.map(str::to_string),
        })
        .collect();
    let ids = l.record_sending(run, &new, at).unwrap();
    let answers: Vec<(RemovalId, Answer)> =
        ids.into_iter().map(|id| (id, Answer::Accepted)).collect();
    l.record_answers(&answers, at + Duration::from_secs(1))
        .unwrap();
}

fn pending(l: &Ledger, now: SystemTime) -> Vec<String> {
    l.pending_clears(&acme(), &HoldPolicy::default(), now)
        .unwrap()
        .pending
        .into_iter()
        .map(|p| p.address)
        .collect()
}

fn verdicts(l: &Ledger) -> Vec<(String, Option<Verdict>)> {
    let q = HistoryQuery {
        org: None,
        addresses: Vec::new(),
        since: None,
        held_only: false,
        policy: HoldPolicy::default(),
        now: t(DAY),
    };
    l.removal_history(&q)
        .unwrap()
        .into_iter()
        .map(|r| (r.address, r.verdict.map(|(v, _)| v)))
        .collect()
}

#[test]
fn pages_are_taken_once_each_with_the_cursor_after_it() {
    let (mut l, _lock, run) = setup("pages");
    assert_eq!(l.cursor(&acme()).unwrap(), None);
    let c = l.start_cursor(&acme(), t(-DAY), run, t(0)).unwrap();
    assert_eq!((c.since, c.next), (t(-DAY), None));
    // A second start keeps the first one's place.
    let c = l.start_cursor(&acme(), t(0), run, t(1)).unwrap();
    assert_eq!(c.since, t(-DAY));
    let page = vec![
        bounce("u1", "Jane@Acme.example", t(10)),
        event("u2", EventKind::Deferred, &["bob@acme.example"], t(11)),
        // Nothing is known of carol: her delivery is not kept.
        event("u3", EventKind::Delivered, &["carol@acme.example"], t(12)),
        // jane is known from u1 on this very page.
        event("u4", EventKind::Delivered, &["jane@acme.example"], t(13)),
    ];
    let next = "/api/v1/logs?after=1_2%2C3&limit=1000&filter=x";
    let taken = l.take_page(&acme(), run, &page, Some(next), t(20)).unwrap();
    assert_eq!((taken.new, taken.repeated, taken.untracked), (3, 0, 1));
    assert_eq!(
        l.cursor(&acme()).unwrap().unwrap().next.as_deref(),
        Some(next)
    );
    // The same page again (a restart): nothing new; a page without a link keeps the cursor.
    let taken = l.take_page(&acme(), run, &page, None, t(30)).unwrap();
    assert_eq!((taken.new, taken.repeated), (0, 3));
    let c = l.cursor(&acme()).unwrap().unwrap();
    assert_eq!((c.next.as_deref(), c.updated), (Some(next), t(20)));
    // Another org's cursor and events are its own.
    let beta = OrgKey::parse("https://beta.okta.com").unwrap();
    assert_eq!(l.cursor(&beta).unwrap(), None);
    let taken = l
        .take_page(&beta, run, &page[..1], Some("/b"), t(40))
        .unwrap();
    assert_eq!(taken.new, 1);
    assert_eq!(pending(&l, t(50)), vec!["jane@acme.example"]);
}

#[test]
fn a_page_whose_cursor_cannot_be_saved_leaves_none_of_its_events() {
    let (mut l, _lock, run) = setup("atomic");
    l.take_page(
        &acme(),
        run,
        &[bounce("u1", "a@x.example", t(1))],
        Some("/one"),
        t(2),
    )
    .unwrap();
    // Saving the cursor fails after the page's events were written in the same transaction.
    l.conn
        .execute_batch(
            "CREATE TEMP TRIGGER no_cursor BEFORE UPDATE ON cursors \
             BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
        )
        .unwrap();
    let page = [
        bounce("u2", "b@x.example", t(3)),
        bounce("u3", "c@x.example", t(4)),
    ];
    let e = l
        .take_page(&acme(), run, &page, Some("/two"), t(5))
        .unwrap_err();
    assert!(e.to_string().contains("disk full"), "{e}");
    assert_eq!(
        l.cursor(&acme()).unwrap().unwrap().next.as_deref(),
        Some("/one")
    );
    assert_eq!(pending(&l, t(6)), vec!["a@x.example"]);
    // Once it can be saved, the same page is new.
    l.conn.execute_batch("DROP TRIGGER no_cursor").unwrap();
    let taken = l
        .take_page(&acme(), run, &page, Some("/two"), t(7))
        .unwrap();
    assert_eq!(taken.new, 2);
}

#[test]
fn only_hard_bounces_make_an_address_pending() {
    let (mut l, _lock, run) = setup("soft");
    let page = [
        event("s1", EventKind::Soft, &["grey@x.example"], t(1)),
        event("s2", EventKind::Deferred, &["later@x.example"], t(2)),
        event("s3", EventKind::Dropped, &["drop@x.example"], t(3)),
        event("s4", EventKind::Other, &["spam@x.example"], t(4)),
        event("s5", EventKind::Removal, &["gone@x.example"], t(5)),
        bounce("h1", "hard@x.example", t(6)),
    ];
    l.take_page(&acme(), run, &page, Some("/n"), t(10)).unwrap();
    let c = l
        .pending_clears(&acme(), &HoldPolicy::default(), t(11))
        .unwrap();
    assert_eq!(c.pending.len(), 1);
    assert_eq!(c.pending[0].address, "hard@x.example");
    assert_eq!(c.pending[0].bounce.uuid, "h1");
    assert!(c.pending[0].previous.is_none() && !c.pending[0].resend());
    assert!(c.held.is_empty());
}

#[test]
fn removals_are_recorded_before_they_go_and_a_crash_sends_them_again() {
    let path = scratch("crash");
    let mut l = Ledger::open(&path).unwrap();
    let lock = l.lock_org(&acme(), "bounces sync").unwrap();
    let run = l.begin_run(&lock, "bounces sync", t(0)).unwrap();
    let page: Vec<NewEvent> = ["a", "b", "c", "d"]
        .iter()
        .enumerate()
        .map(|(i, a)| bounce(&format!("u{i}"), &format!("{a}@x.example"), t(i as i64)))
        .collect();
    l.take_page(&acme(), run, &page, Some("/n"), t(10)).unwrap();
    let new: Vec<NewRemoval> = pending(&l, t(11))
        .into_iter()
        .map(|address| NewRemoval {
            address,
            bounce: None,
        })
        .collect();
    assert_eq!(new.len(), 4);
    let ids = l.record_sending(run, &new, t(12)).unwrap();
    assert_eq!(ids.len(), 4);
    // The process dies with the request in flight: its lock goes with it, its run has no end.
    drop((l, lock));
    let mut l = Ledger::open(&path).unwrap();
    let lock = l.lock_org(&acme(), "bounces sync").unwrap();
    let run2 = l.begin_run(&lock, "bounces sync", t(20)).unwrap();
    let c = l
        .pending_clears(&acme(), &HoldPolicy::default(), t(21))
        .unwrap();
    assert_eq!(c.pending.len(), 4);
    assert!(c.pending.iter().all(Pending::resend));
    // The killed run's requests are `failed` now (no answer will ever be recorded for them), and so
    // sent again.
    assert!(
        matches!(
            &c.pending[0].previous.as_ref().unwrap().answer,
            Answer::Failed(why) if why.contains("killed")
        ),
        "{:?}",
        c.pending[0].previous
    );
    let lost: String = Connection::open(&path)
        .unwrap()
        .query_row("SELECT cause FROM runs WHERE id = ?1", [run.0], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(lost, "lost");
    // Sent again, and answered: accepted, rejected, failed; the failed one is still to do.
    let again: Vec<NewRemoval> = c
        .pending
        .iter()
        .map(|p| NewRemoval {
            address: p.address.clone(),
            bounce: Some(p.bounce.uuid.clone()),
        })
        .collect();
    let ids = l.record_sending(run2, &again, t(22)).unwrap();
    l.record_answers(
        &[
            (ids[0], Answer::Accepted),
            (ids[1], Answer::Accepted),
            (ids[2], Answer::Rejected("Invalid email address".into())),
            (
                ids[3],
                Answer::Failed("rate limited past --max-wait".into()),
            ),
        ],
        t(23),
    )
    .unwrap();
    assert_eq!(pending(&l, t(24)), vec!["d@x.example"]);
    assert!(
        l.record_answers(&[(RemovalId(12345), Answer::Accepted)], t(25))
            .is_err()
    );
    l.end_run(
        run2,
        &RunEnd {
            cause: "completed".into(),
            exit_status: 3,
            counts: json!({"accepted": 2, "rejected": 1, "failed": 1}),
        },
        t(30),
    )
    .unwrap();
    let (cause, counts): (String, String) = Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT cause, counts FROM runs WHERE id = ?1",
            [run2.0],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(cause, "completed");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&counts).unwrap()["rejected"],
        1
    );
    // An ended run records nothing more.
    assert!(l.record_sending(run2, &again, t(31)).is_err());
}

#[test]
fn a_bounce_after_a_removal_calls_for_another_and_older_news_does_not() {
    let (mut l, _lock, run) = setup("again");
    l.take_page(
        &acme(),
        run,
        &[bounce("b1", "jane@x.example", t(0))],
        Some("/1"),
        t(5),
    )
    .unwrap();
    clear(&mut l, run, &[("jane@x.example", Some("b1"))], t(60));
    assert!(pending(&l, t(70)).is_empty());
    // Okta's clock a little ahead of this one: the bounce that called for the removal is still no
    // news, nor a bounce of an earlier mail stored late.
    let late = [bounce("b0", "JANE@x.example", t(30))];
    l.take_page(&acme(), run, &late, Some("/2"), t(80)).unwrap();
    assert!(pending(&l, t(90)).is_empty());
    // A bounce after the removal is.
    l.take_page(
        &acme(),
        run,
        &[bounce("b2", "jane@x.example", t(3600))],
        Some("/3"),
        t(3700),
    )
    .unwrap();
    let c = l
        .pending_clears(&acme(), &HoldPolicy::default(), t(3800))
        .unwrap();
    assert_eq!(c.pending.len(), 1);
    assert_eq!(c.pending[0].bounce.uuid, "b2");
    assert_eq!(
        c.pending[0].previous.as_ref().unwrap().answer,
        Answer::Accepted
    );
    assert!(!c.pending[0].resend());
}

#[test]
fn an_address_that_keeps_bouncing_is_held_and_the_hold_ends_by_itself() {
    let (mut l, _lock, run) = setup("hold");
    let a = "loop@x.example";
    // Three rounds of bounce and removal, a day apart.
    for i in 0..3 {
        let uuid = format!("b{i}");
        l.take_page(
            &acme(),
            run,
            &[bounce(&uuid, a, t(i * DAY))],
            Some("/n"),
            t(i * DAY + 10),
        )
        .unwrap();
        assert_eq!(pending(&l, t(i * DAY + 20)), vec![a]);
        clear(&mut l, run, &[(a, Some(uuid.as_str()))], t(i * DAY + 30));
    }
    l.take_page(
        &acme(),
        run,
        &[bounce("b3", a, t(3 * DAY))],
        Some("/n"),
        t(3 * DAY + 10),
    )
    .unwrap();
    let now = t(3 * DAY + 20);
    let c = l
        .pending_clears(&acme(), &HoldPolicy::default(), now)
        .unwrap();
    assert!(c.pending.is_empty());
    assert_eq!(c.held.len(), 1);
    let h = &c.held[0];
    assert_eq!(
        (h.address.as_str(), h.removals, h.bounce.uuid.as_str()),
        (a, 3, "b3")
    );
    assert_eq!(h.since, t(31));
    // The first of the three leaves the 30-day window: the hold ends.
    assert_eq!(h.until, t(31 + 30 * DAY));
    let reason = h.reason();
    assert!(
        reason.starts_with("bounced again after 3 removals in 30 days (the first "),
        "{reason}"
    );
    assert!(
        reason.contains("the address itself needs fixing"),
        "{reason}"
    );
    assert_eq!(
        pending(&l, t(31 + 30 * DAY) - Duration::from_secs(1)),
        Vec::<String>::new()
    );
    assert_eq!(
        pending(&l, t(31 + 30 * DAY) + Duration::from_secs(1)),
        vec![a]
    );
    // A stricter policy holds sooner; a looser one not yet.
    let strict: HoldPolicy = "2/7d".parse().unwrap();
    assert_eq!(
        l.pending_clears(&acme(), &strict, now).unwrap().held.len(),
        1
    );
    let loose: HoldPolicy = "4/30d".parse().unwrap();
    assert_eq!(
        l.pending_clears(&acme(), &loose, now)
            .unwrap()
            .pending
            .len(),
        1
    );
}

#[test]
fn hold_policies_are_read_and_written_alike() {
    let p: HoldPolicy = "3/30d".parse().unwrap();
    assert_eq!(p, HoldPolicy::default());
    assert_eq!(p.to_string(), "3/30d");
    assert_eq!("5/12h".parse::<HoldPolicy>().unwrap().to_string(), "5/12h");
    for bad in ["3", "0/30d", "x/30d", "3/soon", "3/0"] {
        assert!(bad.parse::<HoldPolicy>().is_err(), "{bad}");
    }
}

#[test]
fn verdicts_follow_the_log_as_verify_reads_it() {
    let (mut l, _lock, run) = setup("verdicts");
    let all = ["a@x.com", "b@x.com", "c@x.com", "d@x.com", "e@x.com"];
    // d bounced the day before; e's removal was logged long before; all are cleared at t(0).
    let before = [
        bounce("d-old", "d@x.com", t(-DAY)),
        event("e-old", EventKind::Removal, &["e@x.com"], t(-20 * DAY)),
    ];
    l.take_page(&acme(), run, &before, Some("/0"), t(-10))
        .unwrap();
    let addresses: Vec<(&str, Option<&str>)> = all.iter().map(|a| (*a, None)).collect();
    clear(&mut l, run, &addresses, t(-1));
    // Removals logged (one 30 s before Okta's answer by this clock), a delivery, a bounce after.
    let page = [
        event("r1", EventKind::Removal, &["a@x.com", "b@x.com"], t(-30)),
        event("r2", EventKind::Removal, &["c@x.com", "d@x.com"], t(5)),
        event("d1", EventKind::Delivered, &["B@X.COM"], t(3600)),
        bounce("c1", "c@x.com", t(3600)),
        // Soft signals decide nothing.
        event("c2", EventKind::Deferred, &["c@x.com"], t(3700)),
    ];
    let taken = l
        .take_page(&acme(), run, &page, Some("/1"), t(4000))
        .unwrap();
    assert_eq!(taken.verdicts.len(), 4, "{:?}", taken.verdicts);
    let want = |v: Option<Verdict>| v;
    assert_eq!(
        verdicts(&l),
        vec![
            ("a@x.com".into(), want(Some(Verdict::RemovalLogged))),
            ("b@x.com".into(), want(Some(Verdict::Delivered))),
            ("c@x.com".into(), want(Some(Verdict::BouncedAgain))),
            ("d@x.com".into(), want(Some(Verdict::RemovalLogged))),
            ("e@x.com".into(), want(None)),
        ]
    );
    // c bounced again: pending again; the others are not.
    assert_eq!(pending(&l, t(4100)), vec!["c@x.com"]);
}

#[test]
fn the_bounce_that_calls_for_a_second_removal_is_the_first_ones_bounced_again() {
    let (mut l, _lock, run) = setup("second");
    let a = "sam@x.example";
    l.take_page(&acme(), run, &[bounce("b1", a, t(0))], Some("/0"), t(10))
        .unwrap();
    clear(&mut l, run, &[(a, Some("b1"))], t(20));
    l.take_page(
        &acme(),
        run,
        &[event("r1", EventKind::Removal, &[a], t(25))],
        Some("/1"),
        t(30),
    )
    .unwrap();
    l.take_page(&acme(), run, &[bounce("b2", a, t(600))], Some("/2"), t(610))
        .unwrap();
    clear(&mut l, run, &[(a, Some("b2"))], t(620));
    l.take_page(
        &acme(),
        run,
        &[event("r2", EventKind::Removal, &[a], t(630))],
        Some("/3"),
        t(640),
    )
    .unwrap();
    assert_eq!(
        verdicts(&l),
        vec![
            (a.into(), Some(Verdict::BouncedAgain)),
            (a.into(), Some(Verdict::RemovalLogged)),
        ]
    );
    // Mail reaches it after the second: that one is delivered, the first stays bounced again.
    l.take_page(
        &acme(),
        run,
        &[event("ok", EventKind::Delivered, &[a], t(900))],
        Some("/4"),
        t(910),
    )
    .unwrap();
    assert_eq!(
        verdicts(&l),
        vec![
            (a.into(), Some(Verdict::BouncedAgain)),
            (a.into(), Some(Verdict::Delivered)),
        ]
    );
}

#[test]
fn recently_cleared_addresses_are_those_not_bounced_since() {
    let (mut l, _lock, run) = setup("recent");
    clear(&mut l, run, &[("old@x.example", None)], t(0));
    clear(
        &mut l,
        run,
        &[("new@x.example", None), ("again@x.example", None)],
        t(3 * 3600),
    );
    l.take_page(
        &acme(),
        run,
        &[bounce("b", "again@x.example", t(4 * 3600))],
        Some("/n"),
        t(4 * 3600),
    )
    .unwrap();
    let now = t(5 * 3600);
    let asked: Vec<String> = [
        "NEW@x.example",
        "old@x.example",
        "again@x.example",
        "never@x.example",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let got = |within: u64| -> Vec<(String, SystemTime)> {
        l.recently_cleared(&acme(), &asked, Duration::from_secs(within * 3600), now)
            .unwrap()
            .into_iter()
            .map(|c| (c.address, c.at))
            .collect()
    };
    assert_eq!(got(3), vec![("new@x.example".into(), t(3 * 3600 + 1))]);
    assert_eq!(
        got(6),
        vec![
            ("new@x.example".into(), t(3 * 3600 + 1)),
            ("old@x.example".into(), t(1)),
        ]
    );
}

#[test]
fn events_are_read_from_the_log_as_find_reads_them() {
    let ev = |v: serde_json::Value| NewEvent::from_log(&LogEvent::from_value(&v).unwrap());
    let grey = ev(json!({
        "uuid": "g", "published": "2026-11-20T10:00:00.000Z", "eventType": "system.email.delivery",
        "outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"},
        "target": [{"type": "User", "id": "00u1", "alternateId": "grey@x.example"}],
        "debugContext": {"debugData": {"smtpResponse": "451 4.7.1 Greylisted, try again later"}}
    }))
    .unwrap();
    assert_eq!(grey.kind, EventKind::Soft);
    assert_eq!(grey.recipients, vec!["grey@x.example"]);
    assert_eq!(grey.user.as_deref(), Some("00u1"));
    assert!(grey.detail.starts_with("451"), "{}", grey.detail);
    let hard = ev(json!({
        "uuid": "h", "published": "2026-11-20T10:00:00Z", "eventType": "system.email.delivery",
        "outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"},
        "target": [{"type": "User", "alternateId": "hard@x.example"}],
        "debugContext": {"debugData": {"smtpResponse": "550 5.1.1 user unknown"}}
    }))
    .unwrap();
    assert_eq!(hard.kind, EventKind::Bounce);
    let grey_in_words = ev(json!({
        "uuid": "w", "published": "2026-11-20T10:00:00Z", "eventType": "system.email.delivery",
        "outcome": {"result": "FAILURE", "reason": "Bounce: 452 4.2.2 mailbox full"},
        "target": [{"type": "User", "alternateId": "full@x.example"}]
    }))
    .unwrap();
    assert_eq!(grey_in_words.kind, EventKind::Soft);
    let removal = ev(json!({
        "uuid": "r", "published": "2026-11-20T10:00:00Z", "eventType": "system.email.bounce.removal",
        "target": [{"type": "EmailList", "displayName": "a@x.com, B@x.com"}]
    }))
    .unwrap();
    assert_eq!(removal.kind, EventKind::Removal);
    assert_eq!(removal.recipients, vec!["a@x.com", "B@x.com"]);
    // No uuid (it could not be taken once only), no time, or not an email event: not kept.
    assert!(
        ev(json!({"published": "2026-11-20T10:00:00Z", "eventType": "system.email.delivery"}))
            .is_none()
    );
    assert!(ev(json!({"uuid": "x", "eventType": "system.email.delivery"})).is_none());
    assert!(ev(json!({"uuid": "y", "published": "2026-11-20T10:00:00Z", "eventType": "user.session.start"})).is_none());
}

#[test]
fn two_orgs_write_one_ledger_at_once() {
    let path = scratch("two");
    drop(Ledger::open(&path).unwrap());
    let writers: Vec<_> = ["https://acme.okta.com", "https://beta.okta.com"]
        .into_iter()
        .map(|org| {
            let path = path.clone();
            std::thread::spawn(move || {
                let org = OrgKey::parse(org).unwrap();
                let mut l = Ledger::open(&path).unwrap();
                let lock = l.lock_org(&org, "bounces sync").unwrap();
                let run = l.begin_run(&lock, "bounces sync", t(0)).unwrap();
                for i in 0..40 {
                    let page = [bounce(
                        &format!("{org}-{i}"),
                        &format!("u{i}@x.example"),
                        t(i),
                    )];
                    l.take_page(&org, run, &page, Some(&format!("/{i}")), t(i))
                        .unwrap();
                    let ids = l
                        .record_sending(
                            run,
                            &[NewRemoval {
                                address: format!("u{i}@x.example"),
                                bounce: None,
                            }],
                            t(i),
                        )
                        .unwrap();
                    l.record_answers(&[(ids[0], Answer::Accepted)], t(i))
                        .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let l = Ledger::open(&path).unwrap();
    assert_eq!(l.orgs().unwrap().len(), 2);
    for org in l.orgs().unwrap() {
        assert_eq!(
            l.cursor(&org).unwrap().unwrap().next.as_deref(),
            Some("/39")
        );
    }
}

#[test]
fn a_batch_of_a_thousand_is_one_cheap_transaction() {
    let (mut l, _lock, run) = setup("thousand");
    let page: Vec<NewEvent> = (0..1000)
        .map(|i| bounce(&format!("u{i}"), &format!("user{i}@x.example"), t(i)))
        .collect();
    let started = Instant::now();
    let taken = l
        .take_page(&acme(), run, &page, Some("/n"), t(2000))
        .unwrap();
    let page_time = started.elapsed();
    assert_eq!(taken.new, 1000);
    let started = Instant::now();
    let c = l
        .pending_clears(&acme(), &HoldPolicy::default(), t(2001))
        .unwrap();
    let pending_time = started.elapsed();
    assert_eq!(c.pending.len(), 1000);
    let new: Vec<NewRemoval> = c
        .pending
        .iter()
        .map(|p| NewRemoval {
            address: p.address.clone(),
            bounce: Some(p.bounce.uuid.clone()),
        })
        .collect();
    let started = Instant::now();
    let ids = l.record_sending(run, &new, t(2002)).unwrap();
    let sending_time = started.elapsed();
    let answers: Vec<(RemovalId, Answer)> = ids.iter().map(|&id| (id, Answer::Accepted)).collect();
    let started = Instant::now();
    l.record_answers(&answers, t(2003)).unwrap();
    let answers_time = started.elapsed();
    assert_eq!(ids.len(), 1000);
    assert!(pending(&l, t(2004)).is_empty());
    eprintln!(
        "1,000 addresses: take_page {page_time:?}, pending_clears {pending_time:?}, record_sending \
         {sending_time:?}, record_answers {answers_time:?}"
    );
}

/// Version 1 exactly as it was released; never edit it (the migration test is only worth what this is).
const V1_AS_RELEASED: &str = "
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    org         TEXT NOT NULL,
    command     TEXT NOT NULL,
    pid         INTEGER NOT NULL,
    started     TEXT NOT NULL,
    ended       TEXT,
    cause       TEXT,
    exit_status INTEGER,
    counts      TEXT
);
CREATE INDEX runs_by_org ON runs (org, started);
CREATE TABLE events (
    org        TEXT NOT NULL,
    uuid       TEXT NOT NULL,
    event_type TEXT NOT NULL,
    kind       TEXT NOT NULL,
    published  TEXT NOT NULL,
    taken      TEXT NOT NULL,
    run_id     INTEGER REFERENCES runs (id),
    user_id    TEXT,
    detail     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (org, uuid)
);
CREATE TABLE event_recipients (
    org     TEXT NOT NULL,
    uuid    TEXT NOT NULL,
    address TEXT NOT NULL,
    PRIMARY KEY (org, address, uuid),
    FOREIGN KEY (org, uuid) REFERENCES events (org, uuid)
);
CREATE INDEX event_recipients_by_event ON event_recipients (org, uuid, address);
CREATE TABLE removals (
    id          INTEGER PRIMARY KEY,
    org         TEXT NOT NULL,
    address     TEXT NOT NULL,
    run_id      INTEGER NOT NULL REFERENCES runs (id),
    command     TEXT NOT NULL,
    requested   TEXT NOT NULL,
    answer      TEXT NOT NULL DEFAULT 'sending',
    reason      TEXT NOT NULL DEFAULT '',
    answered    TEXT,
    bounce_uuid TEXT
);
CREATE INDEX removals_by_address ON removals (org, address);
CREATE INDEX removals_by_run ON removals (run_id);
CREATE TABLE cursors (
    org     TEXT PRIMARY KEY,
    since   TEXT NOT NULL,
    next    TEXT,
    updated TEXT NOT NULL,
    run_id  INTEGER REFERENCES runs (id)
);
PRAGMA user_version = 1;
";

#[test]
fn a_version_1_ledger_is_migrated_to_the_latest_with_its_verdicts_derived() {
    let path = scratch("v1");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let c = Connection::open(&path).unwrap();
    c.execute_batch(V1_AS_RELEASED).unwrap();
    let org = "https://acme.okta.com";
    c.execute_batch(&format!(
        "INSERT INTO runs (id, org, command, pid, started, ended, cause, exit_status, counts)
           VALUES (1, '{org}', 'bounces sync', 4242, '2026-11-17T08:00:00.000Z',
                   '2026-11-17T08:05:00.000Z', 'completed', 0, '{{\"accepted\":1}}');
         INSERT INTO events VALUES ('{org}', 'b1', 'system.email.delivery', 'bounce',
           '2026-11-17T07:59:00.000Z', '2026-11-17T08:00:10.000Z', 1, NULL, '550 5.1.1 user unknown');
         INSERT INTO event_recipients VALUES ('{org}', 'b1', 'jane@acme.example');
         INSERT INTO removals (id, org, address, run_id, command, requested, answer, answered, bounce_uuid)
           VALUES (1, '{org}', 'jane@acme.example', 1, 'bounces sync', '2026-11-17T08:00:20.000Z',
                   'accepted', '2026-11-17T08:00:21.000Z', 'b1');
         INSERT INTO events VALUES ('{org}', 'r1', 'system.email.bounce.removal', 'removal',
           '2026-11-17T08:00:30.000Z', '2026-11-17T08:01:10.000Z', 1, NULL, '');
         INSERT INTO event_recipients VALUES ('{org}', 'r1', 'jane@acme.example');
         INSERT INTO events VALUES ('{org}', 'd1', 'system.email.delivery', 'delivered',
           '2026-11-17T09:00:00.000Z', '2026-11-17T09:01:10.000Z', 1, NULL, '');
         INSERT INTO event_recipients VALUES ('{org}', 'd1', 'jane@acme.example');
         INSERT INTO cursors VALUES ('{org}', '2026-11-16T08:00:00.000Z', '/api/v1/logs?after=abc',
           '2026-11-17T09:01:10.000Z', 1);"
    ))
    .unwrap();
    drop(c);

    let mut l = Ledger::open(&path).unwrap();
    let (version, app): (i64, i32) = l
        .conn
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), \
                    (SELECT application_id FROM pragma_application_id)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_ne!(app, 0);
    // What version 1 held is all there, and its removal got the verdict its events make.
    assert_eq!(
        l.cursor(&acme()).unwrap().unwrap().next.as_deref(),
        Some("/api/v1/logs?after=abc")
    );
    assert_eq!(
        verdicts(&l),
        vec![("jane@acme.example".into(), Some(Verdict::Delivered))]
    );
    assert!(pending(&l, t(0)).is_empty());
    // And it is written at the latest version like any other.
    let lock = l.lock_org(&acme(), "bounces sync").unwrap();
    let run = l.begin_run(&lock, "bounces sync", t(0)).unwrap();
    assert!(run.0 > 1);
    l.take_page(
        &acme(),
        run,
        &[bounce("b2", "jane@acme.example", t(0))],
        Some("/x"),
        t(1),
    )
    .unwrap();
    assert_eq!(pending(&l, t(2)), vec!["jane@acme.example"]);
    // Opened again: already at the latest, nothing runs twice.
    drop((l, lock));
    let l = Ledger::open(&path).unwrap();
    assert_eq!(verdicts(&l).len(), 1);
}

#[test]
fn history_tells_per_removal_and_per_address() {
    let (mut l, _lock, run) = setup("history");
    let a = "jane@acme.example";
    l.take_page(
        &acme(),
        run,
        &[
            bounce("b1", a, t(0)),
            event("s", EventKind::Soft, &["soft@acme.example"], t(1)),
        ],
        Some("/0"),
        t(10),
    )
    .unwrap();
    clear(&mut l, run, &[(a, Some("b1"))], t(20));
    l.take_page(
        &acme(),
        run,
        &[event("d", EventKind::Delivered, &[a], t(600))],
        Some("/1"),
        t(610),
    )
    .unwrap();
    let mut q = HistoryQuery {
        org: Some(acme()),
        addresses: vec!["JANE@acme.example".into()],
        since: None,
        held_only: false,
        policy: HoldPolicy::default(),
        now: t(700),
    };
    let rows = l.removal_history(&q).unwrap();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r.address.as_str(), r.run, r.command.as_str()),
        (a, run, "bounces sync")
    );
    assert_eq!(
        (r.answer.clone(), r.answered),
        (Answer::Accepted, Some(t(21)))
    );
    assert_eq!(r.verdict, Some((Verdict::Delivered, t(600))));
    assert_eq!((r.bounces, r.held.is_none()), (1, true));
    q.addresses.clear();
    let by_address = l.address_history(&q).unwrap();
    let status: Vec<(&str, AddressStatus, u64)> = by_address
        .iter()
        .map(|h| (h.address.as_str(), h.status, h.soft))
        .collect();
    assert_eq!(
        status,
        vec![
            (a, AddressStatus::Cleared, 0),
            ("soft@acme.example", AddressStatus::NoHardBounce, 1),
        ]
    );
    q.since = Some(t(650));
    assert!(l.removal_history(&q).unwrap().is_empty());
    assert!(l.address_history(&q).unwrap().is_empty());
    q.since = None;
    q.held_only = true;
    assert!(l.address_history(&q).unwrap().is_empty());
}
