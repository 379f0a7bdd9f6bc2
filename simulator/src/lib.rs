//! An Okta simulator: an axum server on 127.0.0.1 that answers the Org API and the System Log as Okta's
//! documents describe them, with rate-limit windows and principal shares, `Retry-After`, injected
//! failures and the documented error envelopes, and mail that keeps flowing into the log if asked.
//! `okta-org simulate` runs it on its own (one org or a fleet); `--simulate` starts it inside a run;
//! okta-org's tests start it on an ephemeral port and read back what it received.
//!
//! It depends on nothing of okta-org, the tool it tests: its address check ([`rfc3696`]), the read-only
//! fields of the org (from the OpenAPI spec) and its JWS checks ([`jws`]) are its own, so a mistake in the
//! tool cannot be repeated by the server that is meant to catch it.

mod bounces;
mod fleet;
mod huge;
pub mod jws;
mod limits;
mod logs;
mod mail;
mod oauth;
mod org;
mod principals;
pub mod rfc3696;

pub use fleet::{Fleet, FleetOrg, fleet_users, okta_yaml};
pub use mail::{MailEvent, MailFlow, MailKind, MailMix, MailTruth, RemovalRequest};
pub use oauth::ServiceApp;
pub use org::{OrgIdentity, user_id};

pub(crate) use limits::Admission;

use std::collections::HashMap;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The demo org behind `--simulate`: the users whose addresses appear as "good" rows in `samples/`. The
/// list lives in the workspace's `samples/`, beside the exports it answers for, so that the two change
/// together; the crate is not published, so reaching outside it is fine.
pub const DEMO_USERS: &str = include_str!("../../samples/org-users.txt");

/// When a throttled answer says to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfterMode {
    /// Until the rate-limit window resets (at least 1 s).
    Auto,
    Seconds(u64),
    /// No `Retry-After` header at all.
    Omit,
}

/// How the bounce endpoint answers a request it accepts (to test clients against broken middleboxes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceAnswer {
    /// `200` with `{"errors": [...]}`, as documented.
    Normal,
    /// `200` with an empty body.
    Empty,
    /// `204 No Content`.
    NoContent,
    /// `200` with an HTML page, as a captive portal or a proxy's login page answers.
    Html,
}

/// Successful answers made far larger than any real one (to test that clients bound what they read).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugeAnswers {
    /// The answer's JSON, then whitespace up to this many bytes, with a `Content-Length` that says so.
    Oversize(u64),
    /// The answer's JSON, then whitespace without end (chunked).
    Endless,
}

/// How a `Retry-After` header is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfterFormat {
    /// `Retry-After: 2`
    Seconds,
    /// `Retry-After: Tue, 24 Nov 2026 10:00:02 GMT`
    HttpDate,
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The API token the simulator accepts (`SSWS <token>`).
    pub token: String,
    /// Email addresses of the org's users.
    pub users: Vec<String>,
    /// Requests allowed per window on the bounce endpoint.
    pub rate_limit: u32,
    /// Window length in whole seconds.
    pub window_secs: u64,
    pub retry_after: RetryAfterMode,
    pub retry_after_format: RetryAfterFormat,
    /// Send `X-Rate-Limit-*` headers.
    pub advertise_limits: bool,
    /// Every K-th bounce request fails with `fail_status`.
    pub fail_every: Option<u32>,
    pub fail_status: u16,
    /// A request holding any of these addresses is refused whole with a 400 that names none of them.
    pub poison: Vec<String>,
    /// The longest list the bounce endpoint takes.
    pub max_list: usize,
    /// Requests allowed per window on the settings endpoints.
    pub org_rate_limit: u32,
    /// Answer the deprecated Okta Support grant/extend/revoke with 301, as current orgs do.
    pub support_redirect: bool,
    /// More API tokens, each with the OAuth scopes it carries (the main token carries all).
    pub scoped_tokens: Vec<(String, Vec<String>)>,
    /// OAuth service apps that may get access tokens at /oauth2/v1/token.
    pub service_apps: Vec<ServiceApp>,
    /// `expires_in` of the access tokens issued, in seconds.
    pub token_ttl: u64,
    /// How long access tokens really work, when shorter than advertised (tokens that expire early).
    pub token_lifetime: Option<u64>,
    /// Require a DPoP nonce on API calls too, rotating it every N calls.
    pub dpop_nonce_rotate_every: Option<u32>,
    /// How long the bounce endpoint takes to answer. Requests are counted, and throttled, when they
    /// arrive; a `Retry-After` window starts when its answer leaves.
    pub latency: Duration,
    /// 429s and 503s of the bounce endpoint are answered at once, without `latency` (a rate limiter
    /// refuses before the work is done), so they overtake the answers of requests sent before them.
    pub fast_refusals: bool,
    /// Okta's concurrency limit: more bounce requests than this in flight get a 429 with
    /// `X-Rate-Limit-Limit: 0`.
    pub max_concurrent: Option<u32>,
    /// How accepted bounce requests are answered.
    pub bounce_answer: BounceAnswer,
    /// Every `200` of the Org API and the System Log (not of the token endpoint) grows as said.
    pub huge_answers: Option<HugeAnswers>,
    /// The first N token requests are answered with this status (429 with an HTTP-date `Retry-After`,
    /// or 503 with `Retry-After: 1`).
    pub token_faults: Option<(u32, u16)>,
    /// `fail_every` applies to the settings endpoints too.
    pub fail_org: bool,
    /// Accepted bounce answers also name an address that was not in the request.
    pub stray_error: bool,
    /// Requests allowed per window on the System Log (`GET /api/v1/logs`), a bucket of its own.
    pub logs_rate_limit: u32,
    /// How long after an accepted `remove-list` call its `system.email.bounce.removal` events are stored.
    pub removal_delay: Duration,
    /// Addresses whose removal is never logged (no removal event, nor any delivery after it).
    pub removal_skips: Vec<String>,
    /// A moment after each removal event, a `system.email.delivery` SUCCESS for every address it lists.
    pub deliver_after_removal: bool,
    /// For these addresses, a bounce (`FAILURE`, `Bounce`) after the removal instead of a delivery.
    pub bounce_again: Vec<String>,
    /// System Log events stored at start, as given (stored as of their `published` time, oldest first).
    pub log_events: Vec<serde_json::Value>,
    /// Mail that keeps flowing into the System Log while the simulator runs (none by default).
    pub mail: Option<MailFlow>,
    /// Addresses on the org's bounce list at start (hard bounces of earlier days). Hard bounces the
    /// simulator logs add to it; accepted `remove-list` calls take addresses off it.
    pub bounce_list: Vec<String>,
    /// Percent of each bucket one API token or OAuth app may use (Okta's principal rate limit,
    /// `defaultPercentage`; Okta's own default is 50). 100 by default, so that `rate_limit` and the
    /// other limits are what a client gets; below 100, `X-Rate-Limit-Limit` advertises the share.
    pub principal_share: u32,
    /// Percent of the concurrency limit (`max_concurrent`) one principal may use
    /// (`defaultConcurrencyPercentage`); 100 by default.
    pub principal_concurrency_share: u32,
    /// Requests allowed per window on the token endpoint (`/oauth2/v1/token`), a bucket of its own.
    pub token_rate_limit: u32,
    /// Requests allowed per window on the other API endpoints (`/api/v1/principal-rate-limits`).
    pub default_rate_limit: u32,
    /// The org's id, subdomain and company name.
    pub org: OrgIdentity,
}

impl SimConfig {
    pub fn new(token: impl Into<String>) -> SimConfig {
        SimConfig {
            token: token.into(),
            users: Vec::new(),
            rate_limit: 60,
            window_secs: 60,
            retry_after: RetryAfterMode::Auto,
            retry_after_format: RetryAfterFormat::Seconds,
            advertise_limits: true,
            fail_every: None,
            fail_status: 503,
            poison: Vec::new(),
            max_list: 1000,
            org_rate_limit: 600,
            support_redirect: false,
            scoped_tokens: Vec::new(),
            service_apps: Vec::new(),
            token_ttl: 3600,
            token_lifetime: None,
            dpop_nonce_rotate_every: None,
            latency: Duration::ZERO,
            max_concurrent: None,
            fast_refusals: false,
            bounce_answer: BounceAnswer::Normal,
            huge_answers: None,
            token_faults: None,
            fail_org: false,
            stray_error: false,
            logs_rate_limit: 60,
            removal_delay: Duration::from_secs(1),
            removal_skips: Vec::new(),
            deliver_after_removal: false,
            bounce_again: Vec::new(),
            log_events: Vec::new(),
            mail: None,
            bounce_list: Vec::new(),
            principal_share: 100,
            principal_concurrency_share: 100,
            token_rate_limit: 600,
            default_rate_limit: 600,
            org: OrgIdentity::default(),
        }
    }

    /// The demo org of `samples/`, with a System Log of the last days: bounces, drops, deferrals and
    /// deliveries for some of its users (in every shape that names the recipient), a removal, events that
    /// name no recipient, sign-ins, and a bounce older than the 90 days Okta keeps.
    pub fn demo(token: impl Into<String>) -> SimConfig {
        SimConfig::demo_org(token, parse_users(DEMO_USERS))
    }
}

/// Reads a users file: one address a line; `#` comments and blank lines ignored.
pub fn parse_users(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// One request as the simulator saw it.
#[derive(Debug, Clone, Serialize)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: u16,
    /// Milliseconds since the simulator started.
    pub at_ms: u64,
    /// For the bounce endpoint: how many addresses the request held.
    pub batch: Option<usize>,
    pub authorization_scheme: Option<String>,
    /// The request body (settings endpoints only; at most 8 KiB).
    pub body: Option<String>,
    /// The query string as received (System Log only), to tell its pages apart.
    pub query: Option<String>,
}

/// Everything tests may want to check afterwards.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Record {
    pub requests: Vec<Seen>,
    /// Addresses accepted for removal, in the order they were accepted.
    pub accepted: Vec<String>,
    /// How often each address (lowercased) reached a 200 answer.
    pub sent_counts: HashMap<String, u32>,
    /// Broken rules: a request inside a `Retry-After` window, a list over the limit, ...
    pub violations: Vec<String>,
    /// The most bounce requests in flight at once.
    pub max_in_flight: u32,
    /// Bounce requests refused by the concurrency limit.
    pub concurrency_refusals: u32,
    /// Unix time (seconds) when the simulator started, which `Seen::at_ms` counts from.
    pub started_epoch: f64,
}

pub(crate) struct Shared {
    config: SimConfig,
    users: HashSet<String>,
    /// Okta ids of the users, in the order of `config.users`.
    user_ids: Vec<String>,
    base: String,
    started: tokio::time::Instant,
    state: Mutex<Inner>,
    org: Mutex<org::OrgState>,
    oauth: Mutex<oauth::OAuthState>,
    logs: Mutex<logs::EventStore>,
    mail: Mutex<mail::MailState>,
}

#[derive(Default)]
struct Inner {
    record: Record,
    buckets: HashMap<&'static str, limits::Bucket>,
    bounce_requests: u64,
    org_requests: u64,
    in_flight: u32,
    /// Bounce requests in flight, by principal id.
    in_flight_by: HashMap<String, u32>,
    token_requests: u32,
}

pub(crate) fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn base_url(&self) -> String {
        self.base.clone()
    }

    pub(crate) fn log_with_body(
        &self,
        method: &str,
        path: &str,
        status: StatusCode,
        headers: &HeaderMap,
        body: Option<String>,
    ) {
        let seen = Seen {
            body,
            ..self.seen(method, path, status, headers)
        };
        self.lock().record.requests.push(seen);
    }

    /// The 401/403 to answer when the request may not call `method path`, which needs `scope`, if any.
    /// API tokens (SSWS) carry every scope unless registered with fewer; OAuth access tokens carry what
    /// they were granted, and DPoP-bound ones need a valid proof.
    pub(crate) fn refuse_scope(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        scope: &str,
    ) -> Option<Response> {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        if let Some((scheme, token)) = given.and_then(|g| g.split_once(' '))
            && (scheme == "Bearer" || scheme == "DPoP")
        {
            return self.refuse_access_token(scheme, token.trim(), headers, method, path, scope);
        }
        let scoped = self
            .config
            .scoped_tokens
            .iter()
            .find(|(t, _)| given == Some(format!("SSWS {t}").as_str()));
        match scoped {
            Some((_, scopes)) if scopes.iter().any(|s| s == scope) => None,
            Some(_) => Some(forbidden(path, scope)),
            None => self.refuse(headers),
        }
    }

    /// A request as seen now, before its extras.
    fn seen(&self, method: &str, path: &str, status: StatusCode, headers: &HeaderMap) -> Seen {
        let scheme = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_string);
        Seen {
            method: method.into(),
            path: path.into(),
            status: status.as_u16(),
            at_ms: self.started.elapsed().as_millis() as u64,
            batch: None,
            authorization_scheme: scheme,
            body: None,
            query: None,
        }
    }

    pub(crate) fn log(
        &self,
        method: &str,
        path: &str,
        status: StatusCode,
        batch: Option<usize>,
        headers: &HeaderMap,
    ) {
        let seen = Seen {
            batch,
            ..self.seen(method, path, status, headers)
        };
        self.lock().record.requests.push(seen);
    }

    pub(crate) fn log_query(
        &self,
        method: &str,
        path: &str,
        status: StatusCode,
        headers: &HeaderMap,
        query: Option<String>,
    ) {
        let seen = Seen {
            query,
            ..self.seen(method, path, status, headers)
        };
        self.lock().record.requests.push(seen);
    }

    pub(crate) fn violation(&self, what: String) {
        self.lock().record.violations.push(what);
    }

    /// Whether the `n`-th request of an endpoint family gets an injected failure.
    pub(crate) fn inject(&self, org: bool) -> bool {
        let mut inner = self.lock();
        let n = if org {
            inner.org_requests += 1;
            inner.org_requests
        } else {
            inner.bounce_requests += 1;
            inner.bounce_requests
        };
        (!org || self.config.fail_org)
            && self
                .config
                .fail_every
                .is_some_and(|k| k > 0 && n.is_multiple_of(u64::from(k)))
    }

    /// Checks the `Authorization` header; `Some` is the 401 to answer.
    pub(crate) fn refuse(&self, headers: &HeaderMap) -> Option<Response> {
        let want = format!("SSWS {}", self.config.token);
        match headers.get("authorization").and_then(|v| v.to_str().ok()) {
            Some(v) if v == want => None,
            _ => Some(error_response(
                StatusCode::UNAUTHORIZED,
                "E0000011",
                "Invalid token provided",
                &[],
            )),
        }
    }
}

/// The 403 of a token without the scope an endpoint needs.
pub(crate) fn forbidden(path: &str, scope: &str) -> Response {
    let mut resp = error_response(
        StatusCode::FORBIDDEN,
        "E0000006",
        "You do not have permission to perform the requested action",
        &[],
    );
    let challenge = format!(
        "Bearer authorization_uri=\"/oauth2/v1/authorize\", error=\"insufficient_scope\", \
         error_description=\"The access token provided does not contain the required scopes.\", \
         resource=\"{path}\", scope=\"{scope}\""
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert("www-authenticate", v);
    }
    resp
}

/// Okta's error envelope, as the OpenAPI spec shapes it.
pub(crate) fn error_response(
    status: StatusCode,
    code: &str,
    summary: &str,
    causes: &[&str],
) -> Response {
    let causes: Vec<_> = causes
        .iter()
        .map(|c| json!({ "errorSummary": c }))
        .collect();
    let body = json!({
        "errorCode": code,
        "errorSummary": summary,
        "errorLink": code,
        "errorId": format!("oae{}", fastrand::u64(..) % 1_000_000_000),
        "errorCauses": causes,
    });
    (status, axum::Json(body)).into_response()
}

/// A running simulator; dropping it stops the server.
pub struct Simulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// The server, and the mail flow if any.
    tasks: Vec<JoinHandle<()>>,
}

impl Simulator {
    /// Starts on 127.0.0.1:`port` (0 for an ephemeral port).
    pub async fn start(config: SimConfig, port: u16) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let user_ids: Vec<String> = (0..config.users.len()).map(user_id).collect();
        let config_log_events = config.log_events.clone();
        let config_bounce_list = config.bounce_list.clone();
        let shared = Arc::new(Shared {
            users: config.users.iter().map(|u| u.to_lowercase()).collect(),
            org: Mutex::new(org::OrgState::new(&user_ids, &config.org)),
            user_ids,
            base: format!("http://{addr}"),
            config,
            started: tokio::time::Instant::now(),
            state: Mutex::new(Inner {
                record: Record {
                    started_epoch: now_epoch(),
                    ..Record::default()
                },
                ..Inner::default()
            }),
            oauth: Mutex::default(),
            logs: Mutex::new(logs::EventStore::seeded(
                &config_log_events,
                logs::time::now_ms(),
            )),
            mail: Mutex::new(mail::MailState::listing(&config_bounce_list)),
        });
        let app = org::routes()
            .route(
                "/api/v1/org/email/bounces/remove-list",
                post(bounces::remove_list),
            )
            .route(logs::PATH, get(logs::list))
            .route(principals::PATH, get(principals::list))
            .route(
                &format!("{}/{{principal_rate_limit_id}}", principals::PATH),
                get(principals::one),
            )
            .route("/oauth2/v1/token", post(oauth::token))
            .route("/__simulator/record", get(record))
            .route("/__simulator/mail", get(mail_truth))
            .layer(axum::middleware::from_fn_with_state(
                shared.clone(),
                huge::grow,
            ))
            .with_state(shared.clone());
        let mut tasks = vec![tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        })];
        if let Some(flow) = shared.config.mail.clone() {
            tasks.push(tokio::spawn(mail::run(shared.clone(), flow)));
        }
        Ok(Simulator {
            addr,
            shared,
            tasks,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// A copy of what the simulator has seen so far.
    pub fn record(&self) -> Record {
        self.shared.lock().record.clone()
    }

    /// Stores System Log events now, in the order given and as given (their `published` may be earlier:
    /// an event that arrives late).
    pub fn add_log_events(&self, events: Vec<serde_json::Value>) {
        self.shared.add_events(events);
    }

    /// Every System Log event stored so far, in persistence order.
    pub fn log_events(&self) -> Vec<serde_json::Value> {
        self.shared.stored_events()
    }

    /// The ground truth of the org's mail so far: every delivery event the simulator wrote (by the
    /// mail flow, or after a removal) as it really was, every `remove-list` request, the bounce list.
    pub fn mail(&self) -> MailTruth {
        self.shared.mail_truth()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn mail_truth(axum::extract::State(s): axum::extract::State<Arc<Shared>>) -> Response {
    axum::Json(s.mail_truth()).into_response()
}

async fn record(axum::extract::State(s): axum::extract::State<Arc<Shared>>) -> Response {
    let record = s.lock().record.clone();
    axum::Json(record).into_response()
}
