//! Many orgs at once (`Fleet`): each org its own port, users, limits, token and identity, none touching
//! another; consecutive ports when asked; the okta.yaml that names them.

mod http;

use std::time::Duration;

use http::{get, remove};
use okta_org_simulator::{Fleet, MailFlow, SimConfig, fleet_users};

fn people() -> Vec<String> {
    (0..12)
        .map(|i| format!("user{i:02}@acme.example"))
        .collect()
}

/// Org `k` of 3 with `limit` requests a window on the bounce endpoint.
fn org(k: usize, limit: u32) -> SimConfig {
    let mut c = SimConfig::demo_org(format!("t0ken-{k}"), fleet_users(&people(), k));
    c.rate_limit = limit;
    c.mail = Some(MailFlow::every(Duration::from_secs(3600)));
    c.in_fleet(k)
}

fn configs() -> Vec<SimConfig> {
    vec![org(1, 3), org(2, 2), org(3, 1)]
}

#[tokio::test]
async fn the_orgs_of_a_fleet_are_independent() {
    let fleet = Fleet::start(configs(), None).await.unwrap();
    let orgs = fleet.orgs();
    assert_eq!(orgs.len(), 3);
    let names: Vec<&str> = orgs.iter().map(|o| o.profile.as_str()).collect();
    assert_eq!(names, ["org1", "org2", "org3"]);
    let mut ports: Vec<u16> = fleet.addrs().iter().map(|a| a.port()).collect();
    ports.dedup();
    assert_eq!(ports.len(), 3);

    // Each its own token and identity.
    for (i, o) in orgs.iter().enumerate() {
        assert_eq!(o.token, format!("t0ken-{}", i + 1));
        let other = &orgs[(i + 1) % 3].token;
        assert_eq!(get(o.sim.addr(), "/api/v1/org", other).await.status, 401);
        let me = get(o.sim.addr(), "/api/v1/org", &o.token).await;
        assert_eq!(me.status, 200);
        let expected = if i == 0 {
            "acme".to_string()
        } else {
            format!("acme{}", i + 1)
        };
        assert_eq!(me.json()["subdomain"], expected.as_str());
    }
    let seeds: Vec<u64> = orgs
        .iter()
        .map(|o| o.sim.config().mail.as_ref().unwrap().seed)
        .collect();
    assert_eq!(seeds, [1, 2, 3], "mail seeded apart");

    // Their own users: user02 is not in org2 (every third dropped) but is in org1 and org3.
    let user02 = "user02@acme.example";
    for (i, not_a_user) in [(0, false), (1, true), (2, false)] {
        let o = &orgs[i];
        let a = remove(o.sim.addr(), &o.token, &[user02]).await;
        assert_eq!(a.status, 200);
        let rejected = a.json()["errors"].as_array().unwrap().len() == 1;
        assert_eq!(rejected, not_a_user, "org{}", i + 1);
    }

    // Their own limits: org3 (1 a window) is spent, org2 has one left, org1 two; each throttled alone.
    let user00 = "user00@acme.example";
    let mut seen = Vec::new();
    for o in orgs {
        let mut answers = Vec::new();
        for _ in 0..3 {
            answers.push(remove(o.sim.addr(), &o.token, &[user00]).await.status);
        }
        seen.push(answers);
    }
    assert_eq!(seen, [[200, 200, 429], [200, 429, 429], [429, 429, 429]]);
    for (i, o) in orgs.iter().enumerate() {
        let record = o.sim.record();
        let expected = [3, 1, 1][i];
        assert_eq!(record.accepted.len(), expected, "org{}", i + 1);
        // org2 and org3 were asked again inside their Retry-After windows: only theirs.
        let inside = &record.violations;
        assert_eq!(inside.is_empty(), i == 0, "org{}: {inside:?}", i + 1);
    }

    // The okta.yaml names each org with its URL and token.
    let yaml = fleet.okta_yaml();
    assert!(yaml.starts_with("okta:\n  profiles:\n"));
    for o in orgs {
        let profile = format!(
            "    {}:\n      client:\n        orgUrl: \"{}\"\n        token: \"{}\"\n",
            o.profile,
            o.sim.url(),
            o.token
        );
        assert!(yaml.contains(&profile), "{yaml}");
    }
    assert!(fleet.org("org2").is_some() && fleet.org("org4").is_none());
}

#[tokio::test]
async fn a_fleet_takes_consecutive_ports_when_given_the_first() {
    // A base with three free ports (another process could take one meanwhile: try a few bases).
    let mut started = None;
    for _ in 0..5 {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        if base > 65_000 {
            continue;
        }
        if let Ok(fleet) = Fleet::start(configs(), Some(base)).await {
            started = Some((fleet, base));
            break;
        }
    }
    let (fleet, base) = started.expect("three free consecutive ports");
    let ports: Vec<u16> = fleet.addrs().iter().map(|a| a.port()).collect();
    assert_eq!(ports, [base, base + 1, base + 2]);

    // A port that is taken: the error names it.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let error = Fleet::start(vec![org(1, 1)], Some(port))
        .await
        .err()
        .expect("the port is taken");
    assert!(
        error.to_string().contains(&format!("127.0.0.1:{port}")),
        "{error}"
    );
}
