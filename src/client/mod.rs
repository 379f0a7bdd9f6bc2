//! The HTTP client every command shares: one reqwest client (rustls, no redirects, credentials in
//! sensitive headers), beneath it one stack of pacing (a [`pacer::Pacer`] per rate-limit bucket) and
//! retries (`backon`, honouring `Retry-After`), and Okta's error envelope decoded into [`ApiError`].
//! Endpoint code builds a [`Request`] and calls [`Client::send`]; it never sleeps or retries by itself.
//! Whatever authorizes requests plugs in through [`auth::Authorizer`].

pub mod auth;
mod body;
pub mod error;
pub mod headers;
pub mod pacer;
pub mod resolve;
mod watched;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{
    ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION, USER_AGENT,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::{info, warn};

pub use auth::{AuthRetry, Authorizer, StaticToken};
pub use error::{ApiError, Failure, OktaError, StopReason};
use headers::Pacing;
use pacer::{Answer, Control, MIN_BACKOFF, Pacer, PacerOptions, WriteMark};

/// Why the client could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read the CA certificate {}: {}", path.display(), crate::os_error::plain(source))]
    CaCertRead {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a PEM certificate: {detail}")]
    CaCertParse {
        path: std::path::PathBuf,
        detail: String,
    },
    #[error("{0} holds no PEM certificate")]
    CaCertEmpty(std::path::PathBuf),
    #[error("cannot set up the HTTP client: {0}")]
    Build(String),
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub org_url: Url,
    pub auth: Arc<dyn Authorizer>,
    pub timeout: Duration,
    /// Retries of one request after 429/503/5xx/transport errors.
    pub max_retries: usize,
    /// `--rate`, `--max-wait` and `--concurrency`, for every bucket.
    pub pacing: PacerOptions,
    /// The first backoff after a 5xx or a network error.
    pub min_backoff: Duration,
    /// `--ca-cert`: one more trusted CA (PEM), for TLS-inspecting proxies.
    pub ca_cert: Option<std::path::PathBuf>,
}

impl ClientOptions {
    pub fn new(org_url: Url, auth: Arc<dyn Authorizer>) -> ClientOptions {
        ClientOptions {
            org_url,
            auth,
            timeout: Duration::from_secs(60),
            max_retries: 6,
            pacing: PacerOptions::default(),
            min_backoff: MIN_BACKOFF,
            ca_cert: None,
        }
    }
}

/// A request body. Bodies are kept as bytes so a retry can send them again.
#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    Json(Vec<u8>),
    Form(Vec<(String, String)>),
    Multipart {
        field: &'static str,
        file_name: String,
        mime: &'static str,
        bytes: Vec<u8>,
    },
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub path: String,
    pub body: Body,
    /// Safe to send again when the server may have acted on it (a timeout, a dropped connection, a 5xx).
    pub idempotent: bool,
    /// What the log line says about the request instead of its body (never the addresses).
    pub note: String,
    /// The OAuth scope the operation needs (empty for public endpoints).
    pub scope: &'static str,
    /// Sent without credentials (public endpoints such as the org metadata, the token endpoint).
    pub anonymous: bool,
    /// The rate-limit bucket Okta counts it in.
    pub bucket: &'static str,
    /// The most bytes its successful answer may hold (its endpoint's limit); an error answer is read up
    /// to [`crate::endpoints::ERROR_ANSWER`] at most.
    pub answer_limit: usize,
    /// More headers (sensitive ones marked so), e.g. the token endpoint's DPoP proof.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Its place in line at the gate: lower goes first (a batch's place in the input).
    pub order: u64,
}

impl Request {
    pub fn json(mut self, value: &impl serde::Serialize) -> Request {
        self.body = Body::Json(serde_json::to_vec(value).expect("serialisable body"));
        self
    }

    pub fn order(mut self, order: u64) -> Request {
        self.order = order;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Request {
        self.note = note.into();
        self
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// When the request that got this answer left (after its wait at the gate).
    pub sent_at: Instant,
}

impl Response {
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(CONTENT_TYPE)?.to_str().ok()
    }

    /// The body as `T`. An empty body, or one that says it is not JSON, is named as such (a proxy or a
    /// captive portal answers HTML with 200); a mismatch names the JSON path that did not fit.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::Decode(format!(
                "HTTP {} with an empty body",
                self.status.as_u16()
            )));
        }
        if let Some(ct) = self.content_type() {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if !essence.is_empty() && !essence.contains("json") {
                let hint = if essence.starts_with("text/html") {
                    ": a proxy or captive portal?"
                } else {
                    ""
                };
                return Err(ApiError::Decode(format!("{essence} instead of JSON{hint}")));
            }
        }
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(de)
            .map_err(|e| ApiError::Decode(format!("at {}: {}", e.path(), e.inner())))
    }

    fn header_text(&self, name: &str) -> Option<String> {
        self.headers.get(name)?.to_str().ok().map(str::to_string)
    }
}

/// Counters for the summary line.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    /// `errors[]` entries of the bounce endpoint that named no address of the request.
    pub unmatched_errors: AtomicU64,
    /// Attempts that were retried because of 5xx or network errors (for the summary's warning).
    pub failures: AtomicU32,
    /// Answers that asked to wait (429, 503), for the metrics.
    pub throttled: AtomicU64,
}

/// What one attempt came to, before the retry policy decides.
#[derive(Debug)]
enum Attempt {
    /// 429 or 503: wait until `until` (or back off when the server gave no time), then retry.
    Throttled {
        status: StatusCode,
        until: Option<Instant>,
        error: OktaError,
    },
    /// Another 5xx.
    Server {
        status: StatusCode,
        error: OktaError,
    },
    Transport {
        detail: String,
        maybe_sent: bool,
    },
    /// Not worth another attempt: the run stopped, the host does not resolve, ...
    Fatal(ApiError),
}

impl Attempt {
    fn detail(&self) -> String {
        match self {
            Attempt::Throttled { status, error, .. } | Attempt::Server { status, error } => {
                let text = error.to_string();
                let reason = status.canonical_reason().unwrap_or("");
                if text.is_empty() {
                    format!("HTTP {} {reason}", status.as_u16())
                } else {
                    format!("HTTP {}: {text}", status.as_u16())
                }
            }
            Attempt::Transport { detail, .. } => detail.clone(),
            Attempt::Fatal(e) => e.to_string(),
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Arc<dyn Authorizer>,
    control: Arc<Control>,
    pacers: Mutex<HashMap<&'static str, Arc<Pacer>>>,
    pacing: PacerOptions,
    max_retries: usize,
    min_backoff: Duration,
    stats: Arc<Stats>,
}

/// Whether `host` is this machine (the only place plain `http://` may go, and never through a proxy).
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Installs the TLS crypto provider (ring) once per process; needed before any reqwest client is built.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client, ClientError> {
        install_crypto();
        // Redirects are never followed: no credential can be carried to another host.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Lookups whose failure has a type of its own (see `dns_failure`).
            .dns_resolver(resolve::System)
            .timeout(opts.timeout)
            .connect_timeout(Duration::from_secs(10).min(opts.timeout));
        // HTTPS_PROXY/NO_PROXY are honoured (reqwest reads them), but this machine is never reached
        // through a proxy.
        if is_loopback(opts.org_url.host_str().unwrap_or_default()) {
            builder = builder.no_proxy();
        }
        if let Some(path) = &opts.ca_cert {
            let pem = std::fs::read(path).map_err(|source| ClientError::CaCertRead {
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
                ClientError::CaCertParse {
                    path: path.clone(),
                    detail: e.to_string(),
                }
            })?;
            if certs.is_empty() {
                return Err(ClientError::CaCertEmpty(path.clone()));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Build(e.to_string()))?;
        Ok(Client {
            http,
            base: opts.org_url,
            auth: opts.auth,
            control: Arc::new(Control::new()),
            pacers: Mutex::default(),
            pacing: opts.pacing,
            max_retries: opts.max_retries,
            min_backoff: opts.min_backoff,
            stats: Arc::default(),
        })
    }

    /// The pacer of one rate-limit bucket (made on first use).
    pub fn pacer(&self, bucket: &'static str) -> Arc<Pacer> {
        let mut pacers = self.pacers.lock().unwrap_or_else(|e| e.into_inner());
        pacers
            .entry(bucket)
            .or_insert_with(|| Arc::new(Pacer::new(self.control.clone(), self.pacing)))
            .clone()
    }

    /// The run-wide stop and abandon signals.
    pub fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Time spent held at the gates (overlapping waits of one bucket counted once).
    pub fn waited(&self) -> Duration {
        let pacers = self.pacers.lock().unwrap_or_else(|e| e.into_inner());
        pacers.values().map(|p| p.waited()).sum()
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url, ApiError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ApiError::Decode(format!("bad request path {path}: {e}")))
    }

    /// Sends `req` through its bucket's pacer with retries. 2xx comes back as `Ok`; everything else as
    /// the error that ended the attempts. After a 401 the authorizer may ask for one more try (a new
    /// access token, a DPoP nonce).
    pub async fn send(&self, req: &Request) -> Result<Response, ApiError> {
        let mut tried = AuthRetry::default();
        loop {
            let resp = self.execute(&|| req.clone()).await?;
            if resp.status.is_success() {
                return Ok(resp);
            }
            let www = resp.header_text(WWW_AUTHENTICATE.as_str());
            if resp.status == StatusCode::UNAUTHORIZED
                && !req.anonymous
                && self
                    .auth
                    .retry_unauthorized(resp.sent_at, www.as_deref(), &mut tried)
                    .await
            {
                self.pacer(req.bucket).release_refusal_hold();
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            return Err(ApiError::Status {
                status: resp.status,
                error: Box::new(OktaError::from_body(&resp.body)),
                scope: Some(req.scope),
                www_authenticate: www,
                location: resp.header_text(LOCATION.as_str()),
            });
        }
    }

    /// Sends the request `make` builds (a fresh one for every attempt, so a signed assertion is never
    /// sent twice) with pacing and retries, and returns the final answer whatever its status, unless
    /// the attempts ran out or the run stopped.
    pub async fn execute(
        &self,
        make: &(dyn Fn() -> Request + Send + Sync),
    ) -> Result<Response, ApiError> {
        let first = make();
        let (method, path, idempotent) =
            (first.method.clone(), first.path.clone(), first.idempotent);
        let pacer = self.pacer(first.bucket);
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_backoff)
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(self.max_retries);
        let attempts = AtomicU64::new(0);
        let first = Mutex::new(Some(first));
        let result = (|| async {
            let n = attempts.fetch_add(1, Ordering::Relaxed);
            let req = first
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .filter(|_| n == 0)
                .unwrap_or_else(make);
            // The pacer reports a wait past --max-wait that an answer asked for; the client stops the
            // run with it (an acquire that meets the pause stops it too).
            self.attempt(&req, &pacer, n > 0)
                .await
                .inspect_err(|e| self.stop_past_max_wait(e))
        })
        .retry(backoff)
        .when(|e| match e {
            // A 429 was not acted on; anything else may have been.
            Attempt::Throttled { status, .. } => {
                idempotent || *status == StatusCode::TOO_MANY_REQUESTS
            }
            Attempt::Server { .. } => idempotent,
            Attempt::Transport { maybe_sent, .. } => idempotent || !maybe_sent,
            Attempt::Fatal(_) => false,
        })
        // A 429/503 has already paused the bucket's pacer (see `Permit::finish`), so every worker holds
        // off and this retry waits there. Only a throttle that named no time gets the backoff, also
        // through the pacer. The budget of retries still bounds how often: a server that answers 429
        // forever does not keep the run alive forever.
        .adjust(|e, backoff| {
            let backoff = backoff?;
            match e {
                Attempt::Throttled { until: Some(_), .. } => Some(Duration::ZERO),
                Attempt::Throttled { until: None, .. } => pacer
                    .pause_until(Instant::now() + backoff)
                    .map_err(|r| self.control.stop(r))
                    .ok()
                    .map(|()| Duration::ZERO),
                // A network error or a 5xx holds the whole bucket too: every batch backing off on its
                // own would flood a host that is down.
                _ => {
                    pacer.back_off(Instant::now() + backoff);
                    Some(Duration::ZERO)
                }
            }
        })
        .notify(|e, wait| {
            let wait = match e {
                Attempt::Throttled { until: Some(t), .. } => {
                    t.saturating_duration_since(Instant::now())
                }
                _ => pacer
                    .paused_until()
                    .map_or(wait, |t| t.saturating_duration_since(Instant::now())),
            };
            let n = attempts.load(Ordering::Relaxed);
            warn!(
                "{method} {path}: {}; retrying in {:.1} s (attempt {} of {})",
                e.detail().trim_end_matches('.'),
                wait.as_secs_f64(),
                n + 1,
                self.max_retries + 1
            );
        })
        .await;
        result.map_err(|e| match (e, self.control.stopped()) {
            (Attempt::Fatal(err), _) => err,
            (Attempt::Throttled { .. }, Some(r)) => ApiError::Stopped(r),
            (other, _) => {
                let attempts = attempts.load(Ordering::Relaxed) as u32;
                let retryable = match &other {
                    Attempt::Throttled { status, .. } => {
                        idempotent || *status == StatusCode::TOO_MANY_REQUESTS
                    }
                    Attempt::Server { .. } => idempotent,
                    Attempt::Transport { maybe_sent, .. } => idempotent || !maybe_sent,
                    Attempt::Fatal(_) => false,
                };
                if retryable {
                    ApiError::Exhausted {
                        attempts,
                        detail: other.detail(),
                    }
                } else {
                    ApiError::Unconfirmed {
                        detail: other.detail(),
                    }
                }
            }
        })
    }

    /// Stops the run when an attempt ended on a wait past `--max-wait` (the only stop reason that
    /// carries a time to retry): the pacer reports it, the client decides.
    fn stop_past_max_wait(&self, e: &Attempt) {
        if let Attempt::Fatal(ApiError::Stopped(r)) = e
            && r.retry_at.is_some()
        {
            self.control.stop(r.clone());
        }
    }

    /// The request as it goes out: its URL, headers (the authorizer's for this attempt) and body. With
    /// `mark`, its JSON body marks it written when the connection takes it (see [`watches`]).
    async fn build(
        &self,
        req: &Request,
        url: &Url,
        mark: Option<WriteMark>,
    ) -> Result<reqwest::RequestBuilder, Attempt> {
        let mut builder = self
            .http
            .request(req.method.clone(), url.clone())
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("okta-org/", env!("CARGO_PKG_VERSION")));
        for (k, v) in &req.headers {
            builder = builder.header(k, v);
        }
        if !req.anonymous {
            let headers = self
                .auth
                .headers(self, &req.method, url)
                .await
                .map_err(auth_failure)?;
            builder = headers
                .into_iter()
                .fold(builder, |b, (k, v)| b.header(k, v));
        }
        builder = match &req.body {
            Body::Empty => builder,
            Body::Json(bytes) => {
                builder
                    .header(CONTENT_TYPE, "application/json")
                    .body(match mark {
                        Some(mark) => {
                            reqwest::Body::wrap(watched::Watched::new(bytes.clone(), mark))
                        }
                        None => reqwest::Body::from(bytes.clone()),
                    })
            }
            Body::Form(fields) => builder.form(fields),
            Body::Multipart {
                field,
                file_name,
                mime,
                bytes,
            } => {
                let part = reqwest::multipart::Part::bytes(bytes.clone())
                    .file_name(file_name.clone())
                    .mime_str(mime)
                    .map_err(|e| Attempt::Transport {
                        detail: e.to_string(),
                        maybe_sent: false,
                    })?;
                builder.multipart(reqwest::multipart::Form::new().part(*field, part))
            }
        };
        Ok(builder)
    }

    /// One attempt: wait at the gate, send, take the answer's headers into the gate, read the body.
    /// (See [`watches`] for when a request counts as written.)
    /// A retry (`retry`) is counted as one when it goes out, not when it is planned: a run stopped during
    /// the wait before it has not retried.
    async fn attempt(
        &self,
        req: &Request,
        pacer: &Arc<Pacer>,
        retry: bool,
    ) -> Result<Response, Attempt> {
        if !req.anonymous {
            self.auth.prepare(self).await.map_err(auth_failure)?;
        }
        let url = self.url(&req.path).map_err(Attempt::Fatal)?;
        // A request made ready under a permit goes out only if the check at the moment of writing
        // passes (no pause came into force meanwhile, no answer already here is left unread, the
        // stream's spacing holds): else it waits again.
        let (permit, builder) = loop {
            let permit = pacer
                .acquire(req.order)
                .await
                .map_err(|r| Attempt::Fatal(ApiError::Stopped(r)))?;
            let mark = watches(req).then(|| WriteMark::new(pacer, &permit));
            let watched = mark.is_some();
            let builder = self.build(req, &url, mark).await?;
            if self.control.stopped().is_some() || !permit.clear_to_send(watched).await {
                permit.unsend();
                continue;
            }
            break (permit, builder);
        };
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        if retry {
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
        let started = Instant::now();
        let abandoned = || Attempt::Fatal(ApiError::Stopped(StopReason::abandoned()));
        let sent = tokio::select! {
            r = builder.send() => r,
            _ = self.control.abandoned().cancelled() => return Err(abandoned()),
        };
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                permit.fail();
                return Err(transport_failure(&e, &url));
            }
        };
        let received = Instant::now();
        let status = resp.status();
        let headers = resp.headers().clone();
        self.auth.observe(&headers);
        let pacing = Pacing::from_headers(&headers);
        let answer = match status {
            StatusCode::TOO_MANY_REQUESTS => Answer::TooMany,
            StatusCode::SERVICE_UNAVAILABLE => Answer::Unavailable,
            s if s.is_server_error() => Answer::ServerError,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if !req.anonymous => Answer::Refused,
            // A redirect: the org URL points elsewhere, and the run stops; nobody goes there meanwhile.
            s if s.is_redirection() => Answer::Refused,
            _ => Answer::Normal,
        };
        if matches!(answer, Answer::TooMany | Answer::Unavailable) {
            self.stats.throttled.fetch_add(1, Ordering::Relaxed);
        }
        // One step: the budget, the in-flight limit and any pause, before this request's place is freed.
        let until = permit
            .finish(received, &pacing, answer)
            .map_err(|r| Attempt::Fatal(ApiError::Stopped(r)))?;
        // The body is read as a stream, never past its limit: the rest of a longer one stays unread (the
        // answer is dropped, and its connection with it), so memory stays flat whatever the server sends.
        let limit = if status.is_success() {
            req.answer_limit
        } else {
            req.answer_limit.min(crate::endpoints::ERROR_ANSWER)
        };
        let (body, cut) = tokio::select! {
            r = body::read_capped(resp, limit) => r.map_err(|e| Attempt::Transport {
                maybe_sent: true,
                detail: transport_detail(&e),
            })?,
            _ = self.control.abandoned().cancelled() => return Err(abandoned()),
        };
        info!(
            "{} {}{} -> {} in {} ms{}",
            req.method,
            req.path,
            if req.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", req.note)
            },
            status.as_u16(),
            started.elapsed().as_millis(),
            rate_note(&pacing)
        );
        // A successful answer past its limit is malformed: nothing in it is taken (an error answer cut
        // short is still an error; only its start is ever shown).
        if cut && status.is_success() {
            return Err(Attempt::Fatal(ApiError::TooLarge {
                status: status.as_u16(),
                limit,
                idempotent: req.idempotent,
            }));
        }
        if matches!(answer, Answer::TooMany | Answer::Unavailable) {
            return Err(Attempt::Throttled {
                status,
                until,
                error: OktaError::from_body(&body),
            });
        }
        if status.is_server_error() {
            self.stats.failures.fetch_add(1, Ordering::Relaxed);
            return Err(Attempt::Server {
                status,
                error: OktaError::from_body(&body),
            });
        }
        Ok(Response {
            status,
            headers,
            body,
            sent_at: started,
        })
    }
}

/// An authorizer's failure as an attempt: network trouble reaching the token endpoint ends the attempt
/// like any other transport failure; anything else (refused, stopped) ends the request.
fn auth_failure(e: ApiError) -> Attempt {
    Attempt::Fatal(e)
}

/// Whether a request counts as written when the connection takes its body rather than when it passes
/// the check before sending: a remove-list request, whose stream of batches must not overtake one whose
/// connection got to it late and cross its answer. Only there: such a body cannot be copied, so
/// reqwest does not send it again itself after an HTTP/2 refusal of the stream (the client's own retry
/// does, a remove-list request being safe to send again), and other JSON requests keep that.
fn watches(req: &Request) -> bool {
    matches!(req.body, Body::Json(_))
        && req.idempotent
        && req.bucket == crate::endpoints::REMOVE_BOUNCES.bucket
}

fn transport_failure(e: &reqwest::Error, url: &Url) -> Attempt {
    if let Some(detail) = certificate_failure(e) {
        return Attempt::Fatal(ApiError::Certificate {
            host: url.host_str().unwrap_or_default().to_string(),
            detail,
        });
    }
    if let Some(temporary) = dns_failure(e) {
        return Attempt::Fatal(ApiError::Resolve {
            host: url.host_str().unwrap_or_default().to_string(),
            temporary,
        });
    }
    Attempt::Transport {
        maybe_sent: !e.is_connect(),
        detail: transport_detail(e),
    }
}

/// The TLS certificate check's refusal, if that is what failed: trying again cannot help.
fn certificate_failure(e: &reqwest::Error) -> Option<String> {
    use std::error::Error;
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>()
            && matches!(
                tls,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        {
            return Some(tls.to_string());
        }
        source = cause.source();
    }
    None
}

/// Whether the error is a failed name lookup (the resolver's error, found among its causes), and if so
/// whether the resolver called it temporary.
fn dns_failure(e: &reqwest::Error) -> Option<bool> {
    use std::error::Error;
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(f) = cause.downcast_ref::<resolve::ResolveFailed>() {
            return Some(f.temporary);
        }
        source = cause.source();
    }
    None
}

fn rate_note(p: &Pacing) -> String {
    let mut s = String::new();
    if let (Some(r), Some(l)) = (p.remaining, p.limit) {
        s.push_str(&format!("; rate limit {r}/{l} left"));
    }
    match p.retry_after {
        Some(headers::RetryAfter::Delay(d)) => {
            s.push_str(&format!("; Retry-After {} s", d.as_secs_f64()))
        }
        Some(headers::RetryAfter::At(t)) => s.push_str(&format!("; Retry-After at epoch {t}")),
        None => {}
    }
    s
}

/// A transport error with its causes, without the URL's query (there is none in this API) — and never a
/// header, so no credential can appear.
fn transport_detail(e: &reqwest::Error) -> String {
    use std::error::Error;
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "connection failed"
    };
    let mut s = kind.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}
