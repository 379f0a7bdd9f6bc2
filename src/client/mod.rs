//! The HTTP client every command shares: one reqwest client (rustls, no redirects, credentials in a
//! sensitive header), beneath it one stack of pacing ([`pacer::Pacer`]) and retries (`backon`, honouring
//! `Retry-After`), and Okta's error envelope decoded into [`ApiError`]. Endpoint code builds a [`Request`]
//! and calls [`Client::send`]; it never sleeps or retries by itself.

pub mod error;
pub mod headers;
pub mod pacer;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION, USER_AGENT,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::time::Instant;
use tracing::{debug, info};

pub use error::{ApiError, OktaError, StopReason};
use headers::Pacing;
use pacer::Pacer;

use crate::oauth::OAuth;
use crate::secret::Secret;

/// The first backoff delay after a 5xx, a network error or a throttle that named no time.
const MIN_BACKOFF: Duration = Duration::from_millis(500);

/// How requests are authorised. (SSWS API tokens today; OAuth access tokens use the same header.)
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: SSWS <token>`.
    Ssws(Secret),
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// OAuth 2.0 access tokens from a service app's private key (and DPoP proofs, when on).
    OAuth(Arc<OAuth>),
}

impl Auth {
    fn header(&self) -> HeaderValue {
        let (scheme, token) = match self {
            Auth::Ssws(t) => ("SSWS", t),
            Auth::Bearer(t) => ("Bearer", t),
            Auth::OAuth(_) => return HeaderValue::from_static("unused"),
        };
        let mut v = HeaderValue::from_str(&format!("{scheme} {}", token.expose()))
            .unwrap_or_else(|_| HeaderValue::from_static("invalid"));
        v.set_sensitive(true);
        v
    }
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Ssws(_) => f.write_str("Auth::Ssws(<redacted>)"),
            Auth::Bearer(_) => f.write_str("Auth::Bearer(<redacted>)"),
            Auth::OAuth(_) => f.write_str("Auth::OAuth(<redacted>)"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub org_url: Url,
    pub auth: Auth,
    pub timeout: Duration,
    /// Retries of one request after 429/503/5xx/transport errors.
    pub max_retries: usize,
    /// `--rate`: at most this many requests a minute.
    pub rate: Option<NonZeroU32>,
    /// `--max-wait`: the longest server-requested wait to sit out.
    pub max_wait: Option<Duration>,
    /// `--ca-cert`: one more trusted CA (PEM), for TLS-inspecting proxies.
    pub ca_cert: Option<std::path::PathBuf>,
}

impl ClientOptions {
    pub fn new(org_url: Url, auth: Auth) -> ClientOptions {
        ClientOptions {
            org_url,
            auth,
            timeout: Duration::from_secs(60),
            max_retries: 6,
            rate: None,
            max_wait: None,
            ca_cert: None,
        }
    }
}

/// A request body. Bodies are kept as bytes so a retry can send them again.
#[derive(Debug, Clone)]
pub enum Body {
    Empty,
    Json(Vec<u8>),
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
    /// Safe to send again after a timeout or a dropped connection (the server may have acted on it).
    pub idempotent: bool,
    /// What the log line says about the request instead of its body (never the addresses).
    pub note: String,
    /// The OAuth scope the operation needs.
    pub scope: &'static str,
    /// Sent without credentials (public endpoints such as the org metadata).
    pub anonymous: bool,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Request {
        Request {
            method: method.clone(),
            path: path.into(),
            body: Body::Empty,
            idempotent: true,
            note: String::new(),
            scope: if method == Method::GET {
                "okta.orgs.read"
            } else {
                "okta.orgs.manage"
            },
            anonymous: false,
        }
    }

    pub fn anonymous(mut self) -> Request {
        self.anonymous = true;
        self
    }

    pub fn scope(mut self, scope: &'static str) -> Request {
        self.scope = scope;
        self
    }

    pub fn json(mut self, value: &impl serde::Serialize) -> Request {
        self.body = Body::Json(serde_json::to_vec(value).expect("serialisable body"));
        self
    }

    pub fn not_idempotent(mut self) -> Request {
        self.idempotent = false;
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
}

impl Response {
    /// The body as `T`; a mismatch names the JSON path that did not fit.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let de = &mut serde_json::Deserializer::from_slice(&self.body);
        serde_path_to_error::deserialize(de)
            .map_err(|e| ApiError::Decode(format!("at {}: {}", e.path(), e.inner())))
    }
}

/// Counters for the summary line.
#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
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
    Stopped(StopReason),
}

impl Attempt {
    fn detail(&self) -> String {
        match self {
            Attempt::Throttled { status, error, .. } | Attempt::Server { status, error } => {
                let text = error.to_string();
                if text.is_empty() {
                    format!("HTTP {}", status.as_u16())
                } else {
                    format!("HTTP {}: {text}", status.as_u16())
                }
            }
            Attempt::Transport { detail, .. } => detail.clone(),
            Attempt::Stopped(r) => r.message.clone(),
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    base: Url,
    auth: Auth,
    pacer: Arc<Pacer>,
    max_retries: usize,
    stats: Arc<Stats>,
}

/// Installs the TLS crypto provider (ring) once per process; needed before any reqwest client is built.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client, String> {
        install_crypto();
        // Redirects are never followed: no credential can be carried to another host.
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(opts.timeout)
            .connect_timeout(Duration::from_secs(10).min(opts.timeout));
        // HTTPS_PROXY/NO_PROXY are honoured (reqwest reads them), but this machine is never reached
        // through a proxy.
        if crate::config::is_loopback(opts.org_url.host_str().unwrap_or_default()) {
            builder = builder.no_proxy();
        }
        if let Some(path) = &opts.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| format!("cannot read the CA certificate {}: {e}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{} is not a PEM certificate: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("{} holds no PEM certificate", path.display()));
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(Client {
            http,
            base: opts.org_url,
            auth: opts.auth,
            pacer: Arc::new(Pacer::new(opts.rate, opts.max_wait)),
            max_retries: opts.max_retries,
            stats: Arc::default(),
        })
    }

    pub fn pacer(&self) -> &Arc<Pacer> {
        &self.pacer
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.stats
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends `req` through the pacer with retries. 2xx comes back as `Ok`; everything else as the error
    /// that ended the attempts. With OAuth, a 401 gets one more try with a new access token, and a
    /// `use_dpop_nonce` challenge a try with the nonce it gave.
    pub async fn send(&self, req: &Request) -> Result<Response, ApiError> {
        let Auth::OAuth(oauth) = &self.auth else {
            return self.send_paced(req).await;
        };
        let mut renewed = false;
        let mut nonce_tries = 0;
        loop {
            let started = Instant::now();
            match self.send_paced(req).await {
                Err(ApiError::Status {
                    status,
                    www_authenticate,
                    ..
                }) if status == StatusCode::UNAUTHORIZED
                    && www_authenticate
                        .as_deref()
                        .is_some_and(|w| w.contains("use_dpop_nonce"))
                    && nonce_tries < 5 =>
                {
                    nonce_tries += 1;
                    debug!(
                        "{} {}: Okta asked for a new DPoP nonce",
                        req.method, req.path
                    );
                }
                Err(ApiError::Status { status, .. })
                    if status == StatusCode::UNAUTHORIZED && !renewed && !req.anonymous =>
                {
                    renewed = true;
                    debug!(
                        "{} {}: 401 with a cached token; getting a new one",
                        req.method, req.path
                    );
                    oauth.invalidate_older_than(started).await;
                }
                other => return other,
            }
        }
    }

    async fn send_paced(&self, req: &Request) -> Result<Response, ApiError> {
        let backoff = ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(MIN_BACKOFF)
            .with_max_delay(Duration::from_secs(30))
            .with_max_times(self.max_retries);
        let attempts = AtomicU64::new(0);
        let result = (|| async {
            attempts.fetch_add(1, Ordering::Relaxed);
            self.attempt(req).await
        })
        .retry(backoff)
        .when(|e| match e {
            Attempt::Throttled { .. } | Attempt::Server { .. } => true,
            Attempt::Transport { maybe_sent, .. } => req.idempotent || !maybe_sent,
            Attempt::Stopped(_) => false,
        })
        // A 429/503 has already paused the shared pacer (see `attempt`), so every worker holds off and
        // this retry waits there. Only a throttle that named no time gets the backoff, also through the
        // pacer. The budget of retries still bounds how often: a server that answers 429 forever does
        // not keep the run alive forever.
        .adjust(|e, backoff| {
            let backoff = backoff?;
            match e {
                Attempt::Throttled { until: Some(_), .. } => Some(Duration::ZERO),
                Attempt::Throttled { until: None, .. } => self
                    .pacer
                    .pause_until(Instant::now() + backoff)
                    .ok()
                    .map(|()| Duration::ZERO),
                _ => Some(backoff),
            }
        })
        .notify(|e, wait| {
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            debug!(
                "{} {}: {}; retrying{}",
                req.method,
                req.path,
                e.detail(),
                if wait.is_zero() {
                    String::new()
                } else {
                    format!(" in {:.1} s", wait.as_secs_f64())
                }
            );
        })
        .await;
        result.map_err(|e| match (e, self.pacer.stopped()) {
            (Attempt::Stopped(r), _) | (Attempt::Throttled { .. }, Some(r)) => ApiError::Stopped(r),
            (other, _) => ApiError::Exhausted {
                attempts: attempts.load(Ordering::Relaxed) as u32,
                detail: other.detail(),
            },
        })?
    }

    /// One attempt: wait at the gate, send, read the answer, tell the gate what the headers say.
    async fn attempt(&self, req: &Request) -> Result<Result<Response, ApiError>, Attempt> {
        let permit = self.pacer.acquire().await.map_err(Attempt::Stopped)?;
        let url = self
            .base
            .join(req.path.trim_start_matches('/'))
            .map_err(|e| {
                Attempt::Stopped(StopReason {
                    exit: crate::exit::Exit::Usage,
                    message: format!("bad request path {}: {e}", req.path),
                })
            })?;
        let mut builder = self
            .http
            .request(req.method.clone(), url)
            .header(ACCEPT, "application/json")
            .header(USER_AGENT, concat!("okta-org/", env!("CARGO_PKG_VERSION")));
        if !req.anonymous {
            builder = match &self.auth {
                Auth::OAuth(oauth) => {
                    let url = self
                        .base
                        .join(req.path.trim_start_matches('/'))
                        .expect("checked above");
                    match oauth.headers(&self.http, &req.method, &url).await {
                        Ok(headers) => headers
                            .into_iter()
                            .fold(builder, |b, (k, v)| b.header(k, v)),
                        Err(ApiError::Exhausted { detail, .. }) => {
                            return Err(Attempt::Transport {
                                detail,
                                maybe_sent: false,
                            });
                        }
                        Err(e) => return Err(Attempt::Stopped(e.stop_reason())),
                    }
                }
                other => builder.header(AUTHORIZATION, other.header()),
            };
        }
        builder = match &req.body {
            Body::Empty => builder,
            Body::Json(bytes) => builder
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
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
        self.stats.requests.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let sent = tokio::select! {
            r = builder.send() => r,
            _ = self.pacer.interrupted().cancelled() => return Err(Attempt::Stopped(StopReason::interrupted())),
        };
        let resp = sent.map_err(|e| Attempt::Transport {
            maybe_sent: !e.is_connect(),
            detail: transport_detail(&e),
        })?;
        let received = Instant::now();
        let status = resp.status();
        let headers = resp.headers().clone();
        if let Auth::OAuth(oauth) = &self.auth {
            oauth.observe(&headers);
        }
        let pacing = Pacing::from_headers(&headers);
        self.pacer.observe(&permit, received, &pacing);
        let body = tokio::select! {
            r = resp.bytes() => r.map_err(|e| Attempt::Transport { maybe_sent: true, detail: transport_detail(&e) })?,
            _ = self.pacer.interrupted().cancelled() => return Err(Attempt::Stopped(StopReason::interrupted())),
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
        let body = body.to_vec();
        if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
            let until = match pacing.retry_after {
                Some(headers::RetryAfter::Delay(d)) => Some(received + d),
                Some(headers::RetryAfter::At(epoch)) => Some(self.pacer.instant_for(epoch)),
                None if status == StatusCode::TOO_MANY_REQUESTS => self
                    .pacer
                    .spent_window_reset()
                    .or_else(|| pacing.reset.map(|r| self.pacer.instant_for(r))),
                None => self.pacer.spent_window_reset(),
            };
            // The pause is set before this request leaves the gate, so no other worker's request can
            // slip out inside the window the server just named. With no time named, hold everyone for
            // the shortest backoff until the retry policy picks the real one.
            let pause = until.unwrap_or(received + MIN_BACKOFF);
            let paused = self.pacer.pause_until(pause);
            drop(permit);
            if let Err(reason) = paused {
                return Err(Attempt::Stopped(reason));
            }
            return Err(Attempt::Throttled {
                status,
                until,
                error: OktaError::from_body(&body),
            });
        }
        drop(permit);
        if status.is_server_error() {
            return Err(Attempt::Server {
                status,
                error: OktaError::from_body(&body),
            });
        }
        if status.is_success() {
            return Ok(Ok(Response {
                status,
                headers,
                body,
            }));
        }
        Ok(Err(ApiError::Status {
            status,
            error: Box::new(OktaError::from_body(&body)),
            scope: Some(req.scope),
            www_authenticate: header_text(&headers, WWW_AUTHENTICATE.as_str()),
            location: header_text(&headers, LOCATION.as_str()),
        }))
    }
}

fn header_text(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)?.to_str().ok().map(str::to_string)
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
