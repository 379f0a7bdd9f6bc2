//! `GET /api/v1/principal-rate-limits` and `GET /api/v1/principal-rate-limits/{id}` as the management
//! spec documents them: one entity per API token and per OAuth service app of the org, with the share of
//! each bucket (and of the concurrency limit) it may use, so a client can learn why its advertised limit
//! is below the org's. Scope `okta.principalRateLimits.read`; the `filter` on `principalType` is required.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::limits::token_id;
use super::{Admission, Shared, error_response};

pub(crate) const PATH: &str = "/api/v1/principal-rate-limits";
const SCOPE: &str = "okta.principalRateLimits.read";
/// The bucket these calls count against.
const BUCKET: &str = "principal-rate-limits";
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 50;
/// When the entities were created and last changed (the simulated org's defaults never change).
const CREATED: &str = "2024-01-24T14:15:22.000Z";

/// The principals of the org: the main API token, the scoped tokens, then the service apps.
fn principals(s: &Shared) -> Vec<(String, &'static str)> {
    let tokens = (0..=s.config.scoped_tokens.len()).map(|i| (token_id(i), "SSWS_TOKEN"));
    let apps = s
        .config
        .service_apps
        .iter()
        .map(|a| (a.client_id.clone(), "OAUTH_CLIENT"));
    tokens.chain(apps).collect()
}

fn entity(s: &Shared, index: usize, principal_id: &str, principal_type: &str) -> Value {
    let admin = super::logs::events::token_admin()["id"].clone();
    json!({
        "id": format!("0pr{:017}", index + 1),
        "principalId": principal_id,
        "principalType": principal_type,
        "defaultPercentage": s.config.principal_share.min(100),
        "defaultConcurrencyPercentage": s.config.principal_concurrency_share.min(100),
        "orgId": s.config.org.id,
        "createdBy": admin,
        "createdDate": CREATED,
        "lastUpdatedBy": admin,
        "lastUpdate": CREATED,
    })
}

fn invalid(field: &str, cause: &str) -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "E0000001",
        &format!("Api validation failed: {field}"),
        &[cause],
    )
}

/// The type a `filter` selects: exactly `principalType eq "SSWS_TOKEN"` or `... "OAUTH_CLIENT"`.
fn filtered_type(filter: &str) -> Option<&'static str> {
    let mut words = filter.split_whitespace();
    let (field, op, value) = (words.next()?, words.next()?, words.next()?);
    if words.next().is_some() || field != "principalType" || !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    match value.strip_prefix('"')?.strip_suffix('"')? {
        "SSWS_TOKEN" => Some("SSWS_TOKEN"),
        "OAUTH_CLIENT" => Some("OAUTH_CLIENT"),
        _ => None,
    }
}

/// Authorises and rate-limits a call (a refusal is answered like a throttle: at once).
fn admit(s: &Shared, method: &str, path: &str, headers: &HeaderMap) -> Admission {
    if let Some(refusal) = s.refuse_scope(method, path, headers, SCOPE) {
        return Admission::Throttled(refusal);
    }
    let principal = s.principal_id(headers);
    s.admit(
        BUCKET,
        s.config.default_rate_limit,
        false,
        principal.as_deref(),
    )
}

fn list_answer(s: &Shared, headers: &HeaderMap, raw: &str) -> Response {
    let rate = match admit(s, "GET", PATH, headers) {
        Admission::Go(h) => h,
        Admission::Throttled(resp) => return resp,
    };
    let mut resp = list_page(s, raw);
    resp.headers_mut().extend(rate);
    resp
}

fn list_page(s: &Shared, raw: &str) -> Response {
    let Ok(params) = serde_urlencoded::from_str::<Vec<(String, String)>>(raw) else {
        return invalid("query", "Invalid parameter: the query string is malformed");
    };
    let get = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(filter) = get("filter") else {
        return invalid("filter", "filter: The field is required");
    };
    let Some(wanted) = filtered_type(filter) else {
        return invalid(
            "filter",
            "Invalid filter: expected principalType eq \"SSWS_TOKEN\" or principalType eq \"OAUTH_CLIENT\"",
        );
    };
    let limit = match get("limit").map(|l| l.trim().parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return invalid(
                "limit",
                &format!("Invalid parameter: limit must be an integer between 1 and {MAX_LIMIT}"),
            );
        }
    };
    let start = match get("after") {
        None => 0,
        Some(a) => match a.strip_prefix("prl").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => n,
            None => {
                return invalid(
                    "after",
                    "Invalid parameter: after is not a cursor this server issued",
                );
            }
        },
    };
    let matching: Vec<(usize, String, &str)> = principals(s)
        .into_iter()
        .enumerate()
        .filter(|(_, (_, t))| *t == wanted)
        .map(|(i, (id, t))| (i, id, t))
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(limit)
        .map(|(i, id, t)| entity(s, *i, id, t))
        .collect();
    let mut resp = axum::Json(page).into_response();
    let base = format!("{}{PATH}", s.base_url());
    let own = format!("{base}?{raw}");
    let h = resp.headers_mut();
    let link =
        |url: &str, rel: &str| HeaderValue::from_str(&format!("<{url}>; rel=\"{rel}\"")).ok();
    if let Some(v) = link(&own, "self") {
        h.append("link", v);
    }
    if start + limit < matching.len() {
        let next = serde_urlencoded::to_string([
            ("filter", filter.to_string()),
            ("limit", limit.to_string()),
            ("after", format!("prl{}", start + limit)),
        ])
        .unwrap_or_default();
        if let Some(v) = link(&format!("{base}?{next}"), "next") {
            h.append("link", v);
        }
    }
    resp
}

/// `GET /api/v1/principal-rate-limits?filter=...`
pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let resp = list_answer(&s, &headers, raw.as_deref().unwrap_or(""));
    s.log_query("GET", PATH, resp.status(), &headers, raw);
    resp
}

/// `GET /api/v1/principal-rate-limits/{principalRateLimitId}`
pub(crate) async fn one(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let path = format!("{PATH}/{id}");
    let resp = match admit(&s, "GET", &path, &headers) {
        Admission::Throttled(resp) => resp,
        Admission::Go(rate) => {
            let found = principals(&s)
                .into_iter()
                .enumerate()
                .find(|(i, _)| format!("0pr{:017}", i + 1) == id);
            let mut resp = match found {
                Some((i, (pid, t))) => axum::Json(entity(&s, i, &pid, t)).into_response(),
                None => error_response(
                    StatusCode::NOT_FOUND,
                    "E0000007",
                    &format!("Not found: Resource not found: {id} (PrincipalRateLimitEntity)"),
                    &[],
                ),
            };
            resp.headers_mut().extend(rate);
            resp
        }
    };
    s.log("GET", &path, resp.status(), None, &headers);
    resp
}

#[cfg(test)]
mod tests {
    use super::filtered_type;

    #[test]
    fn the_filter_names_one_principal_type() {
        assert_eq!(
            filtered_type("principalType eq \"SSWS_TOKEN\""),
            Some("SSWS_TOKEN")
        );
        assert_eq!(
            filtered_type(" principalType  EQ \"OAUTH_CLIENT\" "),
            Some("OAUTH_CLIENT")
        );
        for bad in [
            "",
            "principalType eq SSWS_TOKEN",
            "principalType eq \"USER\"",
            "principalId eq \"SSWS_TOKEN\"",
            "principalType ne \"SSWS_TOKEN\"",
            "principalType eq \"SSWS_TOKEN\" or principalType eq \"OAUTH_CLIENT\"",
        ] {
            assert_eq!(filtered_type(bad), None, "{bad}");
        }
    }
}
