//! `POST /api/v1/org/email/bounces/remove-list` as the Org API reference documents it: 200 with per-address
//! `errors` (RFC 3696 failures, addresses of no user) even when every address fails; the documented 400
//! envelope above 1,000 elements; E0000001 for an empty list; E0000003 for a body that is not JSON.
//! An accepted address leaves the org's bounce list; every request is noted with what it held.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::limits::too_many_in_flight;
use super::{Admission, BounceAnswer, Shared, error_response, logs, rfc3696};

pub const REASON_INVALID: &str =
    "Invalid email address. The provided email address failed validation against RFC 3696.";
pub const REASON_NOT_A_USER: &str =
    "This email address does not belong to any user in your organization.";

pub(crate) const PATH: &str = "/api/v1/org/email/bounces/remove-list";

/// The `emailAddresses` of a request body, if it has a list of strings there.
fn addresses(body: &[u8]) -> Option<Vec<String>> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("emailAddresses").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
}

pub(crate) async fn remove_list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = logs::time::now_ms();
    let held = addresses(&body);
    let (in_flight, admitted) = s.enter(&headers);
    let (resp, batch, accepted) = if admitted {
        answer(&s, &headers, held.as_deref())
    } else {
        s.check_window("bounces");
        (too_many_in_flight(), None, Vec::new())
    };
    s.log("POST", PATH, resp.status(), batch, &headers);
    // Off the bounce list the moment Okta accepts them.
    s.settle_removal(arrived, resp.status(), held, &accepted);
    if !accepted.is_empty() {
        let agent = headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        logs::schedule_removal(&s, accepted, s.principal(&headers), agent);
    }
    let refused = matches!(
        resp.status(),
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    );
    let wait = !(refused && s.config.fast_refusals);
    if wait && !s.config.latency.is_zero() {
        tokio::time::sleep(s.config.latency).await;
    }
    drop(in_flight);
    resp
}

/// The answer, the number of addresses asked for, and those accepted for removal.
fn answer(
    s: &Shared,
    headers: &HeaderMap,
    list: Option<&[String]>,
) -> (Response, Option<usize>, Vec<String>) {
    if let Some(resp) = s.refuse_scope("POST", PATH, headers, "okta.orgs.manage") {
        return (resp, None, Vec::new());
    }
    let batch = list.map(<[String]>::len);
    let inject = s.inject(false);
    let principal = s.principal_id(headers);
    let rate_headers = match s.admit("bounces", s.config.rate_limit, inject, principal.as_deref()) {
        Admission::Go(h) => h,
        Admission::Throttled(resp) => return (resp, batch, Vec::new()),
    };
    let with_headers = |mut resp: Response| {
        resp.headers_mut().extend(rate_headers.clone());
        resp
    };
    let Some(list) = list else {
        return (
            with_headers(error_response(
                StatusCode::BAD_REQUEST,
                "E0000003",
                "The request body was not well-formed.",
                &[],
            )),
            None,
            Vec::new(),
        );
    };
    if list.is_empty() {
        return (
            with_headers(error_response(
                StatusCode::BAD_REQUEST,
                "E0000001",
                "Api validation failed: emailAddresses",
                &["emailAddresses: The field must contain at least one element"],
            )),
            batch,
            Vec::new(),
        );
    }
    if list.len() > s.config.max_list {
        s.violation(format!("a request held {} addresses", list.len()));
        // Exactly the envelope the Org API reference shows (causes as bare strings, no errorCode).
        let body = json!({
            "errorSummary": "Invalid request data format",
            "errorLink": "E0000001",
            "errorId": "invalid_request",
            "errorCauses": [format!(
                "emailAddresses: The field cannot have more than {} elements",
                thousands(s.config.max_list)
            )],
        });
        return (
            with_headers((StatusCode::BAD_REQUEST, axum::Json(body)).into_response()),
            batch,
            Vec::new(),
        );
    }
    let poisoned = list
        .iter()
        .any(|a| s.config.poison.iter().any(|p| p.eq_ignore_ascii_case(a)));
    if poisoned {
        return (
            with_headers(error_response(
                StatusCode::BAD_REQUEST,
                "E0000001",
                "Api validation failed: emailAddresses",
                &["emailAddresses: The request contains an address that cannot be processed"],
            )),
            batch,
            Vec::new(),
        );
    }
    let mut errors = Vec::new();
    let mut accepted = Vec::new();
    let mut inner = s.lock();
    for addr in list {
        *inner
            .record
            .sent_counts
            .entry(addr.to_lowercase())
            .or_default() += 1;
        let reason = if !rfc3696::is_valid(addr) {
            Some(REASON_INVALID)
        } else if !s.users.contains(&addr.to_lowercase()) {
            Some(REASON_NOT_A_USER)
        } else {
            None
        };
        match reason {
            Some(reason) => errors.push(json!({ "emailAddress": addr, "reason": reason })),
            None => {
                inner.record.accepted.push(addr.clone());
                accepted.push(addr.clone());
            }
        }
    }
    drop(inner);
    if s.config.stray_error {
        errors.push(json!({ "emailAddress": "not-in-the-request@nowhere.example", "reason": REASON_NOT_A_USER }));
    }
    let resp = match s.config.bounce_answer {
        BounceAnswer::Normal => axum::Json(json!({ "errors": errors })).into_response(),
        BounceAnswer::Empty => StatusCode::OK.into_response(),
        BounceAnswer::NoContent => StatusCode::NO_CONTENT.into_response(),
        BounceAnswer::Html => (
            StatusCode::OK,
            [("content-type", "text/html; charset=utf-8")],
            "<html><body><h1>Sign in to the network</h1></body></html>",
        )
            .into_response(),
    };
    (with_headers(resp), batch, accepted)
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_separators() {
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1_234_567), "1,234,567");
    }
}
