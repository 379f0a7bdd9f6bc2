//! One command across several orgs (`--profiles`), through the binary, against simulated orgs with their
//! own limits and faults: each org's report is right, one org's failure does not stop the others, the
//! table and the exit status say what happened, Ctrl-C stops them all, the drift table, `limits`.

mod common;

use std::time::{Duration, Instant};

use common::*;
use okta_org_simulator::{SimConfig, Simulator, okta_yaml};

/// Simulated orgs named `org1`, `org2`, ... in an okta.yaml of the sandbox, with extra profiles
/// `(name, url, token)` after them (a refused token, a host that does not resolve).
async fn fleet(
    sb: &Sandbox,
    configs: Vec<SimConfig>,
    extra: &[(&str, &str, &str)],
) -> Vec<Simulator> {
    let mut sims = Vec::new();
    let mut profiles = Vec::new();
    for (i, c) in configs.into_iter().enumerate() {
        let token = c.token.clone();
        let sim = simulator(c).await;
        profiles.push((format!("org{}", i + 1), sim.url(), token));
        sims.push(sim);
    }
    for (name, url, token) in extra {
        profiles.push((name.to_string(), url.to_string(), token.to_string()));
    }
    let yaml = sb.write("okta.yaml", okta_yaml(&profiles));
    // It holds tokens: readable by its owner only, as okta-org asks.
    std::fs::set_permissions(&yaml, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    sims
}

/// When `sim` received each remove-list request, as Unix milliseconds.
fn batches(sim: &Simulator) -> Vec<f64> {
    let r = sim.record();
    r.requests
        .iter()
        .filter(|s| s.batch.is_some())
        .map(|s| r.started_epoch * 1000.0 + s.at_ms as f64)
        .collect()
}

fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The table line of `profile` on stderr, as its cells.
fn table_line(stderr: &str, profile: &str) -> Vec<String> {
    stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(profile))
        .unwrap_or_else(|| panic!("no table line for {profile}: {stderr}"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn orgs_finish_beside_a_refused_token_and_a_dead_host() {
    let sb = Sandbox::new("fleet-faults");
    let sims = fleet(
        &sb,
        vec![
            org(300, |c| c.rate_limit = 60),
            org(200, |c| {
                c.rate_limit = 30;
                c.principal_share = 50;
            }),
            org(300, |c| c.rate_limit = 10),
        ],
        &[("dead", "https://no-such-org.invalid", "t")],
    )
    .await;
    // org3's profile has a token org3 does not take (the third of the three tokens in the file).
    let yaml = std::fs::read_to_string(sb.path("okta.yaml")).unwrap();
    let third = yaml.match_indices(TOKEN).nth(2).unwrap().0;
    let yaml = format!("{}wrong{}", &yaml[..third], &yaml[third + TOKEN.len()..]);
    std::fs::write(sb.path("okta.yaml"), yaml).unwrap();
    std::fs::create_dir(sb.path("r")).unwrap();
    sb.write("in.csv", user_list(0..2500));
    let out = sb
        .run(
            &[
                "--profiles",
                "all",
                "bounces",
                "remove",
                "in.csv",
                "--report",
                "r/{profile}.csv",
                "--summary",
                "r/{profile}.json",
                "--fleet-summary",
                "fleet.json",
                "--max-retries",
                "1",
            ],
            &[],
            None,
        )
        .await;
    // The worst of the orgs: the refused token (5) beats the dead host (2) and the rejected rows (3).
    assert_eq!(out.code, 5, "{}", out.stderr);

    // org1 has every user: all accepted; org2 the first 200; every row once, in order.
    for (profile, accepted) in [("org1", 300), ("org2", 200)] {
        let rows = read_report(&sb.path(&format!("r/{profile}.csv")));
        assert_eq!(rows.len(), 2500, "{profile}");
        assert_rows_in_order_once(&rows);
        let counts = status_counts(&rows);
        assert_eq!(counts.get("accepted"), Some(&accepted), "{profile}");
        assert_eq!(
            counts.get("rejected"),
            Some(&(2500 - accepted)),
            "{profile}"
        );
        let cells = table_line(&out.stderr, profile);
        assert_eq!(
            cells[1..3],
            ["2500".to_string(), accepted.to_string()],
            "{cells:?}"
        );
        assert_eq!(cells[cells.len() - 2], "3", "{cells:?}");
    }
    for sim in &sims[..2] {
        assert!(
            sim.record().violations.is_empty(),
            "{:?}",
            sim.record().violations
        );
    }
    // org3: refused, nothing accepted, every row reported failed.
    let rows = read_report(&sb.path("r/org3.csv"));
    assert_eq!(rows.len(), 2500);
    assert!(rows.iter().all(|r| r.status == "failed"));
    assert!(sims[2].record().accepted.is_empty());
    let cells = table_line(&out.stderr, "org3");
    assert_eq!(
        cells[cells.len() - 2..],
        ["5".to_string(), "auth".to_string()]
    );
    // The host that does not resolve: its rows failed; the tool takes that as an org URL to check (2).
    let cells = table_line(&out.stderr, "dead");
    assert_eq!(
        cells[cells.len() - 2..],
        ["2".to_string(), "usage".to_string()]
    );
    assert!(
        out.stderr
            .contains("[dead] stopped: cannot resolve no-such-org.invalid"),
        "{}",
        out.stderr
    );
    let dead = read_report(&sb.path("r/dead.csv"));
    assert_eq!(dead.len(), 2500);
    assert!(dead.iter().all(|r| r.status == "failed"));
    // Each org's lines are labelled.
    assert!(
        out.stderr.contains("okta-org: [org3] stopped: HTTP 401"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("okta-org: [org1] 2500 rows"),
        "{}",
        out.stderr
    );

    let f = json(&sb.path("fleet.json"));
    assert_eq!(f["exit_status"], 5);
    assert_eq!(f["command"], "bounces remove");
    let orgs = f["orgs"].as_array().unwrap();
    let names: Vec<&str> = orgs
        .iter()
        .map(|o| o["profile"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["dead", "org1", "org2", "org3"]);
    assert_eq!(orgs[1]["accepted"], 300);
    assert_eq!(orgs[2]["rejected"], 2300);
    assert_eq!(orgs[3]["stop"]["cause"], "auth");
    assert_eq!(orgs[0]["stop"]["cause"], "usage");
    // Each org's own summary, as --summary wrote it.
    assert_eq!(json(&sb.path("r/org2.json"))["counts"]["accepted"], 200);
    assert_eq!(orgs[2]["summary"]["counts"]["accepted"], 200);
}

#[tokio::test]
async fn orgs_run_side_by_side() {
    // Two orgs whose runs each wait out a window: together they take about as long as one.
    let sb = Sandbox::new("fleet-parallel");
    let slow = |c: &mut SimConfig| {
        c.rate_limit = 2;
        c.window_secs = 2;
    };
    let sims = fleet(&sb, vec![org(10, slow), org(10, slow)], &[]).await;
    std::fs::create_dir(sb.path("r")).unwrap();
    sb.write("in.csv", user_list(0..3000));
    let started = Instant::now();
    let out = sb
        .run(
            &[
                "--profiles",
                "org1,org2",
                "bounces",
                "remove",
                "in.csv",
                "--report",
                "r/{profile}.csv",
            ],
            &[],
            None,
        )
        .await;
    let took = started.elapsed();
    assert_eq!(out.code, 3, "{}", out.stderr);
    for (i, sim) in sims.iter().enumerate() {
        let rows = read_report(&sb.path(&format!("r/org{}.csv", i + 1)));
        assert_eq!(rows.len(), 3000);
        assert_eq!(status_counts(&rows).get("accepted"), Some(&10));
        assert_eq!(batches(sim).len(), 3);
        assert!(sim.record().violations.is_empty());
    }
    // Side by side: each org's first request came before the other's last (one after the other,
    // org2 would start only after org1's wait for its third).
    let (one, two) = (batches(&sims[0]), batches(&sims[1]));
    assert!(one[0] < two[2] && two[0] < one[2], "{one:?} {two:?}");
    // One org alone waits up to a window (2 s) for its third request.
    assert!(took < Duration::from_millis(3800), "{took:?}");
}

#[tokio::test]
async fn ctrl_c_stops_every_org_and_every_report_is_complete() {
    let sb = Sandbox::new("fleet-ctrl-c");
    let slow = |c: &mut SimConfig| {
        c.rate_limit = 1;
        c.window_secs = 60;
    };
    let sims = fleet(&sb, vec![org(50, slow), org(50, slow), org(50, slow)], &[]).await;
    std::fs::create_dir(sb.path("r")).unwrap();
    sb.write("in.csv", user_list(0..4000));
    let child = sb
        .command(&[
            "--profiles",
            "all",
            "bounces",
            "remove",
            "in.csv",
            "--report",
            "r/{profile}.csv",
            "--fleet-summary",
            "fleet.json",
        ])
        .spawn()
        .unwrap();
    for sim in &sims {
        wait_for_requests(sim, 1, Duration::from_secs(20)).await;
    }
    kill(child.id().unwrap(), "-INT");
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("every org stops")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    // The fleet says once what the signal does.
    assert_eq!(
        stderr.matches("every org sends nothing more").count(),
        1,
        "{stderr}"
    );
    for (i, sim) in sims.iter().enumerate() {
        let profile = format!("org{}", i + 1);
        let rows = read_report(&sb.path(&format!("r/{profile}.csv")));
        assert_eq!(rows.len(), 4000, "{profile}");
        assert_rows_in_order_once(&rows);
        let counts = status_counts(&rows);
        // One batch went before the signal (which one is the runtime's choice: engines sharing it may
        // send their second batch first); the rest is failed, to be sent again.
        let sent = counts.get("accepted").unwrap_or(&0) + counts.get("rejected").unwrap_or(&0);
        assert_eq!(sent, 1000, "{profile}: {counts:?}");
        assert_eq!(counts.get("failed"), Some(&3000), "{profile}");
        assert_eq!(batches(sim).len(), 1, "{profile}");
        assert!(sim.record().violations.is_empty(), "{profile}");
        let cells = table_line(&stderr, &profile);
        assert_eq!(
            cells[cells.len() - 2..],
            ["4".to_string(), "interrupted".to_string()]
        );
    }
    assert_eq!(json(&sb.path("fleet.json"))["exit_status"], 4);
}

#[tokio::test]
async fn settings_side_by_side_show_what_differs() {
    let sb = Sandbox::new("fleet-drift");
    let mut second = SimConfig::new(TOKEN);
    second.org.company_name = "Acme Europe".into();
    let _sims = fleet(&sb, vec![SimConfig::new(TOKEN), second], &[]).await;
    let out = sb
        .run(&["--profiles", "all", "settings", "get"], &[], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["field", "org1", "org2"]
    );
    let name = lines.iter().find(|l| l.contains("companyName")).unwrap();
    assert!(
        name.starts_with('*') && name.contains("Acme Europe"),
        "{}",
        out.stdout
    );
    let city = lines.iter().find(|l| l.contains(" city ")).unwrap();
    assert!(!city.starts_with('*'), "{}", out.stdout);
    assert!(out.stderr.contains("differ between orgs"), "{}", out.stderr);

    let out = sb
        .run(
            &["--profiles", "all", "settings", "get", "-o", "json"],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["org2"]["companyName"], "Acme Europe");
    assert_eq!(v["org1"]["companyName"], "Acme Corp");

    // A change across orgs needs --yes: without it nothing is sent.
    let out = sb
        .run(
            &[
                "--profiles",
                "all",
                "settings",
                "update",
                "--set",
                "city=Lyon",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    let out = sb
        .run(
            &["--profiles", "all", "settings", "get", "-o", "json"],
            &[],
            None,
        )
        .await;
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_ne!(v["org1"]["city"], "Lyon");
    let out = sb
        .run(
            &[
                "--profiles",
                "all",
                "--yes",
                "settings",
                "update",
                "--set",
                "city=Lyon",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let city = out.stdout.lines().find(|l| l.contains(" city ")).unwrap();
    assert_eq!(
        city.split_whitespace().collect::<Vec<_>>(),
        ["city", "Lyon", "Lyon"]
    );
}

#[tokio::test]
async fn limits_say_what_each_org_advertises_and_the_tokens_share() {
    let sb = Sandbox::new("fleet-limits");
    let sims = fleet(
        &sb,
        vec![
            org(5, |c| c.logs_rate_limit = 40),
            org(5, |c| {
                c.rate_limit = 30;
                c.logs_rate_limit = 60;
                c.principal_share = 50;
                c.window_secs = 2;
            }),
        ],
        &[],
    )
    .await;
    let out = sb
        .run(&["--profiles", "all", "limits", "-o", "json"], &[], None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["org1"]["buckets"]["logs"]["limit"], 40);
    assert_eq!(v["org2"]["buckets"]["logs"]["limit"], 30, "half of 60");
    assert_eq!(v["org2"]["buckets"]["org"]["limit"], 300, "half of 600");
    assert_eq!(v["org1"]["principal"]["share_percent"], 100);
    assert_eq!(v["org2"]["principal"]["share_percent"], 50);
    assert!(v["org2"]["buckets"]["bounces"]["limit"].is_null());
    assert!(
        v["org2"]["buckets"]["bounces"]["note"]
            .as_str()
            .unwrap()
            .contains("unknown without spending a request")
    );

    // --probe-bounces learns the bounce list's limit with a list of no addresses: nothing is cleared.
    let out = sb
        .run(
            &["limits", "--profile", "org2", "--probe-bounces"],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let bounces = out
        .stdout
        .lines()
        .find(|l| l.starts_with("bounces"))
        .unwrap();
    assert!(
        bounces.contains("15 requests (15000 addresses)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("may use 50 % of each bucket"),
        "{}",
        out.stdout
    );
    assert!(sims[1].record().accepted.is_empty());

    // bounces remove says once that the token's share holds it back, and how long the run takes.
    sb.write("big.csv", user_list(0..20_000));
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                "big.csv",
                "--profile",
                "org2",
                "--report",
                "r.csv",
            ],
            &[],
            None,
        )
        .await;
    // 20 requests at 15 a 2 s window: one wait.
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert_eq!(
        status_counts(&read_report(&sb.path("r.csv"))).get("accepted"),
        Some(&5)
    );
    let said: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("principal rate limits"))
        .collect();
    assert_eq!(said.len(), 1, "{}", out.stderr);
    assert!(
        said[0].contains("50 %")
            && said[0].contains("15 requests a window (15000 addresses)")
            && said[0].contains("of the org's 30")
            && said[0].contains(" at that pace"),
        "{}",
        said[0]
    );
}

#[tokio::test]
async fn a_run_across_orgs_is_refused_before_anything_is_sent() {
    let sb = Sandbox::new("fleet-usage");
    let sims = fleet(&sb, vec![org(5, |_| ()), org(5, |_| ())], &[]).await;
    sb.write("in.csv", user_list(0..5));
    std::fs::create_dir(sb.path("r")).unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--profiles", "org1,nope", "settings", "get"],
            "known: org1, org2",
        ),
        (
            &["--profiles", "all", "bounces", "remove", "in.csv"],
            "cannot all write to stdout",
        ),
        (
            &[
                "--profiles",
                "all",
                "bounces",
                "remove",
                "in.csv",
                "--report",
                "r/one.csv",
            ],
            "put {profile} in it",
        ),
        (
            &[
                "--profiles",
                "all",
                "bounces",
                "remove",
                "in.csv",
                "--report",
                "no/{profile}.csv",
            ],
            "no directory no",
        ),
        (
            &[
                "--profiles",
                "all",
                "bounces",
                "remove",
                "-",
                "--report",
                "r/{profile}.csv",
            ],
            "stdin cannot be read by every org",
        ),
        (
            &["--profiles", "all", "settings", "get", "--profile", "org1"],
            "--profile would apply to every org",
        ),
        (&["--parallel", "2", "settings", "get"], "give --profiles"),
        // One org's earlier report read for every org would carry its results into the others'.
        (
            &[
                "--profiles",
                "all",
                "bounces",
                "remove",
                "in.csv",
                "--resume",
                "r/org1.csv",
                "--report",
                "r/{profile}-2.csv",
            ],
            "--resume r/org1.csv would be read for every org",
        ),
        (
            &[
                "--profiles",
                "all",
                "bounces",
                "remove",
                "--retry-failed",
                "r/org1.csv",
                "--report",
                "r/{profile}-2.csv",
            ],
            "--retry-failed r/org1.csv would be read for every org",
        ),
        // Outputs that would be one file once {profile} is filled in.
        (
            &[
                "--profiles",
                "all",
                "--fleet-summary",
                "r/org2.csv",
                "bounces",
                "remove",
                "in.csv",
                "--report",
                "r/{profile}.csv",
            ],
            "--fleet-summary r/org2.csv would overwrite what --report of org2 writes",
        ),
        (
            &[
                "--profiles",
                "all",
                "bounces",
                "remove",
                "in.csv",
                "--report",
                "r/{profile}.csv",
                "--summary",
                "r/./{profile}.csv",
            ],
            "would overwrite what --report of org1 writes",
        ),
        (
            &[
                "--profiles",
                "all",
                "--fleet-summary",
                "-",
                "bounces",
                "remove",
                "in.csv",
                "--report",
                "r/{profile}.csv",
            ],
            "give a file name",
        ),
        (
            &["--profiles", "all", "config", "show"],
            "does not run across orgs",
        ),
    ];
    for (args, says) in cases {
        let out = sb.run(args, &[], None).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
    let out = sb
        .run(
            &["--profiles", "all", "settings", "get"],
            &[("OKTA_CLIENT_ORGURL", "http://127.0.0.1:9")],
            None,
        )
        .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("OKTA_CLIENT_ORGURL"), "{}", out.stderr);
    for sim in &sims {
        assert!(sim.record().requests.is_empty());
    }
    assert!(!sb.path("r/org2.csv").exists(), "no output was begun");
}

/// With `--parallel 1`, the orgs take their turns in the order of `--profiles`.
#[tokio::test]
async fn orgs_take_their_turns_in_order() {
    let sb = Sandbox::new("fleet-order");
    let sims = fleet(
        &sb,
        vec![org(5, |_| ()), org(5, |_| ()), org(5, |_| ())],
        &[],
    )
    .await;
    for list in ["org3,org1,org2", "all"] {
        let out = sb
            .run(
                &[
                    "--profiles",
                    list,
                    "--parallel",
                    "1",
                    "settings",
                    "get",
                    "-v",
                ],
                &[],
                None,
            )
            .await;
        assert_eq!(out.code, 0, "{}", out.stderr);
        let mut seen: Vec<&str> = Vec::new();
        for line in out.stderr.lines() {
            let Some(label) = line
                .strip_prefix("okta-org: [")
                .and_then(|l| l.split(']').next())
            else {
                continue;
            };
            if seen.last() != Some(&label) {
                seen.push(label);
            }
        }
        let want = match list {
            "all" => vec!["org1", "org2", "org3"],
            _ => vec!["org3", "org1", "org2"],
        };
        assert_eq!(seen, want, "{}", out.stderr);
    }
    drop(sims);
}

#[tokio::test]
async fn find_writes_one_output_with_an_org_column() {
    let sb = Sandbox::new("fleet-find");
    let users: Vec<String> = okta_org_simulator::parse_users(okta_org_simulator::DEMO_USERS);
    let _sims = fleet(
        &sb,
        vec![
            SimConfig::demo_org(TOKEN, users.clone()),
            SimConfig::demo_org(TOKEN, okta_org_simulator::fleet_users(&users, 2)),
        ],
        &[],
    )
    .await;
    let out = sb
        .run(
            &["--profiles", "all", "bounces", "find", "--since", "7d"],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut lines = out.stdout.lines();
    assert!(
        lines.next().unwrap().starts_with("org,email,kind"),
        "{}",
        out.stdout
    );
    let orgs: Vec<&str> = lines.map(|l| l.split(',').next().unwrap()).collect();
    assert!(
        orgs.contains(&"org1") && orgs.contains(&"org2"),
        "{}",
        out.stdout
    );
    // In the order of the profiles.
    let first_org2 = orgs.iter().position(|o| *o == "org2").unwrap();
    assert!(
        orgs[first_org2..].iter().all(|o| *o == "org2"),
        "{}",
        out.stdout
    );
    // One file per org with {profile}.
    let out = sb
        .run(
            &[
                "--profiles",
                "all",
                "bounces",
                "find",
                "--output",
                "{profile}-bounced.csv",
            ],
            &[],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let one = std::fs::read_to_string(sb.path("org1-bounced.csv")).unwrap();
    assert!(one.starts_with("email,kind"), "{one}");
    assert!(sb.path("org2-bounced.csv").exists());
}
