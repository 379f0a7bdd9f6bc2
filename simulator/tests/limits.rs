//! Rate limits as a client can see them: every endpoint answers the `X-Rate-Limit-*` headers of its own
//! bucket, a principal share holds each token to its part of a bucket and the headers advertise that
//! part, and `GET /api/v1/principal-rate-limits` tells the shares as the spec has it.

mod http;

use std::time::Duration;

use http::{enc, get, remove, request};
use okta_org_simulator::{ServiceApp, SimConfig, Simulator};
use serde_json::{Value, json};

const TOKEN: &str = "t0ken";
const USER: &str = "ava@acme.example";
const PRL: &str = "/api/v1/principal-rate-limits";

fn config(f: impl FnOnce(&mut SimConfig)) -> SimConfig {
    let mut c = SimConfig::new(TOKEN);
    c.users = vec![USER.into()];
    f(&mut c);
    c
}

fn filter(kind: &str) -> String {
    format!(
        "{PRL}?filter={}",
        enc(&format!("principalType eq \"{kind}\""))
    )
}

fn app(id: &str) -> ServiceApp {
    ServiceApp {
        client_id: id.into(),
        jwk: json!({"kty": "EC", "crv": "P-256", "x": "x", "y": "y"}),
        scopes: vec!["okta.orgs.manage".into()],
        dpop: false,
    }
}

#[tokio::test]
async fn every_endpoint_answers_the_headers_of_its_own_bucket() {
    let sim = Simulator::start(
        config(|c| {
            c.rate_limit = 7;
            c.logs_rate_limit = 8;
            c.org_rate_limit = 9;
            c.token_rate_limit = 11;
            c.default_rate_limit = 12;
        }),
        0,
    )
    .await
    .unwrap();
    let addr = sim.addr();
    let auth = format!("SSWS {TOKEN}");
    let answers = [
        (remove(addr, TOKEN, &[USER]).await, 7, 6),
        (get(addr, "/api/v1/logs", TOKEN).await, 8, 7),
        (get(addr, "/api/v1/org", TOKEN).await, 9, 8),
        // The settings' bucket, again.
        (
            get(addr, "/.well-known/okta-organization", TOKEN).await,
            9,
            7,
        ),
        (get(addr, &filter("SSWS_TOKEN"), TOKEN).await, 12, 11),
        // A token request the server refuses still counts, and says so.
        (
            request(
                addr,
                "POST",
                "/oauth2/v1/token",
                &auth,
                "application/x-www-form-urlencoded",
                "grant_type=client_credentials",
            )
            .await,
            11,
            10,
        ),
    ];
    for (answer, limit, remaining) in &answers {
        assert_eq!(answer.limit(), *limit, "{}", answer.body);
        let left = answer.header("x-rate-limit-remaining");
        assert_eq!(left, Some(&*remaining.to_string()));
        let reset: u64 = answer
            .header("x-rate-limit-reset")
            .unwrap()
            .parse()
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!((now..=now + 61).contains(&reset), "{reset} {now}");
    }
    assert_eq!(answers[5].0.status, 401, "{}", answers[5].0.body);
}

#[tokio::test]
async fn a_principal_share_holds_each_token_to_its_part_and_the_headers_say_so() {
    let other = "s3cond";
    let sim = Simulator::start(
        config(|c| {
            c.rate_limit = 6;
            c.principal_share = 50;
            c.scoped_tokens = vec![(other.into(), vec!["okta.orgs.manage".into()])];
        }),
        0,
    )
    .await
    .unwrap();
    for remaining in ["2", "1", "0"] {
        let a = remove(sim.addr(), TOKEN, &[USER]).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.limit(), 3, "half of 6");
        assert_eq!(a.header("x-rate-limit-remaining"), Some(remaining));
    }
    // Another token has its own half of the same bucket...
    for _ in 0..3 {
        let a = remove(sim.addr(), other, &[USER]).await;
        assert_eq!((a.status, a.limit()), (200, 3));
    }
    // ... and each is refused past its part, with the wait until the window resets.
    let refused = remove(sim.addr(), TOKEN, &[USER]).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.limit(), 3);
    assert_eq!(refused.header("x-rate-limit-remaining"), Some("0"));
    assert!(refused.header("retry-after").is_some());
    let record = sim.record();
    assert!(record.violations.is_empty(), "{:?}", record.violations);
    assert_eq!(record.accepted.len(), 6);

    // Other buckets are shared the same way; the default of 100 % leaves the whole bucket.
    assert_eq!(get(sim.addr(), "/api/v1/logs", TOKEN).await.limit(), 30);
    let whole = Simulator::start(config(|c| c.rate_limit = 6), 0)
        .await
        .unwrap();
    assert_eq!(remove(whole.addr(), TOKEN, &[USER]).await.limit(), 6);
}

#[tokio::test]
async fn a_principal_share_of_the_concurrency_limit() {
    let sim = Simulator::start(
        config(|c| {
            c.max_concurrent = Some(2);
            c.principal_concurrency_share = 50;
            c.latency = Duration::from_millis(300);
        }),
        0,
    )
    .await
    .unwrap();
    let (a, b) = tokio::join!(
        remove(sim.addr(), TOKEN, &[USER]),
        remove(sim.addr(), TOKEN, &[USER])
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [200, 429], "one of 2 in flight at once");
    let refused = if a.status == 429 { &a } else { &b };
    assert_eq!(refused.limit(), 0, "a concurrency refusal");
    assert_eq!(sim.record().concurrency_refusals, 1);
}

#[tokio::test]
async fn the_principal_rate_limits_endpoint_follows_the_spec() {
    let reader = "r3ader";
    let sim = Simulator::start(
        config(|c| {
            c.principal_share = 50;
            c.principal_concurrency_share = 75;
            c.scoped_tokens = vec![
                (reader.into(), vec!["okta.principalRateLimits.read".into()]),
                ("n0scope".into(), vec!["okta.orgs.read".into()]),
            ];
            c.service_apps = vec![app("0oaapp1"), app("0oaapp2"), app("0oaapp3")];
        }),
        0,
    )
    .await
    .unwrap();
    let addr = sim.addr();

    let tokens = get(addr, &filter("SSWS_TOKEN"), TOKEN).await.items();
    assert_eq!(tokens.len(), 3, "the main token and two scoped ones");
    for t in &tokens {
        assert_eq!(t["principalType"], "SSWS_TOKEN");
        assert_eq!(t["defaultPercentage"], 50);
        assert_eq!(t["defaultConcurrencyPercentage"], 75);
        assert_eq!(t["orgId"], "00o1sim0rg1d3m0000g7");
        for field in [
            "id",
            "principalId",
            "createdBy",
            "createdDate",
            "lastUpdate",
        ] {
            assert!(t[field].is_string(), "{field}: {t}");
        }
    }
    let ids: Vec<&str> = tokens
        .iter()
        .map(|t| t["principalId"].as_str().unwrap())
        .collect();
    assert!(ids.iter().all(|id| id.starts_with("00T") && id.len() == 20));
    assert_ne!(ids[0], ids[1]);

    // Pages of one, through the next links.
    let mut next = Some(format!("{}&limit=1", filter("OAUTH_CLIENT")));
    let mut apps: Vec<Value> = Vec::new();
    while let Some(target) = next {
        let page = get(addr, &target, reader).await;
        let items = page.items();
        assert!(items.len() <= 1);
        apps.extend(items);
        next = page.link("next");
    }
    let clients: Vec<&str> = apps
        .iter()
        .map(|a| a["principalId"].as_str().unwrap())
        .collect();
    assert_eq!(clients, ["0oaapp1", "0oaapp2", "0oaapp3"]);
    assert!(apps.iter().all(|a| a["principalType"] == "OAUTH_CLIENT"));

    // One by id; an unknown id.
    let id = apps[1]["id"].as_str().unwrap();
    let one = get(addr, &format!("{PRL}/{id}"), TOKEN).await;
    assert_eq!(one.status, 200);
    assert_eq!(one.json(), apps[1]);
    assert_eq!(
        get(addr, &format!("{PRL}/0pr_nope"), TOKEN).await.status,
        404
    );

    // The filter is required and names a principal type; limit is 1 to 50.
    for bad in [
        PRL.to_string(),
        format!("{PRL}?filter={}", enc("principalType eq \"USER\"")),
        format!("{PRL}?filter={}", enc("principalId eq \"x\"")),
        format!("{}&limit=51", filter("SSWS_TOKEN")),
        format!("{}&after=somewhere", filter("SSWS_TOKEN")),
    ] {
        let a = get(addr, &bad, TOKEN).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert_eq!(a.json()["errorCode"], "E0000001");
    }
    // The scope okta.principalRateLimits.read; a wrong token.
    let forbidden = get(addr, &filter("SSWS_TOKEN"), "n0scope").await;
    assert_eq!(forbidden.status, 403);
    assert!(
        forbidden
            .header("www-authenticate")
            .unwrap()
            .contains("okta.principalRateLimits.read")
    );
    assert_eq!(get(addr, &filter("SSWS_TOKEN"), "wrong").await.status, 401);
}
