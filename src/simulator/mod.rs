//! The embedded Okta simulator: an axum server on 127.0.0.1 that answers the Org API as Okta's documents
//! describe it, with rate-limit windows, `Retry-After`, injected failures and the documented error
//! envelopes. `okta-org simulate` runs it on its own; `--simulate` starts it inside a run; tests start it on
//! an ephemeral port and read back what it received.

mod bounces;
mod oauth;
mod org;

pub use oauth::ServiceApp;
pub use org::user_id;

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

/// The demo org behind `--simulate`: the users whose addresses appear as "good" rows in `samples/`.
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

impl std::str::FromStr for RetryAfterMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(RetryAfterMode::Auto),
            "none" => Ok(RetryAfterMode::Omit),
            n => n
                .parse()
                .map(RetryAfterMode::Seconds)
                .map_err(|_| format!("expected auto, none or a number of seconds, not {n:?}")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
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
        }
    }

    /// The demo org of `samples/`.
    pub fn demo(token: impl Into<String>) -> SimConfig {
        let mut c = SimConfig::new(token);
        c.users = parse_users(DEMO_USERS);
        c
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
}

/// A fixed rate-limit window, aligned to whole epoch seconds like Okta's `X-Rate-Limit-Reset`.
#[derive(Debug, Default)]
struct Bucket {
    reset: u64,
    used: u32,
    /// Epoch seconds (fractional) before which the last `Retry-After` said not to come back.
    blocked_until: f64,
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
}

#[derive(Default)]
struct Inner {
    record: Record,
    buckets: HashMap<&'static str, Bucket>,
    bounce_requests: u64,
}

pub(crate) fn now_epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

/// What the rate-limit check decided.
pub(crate) enum Admission {
    Go(HeaderMap),
    Throttled(Response),
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
        self.log(method, path, status, None, headers);
        if let Some(last) = self.lock().record.requests.last_mut() {
            last.body = body;
        }
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
            Some(_) => Some(forbidden(scope)),
            None => self.refuse(headers),
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
        let scheme = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_whitespace().next())
            .map(str::to_string);
        let at_ms = self.started.elapsed().as_millis() as u64;
        self.lock().record.requests.push(Seen {
            method: method.into(),
            path: path.into(),
            status: status.as_u16(),
            at_ms,
            batch,
            authorization_scheme: scheme,
            body: None,
        });
    }

    pub(crate) fn violation(&self, what: String) {
        self.lock().record.violations.push(what);
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

    /// Counts a request against `bucket` and decides whether it goes through. Throttled answers carry
    /// `Retry-After` per the configuration; every answer carries the `X-Rate-Limit-*` headers.
    pub(crate) fn admit(
        &self,
        bucket: &'static str,
        limit: u32,
        inject_failure: bool,
    ) -> Admission {
        let c = &self.config;
        let now = now_epoch();
        let mut inner = self.lock();
        let b = inner.buckets.entry(bucket).or_default();
        if now < b.blocked_until {
            let early = b.blocked_until - now;
            drop(inner);
            self.violation(format!(
                "request {early:.3} s inside a Retry-After window on {bucket}"
            ));
            inner = self.lock();
        }
        let b = inner.buckets.entry(bucket).or_default();
        if now >= b.reset as f64 {
            b.reset = now.floor() as u64 + c.window_secs.max(1);
            b.used = 0;
        }
        b.used = b.used.saturating_add(1);
        let over = b.used > limit || now < b.blocked_until;
        let remaining = limit.saturating_sub(b.used);
        let reset = b.reset;
        let mut headers = HeaderMap::new();
        if c.advertise_limits {
            headers.insert("x-rate-limit-limit", limit.into());
            headers.insert("x-rate-limit-remaining", remaining.into());
            headers.insert("x-rate-limit-reset", reset.into());
        }
        let throttle = |status: StatusCode, default_secs: f64, b: &mut Bucket| {
            let secs = match c.retry_after {
                RetryAfterMode::Auto => Some(default_secs.ceil().max(1.0) as u64),
                RetryAfterMode::Seconds(s) => Some(s),
                RetryAfterMode::Omit => None,
            };
            let mut h = headers.clone();
            if let Some(secs) = secs {
                let value = match c.retry_after_format {
                    RetryAfterFormat::Seconds => secs.to_string(),
                    RetryAfterFormat::HttpDate => {
                        // An HTTP-date has whole seconds: the window ends at the next whole second.
                        let at = now.floor() as u64 + secs + 1;
                        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(at))
                    }
                };
                let until = match c.retry_after_format {
                    RetryAfterFormat::Seconds => now + secs as f64,
                    RetryAfterFormat::HttpDate => (now.floor() as u64 + secs + 1) as f64,
                };
                b.blocked_until = b.blocked_until.max(until);
                h.insert(
                    "retry-after",
                    HeaderValue::from_str(&value).expect("header"),
                );
            }
            let (code, summary) = if status == StatusCode::TOO_MANY_REQUESTS {
                (
                    "E0000047",
                    "API call exceeded rate limit due to too many requests.",
                )
            } else {
                ("E0000009", "Internal Server Error")
            };
            let mut resp = error_response(status, code, summary, &[]);
            resp.headers_mut().extend(h);
            resp
        };
        if over {
            let wait = reset as f64 - now;
            return Admission::Throttled(throttle(StatusCode::TOO_MANY_REQUESTS, wait, b));
        }
        if inject_failure {
            let status =
                StatusCode::from_u16(c.fail_status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            if status == StatusCode::SERVICE_UNAVAILABLE {
                return Admission::Throttled(throttle(status, 1.0, b));
            }
            let mut resp = error_response(status, "E0000009", "Internal Server Error", &[]);
            resp.headers_mut().extend(headers);
            return Admission::Throttled(resp);
        }
        Admission::Go(headers)
    }
}

/// The 403 of a token without the scope an endpoint needs.
pub(crate) fn forbidden(scope: &str) -> Response {
    let mut resp = error_response(
        StatusCode::FORBIDDEN,
        "E0000006",
        "You do not have permission to perform the requested action",
        &[],
    );
    let challenge = format!(
        "Bearer authorization_uri=\"/oauth2/v1/authorize\", error=\"insufficient_scope\", \
         error_description=\"The access token provided does not contain the required scopes.\", \
         resource=\"/api/v1/org\", scope=\"{scope}\""
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
    task: JoinHandle<()>,
}

impl Simulator {
    /// Starts on 127.0.0.1:`port` (0 for an ephemeral port).
    pub async fn start(config: SimConfig, port: u16) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let user_ids: Vec<String> = (0..config.users.len()).map(user_id).collect();
        let shared = Arc::new(Shared {
            users: config.users.iter().map(|u| u.to_lowercase()).collect(),
            org: Mutex::new(org::OrgState::new(&user_ids)),
            user_ids,
            base: format!("http://{addr}"),
            config,
            started: tokio::time::Instant::now(),
            state: Mutex::default(),
            oauth: Mutex::default(),
        });
        let app = org::routes()
            .route(
                "/api/v1/org/email/bounces/remove-list",
                post(bounces::remove_list),
            )
            .route("/oauth2/v1/token", post(oauth::token))
            .route("/__simulator/record", get(record))
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Simulator { addr, shared, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A copy of what the simulator has seen so far.
    pub fn record(&self) -> Record {
        self.shared.lock().record.clone()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(axum::extract::State(s): axum::extract::State<Arc<Shared>>) -> Response {
    let record = s.lock().record.clone();
    axum::Json(record).into_response()
}
