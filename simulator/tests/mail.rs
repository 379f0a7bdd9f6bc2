//! Mail that keeps flowing (`SimConfig::mail`): the events a polling cursor reads, late ones included,
//! match the ground truth the simulator keeps; the same seed gives the same mail; `remove-list` takes
//! addresses off the bounce list, repeat bouncers bounce again after each removal and the others get a
//! delivery; mail to an address on the list is dropped.

mod http;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use http::{enc, get, remove, until};
use okta_org_simulator::{MailEvent, MailFlow, MailKind, MailMix, SimConfig, Simulator};
use serde_json::Value;

const TOKEN: &str = "t0ken";
const DELIVERY: &str = "system.email.delivery";
const REMOVAL: &str = "system.email.bounce.removal";

fn users(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i:02}@acme.example")).collect()
}

/// An org of `users` with mail every 20 ms, shaped by `f`.
async fn flowing(users: Vec<String>, f: impl FnOnce(&mut MailFlow)) -> Simulator {
    let mut c = SimConfig::new(TOKEN);
    c.users = users;
    c.logs_rate_limit = 100_000;
    c.removal_delay = Duration::from_millis(30);
    let mut flow = MailFlow::every(Duration::from_millis(20));
    f(&mut flow);
    c.mail = Some(flow);
    Simulator::start(c, 0).await.unwrap()
}

fn only(kind: MailKind) -> MailMix {
    let mut m = MailMix {
        hard: 0,
        soft_bounce: 0,
        deferred: 0,
        dropped: 0,
        delivered: 0,
    };
    match kind {
        MailKind::HardBounce => m.hard = 1,
        MailKind::SoftBounce => m.soft_bounce = 1,
        MailKind::Deferred => m.deferred = 1,
        MailKind::Dropped => m.dropped = 1,
        MailKind::Delivered => m.delivered = 1,
    }
    m
}

/// Whether every drawn email of a flow of `n` is stored.
fn all_stored(sim: &Simulator, n: usize) -> bool {
    let t = sim.mail();
    t.pending_late == 0 && t.events().len() >= n
}

fn published(e: &Value) -> SystemTime {
    humantime::parse_rfc3339(e["published"].as_str().unwrap()).unwrap()
}

fn debug<'a>(e: &'a Value, key: &str) -> Option<&'a str> {
    e["debugContext"]["debugData"][key].as_str()
}

#[tokio::test]
async fn a_polling_cursor_reads_every_email_of_the_flow_late_ones_too() {
    let sim = flowing(users(10), |f| {
        f.per_tick = 3;
        f.late_percent = 30;
        f.late_by = Duration::from_millis(150);
        f.max_events = Some(60);
        f.seed = 7;
    })
    .await;
    let since = humantime::format_rfc3339_millis(SystemTime::now() - Duration::from_secs(60));
    let mut next = format!(
        "/api/v1/logs?since={}&filter={}&limit=7",
        enc(&since.to_string()),
        enc(&format!("eventType eq \"{DELIVERY}\""))
    );
    // Follow the next links as a sync does, until the flow is over and a page comes back empty.
    let mut read: Vec<Value> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let over = all_stored(&sim, 60);
        let page = get(sim.addr(), &next, TOKEN).await;
        let items = page.items();
        next = page
            .link("next")
            .expect("every polling page has a next link");
        if items.is_empty() && over {
            break;
        }
        read.extend(items);
        assert!(std::time::Instant::now() < deadline, "the flow never ended");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }

    let truth = sim.mail();
    let events: Vec<&MailEvent> = truth.events();
    assert_eq!(events.len(), 60);
    assert_eq!(read.len(), 60, "each email read once");
    let by_uuid: HashMap<&str, &Value> = read
        .iter()
        .map(|e| (e["uuid"].as_str().unwrap(), e))
        .collect();
    let truth_uuids: HashSet<&str> = events.iter().map(|e| e.uuid.as_str()).collect();
    assert_eq!(by_uuid.keys().copied().collect::<HashSet<_>>(), truth_uuids);

    // Late ones were stored well after their published time, and the cursor met some of them behind
    // emails published later.
    let late: Vec<&&MailEvent> = events.iter().filter(|e| e.late).collect();
    assert!(late.len() >= 5, "{}", late.len());
    assert!(late.iter().all(|e| e.stored_ms - e.published_ms >= 140));
    let overtaken = read
        .iter()
        .enumerate()
        .filter(|(i, e)| read[..*i].iter().any(|b| published(b) > published(e)))
        .count();
    assert!(overtaken >= 1, "no late email came behind a later one");

    // Each email says what it was.
    let mut kinds = HashSet::new();
    for t in &events {
        kinds.insert(t.kind);
        let e = by_uuid[t.uuid.as_str()];
        assert!(e.to_string().contains(&t.address), "{e}");
        let (result, reason) = (&e["outcome"]["result"], &e["outcome"]["reason"]);
        let smtp = debug(e, "smtpResponse").unwrap_or("");
        let bounced_address = debug(e, "reason") == Some("Bounced Address");
        match t.kind {
            MailKind::HardBounce => {
                assert_eq!(result, "FAILURE");
                assert_eq!(reason, "Email delivery FAILURE: Bounce");
                assert!(bounced_address || smtp.starts_with('5'), "{e}");
                assert!(!smtp.starts_with('4'), "{e}");
            }
            MailKind::SoftBounce => {
                assert_eq!(result, "FAILURE");
                assert_eq!(reason, "Email delivery FAILURE: Bounce");
                assert!(smtp.starts_with('4') && !bounced_address, "{e}");
            }
            MailKind::Deferred => assert_eq!(result, "DEFERRED"),
            MailKind::Dropped => assert_eq!(reason, "Email delivery FAILURE: dropped"),
            MailKind::Delivered => assert_eq!(result, "SUCCESS"),
        }
        assert_eq!(e["published"], crate_time(t.published_ms));
    }
    assert_eq!(kinds.len(), 5, "every kind of the default mix: {kinds:?}");

    // Nobody was cleared: the bounce list is everyone who hard-bounced, and mail to them since was
    // dropped as a bounced address.
    let mut hard: Vec<String> = truth
        .hard_bounces
        .iter()
        .map(|e| e.address.to_lowercase())
        .collect();
    hard.sort();
    hard.dedup();
    assert_eq!(truth.bounce_list, hard);
    assert_eq!(
        truth.hard_bounces.len(),
        hard.len(),
        "a listed address never bounces again"
    );
    for d in truth.soft.iter().filter(|e| e.reply == "Bounced Address") {
        let first = truth
            .hard_bounces
            .iter()
            .find(|h| h.address == d.address)
            .expect("dropped as bounced only after a hard bounce");
        assert!(first.published_ms <= d.published_ms);
    }
}

/// `published` as the log writes it.
fn crate_time(ms: i64) -> String {
    humantime::format_rfc3339_millis(SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64))
        .to_string()
}

#[tokio::test]
async fn the_same_seed_gives_the_same_mail() {
    let run = |seed: u64| async move {
        let sim = flowing(users(8), |f| {
            f.every = Duration::from_millis(5);
            f.per_tick = 4;
            f.late_percent = 20;
            f.late_by = Duration::from_millis(30);
            f.max_events = Some(40);
            f.seed = seed;
        })
        .await;
        assert!(until(|| all_stored(&sim, 40)).await);
        let mut drawn: Vec<(String, MailKind, String, bool)> = sim
            .mail()
            .events()
            .into_iter()
            .map(|e| (e.uuid.clone(), e.kind, e.address.clone(), e.late))
            .collect();
        drawn.sort();
        drawn
    };
    let first = run(3).await;
    assert_eq!(first.len(), 40);
    assert_eq!(first, run(3).await);
    assert_ne!(first, run(4).await);
}

#[tokio::test]
async fn removals_clear_the_list_repeat_bouncers_bounce_again_and_the_others_get_mail() {
    let people = users(3);
    let (a, b) = (people[0].clone(), people[1].clone());
    let sim = flowing(people.clone(), |f| {
        f.repeat_bouncers = vec![a.clone()];
        f.mix = only(MailKind::Delivered);
        f.max_events = Some(1);
    })
    .await;
    assert!(until(|| sim.mail().hard_bounces.len() == 1).await);
    assert_eq!(sim.mail().bounce_list, vec![a.clone()]);

    for round in 1..=3 {
        let answer = remove(sim.addr(), TOKEN, &[&a, &b]).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let truth = sim.mail();
        assert!(truth.bounce_list.is_empty(), "cleared at once");
        let request = truth.removal_requests.last().unwrap();
        assert_eq!(request.held, vec![a.clone(), b.clone()]);
        assert_eq!(request.delisted, vec![a.clone()], "b was never on the list");
        let arrived = request.arrived_ms;

        assert!(
            until(|| {
                let t = sim.mail();
                t.hard_bounces.len() == round + 1 && t.deliveries.len() == round
            })
            .await,
            "round {round}: {:?}",
            sim.mail()
        );
        let truth = sim.mail();
        let again = truth.hard_bounces.last().unwrap();
        assert_eq!(again.address, a);
        assert!(again.after_removal && again.stored_ms >= arrived);
        let delivered = truth.deliveries.last().unwrap();
        assert_eq!(delivered.address, b);
        assert!(delivered.after_removal);
        assert_eq!(truth.bounce_list, vec![a.clone()], "back on the list");
    }

    let truth = sim.mail();
    assert_eq!(truth.removal_requests.len(), 3);
    assert!(truth.soft.is_empty());
    // The log says the same: three removals of both, four bounces of a, three deliveries to b.
    let since = humantime::format_rfc3339_millis(SystemTime::now() - Duration::from_secs(60));
    let log = get(
        sim.addr(),
        &format!("/api/v1/logs?since={}&limit=1000", enc(&since.to_string())),
        TOKEN,
    )
    .await
    .items();
    let removals: Vec<&Value> = log.iter().filter(|e| e["eventType"] == REMOVAL).collect();
    assert_eq!(removals.len(), 3);
    assert!(
        removals
            .iter()
            .all(|e| e.to_string().contains(&a) && e.to_string().contains(&b))
    );
    let about = |who: &str, result: &str| {
        log.iter()
            .filter(|e| e["eventType"] == DELIVERY && e["outcome"]["result"] == result)
            .filter(|e| e.to_string().contains(who))
            .count()
    };
    assert_eq!(about(&a, "FAILURE"), 4);
    assert_eq!(about(&b, "SUCCESS"), 3);
    assert_eq!(about(&people[2], "SUCCESS"), 0);
}

#[tokio::test]
async fn mail_to_an_address_on_the_bounce_list_is_dropped() {
    let people = users(2);
    let sim = flowing(people.clone(), |f| {
        f.repeat_bouncers = vec![people[0].clone()];
        f.mix = only(MailKind::Delivered);
        f.every = Duration::from_millis(5);
        f.late_percent = 0;
        f.max_events = Some(16);
        f.seed = 5;
    })
    .await;
    assert!(until(|| all_stored(&sim, 16)).await);
    let truth = sim.mail();
    assert_eq!(truth.hard_bounces.len(), 1);
    assert!(!truth.soft.is_empty() && !truth.deliveries.is_empty());
    for e in &truth.soft {
        assert_eq!(
            (e.kind, e.address.as_str()),
            (MailKind::Dropped, people[0].as_str())
        );
        assert_eq!(e.reply, "Bounced Address");
    }
    assert!(truth.deliveries.iter().all(|e| e.address == people[1]));
}

#[tokio::test]
async fn the_demo_org_starts_with_the_hard_bounces_of_its_log_on_the_list() {
    let sim = Simulator::start(SimConfig::demo(TOKEN), 0).await.unwrap();
    let listed: Vec<String> = [
        "ben.baker",
        "chloe.chen",
        "daniel.diaz",
        "jonas.jones",
        "liam.lopez",
        "tara.tanaka",
        "umar.ueda",
    ]
    .iter()
    .map(|l| format!("{l}@acme.example"))
    .collect();
    assert_eq!(sim.mail().bounce_list, listed, "elena.evans was removed");
    let answer = remove(
        sim.addr(),
        TOKEN,
        &["Ben.Baker@acme.example", "elena.evans@acme.example"],
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let truth = sim.mail();
    assert_eq!(
        truth.removal_requests[0].delisted,
        ["ben.baker@acme.example"]
    );
    assert_eq!(truth.bounce_list.len(), listed.len() - 1);
}
