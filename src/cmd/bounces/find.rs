//! `okta-org bounces find`: which addresses Okta's mail bounced from, read from the System Log
//! (`system.email.delivery` failures, and `system.email.bounce.removal` to tell which were already sent
//! for removal), one row per recipient; CSV that `bounces remove -` reads as it is.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::super::{CmdError, Ran, usage};
use super::summary::Summarised;
use super::{ReportFormat, RowsArgs};
use crate::cli::{ConnectArgs, Global};
use crate::endpoints;
use crate::exit::Exit;
use crate::logs::email::Kind;
use crate::logs::find::{Finder, Found};
use crate::logs::{self, DELIVERY, MAX_AGE, Pages, Query, REMOVAL};
use crate::report::neutralise;
use crate::session::{Session, Tuning};
use crate::term::count;

pub const FIND_HELP: &str = "\
Reads GET /api/v1/logs (scope okta.logs.read) for system.email.delivery
failures in the window, following every page, and writes one row per recipient:
email, kind, events, first_seen, last_seen, reason (the provider's words),
user (the Okta user the event names), removal_requested (a removal was logged
after its last failure). By default only hard bounces: the kind remove-list
clears. The CSV feeds `okta-org bounces remove -` as it is. Okta keeps 90 days
of events and answers queries of the last 180.

Examples:
  okta-org bounces find --since 1d > bounced.csv
  okta-org bounces find --since 2026-11-01 --until 2026-11-15T00:00:00Z
  okta-org bounces find --since 14d --kind all --format jsonl --output all.jsonl
  okta-org bounces find --since 1d | okta-org bounces remove - --report removed.csv";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindChoice {
    /// Hard bounces: what remove-list clears
    Bounce,
    /// Mail the provider would not send (a suppressed or invalid address): not on the bounce list
    Dropped,
    /// Soft bounces, still being retried: not on the bounce list
    Deferred,
    /// Every failure (bounces, drops, deferrals and others)
    All,
}

#[derive(Debug, Clone, clap::Args)]
pub struct FindArgs {
    /// Start of the window: a time (2026-11-01, 2026-11-01T08:00:00Z) or how long ago (36h, 7d)
    #[arg(long, value_name = "DUR|TIME", default_value = "7d")]
    pub since: String,
    /// End of the window: a time or how long ago (default: now)
    #[arg(long, value_name = "DUR|TIME")]
    pub until: Option<String>,
    /// Which failures to list
    #[arg(long, value_enum, default_value_t = KindChoice::Bounce)]
    pub kind: KindChoice,
    #[command(flatten)]
    pub rows: RowsArgs,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

/// A `--since`/`--until` that is neither a time nor a duration.
#[derive(Debug, thiserror::Error)]
#[error(
    "{0:?} is neither a time (2026-11-01, 2026-11-01T08:00:00Z, 2026-11-01T09:00:00+01:00) nor how long \
     ago (36h, 7d)"
)]
pub struct WhenError(String);

/// A point in time given as a time (RFC 3339, with `Z` or an offset; or a date: midnight UTC) or as how
/// long before `now`.
pub fn parse_when(s: &str, now: SystemTime) -> Result<SystemTime, WhenError> {
    let s = s.trim();
    // RFC 3339 lets `t` and `z` be lowercase.
    let dated = s.len() >= 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    let upper = if dated {
        s.to_ascii_uppercase()
    } else {
        s.to_string()
    };
    let (local, offset) = split_offset(&upper);
    if let Ok(t) = humantime::parse_rfc3339_weak(local) {
        // 09:00+01:00 is 08:00 UTC.
        let shift = Duration::from_secs(offset.unsigned_abs());
        let utc = if offset >= 0 {
            t.checked_sub(shift)
        } else {
            t.checked_add(shift)
        };
        return utc.ok_or_else(|| WhenError(s.to_string()));
    }
    if s.len() == 10
        && let Ok(t) = humantime::parse_rfc3339_weak(&format!("{s}T00:00:00"))
    {
        return Ok(t);
    }
    match humantime::parse_duration(s) {
        Ok(d) => Ok(now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH)),
        Err(_) => Err(WhenError(s.to_string())),
    }
}

/// A time's UTC offset (`+01:00`, `-0530`) split off, in seconds east of UTC; 0 when it has none.
fn split_offset(s: &str) -> (&str, i64) {
    let has_time = s.len() > 10 && matches!(s.as_bytes()[10], b'T' | b't' | b' ');
    for len in [6, 5] {
        let Some(at) = s.len().checked_sub(len) else {
            continue;
        };
        let (Some(head), Some(tail)) = (s.get(..at), s.get(at..)) else {
            continue;
        };
        let b = tail.as_bytes();
        let sign = match b[0] {
            b'+' => 1,
            b'-' => -1,
            _ => continue,
        };
        let digits: String = tail[1..].chars().filter(|c| *c != ':').collect();
        let shaped = if len == 6 { b[3] == b':' } else { true };
        if !has_time || !shaped || digits.len() != 4 || !digits.bytes().all(|d| d.is_ascii_digit())
        {
            continue;
        }
        let (h, m): (i64, i64) = (
            digits[..2].parse().unwrap_or(0),
            digits[2..].parse().unwrap_or(0),
        );
        if h < 24 && m < 60 {
            return (head, sign * (h * 3600 + m * 60));
        }
    }
    (s, 0)
}

/// The window, checked the way Okta would refuse it, before any request.
fn window(a: &FindArgs, now: SystemTime) -> Result<(SystemTime, SystemTime), CmdError> {
    let since = parse_when(&a.since, now).map_err(|e| usage(format!("--since: {e}")))?;
    let until = match &a.until {
        Some(u) => parse_when(u, now).map_err(|e| usage(format!("--until: {e}")))?,
        None => now,
    };
    let days = |d: Duration| d.as_secs() / 86_400;
    // Okta counts the 180 days by calendar day: a date on the 180th day back is within them (and is
    // moved a little inside, below).
    if let Ok(back) = now.duration_since(since)
        && back >= MAX_AGE + Duration::from_secs(86_400)
    {
        return Err(usage(format!(
            "--since is {} days back: Okta's System Log answers queries of the last 180 days (and keeps \
             90 days of events)",
            days(back)
        )));
    }
    // `--since 180d` is at the edge of what Okta answers, and the request goes out a little later (on a
    // clock that may be ahead): start a few minutes inside it. Okta keeps 90 days of events, so nothing
    // is missed.
    let since = since.max(now - (MAX_AGE - EDGE));
    if since >= until {
        return Err(usage(format!(
            "the window is empty: --since {} is not before --until {}",
            logs::time_text(since),
            logs::time_text(until)
        )));
    }
    if until > now + Duration::from_secs(60) {
        return Err(usage("--until is in the future"));
    }
    Ok((since, until))
}

/// How far inside Okta's 180 days a query starts at the most.
const EDGE: Duration = Duration::from_secs(300);

/// The filter: delivery events and removals. The kind is read from each event here, not asked of the
/// server: `outcome.result` (`FAILURE`, `DEFERRED`) is what Okta is seen to send, not what it documents,
/// and an event without it must still be found.
fn filter() -> String {
    format!("eventType eq \"{DELIVERY}\" or eventType eq \"{REMOVAL}\"")
}

fn kinds(kind: KindChoice) -> Vec<Kind> {
    match kind {
        KindChoice::Bounce => vec![Kind::Bounce],
        KindChoice::Dropped => vec![Kind::Dropped],
        KindChoice::Deferred => vec![Kind::Deferred],
        KindChoice::All => vec![Kind::Bounce, Kind::Dropped, Kind::Deferred, Kind::Other],
    }
}

/// The CSV header: [`Row`]'s fields.
const HEADER: [&str; 8] = [
    "email",
    "kind",
    "events",
    "first_seen",
    "last_seen",
    "reason",
    "user",
    "removal_requested",
];

#[derive(Serialize)]
struct Row<'a> {
    email: &'a str,
    kind: &'a str,
    events: u64,
    first_seen: &'a str,
    last_seen: &'a str,
    reason: Cow<'a, str>,
    user: &'a str,
    removal_requested: bool,
}

/// The summary's fields of `bounces find`.
#[derive(Debug, Default, Serialize)]
struct Body {
    output: Option<String>,
    since: Option<String>,
    until: Option<String>,
    kind: &'static str,
    events: u64,
    pages: u64,
    recipients: u64,
    removal_requested: u64,
    unattributed: u64,
}

pub async fn run(a: FindArgs, global: &Global) -> Result<Exit, CmdError> {
    run_counted(a, global, None).await.result
}

/// The run, and what it found. With `shared`, the rows are handed over there instead of written (a
/// run across several orgs writing one output with an `org` column, [`write_with_org`]).
pub async fn run_counted(
    mut a: FindArgs,
    global: &Global,
    shared: Option<&std::sync::Mutex<Vec<Found>>>,
) -> Ran {
    if let Err(e) = a.rows.check(&[]) {
        return Ran::of(Err(e));
    }
    let mut body = Body {
        output: a.rows.output.as_ref().map(|p| p.display().to_string()),
        ..Body::default()
    };
    let summary = match Summarised::start(
        "bounces find",
        a.rows.summary.as_deref(),
        a.rows.output.as_deref(),
    ) {
        Ok(s) => s,
        Err(e) => return Ran::of(Err(e)),
    };
    let (mut found, mut got) = (Vec::new(), false);
    let result = match find(&a, global, &mut body, shared.is_none()).await {
        Ok((exit, rows)) => {
            (found, got) = (rows, true);
            Ok(exit)
        }
        Err(e) => Err(e),
    };
    let result = summary.finish(result, &body);
    if let Some(shared) = shared {
        shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(found);
    }
    let mut ran = Ran::of(result);
    ran.counted.rows = got.then_some(body.recipients);
    ran.counted.body = serde_json::to_value(&body).unwrap_or_default();
    ran
}

/// The CSV header of one output for several orgs: the org's profile, then [`HEADER`].
pub const ORG_HEADER: [&str; 9] = [
    "org",
    "email",
    "kind",
    "events",
    "first_seen",
    "last_seen",
    "reason",
    "user",
    "removal_requested",
];

#[derive(Serialize)]
struct OrgRow<'a> {
    org: &'a str,
    #[serde(flatten)]
    row: Row<'a>,
}

/// Writes the rows several orgs found into one output, each with its org's profile first.
pub fn write_with_org(rows: &RowsArgs, found: &[(String, Vec<Found>)]) -> Result<(), CmdError> {
    let csv = rows.format == ReportFormat::Csv;
    let all: Vec<OrgRow<'_>> = found
        .iter()
        .flat_map(|(org, list)| {
            list.iter().map(move |f| OrgRow {
                org,
                row: row_of(f, csv),
            })
        })
        .collect();
    match rows.format {
        // csv writes no flattened struct: each row as its cells.
        ReportFormat::Csv => {
            let cells: Vec<[String; 9]> = all
                .iter()
                .map(|r| {
                    [
                        r.org.to_string(),
                        r.row.email.to_string(),
                        r.row.kind.to_string(),
                        r.row.events.to_string(),
                        r.row.first_seen.to_string(),
                        r.row.last_seen.to_string(),
                        r.row.reason.to_string(),
                        r.row.user.to_string(),
                        r.row.removal_requested.to_string(),
                    ]
                })
                .collect();
            rows.write(&ORG_HEADER, &cells)
        }
        ReportFormat::Jsonl => rows.write(&ORG_HEADER, &all),
    }
}

fn row_of(f: &Found, csv: bool) -> Row<'_> {
    Row {
        email: &f.email,
        kind: f.kind.as_str(),
        events: f.events,
        first_seen: &f.first_seen,
        last_seen: &f.last_seen,
        reason: if csv {
            neutralise(&f.reason)
        } else {
            Cow::Borrowed(&f.reason)
        },
        user: f.user.as_deref().unwrap_or(""),
        removal_requested: f.removal_requested,
    }
}

/// Reads the window; writes the rows when `write`, and hands them back.
async fn find(
    a: &FindArgs,
    global: &Global,
    body: &mut Body,
    write: bool,
) -> Result<(Exit, Vec<Found>), CmdError> {
    let now = SystemTime::now();
    let (since, until) = window(a, now)?;
    (body.since, body.until, body.kind) = (
        Some(logs::time_text(since)),
        Some(logs::time_text(until)),
        match a.kind {
            KindChoice::Bounce => "bounce",
            KindChoice::Dropped => "dropped",
            KindChoice::Deferred => "deferred",
            KindChoice::All => "all",
        },
    );
    let session = Session::connect(
        &a.conn.connect(),
        global.quiet,
        Tuning::default(),
        &[&endpoints::LIST_LOGS],
    )
    .await?;
    let query = Query {
        since,
        until: Some(until),
        filter: filter(),
    };
    let mut finder = Finder::new(&kinds(a.kind));
    let mut pages = Pages::new(&session.client, &query);
    while let Some(events) = pages.next().await? {
        for v in &events {
            finder.take(v);
        }
    }
    let (events, unattributed, unreadable, read) = (
        finder.intake.events,
        finder.unattributed,
        finder.intake.unreadable,
        pages.pages,
    );
    let found = finder.rows();
    (body.events, body.pages, body.unattributed) = (events, read, unattributed);
    body.recipients = found.len() as u64;
    body.removal_requested = found.iter().filter(|f| f.removal_requested).count() as u64;
    let csv = a.rows.format == ReportFormat::Csv;
    if write {
        let rows: Vec<Row<'_>> = found.iter().map(|f| row_of(f, csv)).collect();
        a.rows.write(&HEADER, &rows)?;
    }
    if !global.quiet {
        let mut line = format!(
            "{} from {} to {} ({}): {}",
            count(events, "event", "events"),
            logs::time_text(since),
            logs::time_text(until),
            count(read, "page", "pages"),
            count(found.len() as u64, "recipient", "recipients"),
        );
        let removed = found.iter().filter(|f| f.removal_requested).count() as u64;
        if removed > 0 {
            line.push_str(&format!(
                ", {removed} already sent for removal after their last failure"
            ));
        }
        crate::term::note(line);
        if unattributed > 0 {
            tracing::warn!(
                "{} named no recipient this tool could find (see -vv)",
                count(unattributed, "failure event", "failure events")
            );
        }
        if unreadable > 0 {
            tracing::warn!(
                "{} of the log's answers were not events",
                count(unreadable, "entry", "entries")
            );
        }
    }
    Ok((Exit::Ok, found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_names_the_row_fields() {
        let row = Row {
            email: "a@x.com",
            kind: "bounce",
            events: 1,
            first_seen: "",
            last_seen: "",
            reason: Cow::Borrowed(""),
            user: "",
            removal_requested: false,
        };
        assert_eq!(super::super::header_of(row), HEADER.join(","));
    }

    #[test]
    fn windows_are_checked_before_any_request() {
        let now = humantime::parse_rfc3339("2026-11-28T12:00:00Z").unwrap();
        let args = |since: &str, until: Option<&str>| FindArgs {
            since: since.into(),
            until: until.map(str::to_string),
            kind: KindChoice::Bounce,
            rows: RowsArgs::default(),
            conn: ConnectArgs::default(),
        };
        let (s, u) = window(&args("7d", None), now).unwrap();
        assert_eq!(
            now.duration_since(s).unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(u, now);
        let (s, _) = window(&args("2026-11-01", Some("2026-11-15T00:00:00Z")), now).unwrap();
        assert_eq!(logs::time_text(s), "2026-11-01T00:00:00.000Z");
        let e = window(&args("200d", None), now).unwrap_err().to_string();
        assert!(e.contains("180 days"), "{e}");
        assert!(window(&args("1d", Some("2d")), now).is_err());
        assert!(window(&args("soon", None), now).is_err());
        // 180 days is allowed, and starts a few minutes inside Okta's limit.
        let (s, _) = window(&args("180d", None), now).unwrap();
        assert_eq!(now.duration_since(s).unwrap(), MAX_AGE - EDGE);
        // So is a date on the 180th day back (Okta counts days); the 182nd is not.
        let now = humantime::parse_rfc3339("2026-11-28T07:30:00Z").unwrap();
        let (s, _) = window(&args("2026-06-01", None), now).unwrap();
        assert_eq!(now.duration_since(s).unwrap(), MAX_AGE - EDGE);
        assert!(window(&args("2026-05-30", None), now).is_err());
    }

    #[test]
    fn times_with_offsets() {
        let now = humantime::parse_rfc3339("2026-11-28T12:00:00Z").unwrap();
        let utc = |s: &str| logs::time_text(parse_when(s, now).unwrap());
        assert_eq!(utc("2026-11-01T09:00:00+01:00"), "2026-11-01T08:00:00.000Z");
        assert_eq!(utc("2026-11-01T08:00:00-0530"), "2026-11-01T13:30:00.000Z");
        assert_eq!(utc("2026-11-01T08:00:00.250Z"), "2026-11-01T08:00:00.250Z");
        assert_eq!(utc("2026-11-01"), "2026-11-01T00:00:00.000Z");
        assert_eq!(utc("2026-11-01t08:00:00z"), "2026-11-01T08:00:00.000Z");
        assert!(parse_when("30 minutes", now).is_ok());
        assert_eq!(utc("2026-11-01 08:00:00"), "2026-11-01T08:00:00.000Z");
        let e = parse_when("2026-11-01T08:00:00+25:00", now).unwrap_err();
        assert!(e.to_string().contains("neither a time"), "{e}");
        assert!(parse_when("2026-11-0", now).is_err());
    }

    #[test]
    fn the_filter_asks_for_event_types_only() {
        assert_eq!(
            filter(),
            "eventType eq \"system.email.delivery\" or eventType eq \"system.email.bounce.removal\""
        );
    }
}
