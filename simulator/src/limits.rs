//! Okta's rate limits as the simulator enforces and reports them: fixed windows per bucket (the bounce
//! list, the System Log, the settings, the token endpoint, ...), the share of a bucket one principal (an
//! API token or an OAuth app) may use, `Retry-After` windows and the requests that break them, the
//! concurrency limit, and the injected faults that answer like a throttle.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{RetryAfterFormat, RetryAfterMode, Shared, error_response, now_epoch};

/// A fixed rate-limit window, aligned to whole epoch seconds like Okta's `X-Rate-Limit-Reset`.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    reset: u64,
    /// Requests in this window, of every principal.
    used: u32,
    /// Requests in this window, by principal id.
    used_by: HashMap<String, u32>,
    /// `Retry-After` windows, in epoch seconds (fractional): from when the answer naming it left, to
    /// when it said to come back. A request that arrived before the answer left could not know.
    windows: Vec<(f64, f64)>,
}

impl Bucket {
    /// The end of the `Retry-After` window `now` falls in, if any.
    fn blocked_at(&self, now: f64) -> Option<f64> {
        self.windows
            .iter()
            .filter(|&&(from, until)| from <= now && now < until)
            .map(|&(_, until)| until)
            .max_by(f64::total_cmp)
    }

    fn block(&mut self, from: f64, until: f64) {
        self.windows.retain(|&(_, u)| u > from - 60.0);
        self.windows.push((from, until));
    }
}

/// `percent` of `limit`, rounded down, at least 1: the most one principal may use.
pub(crate) fn share_of(limit: u32, percent: u32) -> u32 {
    if percent >= 100 {
        return limit;
    }
    (u64::from(limit) * u64::from(percent) / 100).max(1) as u32
}

/// The id Okta gives the `n`-th API token of the simulated org (0: the main token, then the scoped
/// ones in order), as `principalId` shows it.
pub(crate) fn token_id(n: usize) -> String {
    format!("00T{:017}", n + 1)
}

/// A bounce request in flight; dropping it (the answer has left) ends it.
pub(crate) struct InFlight<'a> {
    shared: &'a Shared,
    principal: Option<String>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut inner = self.shared.lock();
        inner.in_flight = inner.in_flight.saturating_sub(1);
        if let Some(p) = &self.principal
            && let Some(n) = inner.in_flight_by.get_mut(p)
        {
            *n = n.saturating_sub(1);
        }
    }
}

/// What the rate-limit check decided.
pub(crate) enum Admission {
    Go(HeaderMap),
    Throttled(Response),
}

impl Shared {
    /// The principal a request is counted against: the id of its API token, or the client id of the
    /// service app its access token was issued to. `None` for credentials the simulator does not know.
    pub(crate) fn principal_id(&self, headers: &HeaderMap) -> Option<String> {
        let given = headers.get("authorization")?.to_str().ok()?;
        let (scheme, token) = given.split_once(' ')?;
        let token = token.trim();
        match scheme {
            "SSWS" if token == self.config.token => Some(token_id(0)),
            "SSWS" => self
                .config
                .scoped_tokens
                .iter()
                .position(|(t, _)| t == token)
                .map(|i| token_id(i + 1)),
            "Bearer" | "DPoP" => self.client_of(token),
            _ => None,
        }
    }

    /// Counts a bounce request in flight; `false` when it is over the concurrency limit (the org's, or
    /// the principal's share of it).
    pub(crate) fn enter(&self, headers: &HeaderMap) -> (InFlight<'_>, bool) {
        let principal = self.principal_id(headers);
        let mut inner = self.lock();
        inner.in_flight += 1;
        let n = inner.in_flight;
        inner.record.max_in_flight = inner.record.max_in_flight.max(n);
        let mine = match &principal {
            Some(p) => {
                let m = inner.in_flight_by.entry(p.clone()).or_default();
                *m += 1;
                *m
            }
            None => n,
        };
        let share = self.config.principal_concurrency_share;
        let over = self
            .config
            .max_concurrent
            .is_some_and(|m| n > m || mine > share_of(m, share));
        if over {
            inner.record.concurrency_refusals += 1;
        }
        let guard = InFlight {
            shared: self,
            principal,
        };
        (guard, !over)
    }

    /// The first token requests fail as configured: `Some` is the answer.
    pub(crate) fn token_fault(&self) -> Option<Response> {
        let (count, status) = self.config.token_faults?;
        let n = {
            let mut inner = self.lock();
            inner.token_requests += 1;
            inner.token_requests
        };
        if n > count {
            return None;
        }
        let now = now_epoch();
        let (status, retry_after, until) = if status == 429 {
            // An HTTP-date names whole seconds: come back at the start of the second after next.
            let at = now.floor() as u64 + 2;
            (
                StatusCode::TOO_MANY_REQUESTS,
                httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(at)),
                at as f64,
            )
        } else {
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "1".to_string(),
                now + 1.0,
            )
        };
        {
            let mut inner = self.lock();
            let b = inner.buckets.entry("token").or_default();
            b.block(now, until);
        }
        let mut resp = (
            status,
            axum::Json(json!({ "error": "temporarily_unavailable", "error_description": "Try again later." })),
        )
            .into_response();
        resp.headers_mut().insert(
            "retry-after",
            HeaderValue::from_str(&retry_after).expect("header"),
        );
        Some(resp)
    }

    /// Notes a request to `bucket` that arrived inside a `Retry-After` window.
    pub(crate) fn check_window(&self, bucket: &'static str) {
        let now = now_epoch();
        let blocked = self
            .lock()
            .buckets
            .get(bucket)
            .and_then(|b| b.blocked_at(now));
        if let Some(until) = blocked {
            self.violation(format!(
                "request {:.3} s inside a Retry-After window on {bucket}",
                until - now
            ));
        }
    }

    /// Counts a request against `bucket` and decides whether it goes through. Throttled answers carry
    /// `Retry-After` per the configuration; every answer carries the `X-Rate-Limit-*` headers.
    ///
    /// A request of a known `principal` is also counted against that principal's share of the bucket
    /// (`principal_share` percent of `limit`), and the headers report the principal's ceiling: Okta
    /// documents `X-Rate-Limit-Limit` as "the rate limit ceiling that is applicable for the current
    /// request", which for a token or app held to a share of the bucket is that share. Remaining is the
    /// lower of what the principal and the whole bucket have left. With the default share of 100 % this
    /// is exactly the bucket's own limit.
    pub(crate) fn admit(
        &self,
        bucket: &'static str,
        limit: u32,
        inject_failure: bool,
        principal: Option<&str>,
    ) -> Admission {
        let c = &self.config;
        let now = now_epoch();
        let mut inner = self.lock();
        let b = inner.buckets.entry(bucket).or_default();
        let blocked = b.blocked_at(now);
        if let Some(until) = blocked {
            let early = until - now;
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
            b.used_by.clear();
        }
        b.used = b.used.saturating_add(1);
        let (ceiling, used) = match principal {
            Some(p) => {
                let mine = b.used_by.entry(p.to_string()).or_default();
                *mine = mine.saturating_add(1);
                (share_of(limit, c.principal_share), *mine)
            }
            None => (limit, b.used),
        };
        let over = b.used > limit || used > ceiling || blocked.is_some();
        let remaining = ceiling
            .saturating_sub(used)
            .min(limit.saturating_sub(b.used));
        let reset = b.reset;
        let mut headers = HeaderMap::new();
        if c.advertise_limits {
            headers.insert("x-rate-limit-limit", ceiling.into());
            headers.insert("x-rate-limit-remaining", remaining.into());
            headers.insert("x-rate-limit-reset", reset.into());
        }
        let delay = if c.fast_refusals {
            0.0
        } else {
            c.latency.as_secs_f64()
        };
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
                        let at = (now + delay).floor() as u64 + secs + 1;
                        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(at))
                    }
                };
                // The window starts when the answer leaves, a latency after the request arrived (at
                // once with `fast_refusals`).
                let sent = now + delay;
                let until = match c.retry_after_format {
                    RetryAfterFormat::Seconds => sent + secs as f64,
                    RetryAfterFormat::HttpDate => (sent.floor() as u64 + secs + 1) as f64,
                };
                b.block(sent, until);
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

/// Okta's answer when too many requests are in flight at once: a 429 whose rate-limit headers report the
/// concurrency limit (`X-Rate-Limit-Limit: 0`), without `Retry-After`.
pub(crate) fn too_many_in_flight() -> Response {
    let mut resp = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "E0000047",
        "API call exceeded rate limit due to too many requests.",
        &[],
    );
    let reset = now_epoch().ceil() as u64 + 1;
    let h = resp.headers_mut();
    h.insert("x-rate-limit-limit", 0u32.into());
    h.insert("x-rate-limit-remaining", 0u32.into());
    h.insert("x-rate-limit-reset", reset.into());
    resp
}

#[cfg(test)]
mod tests {
    use super::share_of;

    #[test]
    fn shares_round_down_but_leave_one() {
        assert_eq!(share_of(60, 100), 60);
        assert_eq!(share_of(60, 50), 30);
        assert_eq!(share_of(25, 50), 12);
        assert_eq!(share_of(1, 50), 1);
        assert_eq!(share_of(600, 1), 6);
        assert_eq!(share_of(60, 150), 60);
    }
}
