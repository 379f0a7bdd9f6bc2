//! The engine as a library: engines for two orgs run side by side in one process, each on its own client
//! and pacers, and one org's slow limit never slows the other.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use okta_org::client::{Client, ClientOptions, StaticToken};
use okta_org::engine::{Ended, Engine, Handed, Report, Source};
use okta_org::interrupt::Interrupt;
use okta_org::report::Format;
use okta_org::secret::Secret;

fn client(url: &str) -> Arc<Client> {
    let opts = ClientOptions::new(
        url.parse().unwrap(),
        Arc::new(StaticToken::ssws(Secret::new(TOKEN))),
    );
    Arc::new(Client::new(opts).unwrap())
}

fn engine(sim_url: &str, addresses: Vec<String>, report: &std::path::Path) -> Engine {
    Engine {
        source: Source::addresses("list", addresses.into_iter().map(Handed::send).collect()),
        report: Report::create(Some(report), Format::Csv, true).unwrap(),
        sinks: Vec::new(),
        gate: None,
        client: Some(client(sim_url)),
        interrupt: Arc::new(Interrupt::default()),
        concurrency: None,
        keep_accepted: false,
        not_before: None,
        tally: Arc::default(),
    }
}

#[tokio::test]
async fn two_engines_for_two_orgs_run_side_by_side() {
    // Org A allows 2 requests per 2-second window: its 6 batches take three windows. Org B allows 100.
    let slow = simulator(org(6_000, |c| {
        (c.rate_limit, c.window_secs) = (2, 2);
    }))
    .await;
    let fast = simulator(org(3_000, |c| c.rate_limit = 100)).await;
    let sb = Sandbox::new("engines");
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("user{i}@example.com"))
            .collect::<Vec<_>>()
    };
    let (a, b) = (sb.path("a.csv"), sb.path("b.csv"));
    let started = Instant::now();
    let slow_run = engine(&slow.url(), list(6_000), &a);
    let fast_run = engine(&fast.url(), list(3_000), &b);
    let ((slow_out, slow_took), (fast_out, fast_took)) = tokio::join!(
        async {
            let o = slow_run.run().await;
            (o, started.elapsed())
        },
        async {
            let o = fast_run.run().await;
            (o, started.elapsed())
        }
    );
    assert_eq!(slow_out.ended, Ended::Completed);
    assert_eq!(fast_out.ended, Ended::Completed);
    assert_eq!(slow_out.requests, 6);
    assert_eq!(fast_out.requests, 3);
    // Each org saw only its own addresses, each once, and no request inside a Retry-After window.
    for (sim, n, path) in [(&slow, 6_000, &a), (&fast, 3_000, &b)] {
        let record = sim.record();
        assert_eq!(record.accepted.len(), n);
        assert!(record.violations.is_empty(), "{:?}", record.violations);
        let report = read_report(path);
        assert_eq!(report.len(), n);
        assert_rows_in_order_once(&report);
        assert!(
            report
                .iter()
                .all(|r| r.status == "accepted" && r.source == "list")
        );
    }
    // The slow org's windows did not hold the fast one back.
    assert!(slow_took >= Duration::from_secs(3), "{slow_took:?}");
    assert!(
        fast_took < Duration::from_millis(1500),
        "the fast org took {fast_took:?} beside the slow one"
    );
}

/// Batches leave in input order: with its segments ready at once, a run sends the first batch first,
/// every time (the runtime runs the task spawned last first: without the places batches take in line
/// when they are queued, the second batch went first in about one run of ten).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_ready_at_once_leave_in_order() {
    for attempt in 0..20 {
        let sim = simulator(org(5_000, |c| {
            (c.rate_limit, c.window_secs) = (2, 60);
        }))
        .await;
        let sb = Sandbox::new("order-lib");
        let list = (0..5_000)
            .map(|i| Handed::send(format!("user{i}@example.com")))
            .collect();
        let mut e = engine(&sim.url(), Vec::new(), &sb.path("r.csv"));
        e.source = Source::addresses("list", list);
        let interrupt = e.interrupt.clone();
        let client = e.client.clone().unwrap();
        let run = tokio::spawn(e.run());
        wait_for_requests(&sim, 2, Duration::from_secs(10)).await;
        interrupt.raise(okta_org::interrupt::Level::Now, 0);
        client
            .control()
            .stop(okta_org::client::StopReason::interrupted());
        client.control().abandon();
        run.await.unwrap();
        let firsts: Vec<String> = sim
            .mail()
            .removal_requests
            .iter()
            .take(2)
            .filter_map(|r| r.held.first().cloned())
            .collect();
        assert_eq!(
            firsts,
            ["user0@example.com", "user1000@example.com"],
            "run {attempt}: batches left out of order"
        );
    }
}
