//! `GET /api/v1/logs`, the System Log, as Okta documents it: bounded queries (`until` given, or
//! `sortOrder=DESCENDING`) ordered by `published` and finite; polling queries (no `until`) ordered by
//! when the simulator stored each event, with a `next` link on every page, even an empty one. Both page
//! through opaque `after` cursors in `Link` headers. Scope `okta.logs.read`, a rate-limit bucket of its
//! own, the 180-day and date-format 400s; events older than 90 days are never returned.
//!
//! The store is append-only and kept in persistence order: events given at start are stored as of their
//! `published` time; events added later (tests, removals of accepted `remove-list` calls and the
//! deliveries that follow them, the mail flow) are stored when they are added.

pub(crate) mod events;
mod filter;
pub(crate) mod time;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use self::time::{DAY_MS, Millis};
use super::{Admission, Shared, error_response};

pub(crate) const PATH: &str = "/api/v1/logs";
const SCOPE: &str = "okta.logs.read";
const MAX_LIMIT: usize = 1000;
const DEFAULT_LIMIT: usize = 100;
/// How far back `since` may reach.
const QUERY_DAYS: Millis = 180;
/// How long events are kept.
const KEPT_DAYS: Millis = 90;

/// One event as stored.
struct Stored {
    seq: u64,
    stored: Millis,
    /// `published`, or when it was stored if the event has none that parses.
    published: Millis,
    /// The event's JSON text, lowercased, for `q`.
    text: String,
    event: Value,
}

/// The System Log, in persistence order.
#[derive(Default)]
pub(crate) struct EventStore {
    events: Vec<Stored>,
    /// Events the simulator wrote itself, to vary their shapes.
    written: u64,
}

impl EventStore {
    /// Stores `event` as of `stored` (never before the last stored event: the order is persistence order);
    /// returns when it counts as stored.
    pub(crate) fn push(&mut self, event: Value, stored: Millis) -> Millis {
        let stored = self.events.last().map_or(stored, |l| stored.max(l.stored));
        let published = events::published(&event).unwrap_or(stored);
        self.events.push(Stored {
            seq: self.events.len() as u64,
            stored,
            published,
            text: event.to_string().to_lowercase(),
            event,
        });
        stored
    }

    /// A number that grows with each event the simulator writes, to vary their shapes.
    pub(crate) fn next_variant(&mut self) -> u64 {
        self.written += 1;
        self.written - 1
    }

    /// The store at start: `events` as of their `published` time (at most `now`), oldest first.
    pub(crate) fn seeded(events: &[Value], now: Millis) -> EventStore {
        let mut dated: Vec<(Millis, &Value)> = events
            .iter()
            .map(|e| {
                let at = events::published(e).map_or(now, |p| p.min(now));
                (at, e)
            })
            .collect();
        dated.sort_by_key(|&(at, _)| at);
        let mut store = EventStore::default();
        for (at, e) in dated {
            store.push(e.clone(), at);
        }
        store
    }
}

impl Shared {
    pub(crate) fn store(&self) -> std::sync::MutexGuard<'_, EventStore> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `events` now, in the order given.
    pub(crate) fn add_events(&self, events: Vec<Value>) {
        let now = time::now_ms();
        let mut store = self.store();
        for e in events {
            store.push(e, now);
        }
    }

    /// A copy of every stored event, in persistence order.
    pub(crate) fn stored_events(&self) -> Vec<Value> {
        self.store()
            .events
            .iter()
            .map(|s| s.event.clone())
            .collect()
    }
}

/// Where a page starts, as the `after` parameter carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cursor {
    /// After (before, descending) the event with this `published` and sequence number, in the window.
    Bounded {
        since: Millis,
        until: Millis,
        published: Millis,
        seq: u64,
    },
    /// At this position of the store.
    Polling { position: u64 },
}

impl Cursor {
    fn encode(self) -> String {
        match self {
            Cursor::Bounded {
                since,
                until,
                published,
                seq,
            } => format!("{published}_{seq}_{since}_{until}"),
            Cursor::Polling { position } => format!("p{position}"),
        }
    }

    fn decode(text: &str) -> Option<Cursor> {
        if let Some(p) = text.strip_prefix('p') {
            return p.parse().ok().map(|position| Cursor::Polling { position });
        }
        let mut parts = text.split('_');
        let mut num = || parts.next()?.parse::<i64>().ok();
        let (published, seq, since, until) = (num()?, num()?, num()?, num()?);
        if parts.next().is_some() || seq < 0 {
            return None;
        }
        Some(Cursor::Bounded {
            since,
            until,
            published,
            seq: seq as u64,
        })
    }
}

/// A request's parameters, checked.
struct Query {
    /// The parameters as given, to carry into the `next` link.
    params: Vec<(String, String)>,
    mode: Mode,
    filter: Option<filter::Expr>,
    keywords: Vec<String>,
    limit: usize,
    descending: bool,
}

enum Mode {
    Bounded {
        since: Millis,
        until: Millis,
        /// The key of the last event of the previous page.
        after: Option<(Millis, u64)>,
    },
    Polling {
        since: Millis,
        position: u64,
    },
}

/// A parameter Okta would refuse: a 400 `E0000001` naming it, with the reason as its cause.
struct Invalid {
    field: String,
    cause: String,
}

impl Invalid {
    fn response(self) -> Response {
        error_response(
            StatusCode::BAD_REQUEST,
            "E0000001",
            &format!("Api validation failed: {}", self.field),
            &[&self.cause],
        )
    }
}

fn invalid(field: &str, cause: &str) -> Invalid {
    Invalid {
        field: field.to_string(),
        cause: cause.to_string(),
    }
}

fn bad_date(field: &str, given: &str) -> Invalid {
    invalid(
        field,
        &format!(
            "Invalid parameter: {field} ({given:?}) is not an ISO 8601 date-time, e.g. 2026-11-21T06:00:00.000Z"
        ),
    )
}

impl Query {
    fn parse(raw: &str, now: Millis) -> Result<Query, Invalid> {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| invalid("query", "Invalid parameter: the query string is malformed"))?;
        let get = |name: &str| {
            params
                .iter()
                .rev()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let date = |name: &str| match get(name) {
            None => Ok(None),
            Some(v) => time::parse(v).map(Some).ok_or_else(|| bad_date(name, v)),
        };
        let since = date("since")?;
        let until = date("until")?;
        let limit = match get("limit") {
            None => DEFAULT_LIMIT,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n <= MAX_LIMIT => n,
                _ => {
                    return Err(invalid(
                        "limit",
                        &format!(
                            "Invalid parameter: limit must be an integer between 0 and {MAX_LIMIT}"
                        ),
                    ));
                }
            },
        };
        let descending = match get("sortOrder") {
            None | Some("ASCENDING") => false,
            Some("DESCENDING") => true,
            Some(other) => {
                return Err(invalid(
                    "sortOrder",
                    &format!(
                        "Invalid parameter: sortOrder must be ASCENDING or DESCENDING, not {other:?}"
                    ),
                ));
            }
        };
        let filter = match get("filter") {
            None => None,
            Some(f) => Some(
                filter::parse(f)
                    .map_err(|why| invalid("filter", &format!("Invalid filter: {why}")))?,
            ),
        };
        let keywords: Vec<String> = get("q")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
        if keywords.len() > 10 || keywords.iter().any(|k| k.chars().count() > 40) {
            return Err(invalid(
                "q",
                "Invalid parameter: q takes at most 10 keywords of at most 40 characters",
            ));
        }
        if let Some(s) = since
            && s < now - QUERY_DAYS * DAY_MS
        {
            return Err(invalid(
                "since",
                "Invalid parameter: The since parameter is over 180 days prior to the current day.",
            ));
        }
        if let (Some(s), Some(u)) = (since, until)
            && s > u
        {
            return Err(invalid(
                "since",
                "Invalid parameter: since must not be later than until",
            ));
        }
        let cursor = match get("after") {
            None => None,
            Some(a) => Some(Cursor::decode(a).ok_or_else(|| {
                invalid(
                    "after",
                    "Invalid parameter: after is not a cursor this server issued",
                )
            })?),
        };
        if cursor.is_some() && since.is_some() {
            return Err(invalid(
                "after",
                "Invalid parameter: since and after are mutually exclusive",
            ));
        }
        let mode = match cursor {
            Some(Cursor::Bounded {
                since,
                until,
                published,
                seq,
            }) => Mode::Bounded {
                since,
                until,
                after: Some((published, seq)),
            },
            Some(Cursor::Polling { position }) => {
                if until.is_some() || descending {
                    return Err(invalid(
                        "after",
                        "Invalid parameter: a polling cursor takes no until and sorts ASCENDING",
                    ));
                }
                Mode::Polling {
                    since: Millis::MIN,
                    position,
                }
            }
            None if until.is_some() || descending => {
                let until = until.unwrap_or(now);
                Mode::Bounded {
                    since: since.unwrap_or(until - 7 * DAY_MS),
                    until,
                    after: None,
                }
            }
            None => Mode::Polling {
                since: since.unwrap_or(now - 7 * DAY_MS),
                position: 0,
            },
        };
        Ok(Query {
            params,
            mode,
            filter,
            keywords,
            limit,
            descending,
        })
    }

    fn wants(&self, s: &Stored, oldest: Millis) -> bool {
        s.published >= oldest
            && self.filter.as_ref().is_none_or(|f| f.matches(&s.event))
            && self.keywords.iter().all(|k| s.text.contains(k.as_str()))
    }

    /// This page's events and, when there is one, the cursor of the next.
    fn page(&self, store: &EventStore, now: Millis) -> (Vec<Value>, Option<Cursor>) {
        let oldest = now - KEPT_DAYS * DAY_MS;
        match self.mode {
            Mode::Bounded {
                since,
                until,
                after,
            } => {
                let mut hits: Vec<&Stored> = store
                    .events
                    .iter()
                    .filter(|s| {
                        since <= s.published && s.published < until && self.wants(s, oldest)
                    })
                    .collect();
                hits.sort_by_key(|s| (s.published, s.seq));
                if self.descending {
                    hits.reverse();
                }
                if let Some(key) = after {
                    hits.retain(|s| {
                        let k = (s.published, s.seq);
                        if self.descending { k < key } else { k > key }
                    });
                }
                let more = hits.len() > self.limit;
                hits.truncate(self.limit);
                // The key of the last event given; with limit=0, where this page started.
                let next = more.then(|| {
                    let start = if self.descending {
                        (Millis::MAX, 0)
                    } else {
                        (Millis::MIN, 0)
                    };
                    let (published, seq) = hits
                        .last()
                        .map(|s| (s.published, s.seq))
                        .or(after)
                        .unwrap_or(start);
                    Cursor::Bounded {
                        since,
                        until,
                        published,
                        seq,
                    }
                });
                (hits.into_iter().map(|s| s.event.clone()).collect(), next)
            }
            Mode::Polling { since, position } => {
                let mut page = Vec::new();
                let mut next = store.events.len() as u64;
                for s in store.events.iter().skip(position as usize) {
                    if page.len() == self.limit {
                        next = s.seq;
                        break;
                    }
                    if s.stored >= since && self.wants(s, oldest) {
                        page.push(s.event.clone());
                    }
                }
                (page, Some(Cursor::Polling { position: next }))
            }
        }
    }

    /// The `next` link's query: the request's own parameters with `after` in place of `since`, and the
    /// window's `until` for a bounded query.
    fn next_query(&self, cursor: Cursor) -> String {
        let mut params = vec![("after".to_string(), cursor.encode())];
        if let Cursor::Bounded { until, .. } = cursor {
            params.push(("until".into(), time::format(until)));
        }
        params.extend(
            self.params
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "since" | "until" | "after"))
                .cloned(),
        );
        serde_urlencoded::to_string(&params).unwrap_or_default()
    }
}

fn link(url: &str, rel: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("<{url}>; rel=\"{rel}\"")).expect("a URL is a header value")
}

fn answer(s: &Shared, headers: &HeaderMap, raw: &str) -> Response {
    if let Some(refusal) = s.refuse_scope("GET", PATH, headers, SCOPE) {
        return refusal;
    }
    let principal = s.principal_id(headers);
    let rate = match s.admit(
        "logs",
        s.config.logs_rate_limit,
        false,
        principal.as_deref(),
    ) {
        Admission::Go(h) => h,
        Admission::Throttled(resp) => return resp,
    };
    let now = time::now_ms();
    let mut resp = match Query::parse(raw, now) {
        Err(invalid) => invalid.response(),
        Ok(query) => {
            let (page, next) = query.page(&s.store(), now);
            let mut resp = axum::Json(page).into_response();
            let base = format!("{}{PATH}", s.base_url());
            let own = if raw.is_empty() {
                base.clone()
            } else {
                format!("{base}?{raw}")
            };
            let h = resp.headers_mut();
            h.append("link", link(&own, "self"));
            if let Some(cursor) = next {
                h.append(
                    "link",
                    link(&format!("{base}?{}", query.next_query(cursor)), "next"),
                );
            }
            resp
        }
    };
    resp.headers_mut().extend(rate);
    resp
}

pub(crate) async fn list(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let resp = answer(&s, &headers, raw.as_deref().unwrap_or(""));
    s.log_query("GET", PATH, resp.status(), &headers, raw);
    resp
}

/// After an accepted `remove-list` call: the removal events, `removal_delay` later, one per chunk of at
/// most 50 addresses (none for `removal_skips`); then, a moment after, a bounce for those in
/// `bounce_again` or among the mail flow's repeat bouncers, and a delivery for the others when
/// `deliver_after_removal` is set or mail is flowing.
pub(crate) fn schedule_removal(
    s: &Arc<Shared>,
    accepted: Vec<String>,
    actor: Value,
    user_agent: Option<String>,
) {
    let c = &s.config;
    let listed = |list: &[String], a: &str| list.iter().any(|x| x.eq_ignore_ascii_case(a));
    let logged: Vec<String> = accepted
        .into_iter()
        .filter(|a| !listed(&c.removal_skips, a))
        .collect();
    if logged.is_empty() {
        return;
    }
    let repeat: &[String] = c.mail.as_ref().map_or(&[], |m| &m.repeat_bouncers);
    let deliver = c.deliver_after_removal || c.mail.is_some();
    // Each address with whether it bounces again.
    let followed: Vec<(String, bool)> = logged
        .iter()
        .filter_map(|a| {
            if listed(&c.bounce_again, a) || listed(repeat, a) {
                Some((a.clone(), true))
            } else if deliver {
                Some((a.clone(), false))
            } else {
                None
            }
        })
        .collect();
    let delay = c.removal_delay;
    let s = s.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let mut rng = fastrand::Rng::new();
        let published = time::now_ms();
        let transaction = events::transaction_id(&events::uuid(&mut rng));
        {
            let mut store = s.store();
            for chunk in logged.chunks(events::REMOVAL_CHUNK) {
                let variant = store.next_variant();
                let e = events::removal(
                    chunk,
                    variant,
                    &actor,
                    user_agent.as_deref(),
                    published,
                    &events::uuid(&mut rng),
                    &transaction,
                );
                store.push(e, published);
            }
        }
        if followed.is_empty() {
            return;
        }
        tokio::time::sleep(delay.max(Duration::from_millis(20))).await;
        s.follow_removal(&followed, &mut rng);
    });
}

#[cfg(test)]
mod tests {
    use super::Cursor;

    #[test]
    fn cursors_round_trip() {
        for c in [
            Cursor::Polling { position: 0 },
            Cursor::Polling { position: 1234 },
            Cursor::Bounded {
                since: 1,
                until: 2,
                published: -3,
                seq: 4,
            },
            Cursor::Bounded {
                since: i64::MIN,
                until: 1_795_000_000_000,
                published: i64::MAX,
                seq: 0,
            },
        ] {
            assert_eq!(Cursor::decode(&c.encode()), Some(c));
        }
        for bad in ["", "p", "px", "1_2_3", "1_2_3_4_5", "a_b_c_d", "1_-2_3_4"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
