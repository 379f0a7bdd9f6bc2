//! Reading Okta's System Log (`GET /api/v1/logs`): a bounded query over a window, followed page by page
//! through `Link: rel="next"` until there is none, or a polling query that keeps its cursor and is asked
//! again for what came since. Events are read leniently ([`LogEvent`]): the shape grows over time and
//! fields go missing. `email` reads the email events; `find` and `verify` build on it.

pub mod email;
pub mod find;
pub mod verify;

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use reqwest::Url;
use serde_json::{Map, Value};

use crate::client::{ApiError, Client, Response};
use crate::endpoints;

/// The most events a page may hold (Okta's limit).
pub const PAGE_LIMIT: u32 = 1000;

/// How far back Okta lets a query start.
pub const MAX_AGE: Duration = Duration::from_secs(180 * 24 * 3600);

/// One System Log query.
#[derive(Debug, Clone)]
pub struct Query {
    pub since: SystemTime,
    /// `None` for a polling query (no end; ordered by when Okta stored the events).
    pub until: Option<SystemTime>,
    /// A SCIM filter expression, e.g. `eventType eq "system.email.delivery"`.
    pub filter: String,
}

pub fn time_text(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl Query {
    /// The first page's path and query string.
    fn path(&self) -> String {
        let mut params = vec![
            ("since", time_text(self.since)),
            ("filter", self.filter.clone()),
            ("limit", PAGE_LIMIT.to_string()),
            ("sortOrder", "ASCENDING".to_string()),
        ];
        if let Some(until) = self.until {
            params.insert(1, ("until", time_text(until)));
        }
        let query = serde_urlencoded::to_string(&params).expect("plain strings");
        format!("{}?{query}", endpoints::LIST_LOGS.path)
    }
}

/// The pages of one query: each call to [`Pages::next`] asks for the next page. A bounded query ends when a
/// page has no `next` link; a polling query always has one (its cursor), even on an empty page.
pub struct Pages<'a> {
    client: &'a Client,
    /// The path and query of the next page; `None` once a page had no `next` link.
    next: Option<String>,
    pub pages: u64,
}

impl<'a> Pages<'a> {
    pub fn new(client: &'a Client, query: &Query) -> Pages<'a> {
        Pages {
            client,
            next: Some(query.path()),
            pages: 0,
        }
    }

    /// A polling query taken up again from the `next` link a page gave (a path and query under the org,
    /// as saved by [`Pages::next_path`]): Okta's cursor, never one built by hand.
    pub fn resume(client: &'a Client, next: String) -> Pages<'a> {
        Pages {
            client,
            next: Some(next),
            pages: 0,
        }
    }

    /// Whether there is a next page to ask for.
    pub fn has_next(&self) -> bool {
        self.next.is_some()
    }

    /// The `next` link of the last page read (path and query), to save and take up again.
    pub fn next_path(&self) -> Option<&str> {
        self.next.as_deref()
    }

    /// The next page's events (as JSON values, each read leniently by [`LogEvent::from_value`]), or `None`
    /// when the query has ended.
    pub async fn next(&mut self) -> Result<Option<Vec<Value>>, ApiError> {
        let Some(path) = self.next.take() else {
            return Ok(None);
        };
        let mut req = endpoints::LIST_LOGS.request(&[]);
        req.path = path.clone();
        req = req.note("System Log page");
        let resp = self.client.send(&req).await?;
        self.pages += 1;
        self.next = next_link(&resp, self.client.base(), &path)?;
        let events: Vec<Value> = resp.json()?;
        Ok(Some(events))
    }
}

/// The path and query of the `rel="next"` link of the answer to `asked` (a path and query under `base`),
/// if it has one. A relative link is resolved against the page asked for, as RFC 8288 says; a link to
/// another host is refused: credentials go only to the org.
fn next_link(resp: &Response, base: &Url, asked: &str) -> Result<Option<String>, ApiError> {
    let current = base
        .join(asked)
        .map_err(|e| ApiError::Link(format!("{asked}: {e}")))?;
    for value in resp.headers.get_all(reqwest::header::LINK) {
        let Ok(text) = value.to_str() else { continue };
        for link in split_links(text) {
            let Some((target, params)) = parse_link(link) else {
                continue;
            };
            let is_next = params.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("rel")
                    && v.split_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
            });
            if !is_next {
                continue;
            }
            let url = current
                .join(target)
                .map_err(|e| ApiError::Link(format!("not a URL ({e}): {target}")))?;
            if url.origin() != base.origin() {
                return Err(ApiError::Link(format!(
                    "it points to another host ({}), and the token goes only to the org",
                    url.host_str().unwrap_or("?")
                )));
            }
            let mut path = url.path().to_string();
            if let Some(q) = url.query() {
                path.push('?');
                path.push_str(q);
            }
            return Ok(Some(path));
        }
    }
    Ok(None)
}

/// Splits a `Link` header value into its links (commas outside `<...>` and quotes).
fn split_links(text: &str) -> Vec<&str> {
    let (mut out, mut start, mut angle, mut quote) = (Vec::new(), 0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            '<' if !quote => angle = true,
            '>' if !quote => angle = false,
            '"' if !angle => quote = !quote,
            ',' if !angle && !quote => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

/// `<target>; key=value; key="value"` as the target and its parameters.
fn parse_link(link: &str) -> Option<(&str, Vec<(&str, &str)>)> {
    let link = link.trim();
    let rest = link.strip_prefix('<')?;
    let close = rest.find('>')?;
    let target = &rest[..close];
    let params = rest[close + 1..]
        .split(';')
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            Some((k.trim(), v.trim().trim_matches('"')))
        })
        .collect();
    Some((target, params))
}

/// The log's answers as they are taken in: each event once (pages that overlap, a polling query asked
/// again), with a count of the events and of the values that were not events at all.
#[derive(Debug, Default)]
pub struct Intake {
    uuids: HashSet<String>,
    pub events: u64,
    pub unreadable: u64,
}

impl Intake {
    /// The event `v` holds, unless it is none (counted as unreadable) or one taken before.
    pub fn admit(&mut self, v: &Value) -> Option<LogEvent> {
        let Some(e) = LogEvent::from_value(v) else {
            self.events += 1;
            self.unreadable += 1;
            return None;
        };
        if let Some(id) = &e.uuid
            && !self.uuids.insert(id.clone())
        {
            return None;
        }
        self.events += 1;
        Some(e)
    }
}

/// A System Log event, read leniently: every field may be missing or of another shape than documented.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogEvent {
    pub uuid: Option<String>,
    pub published: Option<SystemTime>,
    pub published_text: String,
    pub event_type: String,
    pub display_message: String,
    pub result: String,
    pub reason: String,
    pub actor: Option<Party>,
    pub targets: Vec<Party>,
    pub debug: Map<String, Value>,
}

/// An event's actor or one of its targets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Party {
    pub id: String,
    pub kind: String,
    pub alternate_id: String,
    pub display_name: String,
    pub detail: Option<Value>,
}

fn text(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

impl Party {
    fn from_value(v: &Value) -> Option<Party> {
        v.is_object().then(|| Party {
            id: text(v, "id"),
            kind: text(v, "type"),
            alternate_id: text(v, "alternateId"),
            display_name: text(v, "displayName"),
            detail: v.get("detailEntry").filter(|d| !d.is_null()).cloned(),
        })
    }
}

impl LogEvent {
    /// Reads an event; `None` when it is not an object at all.
    pub fn from_value(v: &Value) -> Option<LogEvent> {
        if !v.is_object() {
            return None;
        }
        let published_text = text(v, "published");
        let outcome = v.get("outcome").cloned().unwrap_or(Value::Null);
        let targets = match v.get("target") {
            Some(Value::Array(a)) => a.iter().filter_map(Party::from_value).collect(),
            Some(one @ Value::Object(_)) => Party::from_value(one).into_iter().collect(),
            _ => Vec::new(),
        };
        let debug = v
            .get("debugContext")
            .and_then(|d| d.get("debugData"))
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        Some(LogEvent {
            uuid: Some(text(v, "uuid")).filter(|u| !u.is_empty()),
            published: humantime::parse_rfc3339_weak(published_text.trim()).ok(),
            published_text,
            event_type: text(v, "eventType"),
            display_message: text(v, "displayMessage"),
            result: text(&outcome, "result"),
            reason: text(&outcome, "reason"),
            actor: v.get("actor").and_then(Party::from_value),
            targets,
            debug,
        })
    }
}

pub const DELIVERY: &str = "system.email.delivery";
pub const REMOVAL: &str = "system.email.bounce.removal";

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, LINK};

    fn resp(links: &[&str]) -> Response {
        let mut h = HeaderMap::new();
        for l in links {
            h.append(LINK, HeaderValue::from_str(l).unwrap());
        }
        Response {
            status: reqwest::StatusCode::OK,
            headers: h,
            body: b"[]".to_vec(),
            sent_at: tokio::time::Instant::now(),
        }
    }

    const ASKED: &str = "/api/v1/logs?since=2026-11-01T00%3A00%3A00Z&limit=1000";

    #[test]
    fn follows_only_the_next_link_of_the_org() {
        let base = Url::parse("https://acme.okta.com").unwrap();
        let r = resp(&[
            "<https://acme.okta.com/api/v1/logs?limit=1000>; rel=\"self\", <https://acme.okta.com/api/v1/logs?after=1_2%2C3&limit=1000>; rel=\"next\"",
        ]);
        assert_eq!(
            next_link(&r, &base, ASKED).unwrap().as_deref(),
            Some("/api/v1/logs?after=1_2%2C3&limit=1000")
        );
        // Two Link headers, next in the second.
        let r = resp(&[
            "<https://acme.okta.com/api/v1/logs>; rel=\"self\"",
            "</api/v1/logs?after=x>; rel=next",
        ]);
        assert_eq!(
            next_link(&r, &base, ASKED).unwrap().as_deref(),
            Some("/api/v1/logs?after=x")
        );
        assert_eq!(next_link(&resp(&[]), &base, ASKED).unwrap(), None);
        // A link relative to the page asked for, not to the org's root.
        let r = resp(&["<?after=y&limit=1000>; rel=\"next\""]);
        assert_eq!(
            next_link(&r, &base, ASKED).unwrap().as_deref(),
            Some("/api/v1/logs?after=y&limit=1000")
        );
        let r = resp(&["<logs?after=z>; rel=\"next\""]);
        assert_eq!(
            next_link(&r, &base, ASKED).unwrap().as_deref(),
            Some("/api/v1/logs?after=z")
        );
        let r = resp(&["<https://evil.example/api/v1/logs?after=x>; rel=\"next\""]);
        let e = next_link(&r, &base, ASKED).unwrap_err();
        assert!(matches!(e, ApiError::Link(_)), "{e}");
        assert!(e.to_string().contains("evil.example"), "{e}");
    }

    #[test]
    fn events_are_read_whatever_their_shape() {
        let v: Value = serde_json::json!({
            "uuid": "u1",
            "published": "2026-11-20T10:00:00.123Z",
            "eventType": "system.email.delivery",
            "outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"},
            "target": [{"id": "00u1", "type": "User", "alternateId": "a@x.com", "unknownField": 3}],
            "debugContext": {"debugData": {"smtp": "550 5.1.1"}},
            "somethingNew": {"deep": [1, 2]}
        });
        let e = LogEvent::from_value(&v).unwrap();
        assert_eq!(e.targets[0].alternate_id, "a@x.com");
        assert!(e.published.is_some());
        assert_eq!(e.result, "FAILURE");
        let bare =
            LogEvent::from_value(&serde_json::json!({"target": null, "outcome": 7})).unwrap();
        assert!(bare.targets.is_empty() && bare.result.is_empty());
        assert!(LogEvent::from_value(&serde_json::json!("junk")).is_none());
    }

    #[test]
    fn queries_name_their_window() {
        let q = Query {
            since: std::time::UNIX_EPOCH + Duration::from_secs(1_795_000_000),
            until: None,
            filter: format!("eventType eq \"{DELIVERY}\""),
        };
        let p = q.path();
        assert!(p.starts_with("/api/v1/logs?since=2026-"), "{p}");
        assert!(!p.contains("until="));
        assert!(
            p.contains("filter=eventType+eq+%22system.email.delivery%22"),
            "{p}"
        );
    }
}
