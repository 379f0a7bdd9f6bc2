//! The transport under concurrency, latency, interrupts and dead networks: the real binary against the
//! simulator over HTTP on 127.0.0.1.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use okta_org_simulator::{BounceAnswer, RetryAfterMode, SimConfig, Simulator};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// Retry-After windows hold every request of every worker: 503s with `Retry-After` on every third
/// request, with the budget advertised and without (429s from the window), at `--concurrency 8`, with
/// and without latency.
#[tokio::test]
async fn no_request_lands_inside_a_retry_after_window_at_concurrency_8() {
    use okta_org_simulator::{RetryAfterFormat, RetryAfterMode};
    for (advertise, latency_ms, http_date, fast) in [
        (true, 0, false, false),
        (false, 0, false, false),
        (true, 300, false, false),
        // Requests in flight together, answers that come back together, one of them a 503 naming 2 s.
        (true, 700, true, false),
        // 503s answered at once, overtaking the answers of the requests sent before them.
        (true, 700, false, true),
        // The same at 300 ms: the next requests of a stream are written while a 503 comes back.
        (true, 300, false, true),
    ] {
        let config = org(12_000, |c| {
            // Unadvertised, the limit is met and answered with 429s.
            c.rate_limit = if advertise { 6 } else { 3 };
            c.window_secs = 2;
            c.advertise_limits = advertise;
            c.fail_every = Some(if advertise { 3 } else { 5 });
            c.latency = Duration::from_millis(latency_ms);
            c.fast_refusals = fast;
            if fast {
                (c.rate_limit, c.window_secs) = (30, 5);
            }
            if http_date {
                (c.rate_limit, c.window_secs) = (30, 5);
                c.retry_after = RetryAfterMode::Seconds(2);
                c.retry_after_format = RetryAfterFormat::HttpDate;
            }
        });
        let run = remove_run(config, &user_list(0..12_000), &["--concurrency", "8"]).await;
        let case = format!("advertise {advertise}, latency {latency_ms} ms, fast refusals {fast}");
        assert_eq!(run.out.code, 0, "{case}: {}", run.out.stderr);
        let record = run.record();
        assert!(
            record.violations.is_empty(),
            "{case}: {:?}",
            record.violations
        );
        assert!(record.requests.iter().any(|r| r.status == 503), "{case}");
        if !advertise {
            assert!(record.requests.iter().any(|r| r.status == 429), "{case}");
        }
        assert_eq!(record.accepted.len(), 12_000, "{case}");
        // Every retry said so on stderr at default verbosity.
        assert!(
            run.out
                .stderr
                .contains("warning: POST /api/v1/org/email/bounces/remove-list: HTTP 503"),
            "{case}: {}",
            run.out.stderr
        );
    }
}

/// With a second of latency and the budget advertised, the default flags keep enough requests in
/// flight that the rate limit, not the latency, sets the pace: within 5% of the least time the limit
/// allows, with no 429.
#[tokio::test]
async fn default_flags_reach_the_rate_limit_at_one_second_of_latency() {
    let (limit, window, batches) = (10u32, 3u64, 30usize);
    let config = org(batches * 1000, |c| {
        (c.rate_limit, c.window_secs) = (limit, window);
        c.latency = Duration::from_secs(1);
    });
    let run = remove_run(config, &user_list(0..batches * 1000), &[]).await;
    run.expect(0);
    let record = run.record();
    assert!(
        record.requests.iter().all(|r| r.status == 200),
        "{:?}",
        record.requests.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(record.accepted.len(), batches * 1000);
    // The simulator's windows start at the whole second of the first request; the least time is from
    // the first request to the answer of the last one sent at the start of the last window.
    let first = record.started_epoch + record.requests[0].at_ms as f64 / 1000.0;
    let last = record.started_epoch + record.requests.last().unwrap().at_ms as f64 / 1000.0;
    let windows = batches.div_ceil(limit as usize) as u64;
    let least = first.floor() + (window * (windows - 1)) as f64 + 1.0 - first;
    let took = last + 1.0 - first;
    assert!(
        took <= least * 1.05,
        "took {took:.2} s where the limit allows {least:.2} s"
    );
    assert!(record.max_in_flight > 1, "one request at a time");
}

/// Okta's concurrency limit (a 429 with `X-Rate-Limit-Limit: 0`) shrinks the requests in flight, and
/// nothing is lost.
#[tokio::test]
async fn a_concurrency_limit_shrinks_the_requests_in_flight() {
    let config = org(20_000, |c| {
        (c.rate_limit, c.window_secs) = (20, 2);
        c.latency = Duration::from_millis(500);
        c.max_concurrent = Some(3);
    });
    let run = remove_run(config, &user_list(0..20_000), &[]).await;
    run.expect(0);
    let record = run.record();
    assert_eq!(record.accepted.len(), 20_000);
    assert!(record.violations.is_empty(), "{:?}", record.violations);
    assert!(record.concurrency_refusals > 0, "the limit was never met");
    // The first burst meets the limit; after its refusals, the requests in flight stay within it.
    let refused: Vec<u64> = record
        .requests
        .iter()
        .filter(|r| r.status == 429)
        .map(|r| r.at_ms)
        .collect();
    assert!(
        refused.iter().all(|&t| t < refused[0] + 1000),
        "refusals after the first burst, at {refused:?} ms"
    );
}

/// Ctrl-C while the reader waits on a pipe that gives nothing more: the run ends at once, every row read
/// is reported, and stderr says where reading stopped.
#[tokio::test]
async fn sigint_ends_a_blocked_pipe_at_once() {
    let sim = simulator(org_with_users(3500)).await;
    let sb = Sandbox::new("sigint-pipe");
    let url = sim.url();
    // (The report goes to a file: a pipe nobody reads would hold the run up, as it should.)
    let mut cmd = sb.command(&[
        "bounces",
        "remove",
        "-",
        "--org-url",
        &url,
        "--report",
        "r.csv",
    ]);
    cmd.env("OKTA_CLIENT_TOKEN", TOKEN).stdin(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(user_list(0..3500).as_bytes())
        .await
        .unwrap();
    stdin.flush().await.unwrap();
    // Three batches go out; the last 500 rows wait for input that never comes.
    wait_for_requests(&sim, 3, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let signalled = Instant::now();
    kill(child.id().unwrap(), "-INT");
    let out = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output())
        .await
        .expect("exits at once after SIGINT")
        .unwrap();
    assert!(signalled.elapsed() < Duration::from_secs(3));
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    let report = read_report(&sb.path("r.csv"));
    assert_eq!(report.len(), 3500);
    let counts = status_counts(&report);
    assert_eq!(counts.get("accepted"), Some(&3000));
    assert_eq!(counts.get("failed"), Some(&500));
    assert!(
        report
            .iter()
            .filter(|r| r.status == "failed")
            .all(|r| r.reason == "interrupted before it was sent (or sent again after a refusal)")
    );
    assert!(stderr.contains("stopped reading <stdin>"), "{stderr}");
}

/// Ctrl-C while a batch is in flight: its answer is awaited (a short grace), so what Okta took is
/// reported `accepted`; rows never sent are `failed`.
#[tokio::test]
async fn sigint_waits_for_the_batch_in_flight() {
    let mut config = org_with_users(2000);
    config.latency = Duration::from_secs(2);
    let sim = simulator(config).await;
    let sb = Sandbox::new("sigint-flight");
    let input = sb.write("in.csv", user_list(0..2000));
    let url = sim.url();
    let mut cmd = sb.command(&[
        "bounces",
        "remove",
        input.to_str().unwrap(),
        "--org-url",
        &url,
        "--report",
        "r.csv",
    ]);
    cmd.env("OKTA_CLIENT_TOKEN", TOKEN);
    let child = cmd.spawn().unwrap();
    wait_for_requests(&sim, 1, Duration::from_secs(10)).await;
    kill(child.id().unwrap(), "-INT");
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("exits after the grace")
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let report = read_report(&sb.path("r.csv"));
    assert_eq!(report.len(), 2000);
    let counts = status_counts(&report);
    assert_eq!(counts.get("accepted"), Some(&1000), "{counts:?}");
    assert_eq!(counts.get("failed"), Some(&1000), "{counts:?}");
    assert_eq!(sim.record().accepted.len(), 1000);
}

/// A second Ctrl-C ends at once: the batch in flight is `failed` with a reason that says Okta may have
/// taken it, rows never sent say so, every row is written whole, and the status is 130.
#[tokio::test]
async fn a_second_sigint_ends_at_once_with_every_row_written() {
    let mut config = org_with_users(2500);
    config.latency = Duration::from_secs(30);
    let sim = simulator(config).await;
    let sb = Sandbox::new("sigint-twice");
    let input = sb.write("in.csv", user_list(0..2500));
    let url = sim.url();
    let mut cmd = sb.command(&[
        "bounces",
        "remove",
        input.to_str().unwrap(),
        "--org-url",
        &url,
    ]);
    cmd.env("OKTA_CLIENT_TOKEN", TOKEN);
    let child = cmd.spawn().unwrap();
    let pid = child.id().unwrap();
    wait_for_requests(&sim, 1, Duration::from_secs(10)).await;
    kill(pid, "-INT");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = Instant::now();
    kill(pid, "-INT");
    let out = tokio::time::timeout(Duration::from_secs(5), child.wait_with_output())
        .await
        .expect("exits at once after a second SIGINT")
        .unwrap();
    assert!(second.elapsed() < Duration::from_secs(3));
    assert_eq!(out.status.code(), Some(130));
    let report = parse_report(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(report.len(), 2500);
    assert_rows_in_order_once(&report);
    // One batch was in flight (whichever of the first two reached the gate first); every other row was
    // never sent.
    assert!(report.iter().all(|r| r.status == "failed"));
    let in_flight: Vec<u64> = report
        .iter()
        .filter(|r| r.reason.contains("Okta may have taken it"))
        .map(|r| r.line)
        .collect();
    assert_eq!(in_flight.len(), 1000, "one batch in flight");
    assert_eq!(in_flight[999] - in_flight[0], 999, "a batch is contiguous");
    assert!(
        report
            .iter()
            .filter(|r| !in_flight.contains(&r.line))
            .all(|r| r.reason == "interrupted before it was sent (or sent again after a refusal)")
    );
}

/// `| head -3`: when the report's reader goes away, nothing more is sent, stderr says so with the
/// summary, and the status is 4.
#[tokio::test]
async fn a_report_reader_that_goes_away_stops_the_run() {
    let mut config = org_with_users(20_000);
    config.rate_limit = 2;
    config.window_secs = 2;
    let sim = simulator(config).await;
    let sb = Sandbox::new("head");
    let input = sb.write("in.csv", user_list(0..20_000));
    let url = sim.url();
    let mut cmd = sb.command(&[
        "bounces",
        "remove",
        input.to_str().unwrap(),
        "--org-url",
        &url,
    ]);
    cmd.env("OKTA_CLIENT_TOKEN", TOKEN);
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    for _ in 0..3 {
        lines.next_line().await.unwrap().expect("a report line");
    }
    drop(lines);
    let closed = Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(10), child.wait_with_output())
        .await
        .expect("stops soon after the reader goes away")
        .unwrap();
    assert!(closed.elapsed() < Duration::from_secs(6));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("the report's reader went away"), "{stderr}");
    assert!(stderr.contains("rows from 1 input"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    let sent = sim.record().requests.len();
    assert!(sent < 8, "{sent} requests: sending went on");
}

/// A host that does not resolve fails at once, saying what to check.
#[tokio::test]
async fn an_unresolvable_host_fails_fast() {
    let sb = Sandbox::new("dns");
    let input = sb.write("in.csv", user_list(0..10));
    let started = Instant::now();
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                input.to_str().unwrap(),
                "--org-url",
                "https://acme-typo.invalid",
            ],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            None,
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(
        out.stderr
            .contains("cannot resolve acme-typo.invalid: check the org URL"),
        "{}",
        out.stderr
    );
    assert!(out.code == 2 || out.code == 4, "{}", out.stderr);
    assert!(!out.stderr.contains("retrying"), "{}", out.stderr);
    let report = parse_report(&out.stdout);
    assert_eq!(report.len(), 10);
    assert!(report.iter().all(|r| r.status == "failed"));
}

/// An answer that confirms nothing (empty 200, 204, an HTML page) leaves its rows `failed`.
#[tokio::test]
async fn answers_that_cannot_be_read_confirm_nothing() {
    for (answer, says) in [
        (BounceAnswer::Empty, "HTTP 200 with an empty body"),
        (BounceAnswer::NoContent, "HTTP 204 with an empty body"),
        (
            BounceAnswer::Html,
            "text/html instead of JSON: a proxy or captive portal?",
        ),
    ] {
        let run = remove_run(
            org(1500, |c| c.bounce_answer = answer),
            &user_list(0..1500),
            &[],
        )
        .await;
        assert_eq!(run.out.code, 1, "{answer:?}: {}", run.out.stderr);
        let report = run.report();
        assert_eq!(report.len(), 1500);
        assert!(report.iter().all(|r| r.status == "failed"), "{answer:?}");
        assert!(
            report[0].reason.contains(says),
            "{answer:?}: {:?}",
            report[0]
        );
        // (A second request may leave while the first answer is being read; none after that.)
        assert!(run.record().requests.len() <= 2, "{answer:?}: sent on");
        assert!(
            run.out.stderr.contains("answer could not be read"),
            "{}",
            run.out.stderr
        );
    }
}

/// Okta's `errors[]` naming an address that was not sent is counted in the summary.
#[tokio::test]
async fn an_error_for_an_address_not_sent_is_counted() {
    let run = remove_run(org(10, |c| c.stray_error = true), &user_list(0..10), &[]).await;
    run.expect(0);
    assert!(
        run.out
            .stderr
            .contains("1 error entry naming no address that was sent"),
        "{}",
        run.out.stderr
    );
}

/// The token endpoint goes through the same retries: 429s with an HTTP-date `Retry-After` and 503s are
/// sat out; when it stays down, the run ends as retryable (4), not as a sign-in failure (5).
#[tokio::test]
async fn the_token_endpoint_is_part_of_the_transport() {
    for (faults, retries, want) in [((2, 429), "6", 0), ((4, 503), "6", 0), ((50, 503), "2", 4)] {
        let mut config = oauth_config(1200);
        config.token_faults = Some(faults);
        let sim = simulator(config).await;
        let sb = Sandbox::new("token-faults");
        let input = sb.write("in.csv", user_list(0..1200));
        let key = fixture_key(&sb);
        let out = run_with_key(&sim, &sb, &key, input.to_str().unwrap(), retries).await;
        assert_eq!(out.code, want, "{faults:?}: {}", out.stderr);
        let record = sim.record();
        assert!(record.violations.is_empty(), "{:?}", record.violations);
        if want == 0 {
            assert_eq!(record.accepted.len(), 1200);
        } else {
            assert!(out.stderr.contains("the token endpoint"), "{}", out.stderr);
            let report = parse_report(&out.stdout);
            assert!(report.iter().all(|r| r.status == "failed"));
        }
    }
}

fn oauth_config(users: usize) -> SimConfig {
    let mut c = org_with_users(users);
    let jwk: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/tests/fixtures/rsa-public.jwk.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    c.service_apps.push(okta_org_simulator::ServiceApp {
        client_id: "0oa-transport".into(),
        jwk,
        scopes: vec!["okta.orgs.manage".into(), "okta.orgs.read".into()],
        dpop: false,
    });
    c
}

fn fixture_key(sb: &Sandbox) -> std::path::PathBuf {
    let pem = std::fs::read(format!(
        "{}/tests/fixtures/rsa-pkcs8.pem",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let p = sb.write("key.pem", pem);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    p
}

async fn run_with_key(
    sim: &Simulator,
    sb: &Sandbox,
    key: &std::path::Path,
    input: &str,
    retries: &str,
) -> Output {
    let url = sim.url();
    sb.run(
        &[
            "bounces",
            "remove",
            input,
            "--org-url",
            &url,
            "--authorization-mode",
            "PrivateKey",
            "--client-id",
            "0oa-transport",
            "--private-key",
            key.to_str().unwrap(),
            "--max-retries",
            retries,
        ],
        &[],
        None,
    )
    .await
}

/// A request that is not safe to repeat (Aerial grant) is not retried after a 503; a read is.
#[tokio::test]
async fn only_requests_safe_to_repeat_are_retried_after_a_5xx() {
    let mut config = org_with_users(1);
    config.fail_every = Some(1);
    config.fail_org = true;
    config.retry_after = RetryAfterMode::Seconds(0);
    let sim = simulator(config).await;
    let sb = Sandbox::new("idempotent");
    let url = sim.url();
    let env = [("OKTA_CLIENT_TOKEN", TOKEN)];
    let out = sb
        .run(
            &["aerial", "grant", "--account-id", "241", "--org-url", &url],
            &env,
            None,
        )
        .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("not retried"), "{}", out.stderr);
    assert_eq!(sim.record().requests.len(), 1);
    let out = sb
        .run(
            &["settings", "get", "--org-url", &url],
            &[
                ("OKTA_CLIENT_TOKEN", TOKEN),
                ("OKTA_CLIENT_RATELIMIT_MAXRETRIES", "2"),
            ],
            None,
        )
        .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert_eq!(sim.record().requests.len(), 1 + 3);
}

/// A host that refuses connections is retried as one outage, not once for every batch waiting: the whole
/// bucket backs off together.
#[tokio::test]
async fn a_dead_host_is_retried_as_one_outage() {
    let sb = Sandbox::new("dead-host");
    let input = sb.write("in.csv", user_list(0..20_000));
    let out = sb
        .run(
            &[
                "bounces",
                "remove",
                input.to_str().unwrap(),
                "--org-url",
                "http://127.0.0.1:1",
                "--max-retries",
                "2",
            ],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            None,
        )
        .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    let retries = out.stderr.matches("retrying in").count();
    assert!(
        (1..=4).contains(&retries),
        "{retries} retry lines:\n{}",
        out.stderr
    );
    assert_eq!(parse_report(&out.stdout).len(), 20_000);
}

/// `config check` answers quickly: one short retry, then the reason.
#[tokio::test]
async fn config_check_gives_up_after_one_short_retry() {
    let sb = Sandbox::new("check-dead");
    let started = Instant::now();
    let out = sb
        .run(
            &["config", "check", "--org-url", "http://127.0.0.1:1"],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            None,
        )
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("gave up after 2 attempts"),
        "{}",
        out.stderr
    );
}

/// One run at `--concurrency 8` against a server whose 503s (every third request) come back at once
/// while its 200s take 300 ms: the requests that arrived inside a `Retry-After` window, as the simulator
/// recorded them, how many requests it saw, and how long the run took.
async fn fast_refusal_run(batches: usize) -> (Vec<String>, usize, Duration) {
    let config = org(batches * 1000, |c| {
        (c.rate_limit, c.window_secs) = (30, 5);
        c.fail_every = Some(3);
        c.latency = Duration::from_millis(300);
        c.fast_refusals = true;
    });
    let run = remove_run(
        config,
        &user_list(0..batches * 1000),
        &["--concurrency", "8"],
    )
    .await;
    assert_eq!(run.out.code, 0, "{}", run.out.stderr);
    let record = run.record();
    assert_eq!(record.accepted.len(), batches * 1000);
    assert!(record.requests.iter().any(|r| r.status == 503));
    (record.violations, record.requests.len(), run.took)
}

/// The fast-refusal case of the test above, `RACE_RUNS` times (20 unless set), with the figures
/// printed: a measurement, not run in CI (`cargo test --test transport -- --ignored --nocapture
/// fast_refusals_in_many_runs`; `tests/measure/fast-refusals.sh` does the same with a release build
/// against `okta-org simulate`).
#[tokio::test]
#[ignore]
async fn fast_refusals_in_many_runs() {
    let runs: usize = std::env::var("RACE_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let mut bad = 0;
    for k in 0..runs {
        let (violations, requests, took) = fast_refusal_run(24).await;
        println!(
            "run {k}: {requests} requests in {:.2} s, {} inside a Retry-After window {violations:?}",
            took.as_secs_f64(),
            violations.len()
        );
        bad += usize::from(!violations.is_empty());
    }
    println!("{bad} of {runs} runs had a request inside a Retry-After window");
    assert_eq!(bad, 0);
}
