//! Okta's error envelope (`errorCode`, `errorSummary`, `errorCauses`, ...) and the typed error every API
//! call returns. The envelope is read in both shapes seen in Okta's documents: causes as objects with an
//! `errorSummary` (the OpenAPI spec) and causes as bare strings (the bounce endpoint's documented 400).

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OktaError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
    #[serde(default)]
    pub error_causes: Vec<ErrorCause>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorCause {
    Object {
        #[serde(rename = "errorSummary")]
        error_summary: String,
    },
    Text(String),
    Other(serde_json::Value),
}

impl ErrorCause {
    pub fn text(&self) -> String {
        match self {
            ErrorCause::Object { error_summary } => error_summary.clone(),
            ErrorCause::Text(t) => t.clone(),
            ErrorCause::Other(v) => v.to_string(),
        }
    }
}

impl OktaError {
    /// Parses an error body; a body that is not Okta's envelope still yields its text as the summary.
    pub fn from_body(body: &[u8]) -> OktaError {
        match serde_json::from_slice::<OktaError>(body) {
            Ok(e) if e.error_code.is_some() || e.error_summary.is_some() => e,
            _ => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                OktaError {
                    error_summary: (!text.is_empty())
                        .then(|| text.chars().take(300).collect::<String>()),
                    ..OktaError::default()
                }
            }
        }
    }

    /// `errorCode`, or `errorLink` when only that carries the code (the bounce endpoint's 400).
    pub fn code(&self) -> Option<&str> {
        self.error_code
            .as_deref()
            .or(self.error_link.as_deref().filter(|l| l.starts_with('E')))
    }

    pub fn causes(&self) -> Vec<String> {
        self.error_causes.iter().map(ErrorCause::text).collect()
    }

    /// The summary and causes as Okta wrote them: `Summary (cause; cause)`.
    pub fn text(&self) -> String {
        let mut s = self.error_summary.clone().unwrap_or_default();
        let causes = self.causes();
        if !causes.is_empty() {
            if !s.is_empty() {
                s.push_str(": ");
            }
            s.push_str(&causes.join("; "));
        }
        s
    }

    /// Whether this is the "more than 1,000 elements" refusal of an over-long list.
    pub fn is_list_too_long(&self) -> bool {
        let all = format!(
            "{} {}",
            self.error_summary.as_deref().unwrap_or(""),
            self.causes().join(" ")
        )
        .to_lowercase();
        all.contains("more than")
            && (all.contains("element") || all.contains("item") || all.contains("1,000"))
            || all.contains("too many") && all.contains("email")
    }
}

impl fmt::Display for OktaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code() {
            Some(code) => write!(f, "{code} {}", self.text()),
            None => f.write_str(&self.text()),
        }
    }
}

/// What kind of failure an error is, for the caller to decide what to tell (the command line turns it
/// into an exit status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// An answer this tool cannot read, or a refusal it cannot explain.
    Unexpected,
    /// The request or the configuration is wrong: fixing it is the user's part.
    Usage,
    /// Not done, and safe to try again later: rate limited, unavailable, interrupted.
    Retryable,
    /// Authentication or permission (401/403, or no access token).
    Auth,
    /// The object does not exist (404).
    NotFound,
}

/// Why a run stopped sending; every row not yet confirmed gets this as its `failed` reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopReason {
    pub failure: Failure,
    pub message: String,
    /// When to try again, when Okta said (a `--max-wait` stop).
    pub retry_at: Option<SystemTime>,
}

impl StopReason {
    /// Ctrl-C or SIGTERM: rows not yet sent.
    pub fn interrupted() -> StopReason {
        StopReason {
            failure: Failure::Retryable,
            message: "interrupted before it was sent (or sent again after a refusal)".into(),
            retry_at: None,
        }
    }

    /// A request given up while in flight: Okta may have acted on it.
    pub fn abandoned() -> StopReason {
        StopReason {
            failure: Failure::Retryable,
            message: "interrupted while in flight: Okta may have taken it (not confirmed; safe to send again)"
                .into(),
            retry_at: None,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The outcome of an API call that did not succeed, after pacing and retries.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Okta answered with a status this call cannot go on from (4xx other than 429, or a redirect).
    #[error("{}", status_line(*status, error, location.as_deref(), *scope, www_authenticate.as_deref()))]
    Status {
        status: StatusCode,
        error: Box<OktaError>,
        /// The OAuth scope the call needs, named in the message of a 403.
        scope: Option<&'static str>,
        /// `WWW-Authenticate`, which names a missing scope on a 403.
        www_authenticate: Option<String>,
        location: Option<String>,
    },
    /// Okta asked for a longer wait than `--max-wait` allows.
    #[error(
        "{why}: Okta asked to wait {} (more than --max-wait {}); retry after {}",
        secs(*wait), secs(*max_wait), humantime::format_rfc3339_seconds(*until)
    )]
    RateLimited {
        /// "rate limited" (a 429, a spent window), "unavailable (503)", or an earlier run's word.
        why: &'static str,
        wait: Duration,
        max_wait: Duration,
        until: SystemTime,
    },
    /// 429/5xx/transport failures went on past the retry budget.
    #[error("{detail} (gave up after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Exhausted { attempts: u32, detail: String },
    /// A request that is not safe to repeat failed in a way that leaves open whether it took effect.
    #[error(
        "{detail} (not retried: the request may have taken effect; check before running it again)"
    )]
    Unconfirmed { detail: String },
    /// The org's TLS certificate was refused.
    #[error(
        "the TLS certificate of {host} was refused ({detail}): check the org URL; behind a proxy that \
         inspects TLS, pass its CA certificate with --ca-cert FILE"
    )]
    Certificate { host: String, detail: String },
    /// The org's host name does not resolve.
    #[error("cannot resolve {host}: check the org URL{}", if *temporary { " (or this machine's network and DNS)" } else { "" })]
    Resolve { host: String, temporary: bool },
    /// The run was stopped (by another request's failure, or a signal) before this call finished.
    #[error("{0}")]
    Stopped(StopReason),
    /// A 2xx answer whose body is not what the API documents.
    #[error("answer could not be read: {0}")]
    Decode(String),
    /// A 2xx answer longer than its endpoint's limit ([`crate::endpoints`]): not read further, and
    /// taken as confirming nothing. Retryable: the request may well go through another time.
    #[error(
        "answer too large: HTTP {status} with a body over {} (more than any answer of this call can \
         hold: a proxy or a faulty server?), not read further; {}",
        mib(*limit),
        if *idempotent {
            "nothing is confirmed (safe to try again)"
        } else {
            "the request may have taken effect: check before running it again"
        }
    )]
    TooLarge {
        status: u16,
        limit: usize,
        /// Whether the request is safe to send again.
        idempotent: bool,
    },
    /// No access token: the authorization server refused the client, its key or its scopes.
    #[error("{0}")]
    Auth(String),
    /// A `Link: rel="next"` this tool does not follow: to another host (credentials go only to the org),
    /// or not a URL.
    #[error("the next page's link is not followed: {0}")]
    Link(String),
}

/// `4 MiB`, `64 KiB`, `1000 bytes`.
fn mib(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f64().ceil() as u64)
}

fn status_line(
    status: StatusCode,
    error: &OktaError,
    location: Option<&str>,
    scope: Option<&str>,
    www_authenticate: Option<&str>,
) -> String {
    // A redirect's body is a page for browsers, not a message.
    let text = if status.is_redirection() {
        String::new()
    } else {
        error.to_string()
    };
    let mut s = format!("HTTP {}", status.as_u16());
    if !text.is_empty() {
        s = format!("{s}: {text}");
    }
    match status.as_u16() {
        // An access token (OAuth, DPoP) is answered with its scheme's challenge; an API token is not.
        401 if www_authenticate.is_some_and(|w| {
            let w = w.trim_start().to_ascii_lowercase();
            w.starts_with("dpop") || w.starts_with("bearer")
        }) =>
        {
            s.push_str(
                " (authentication failed: Okta refused the access token even after a new one (and new \
                 DPoP nonces); check the service app's client ID, its key and the scopes granted to it)",
            )
        }
        401 => s.push_str(
            " (authentication failed: check the token in OKTA_CLIENT_TOKEN, --token-file or okta.yaml)",
        ),
        403 => s.push_str(&match scope {
            Some(scope) => format!(
                " (permission denied: this call needs the {scope} scope, or an API token of {})",
                who_may(scope)
            ),
            None => " (permission denied: the token's admin lacks a role this call needs)".into(),
        }),
        _ => {}
    }
    if status.is_redirection() {
        let target = location
            .and_then(|l| reqwest::Url::parse(l).ok())
            .and_then(|u| u.host_str().map(str::to_string));
        match target {
            Some(host) => s.push_str(&format!(
                " (a redirect to {host}: the org URL likely points elsewhere; use the org's own \
                 https://<org>.okta.com address)"
            )),
            None => s.push_str(" (a redirect: the org URL likely points elsewhere)"),
        }
    }
    if let Some(l) = location {
        s = format!("{s} (Location: {l})");
    }
    s
}

/// Whose API token may make a call of `scope`.
fn who_may(scope: &str) -> &'static str {
    match scope {
        "okta.logs.read" => {
            "an admin who may read the System Log (a Read-Only or Report Admin will do)"
        }
        s if s.ends_with(".read") => {
            "an admin who may read the org's settings (Read-Only Admin or above)"
        }
        _ => "an admin whose role may change the org's settings (such as Super Admin)",
    }
}

impl ApiError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What kind of failure this is.
    pub fn failure(&self) -> Failure {
        match self {
            ApiError::Status { status, .. } => match status.as_u16() {
                401 | 403 => Failure::Auth,
                404 => Failure::NotFound,
                300..=399 | 400 | 405 | 409 | 413 | 415 | 422 => Failure::Usage,
                _ => Failure::Unexpected,
            },
            ApiError::RateLimited { .. }
            | ApiError::Exhausted { .. }
            | ApiError::Unconfirmed { .. }
            | ApiError::TooLarge { .. } => Failure::Retryable,
            ApiError::Resolve {
                temporary: true, ..
            } => Failure::Retryable,
            ApiError::Resolve { .. } | ApiError::Certificate { .. } => Failure::Usage,
            ApiError::Stopped(r) => r.failure,
            ApiError::Decode(_) | ApiError::Link(_) => Failure::Unexpected,
            ApiError::Auth(_) => Failure::Auth,
        }
    }

    /// A stop reason for the rest of a run, when this error must end it.
    pub fn stop_reason(&self) -> StopReason {
        StopReason {
            failure: self.failure(),
            message: self.to_string(),
            retry_at: match self {
                ApiError::RateLimited { until, .. } => Some(*until),
                ApiError::Stopped(r) => r.retry_at,
                _ => None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_spec_envelope() {
        let e = OktaError::from_body(
            br#"{"errorCode":"E0000007","errorSummary":"Not found: Resource not found: 00u1 (User)","errorLink":"E0000007","errorId":"oae1","errorCauses":[]}"#,
        );
        assert_eq!(
            e.to_string(),
            "E0000007 Not found: Resource not found: 00u1 (User)"
        );
        let e = OktaError::from_body(
            br#"{"errorCode":"E0000001","errorSummary":"Api validation failed","errorCauses":[{"errorSummary":"emailAddresses: bad"}]}"#,
        );
        assert_eq!(
            e.to_string(),
            "E0000001 Api validation failed: emailAddresses: bad"
        );
    }

    #[test]
    fn reads_the_seed_400_with_string_causes() {
        let e = OktaError::from_body(
            br#"{"errorSummary":"Invalid request data format","errorLink":"E0000001","errorId":"invalid_request","errorCauses":["emailAddresses: The field cannot have more than 1,000 elements"]}"#,
        );
        assert_eq!(e.code(), Some("E0000001"));
        assert!(e.is_list_too_long());
        assert_eq!(
            e.text(),
            "Invalid request data format: emailAddresses: The field cannot have more than 1,000 elements"
        );
    }

    #[test]
    fn non_json_bodies_keep_their_text() {
        let e = OktaError::from_body(b"<html>Bad gateway</html>");
        assert_eq!(e.to_string(), "<html>Bad gateway</html>");
        assert!(!e.is_list_too_long());
        assert_eq!(OktaError::from_body(b"").to_string(), "");
    }
}
