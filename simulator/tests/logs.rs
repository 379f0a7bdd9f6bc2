//! The System Log (`GET /api/v1/logs`) on its own: bounded and polling paging, filters, the documented
//! 400s, the scope, its rate-limit bucket, the demo org's events, and the removal events an accepted
//! `remove-list` call leaves behind. Spoken to in plain HTTP/1.1, like tests/server.rs, so no client of
//! okta-org's (nor any HTTP client crate) stands between the test and the server.

use std::time::{Duration, SystemTime};

use okta_org_simulator::{SimConfig, Simulator, user_id};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "t0ken";
const DELIVERY: &str = "system.email.delivery";
const REMOVAL: &str = "system.email.bounce.removal";

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    fn events(&self) -> Vec<Value> {
        assert_eq!(self.status, 200, "{}", self.body);
        self.json().as_array().expect("an array").clone()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path and query of the `Link` with this `rel`.
    fn link(&self, rel: &str) -> Option<String> {
        let links: Vec<&str> = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("link"))
            .flat_map(|(_, v)| v.split(", <"))
            .collect();
        let found = links
            .iter()
            .find(|l| l.ends_with(&format!("rel=\"{rel}\"")))?;
        let url = found.trim_start_matches('<').split('>').next()?;
        let path = url.find("/api/").map(|i| &url[i..])?;
        Some(path.to_string())
    }

    fn cause(&self) -> String {
        self.json()["errorCauses"][0]["errorSummary"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

async fn request(sim: &Simulator, method: &str, target: &str, auth: &str, body: &str) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\nUser-Agent: logs-test\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        sim.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        unchunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

async fn get(sim: &Simulator, target: &str) -> Answer {
    request(sim, "GET", target, &format!("SSWS {TOKEN}"), "").await
}

fn iso(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

fn ago(d: Duration) -> SystemTime {
    SystemTime::now() - d
}

fn enc(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_string()
}

/// An event of this type, published `minutes` ago, with a `User` target.
fn event(n: usize, event_type: &str, minutes: u64) -> Value {
    json!({
        "uuid": format!("ev-{n}"),
        "published": iso(ago(Duration::from_secs(60 * minutes))),
        "eventType": event_type,
        "outcome": {"result": "SUCCESS", "reason": null},
        "actor": {"id": "sys", "type": "SystemPrincipal", "alternateId": "system@okta.com"},
        "target": [{"id": format!("00u{n}"), "type": "User", "alternateId": format!("u{n}@acme.example")}],
    })
}

fn uuids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["uuid"].as_str().unwrap().to_string())
        .collect()
}

async fn sim_with(f: impl FnOnce(&mut SimConfig)) -> Simulator {
    let mut config = SimConfig::new(TOKEN);
    f(&mut config);
    Simulator::start(config, 0).await.unwrap()
}

/// Every page of a bounded query, following `next` until there is none.
async fn all_pages(sim: &Simulator, first: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut target = Some(first.to_string());
    while let Some(t) = target {
        let a = get(sim, &t).await;
        pages.push(a.events());
        assert!(a.link("self").is_some());
        target = a.link("next");
        assert!(pages.len() < 100, "no end");
    }
    pages
}

#[tokio::test]
async fn a_bounded_query_pages_in_published_order_and_ends() {
    // 25 events inside the window, given in no order, and two outside it.
    let sim = sim_with(|c| {
        c.log_events = (0..25)
            .map(|n| event(n, DELIVERY, 10 + (n as u64 * 7) % 25))
            .collect();
        c.log_events.push(event(90, DELIVERY, 200));
        c.log_events.push(event(91, DELIVERY, 1));
    })
    .await;
    let since = iso(ago(Duration::from_secs(60 * 60)));
    let until = iso(ago(Duration::from_secs(5 * 60)));
    let first = format!(
        "/api/v1/logs?since={}&until={}&limit=10",
        enc(&since),
        enc(&until)
    );
    let pages = all_pages(&sim, &first).await;
    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, vec![10, 10, 5]);
    let all: Vec<Value> = pages.concat();
    let published: Vec<&str> = all
        .iter()
        .map(|e| e["published"].as_str().unwrap())
        .collect();
    let mut sorted = published.clone();
    sorted.sort();
    assert_eq!(published, sorted, "ascending by published");
    let mut ids = uuids(&all);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 25);
    assert!(!ids.contains(&"ev-90".to_string()) && !ids.contains(&"ev-91".to_string()));

    // The next link carries the query but not since (since and after are mutually exclusive).
    let next = get(&sim, &first).await.link("next").unwrap();
    assert!(
        next.contains("after=") && next.contains("limit=10") && !next.contains("since="),
        "{next}"
    );

    // DESCENDING: the same events the other way round.
    let desc = all_pages(&sim, &format!("{first}&sortOrder=DESCENDING"))
        .await
        .concat();
    let mut reversed = uuids(&all);
    reversed.reverse();
    assert_eq!(uuids(&desc), reversed);

    // A page that holds everything has no next link.
    let one = get(&sim, &first.replace("limit=10", "limit=25")).await;
    assert_eq!(one.events().len(), 25);
    assert_eq!(one.link("next"), None);

    let pages_seen = sim
        .record()
        .requests
        .iter()
        .filter(|r| r.path == "/api/v1/logs" && r.status == 200)
        .count();
    assert_eq!(pages_seen, 3 + 1 + 3 + 1);
    assert!(
        sim.record().requests[1]
            .query
            .as_deref()
            .unwrap()
            .starts_with("after=")
    );
}

#[tokio::test]
async fn a_polling_query_always_has_a_next_link_and_sees_later_events_through_it() {
    let sim = sim_with(|c| {
        c.log_events = (0..3).map(|n| event(n, DELIVERY, 30 - n as u64)).collect();
        c.log_events.push(event(50, "user.session.start", 20));
    })
    .await;
    let since = iso(ago(Duration::from_secs(3600)));
    let filter = enc(&format!("eventType eq \"{DELIVERY}\""));
    let first = get(
        &sim,
        &format!("/api/v1/logs?since={}&filter={filter}&limit=2", enc(&since)),
    )
    .await;
    assert_eq!(uuids(&first.events()), ["ev-0", "ev-1"]);
    let next = first.link("next").expect("a next link");
    assert!(
        next.contains("filter=") && !next.contains("until="),
        "{next}"
    );
    let second = get(&sim, &next).await;
    assert_eq!(uuids(&second.events()), ["ev-2"]);
    let cursor = second.link("next").expect("a next link after a short page");
    let empty = get(&sim, &cursor).await;
    assert!(empty.events().is_empty());
    assert_eq!(
        empty.link("next").as_deref(),
        Some(cursor.as_str()),
        "an empty page keeps its place"
    );

    // Stored later, published earlier (a late event), and one the filter leaves out.
    let mut late = event(7, DELIVERY, 120);
    late["published"] = json!(iso(ago(Duration::from_secs(7200))));
    sim.add_log_events(vec![
        event(5, DELIVERY, 0),
        event(6, "user.session.start", 0),
        late,
    ]);
    let more = get(&sim, &cursor).await;
    assert_eq!(
        uuids(&more.events()),
        ["ev-5", "ev-7"],
        "in persistence order"
    );
    let after = get(&sim, &more.link("next").unwrap()).await;
    assert!(after.events().is_empty());
    assert!(after.link("next").is_some());
}

#[tokio::test]
async fn filters_follow_scim_precedence_and_match_any_target() {
    let sim = Simulator::start(SimConfig::demo(TOKEN), 0).await.unwrap();
    let users = okta_org_simulator::parse_users(okta_org_simulator::DEMO_USERS);
    let jonas = user_id(
        users
            .iter()
            .position(|u| u.starts_with("jonas.jones"))
            .unwrap(),
    );
    let q = |filter: &str| {
        format!(
            "/api/v1/logs?since={}&until={}&limit=1000&filter={}",
            enc(&iso(ago(Duration::from_secs(7 * 86400)))),
            enc(&iso(SystemTime::now())),
            enc(filter)
        )
    };

    let failures = get(
        &sim,
        &q(&format!(
            "eventType eq \"{DELIVERY}\" and outcome.result eq \"FAILURE\""
        )),
    )
    .await
    .events();
    let removals = get(&sim, &q(&format!("eventType eq \"{REMOVAL}\"")))
        .await
        .events();
    assert!(failures.len() >= 10, "{}", failures.len());
    assert_eq!(removals.len(), 1);
    // `a and b or c` is `(a and b) or c`; `c or a and b` the same.
    let either = get(&sim, &q(&format!(
        "eventType eq \"{DELIVERY}\" and outcome.result eq \"FAILURE\" or eventType eq \"{REMOVAL}\""
    ))).await.events();
    assert_eq!(either.len(), failures.len() + 1);
    let other_way = get(&sim, &q(&format!(
        "eventType eq \"{REMOVAL}\" or eventType eq \"{DELIVERY}\" and outcome.result eq \"FAILURE\""
    ))).await.events();
    assert_eq!(other_way.len(), either.len());
    let grouped = get(&sim, &q(&format!(
        "(eventType eq \"{REMOVAL}\" or eventType eq \"{DELIVERY}\") and outcome.result eq \"FAILURE\""
    ))).await.events();
    assert_eq!(grouped.len(), failures.len());
    assert!(
        grouped
            .iter()
            .all(|e| e["eventType"] == DELIVERY && e["outcome"]["result"] == "FAILURE")
    );

    let his = get(&sim, &q(&format!("target.id eq \"{jonas}\"")))
        .await
        .events();
    assert_eq!(his.len(), 1);
    assert_eq!(
        his[0]["target"][0]["alternateId"],
        "jonas.jones@acme.example"
    );
    let by_actor = get(&sim, &q("actor.id eq \"00u1sim4dm1n0000g7\""))
        .await
        .events();
    assert_eq!(by_actor.len(), 1);
    assert_eq!(by_actor[0]["eventType"], REMOVAL);

    // q: keywords anywhere in the event, case-insensitive, all of them.
    let q_kw = |kw: &str| {
        format!(
            "/api/v1/logs?since={}&q={}",
            enc(&iso(ago(Duration::from_secs(7 * 86400)))),
            enc(kw)
        )
    };
    let daniel = get(&sim, &q_kw("DANIEL.DIAZ@acme.example")).await.events();
    assert_eq!(daniel.len(), 2);
    assert_eq!(get(&sim, &q_kw("daniel.diaz 550")).await.events().len(), 2);
    assert_eq!(
        get(&sim, &q_kw("daniel.diaz nosuchword"))
            .await
            .events()
            .len(),
        0
    );
}

#[tokio::test]
async fn the_documented_400s() {
    let sim = sim_with(|_| {}).await;
    let now = SystemTime::now();
    let old = get(
        &sim,
        &format!(
            "/api/v1/logs?since={}",
            enc(&iso(ago(Duration::from_secs(181 * 86400))))
        ),
    )
    .await;
    assert_eq!(old.status, 400);
    assert_eq!(old.json()["errorCode"], "E0000001");
    assert_eq!(old.json()["errorSummary"], "Api validation failed: since");
    assert_eq!(
        old.cause(),
        "Invalid parameter: The since parameter is over 180 days prior to the current day."
    );
    let fine = get(
        &sim,
        &format!(
            "/api/v1/logs?since={}",
            enc(&iso(ago(Duration::from_secs(179 * 86400))))
        ),
    )
    .await;
    assert_eq!(fine.status, 200);

    for (target, field) in [
        ("/api/v1/logs?since=yesterday".to_string(), "since"),
        ("/api/v1/logs?until=2026-11-21".to_string(), "until"),
        (
            "/api/v1/logs?since=2026-13-01T00:00:00Z".to_string(),
            "since",
        ),
        (
            format!(
                "/api/v1/logs?since={}&until={}",
                enc(&iso(now)),
                enc(&iso(ago(Duration::from_secs(60))))
            ),
            "since",
        ),
        ("/api/v1/logs?filter=eventType%20eq".to_string(), "filter"),
        (
            format!("/api/v1/logs?filter={}", enc("eventType eq \"x\" and")),
            "filter",
        ),
        (
            format!("/api/v1/logs?filter={}", enc("nosuch eq \"x\"")),
            "filter",
        ),
        (
            format!(
                "/api/v1/logs?filter={}",
                enc("target[type eq \"User\"].id eq \"x\"")
            ),
            "filter",
        ),
        ("/api/v1/logs?limit=1001".to_string(), "limit"),
        ("/api/v1/logs?limit=-1".to_string(), "limit"),
        ("/api/v1/logs?limit=ten".to_string(), "limit"),
        ("/api/v1/logs?sortOrder=UP".to_string(), "sortOrder"),
        ("/api/v1/logs?after=garbage".to_string(), "after"),
        (
            format!("/api/v1/logs?since={}&after=p0", enc(&iso(now))),
            "after",
        ),
    ] {
        let a = get(&sim, &target).await;
        assert_eq!(a.status, 400, "{target}: {}", a.body);
        assert_eq!(a.json()["errorCode"], "E0000001", "{target}");
        assert_eq!(
            a.json()["errorSummary"],
            format!("Api validation failed: {field}"),
            "{target}"
        );
        assert!(!a.cause().is_empty(), "{target}");
    }
    assert!(
        get(&sim, "/api/v1/logs?filter=eventType%20eq")
            .await
            .cause()
            .starts_with("Invalid filter")
    );
    for fine in [
        "2026-11-21T06:00:00Z",
        "2026-11-21T06:00:00.000+01:00",
        "2026-11-21T06:00:00",
    ] {
        let a = get(&sim, &format!("/api/v1/logs?until={}", enc(fine))).await;
        assert_eq!(a.status, 200, "{fine}: {}", a.body);
    }
    assert_eq!(get(&sim, "/api/v1/logs?limit=0").await.status, 200);
    assert_eq!(get(&sim, "/api/v1/logs?limit=1000").await.status, 200);
}

#[tokio::test]
async fn events_older_than_90_days_are_never_returned() {
    let sim = Simulator::start(SimConfig::demo(TOKEN), 0).await.unwrap();
    let target = format!(
        "/api/v1/logs?since={}&until={}&limit=1000&filter={}",
        enc(&iso(ago(Duration::from_secs(150 * 86400)))),
        enc(&iso(SystemTime::now())),
        enc(&format!("eventType eq \"{DELIVERY}\""))
    );
    let text = get(&sim, &target).await.body;
    assert!(text.contains("tara.tanaka@acme.example"), "10 days ago");
    assert!(!text.contains("umar.ueda@acme.example"), "100 days ago");
    assert!(
        sim.log_events()
            .iter()
            .any(|e| e.to_string().contains("umar.ueda"))
    );
}

#[tokio::test]
async fn the_scope_is_okta_logs_read() {
    let sim = sim_with(|c| {
        c.scoped_tokens = vec![
            ("orgs-only".into(), vec!["okta.orgs.manage".into()]),
            ("logs".into(), vec!["okta.logs.read".into()]),
        ];
    })
    .await;
    let refused = request(&sim, "GET", "/api/v1/logs", "SSWS orgs-only", "").await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.json()["errorCode"], "E0000006");
    let challenge = refused.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("scope=\"okta.logs.read\""),
        "{challenge}"
    );
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert_eq!(
        request(&sim, "GET", "/api/v1/logs", "SSWS logs", "")
            .await
            .status,
        200
    );
    assert_eq!(
        request(&sim, "GET", "/api/v1/logs", "SSWS wrong", "")
            .await
            .status,
        401
    );
    assert_eq!(get(&sim, "/api/v1/logs").await.status, 200);
}

#[tokio::test]
async fn the_log_has_a_rate_limit_bucket_of_its_own() {
    let sim = sim_with(|c| {
        c.logs_rate_limit = 2;
        c.rate_limit = 1;
        c.users = vec!["ava@acme.example".into()];
    })
    .await;
    for remaining in ["1", "0"] {
        let a = get(&sim, "/api/v1/logs").await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("x-rate-limit-limit"), Some("2"));
        assert_eq!(a.header("x-rate-limit-remaining"), Some(remaining));
    }
    let throttled = get(&sim, "/api/v1/logs").await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.json()["errorCode"], "E0000047");
    let wait: u64 = throttled.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert!(sim.record().violations.is_empty());

    // The bounce bucket is untouched, and its own limit does not touch the log's.
    let body = r#"{"emailAddresses":["ava@acme.example"]}"#;
    let auth = format!("SSWS {TOKEN}");
    let path = "/api/v1/org/email/bounces/remove-list";
    assert_eq!(request(&sim, "POST", path, &auth, body).await.status, 200);
    assert_eq!(request(&sim, "POST", path, &auth, body).await.status, 429);

    // Asking again inside the Retry-After window is a violation, named by bucket.
    assert_eq!(get(&sim, "/api/v1/logs").await.status, 429);
    let violations = sim.record().violations;
    assert!(
        violations.iter().any(|v| v.contains("on logs")),
        "{violations:?}"
    );
}

fn org(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("user{i:04}@acme.example")).collect()
}

async fn remove(sim: &Simulator, addresses: &[String]) -> Answer {
    let body = json!({ "emailAddresses": addresses }).to_string();
    request(
        sim,
        "POST",
        "/api/v1/org/email/bounces/remove-list",
        &format!("SSWS {TOKEN}"),
        &body,
    )
    .await
}

/// The addresses a removal event lists, wherever its `EmailList` target holds them.
fn listed(e: &Value) -> Vec<String> {
    let t = &e["target"][0];
    assert_eq!(t["type"], "EmailList");
    t["displayName"]
        .as_str()
        .unwrap()
        .split(',')
        .map(|a| a.trim().to_string())
        .collect()
}

/// Asks `target` until it returns at least `n` events (at most 10 s: a loaded machine is slow).
async fn at_least(sim: &Simulator, target: &str, n: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let events = get(sim, target).await.events();
        if events.len() >= n || std::time::Instant::now() > deadline {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn polling(filter: &str) -> String {
    format!(
        "/api/v1/logs?since={}&limit=1000&filter={}",
        enc(&iso(ago(Duration::from_secs(600)))),
        enc(filter)
    )
}

#[tokio::test]
async fn an_accepted_call_leaves_removal_events_of_at_most_50_addresses_a_moment_later() {
    let sim = sim_with(|c| {
        c.users = org(1000);
        c.removal_delay = Duration::from_millis(1500);
    })
    .await;
    let called = SystemTime::now();
    let mut sent = org(1000)[..120].to_vec();
    sent.push("not-a-user@acme.example".into());
    sent.push("broken@@acme.example".into());
    assert_eq!(remove(&sim, &sent).await.status, 200);

    let removals = format!("eventType eq \"{REMOVAL}\"");
    let first = get(&sim, &polling(&removals)).await;
    assert!(first.events().is_empty(), "not before the delay");
    let cursor = first.link("next").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bounded = format!(
        "/api/v1/logs?since={}&until={}&filter={}",
        enc(&iso(ago(Duration::from_secs(600)))),
        enc(&iso(SystemTime::now())),
        enc(&removals)
    );
    assert!(get(&sim, &bounded).await.events().is_empty());
    assert!(get(&sim, &cursor).await.events().is_empty());

    let events = at_least(&sim, &cursor, 3).await;
    assert_eq!(events.len(), 3, "ceil(120 / 50)");
    let mut all: Vec<String> = events.iter().flat_map(listed).collect();
    assert!(events.iter().all(|e| listed(e).len() <= 50));
    all.sort();
    assert_eq!(
        all,
        org(1000)[..120].to_vec(),
        "exactly the accepted addresses"
    );
    for e in &events {
        assert_eq!(e["outcome"]["result"], "SUCCESS");
        assert_eq!(e["debugContext"]["debugData"]["provider"], "SendGrid");
        let actor = e["actor"]["alternateId"].as_str().unwrap();
        assert!(!all.iter().any(|a| a == actor));
        let published = humantime::parse_rfc3339(e["published"].as_str().unwrap()).unwrap();
        assert!(
            published >= called + Duration::from_millis(1450),
            "the delay is honoured"
        );
    }
    // The same cursor asked again gives the same events; a bounded query up to now sees them too.
    assert_eq!(get(&sim, &cursor).await.events().len(), 3);
    let until_now = format!(
        "/api/v1/logs?since={}&until={}&filter={}",
        enc(&iso(ago(Duration::from_secs(600)))),
        enc(&iso(SystemTime::now())),
        enc(&removals)
    );
    assert_eq!(get(&sim, &until_now).await.events().len(), 3);

    // A full request of 1,000 addresses: 20 events.
    assert_eq!(remove(&sim, &org(1000)).await.status, 200);
    let events = at_least(&sim, &polling(&removals), 3 + 20).await;
    assert_eq!(events.len(), 3 + 20);
    let covered: std::collections::HashSet<String> = events[3..].iter().flat_map(listed).collect();
    assert_eq!(covered.len(), 1000);
}

#[tokio::test]
async fn deliveries_or_bounces_follow_removals_and_skipped_ones_leave_nothing() {
    let users = org(6);
    let sim = sim_with(|c| {
        c.users = users.clone();
        c.removal_delay = Duration::from_millis(100);
        c.deliver_after_removal = true;
        c.removal_skips = vec![users[4].to_uppercase()];
        c.bounce_again = vec![users[5].clone()];
    })
    .await;
    assert_eq!(remove(&sim, &users).await.status, 200);
    let either = polling(&format!(
        "eventType eq \"{REMOVAL}\" or eventType eq \"{DELIVERY}\""
    ));
    let all = at_least(&sim, &either, 1 + 5).await;
    // And nothing more comes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(get(&sim, &either).await.events().len(), 1 + 5);
    let removals: Vec<&Value> = all.iter().filter(|e| e["eventType"] == REMOVAL).collect();
    assert_eq!(removals.len(), 1);
    let mut listed_now = listed(removals[0]);
    listed_now.sort();
    let expected: Vec<String> = users
        .iter()
        .take(4)
        .chain(users.iter().skip(5))
        .cloned()
        .collect();
    assert_eq!(listed_now, expected);
    let deliveries: Vec<&Value> = all.iter().filter(|e| e["eventType"] == DELIVERY).collect();
    assert_eq!(deliveries.len(), 5);
    for (i, user) in users.iter().enumerate() {
        let about: Vec<&&Value> = deliveries
            .iter()
            .filter(|e| e.to_string().contains(user.as_str()))
            .collect();
        match i {
            4 => assert!(about.is_empty()),
            5 => {
                assert_eq!(about.len(), 1);
                assert_eq!(about[0]["outcome"]["result"], "FAILURE");
                assert_eq!(
                    about[0]["outcome"]["reason"],
                    "Email delivery FAILURE: Bounce"
                );
            }
            _ => {
                assert_eq!(about.len(), 1, "{user}");
                assert_eq!(about[0]["outcome"]["result"], "SUCCESS");
            }
        }
    }
    // After the removal, in persistence order and by published.
    let first_delivery = all.iter().position(|e| e["eventType"] == DELIVERY).unwrap();
    let removal_at = all.iter().position(|e| e["eventType"] == REMOVAL).unwrap();
    assert!(removal_at < first_delivery);
    assert!(
        removals[0]["published"].as_str().unwrap() < deliveries[0]["published"].as_str().unwrap()
    );
}

#[tokio::test]
async fn the_demo_org_names_recipients_in_every_shape() {
    let sim = Simulator::start(SimConfig::demo(TOKEN), 0).await.unwrap();
    let target = format!(
        "/api/v1/logs?since={}&until={}&limit=1000",
        enc(&iso(ago(Duration::from_secs(7 * 86400)))),
        enc(&iso(SystemTime::now()))
    );
    let events = get(&sim, &target).await.events();
    let deliveries: Vec<&Value> = events
        .iter()
        .filter(|e| e["eventType"] == DELIVERY)
        .collect();
    let in_target = deliveries
        .iter()
        .filter(|e| {
            e["target"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["type"] == "User"))
        })
        .count();
    let in_debug = deliveries
        .iter()
        .filter(|e| {
            let d = &e["debugContext"]["debugData"];
            d.get("recipient").or(d.get("emailAddress")).is_some()
        })
        .count();
    let in_message = deliveries
        .iter()
        .filter(|e| {
            e["displayMessage"]
                .as_str()
                .unwrap()
                .contains("@acme.example")
        })
        .count();
    assert!(
        in_target >= 3 && in_debug >= 3 && in_message >= 2,
        "{in_target} {in_debug} {in_message}"
    );
    assert!(
        in_target + in_debug + in_message < deliveries.len(),
        "some name no recipient"
    );
    let kinds = |reason: &str| {
        deliveries
            .iter()
            .filter(|e| e["outcome"]["reason"] == reason)
            .count()
    };
    assert!(kinds("Email delivery FAILURE: Bounce") >= 6);
    assert!(kinds("Email delivery FAILURE: dropped") >= 2);
    assert!(kinds("Email delivery DEFERRED: deferred") >= 2);
    assert!(kinds("Email delivery SUCCESS: delivered") >= 2);
    assert!(
        events
            .iter()
            .any(|e| e["eventType"] == "user.session.start")
    );
    assert_eq!(
        events.iter().filter(|e| e["eventType"] == REMOVAL).count(),
        1
    );
    assert!(
        events
            .iter()
            .all(|e| e["uuid"].is_string() && e["published"].is_string())
    );
}
