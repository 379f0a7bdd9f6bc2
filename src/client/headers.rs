//! What Okta's response headers say about pacing: `X-Rate-Limit-Limit/-Remaining/-Reset`, `Retry-After`
//! (delta-seconds or HTTP-date) and `Date`, the server's clock that the absolute times are measured against.

use std::time::{Duration, UNIX_EPOCH};

use reqwest::header::{DATE, HeaderMap, RETRY_AFTER};

/// The longest delay taken from a `Retry-After` (a year): anything longer is read as this, so arithmetic
/// on it cannot overflow; `--max-wait` decides whether to sit it out.
pub const MAX_DELAY_SECS: u64 = 365 * 24 * 3600;

/// `Retry-After` in either of its RFC 9110 forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    Delay(Duration),
    /// An HTTP-date, as epoch seconds of the server's clock.
    At(u64),
}

/// The pacing-related facts of one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pacing {
    pub limit: Option<u32>,
    pub remaining: Option<u32>,
    /// Epoch second (server clock) when the rate-limit window resets.
    pub reset: Option<u64>,
    pub retry_after: Option<RetryAfter>,
    /// The response's `Date`, epoch seconds.
    pub date: Option<u64>,
}

impl Pacing {
    pub fn from_headers(h: &HeaderMap) -> Pacing {
        Pacing {
            limit: number(h, "x-rate-limit-limit"),
            remaining: number(h, "x-rate-limit-remaining"),
            reset: number(h, "x-rate-limit-reset"),
            retry_after: h
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after),
            date: h
                .get(DATE)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_http_date),
        }
    }
}

fn number<T: std::str::FromStr>(h: &HeaderMap, name: &str) -> Option<T> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

pub fn parse_retry_after(v: &str) -> Option<RetryAfter> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(RetryAfter::Delay(Duration::from_secs(
            secs.min(MAX_DELAY_SECS),
        )));
    }
    // Some servers send fractional seconds; RFC 9110 does not, but reading them costs nothing.
    if let Ok(secs) = v.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(RetryAfter::Delay(Duration::from_secs_f64(
            secs.min(MAX_DELAY_SECS as f64),
        )));
    }
    parse_http_date(v).map(RetryAfter::At)
}

pub fn parse_http_date(v: &str) -> Option<u64> {
    let t = httpdate::parse_http_date(v.trim()).ok()?;
    Some(t.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn reads_both_retry_after_forms() {
        assert_eq!(
            parse_retry_after("600"),
            Some(RetryAfter::Delay(Duration::from_secs(600)))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(RetryAfter::At(1_445_412_480))
        );
        assert_eq!(
            parse_retry_after("1.5"),
            Some(RetryAfter::Delay(Duration::from_millis(1500)))
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }

    #[test]
    fn reads_rate_limit_headers() {
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-limit", HeaderValue::from_static("60"));
        h.insert("x-rate-limit-remaining", HeaderValue::from_static("0"));
        h.insert("x-rate-limit-reset", HeaderValue::from_static("1700000060"));
        h.insert(
            DATE,
            HeaderValue::from_static("Tue, 14 Nov 2023 22:13:20 GMT"),
        );
        let p = Pacing::from_headers(&h);
        assert_eq!(
            p,
            Pacing {
                limit: Some(60),
                remaining: Some(0),
                reset: Some(1_700_000_060),
                retry_after: None,
                date: Some(1_700_000_000),
            }
        );
    }
}
