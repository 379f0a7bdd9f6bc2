//! What `bounces sync --follow` does, for Prometheus: events read, addresses cleared by Okta's answer,
//! verdicts, holds, throttled answers (429/503), how far the newest event read trails the clock, and
//! when the last poll succeeded; served as OpenMetrics text at `/metrics` on a plain listener the operator
//! chooses (`--metrics ADDR`), with a health check at `/healthz`. The registry lives beside the sync, not
//! in a global.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Request, Response, StatusCode};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Org {
    org: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OrgAnd {
    org: String,
    kind: String,
}

type Seconds = Gauge<f64, AtomicU64>;

/// The metrics of every org a process syncs.
pub struct Metrics {
    registry: Registry,
    polls: Family<Org, Counter>,
    poll_failures: Family<Org, Counter>,
    events: Family<Org, Counter>,
    new_events: Family<OrgAnd, Counter>,
    cleared: Family<OrgAnd, Counter>,
    verdicts: Family<OrgAnd, Counter>,
    held: Family<Org, Gauge>,
    pending: Family<Org, Gauge>,
    throttled: Family<Org, Counter>,
    cursor_lag: Family<Org, Seconds>,
    last_success: Family<Org, Seconds>,
    /// Every org watched, and when it last polled successfully (for `/healthz`), and how stale is too
    /// stale.
    health: Mutex<HashMap<String, Option<Instant>>>,
    stale_after: Duration,
}

impl Metrics {
    /// Metrics whose health check fails when an org has not polled successfully for `stale_after`.
    pub fn new(stale_after: Duration) -> Metrics {
        let mut registry = Registry::with_prefix("okta_org_sync");
        let m = Metrics {
            polls: Family::default(),
            poll_failures: Family::default(),
            events: Family::default(),
            new_events: Family::default(),
            cleared: Family::default(),
            verdicts: Family::default(),
            held: Family::default(),
            pending: Family::default(),
            throttled: Family::default(),
            cursor_lag: Family::default(),
            last_success: Family::default(),
            health: Mutex::default(),
            stale_after,
            registry: Registry::default(),
        };
        registry.register("polls", "Polls of the System Log", m.polls.clone());
        registry.register(
            "poll_failures",
            "Polls that failed (the next one tries again)",
            m.poll_failures.clone(),
        );
        registry.register("events", "System Log events read", m.events.clone());
        registry.register(
            "new_events",
            "Events the ledger had not seen: hard bounces (kind bounce) and soft signals (kind soft: 4xx replies, deferrals, drops)",
            m.new_events.clone(),
        );
        registry.register(
            "addresses_cleared",
            "Addresses sent for removal, by Okta's answer (accepted, rejected, failed)",
            m.cleared.clone(),
        );
        registry.register(
            "verdicts",
            "Verdicts of removals decided (removal_logged, delivered, bounced_again)",
            m.verdicts.clone(),
        );
        registry.register(
            "held",
            "Addresses the hold policy keeps from being cleared again",
            m.held.clone(),
        );
        registry.register(
            "pending",
            "Hard-bounced addresses waiting to be cleared",
            m.pending.clone(),
        );
        registry.register(
            "throttled",
            "Answers that asked the tool to wait (429, 503)",
            m.throttled.clone(),
        );
        registry.register(
            "cursor_lag_seconds",
            "How far the newest event read trails the clock",
            m.cursor_lag.clone(),
        );
        registry.register(
            "last_success_timestamp_seconds",
            "When the last poll succeeded (Unix time)",
            m.last_success.clone(),
        );
        Metrics { registry, ..m }
    }

    fn org(org: &str) -> Org {
        Org { org: org.into() }
    }

    fn and(org: &str, kind: &str) -> OrgAnd {
        OrgAnd {
            org: org.into(),
            kind: kind.into(),
        }
    }

    pub fn polled(&self, org: &str, events: u64, newest: Option<SystemTime>) {
        self.polls.get_or_create(&Self::org(org)).inc();
        self.events.get_or_create(&Self::org(org)).inc_by(events);
        if let Some(t) = newest {
            let lag = SystemTime::now().duration_since(t).unwrap_or_default();
            self.cursor_lag
                .get_or_create(&Self::org(org))
                .set(lag.as_secs_f64());
        }
    }

    pub fn poll_failed(&self, org: &str) {
        self.poll_failures.get_or_create(&Self::org(org)).inc();
    }

    pub fn new_events(&self, org: &str, kind: &str, n: u64) {
        self.new_events
            .get_or_create(&Self::and(org, kind))
            .inc_by(n);
    }

    pub fn cleared(&self, org: &str, answer: &str, n: u64) {
        self.cleared
            .get_or_create(&Self::and(org, answer))
            .inc_by(n);
    }

    pub fn verdict(&self, org: &str, verdict: &str, n: u64) {
        self.verdicts
            .get_or_create(&Self::and(org, verdict))
            .inc_by(n);
    }

    pub fn queue(&self, org: &str, pending: usize, held: usize) {
        self.pending
            .get_or_create(&Self::org(org))
            .set(pending as i64);
        self.held.get_or_create(&Self::org(org)).set(held as i64);
    }

    pub fn throttled(&self, org: &str, n: u64) {
        self.throttled.get_or_create(&Self::org(org)).inc_by(n);
    }

    /// A poll (and the clearing after it) succeeded now.
    pub fn succeeded(&self, org: &str) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.last_success
            .get_or_create(&Self::org(org))
            .set(now.as_secs_f64());
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(org.into(), Some(Instant::now()));
    }

    /// An org this process syncs: unhealthy until its first poll succeeds.
    pub fn watch(&self, org: &str) {
        // Every series of the org from its start, at 0: a monitor's rate() needs the zero.
        let o = Self::org(org);
        let _ = self.polls.get_or_create(&o);
        let _ = self.poll_failures.get_or_create(&o);
        let _ = self.events.get_or_create(&o);
        let _ = self.throttled.get_or_create(&o);
        for kind in ["accepted", "rejected", "failed"] {
            let _ = self.cleared.get_or_create(&Self::and(org, kind));
        }
        self.health
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(org.into())
            .or_insert(None);
    }

    /// The registry as OpenMetrics text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String");
        out
    }

    /// `None` when every org watched polled successfully within `stale_after`; else what is wrong.
    pub fn unhealthy(&self) -> Option<String> {
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        let mut stale: Vec<String> = health
            .iter()
            .filter_map(|(o, t)| match t {
                Some(t) if t.elapsed() <= self.stale_after => None,
                Some(t) => Some(format!(
                    "{o}: last successful poll {} s ago",
                    t.elapsed().as_secs()
                )),
                None => Some(format!("{o}: no successful poll yet")),
            })
            .collect();
        if health.is_empty() {
            stale.push("no org is followed yet".into());
        }
        stale.sort();
        (!stale.is_empty()).then(|| stale.join("; "))
    }
}

/// `--metrics ADDR`: a port (on 127.0.0.1) or `HOST:PORT`.
pub fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse::<SocketAddr>().map_err(|_| {
        format!(
            "not an address to listen on: {s:?} (give a port, 9464, or HOST:PORT, 0.0.0.0:9464)"
        )
    })
}

/// Serves `/metrics` and `/healthz` on `addr` until the process ends; returns the address it listens on
/// (a port of 0 picks a free one).
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // (Out of file descriptors, say: an error that comes back at once; not a busy loop.)
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let answer = answer(&req, &metrics);
                        async move { Ok::<_, Infallible>(answer) }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(local)
}

fn answer(req: &Request<hyper::body::Incoming>, m: &Metrics) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, kind: &'static str, body: String| {
        let mut r = Response::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        r.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static(kind),
        );
        r
    };
    if req.method() != hyper::Method::GET {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            m.text(),
        ),
        "/healthz" | "/health" => match m.unhealthy() {
            None => reply(StatusCode::OK, "text/plain", "ok\n".into()),
            Some(why) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("{why}\n"),
            ),
        },
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: /metrics or /healthz\n".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_health() {
        let m = Metrics::new(Duration::from_secs(60));
        let org = "https://acme.okta.com";
        m.polled(org, 7, Some(SystemTime::now() - Duration::from_secs(30)));
        m.cleared(org, "accepted", 3);
        m.verdict(org, "delivered", 1);
        let text = m.text();
        assert!(
            text.contains("okta_org_sync_events_total{org=\"https://acme.okta.com\"} 7"),
            "{text}"
        );
        assert!(
            text.contains("okta_org_sync_addresses_cleared_total{org=\"https://acme.okta.com\",kind=\"accepted\"} 3"),
            "{text}"
        );
        assert!(text.contains("okta_org_sync_cursor_lag_seconds"), "{text}");
        assert!(m.unhealthy().unwrap().contains("no org is followed yet"));
        m.watch(org);
        assert!(m.unhealthy().unwrap().contains("no successful poll yet"));
        m.succeeded(org);
        assert_eq!(m.unhealthy(), None);
        assert_eq!(parse_addr("9464").unwrap().to_string(), "127.0.0.1:9464");
        assert!(parse_addr("nowhere").is_err());
    }
}
