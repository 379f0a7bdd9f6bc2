//! `okta-org limits`: what limits a run of this tool, made visible. For each rate-limit bucket the tool
//! uses, what the org advertises to this token (`X-Rate-Limit-Limit`, `-Remaining`, `-Reset`) from the
//! answer of a cheap call, and, where the token may read it, the share of each bucket this token or
//! service app may use (principal rate limits, `GET /api/v1/principal-rate-limits`).

use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Value, json};

use super::{CmdError, write_stdout};
use crate::cli::{ConnectArgs, Global, Output, OutputArgs};
use crate::client::headers::Pacing;
use crate::client::{ApiError, Client, Request, Response};
use crate::endpoints::{self, Endpoint};
use crate::exit::Exit;
use crate::report::time_text;
use crate::session::{Session, Tuning};

pub const LIMITS_HELP: &str = "\
For each bucket this tool uses, the limit Okta advertises to this token
(X-Rate-Limit-Limit: for a token or app held to a share of the bucket, that
share), what is left of the current window and when it resets, read from the
answer of a cheap call: one System Log request (GET /api/v1/logs?limit=1), one
GET /api/v1/org, and for an OAuth service app the token request. The bounce
list's only call is the removal itself: its limit is unknown without spending
a request, unless --probe-bounces sends one with an empty list (Okta refuses
an empty list with a 400, so nothing is cleared; the request counts against
the bucket). Windows are taken as a minute, as Okta's are.

Where the token may read them (scope okta.principalRateLimits.read; an API
token of a super admin may), the principal rate limits say which share of
each bucket this token or app may use (Okta's default is 50 %); a refusal is
said, not an error.

Examples:
  okta-org limits
  okta-org limits --probe-bounces -o json
  okta-org --profiles all limits";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Also learn the bounce list's limit: send one remove-list request with no addresses (it clears
    /// nothing; it spends one request of that bucket)
    #[arg(long)]
    pub probe_bounces: bool,
    #[command(flatten)]
    pub conn: ConnectArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// A window's length, as Okta's rate limits count it.
const WINDOW: Duration = Duration::from_secs(60);

/// What one bucket advertises.
#[derive(Debug, Clone, Default, Serialize)]
struct Bucket {
    /// The call the figures come from.
    call: String,
    limit: Option<u32>,
    remaining: Option<u32>,
    /// When the window resets (RFC 3339, UTC).
    reset: Option<String>,
    /// Requests a minute at the advertised limit.
    requests_per_minute: Option<u32>,
    /// For the bounce list: addresses a minute (1,000 a request).
    #[serde(skip_serializing_if = "Option::is_none")]
    addresses_per_minute: Option<u64>,
    /// Why a figure is missing, or what went wrong.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
}

pub async fn run(a: Args, global: &Global) -> Result<Exit, CmdError> {
    let mut needs = vec![&endpoints::LIST_LOGS, &endpoints::GET_ORG];
    if a.probe_bounces {
        needs.push(&endpoints::REMOVE_BOUNCES);
    }
    // The principal rate limits are not asked for as a scope: an app not granted it would be refused a
    // token for everything. An API token reads them if its admin may; an app whose configured scopes
    // include it does too.
    let session =
        Session::connect(&a.conn.connect(), global.quiet, Tuning::default(), &needs).await?;
    let client = &session.client;
    let since = time_text(SystemTime::now() - Duration::from_secs(60));
    let logs_path = format!(
        "{}?{}",
        endpoints::LIST_LOGS.path,
        serde_urlencoded::to_string([("limit", "1"), ("since", since.as_str())])
            .unwrap_or_default()
    );
    let mut logs_req = endpoints::LIST_LOGS.request(&[]);
    logs_req.path = logs_path;
    let (logs, logs_failed) = bucket(client, "GET /api/v1/logs?limit=1", logs_req, None).await;
    let (org, org_failed) = bucket(
        client,
        "GET /api/v1/org",
        endpoints::GET_ORG.request(&[]),
        None,
    )
    .await;
    // Neither call answered (a refused token, a host that does not resolve): the figures are the notes,
    // and the status says what failed, as every other command's would.
    let failed = logs_failed.zip(org_failed).map(|(a, b)| a.worst(b));
    let bounces = if a.probe_bounces {
        let req = endpoints::REMOVE_BOUNCES
            .request(&[])
            .json(&json!({ "emailAddresses": [] }))
            .note("an empty list, to read the bucket's limit");
        bucket(
            client,
            "POST /api/v1/org/email/bounces/remove-list (no addresses)",
            req,
            Some(400),
        )
        .await
        .0
    } else {
        Bucket {
            call: "POST /api/v1/org/email/bounces/remove-list".into(),
            note: Some(
                "unknown without spending a request: its only call is the removal (--probe-bounces \
                 sends one with no addresses)"
                    .into(),
            ),
            ..Bucket::default()
        }
    };
    let mut buckets = serde_json::Map::new();
    buckets.insert("bounces".into(), with_addresses(bounces));
    buckets.insert("logs".into(), to_value(logs));
    buckets.insert("org".into(), to_value(org));
    if session.oauth.is_some() {
        buckets.insert("token".into(), to_value(token_bucket(client)));
    }
    let principal = token_share(client, session.oauth.as_ref().map(|o| o.client_id())).await;
    let all = json!({ "buckets": buckets, "principal": principal.json() });
    let text = match a.out.output {
        Output::Json => {
            let mut v = serde_json::to_vec(&all).expect("JSON serialises");
            v.push(b'\n');
            v
        }
        Output::Text => render(&all).into_bytes(),
    };
    let written = write_stdout(&text)?;
    Ok(failed.unwrap_or(written))
}

fn to_value(b: Bucket) -> Value {
    serde_json::to_value(b).unwrap_or_default()
}

fn with_addresses(mut b: Bucket) -> Value {
    b.addresses_per_minute = b.requests_per_minute.map(|r| u64::from(r) * 1000);
    to_value(b)
}

/// Sends `req` and reads its rate-limit headers. `expected` is a refusal that is the point of the call
/// (the empty remove-list's 400). With the bucket, the exit status of a call that got no answer it
/// expected (a refused token: 5; a host that does not resolve: 2; ...).
async fn bucket(
    client: &Client,
    call: &str,
    req: Request,
    expected: Option<u16>,
) -> (Bucket, Option<Exit>) {
    let mut b = Bucket {
        call: call.into(),
        ..Bucket::default()
    };
    let mut failed = None;
    match client.execute(&|| req.clone()).await {
        Ok(resp) => {
            read_headers(&mut b, &resp);
            let status = resp.status.as_u16();
            if !resp.status.is_success() && Some(status) != expected {
                b.note = Some(refused(status, req.scope));
                failed = Some(match status {
                    401 | 403 => Exit::Auth,
                    404 => Exit::NotFound,
                    s if s >= 500 || s == 429 => Exit::Retry,
                    _ => Exit::Error,
                });
            } else if b.limit.is_none() {
                b.note = Some("the answer advertised no limit".into());
            }
        }
        Err(e) => {
            b.note = Some(format!("no answer: {e}"));
            failed = Some(e.failure().into());
        }
    }
    (b, failed)
}

fn refused(status: u16, scope: &str) -> String {
    match status {
        401 => "refused (401): the token was not accepted".into(),
        403 => format!("refused (403): this token may not make the call (scope {scope})"),
        s => format!("answered {s}"),
    }
}

fn read_headers(b: &mut Bucket, resp: &Response) {
    let p = Pacing::from_headers(&resp.headers);
    b.limit = p.limit;
    b.remaining = p.remaining;
    b.reset = p
        .reset
        .map(|r| time_text(SystemTime::UNIX_EPOCH + Duration::from_secs(r)));
    b.requests_per_minute = p
        .limit
        .map(|l| (u64::from(l) * 60 / WINDOW.as_secs()) as u32);
}

/// The token endpoint's bucket, as the sign-in's own request saw it (no request of its own).
fn token_bucket(client: &Client) -> Bucket {
    let mut b = Bucket {
        call: "POST /oauth2/v1/token (the sign-in)".into(),
        ..Bucket::default()
    };
    match client.pacer(endpoints::TOKEN.bucket).window() {
        Some((limit, reset)) => {
            b.limit = Some(limit);
            b.requests_per_minute = Some(limit);
            let left = reset.saturating_duration_since(tokio::time::Instant::now());
            b.reset = Some(time_text(SystemTime::now() + left));
        }
        None => b.note = Some("the token answer advertised no limit".into()),
    }
    b
}

/// What the principal rate limits say of this token or app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Share {
    /// They could be read.
    pub readable: bool,
    /// `SSWS_TOKEN` or `OAUTH_CLIENT`.
    pub kind: &'static str,
    /// The lowest and highest `defaultPercentage` of the entries that may be this token or app (an API
    /// token cannot tell which entry of the org's tokens is its own).
    pub range: Option<(u64, u64)>,
    pub concurrency: Option<u64>,
    /// What a person reads.
    pub note: String,
}

impl Share {
    /// The one share of each bucket this token or app may use, when it is known.
    pub fn percent(&self) -> Option<u64> {
        self.range.filter(|(lo, hi)| lo == hi).map(|(p, _)| p)
    }

    fn json(&self) -> Value {
        json!({
            "readable": self.readable,
            "principal_type": self.kind,
            "share_percent": self.percent(),
            "share_percent_range": self.range.map(|(lo, hi)| [lo, hi]),
            "concurrency_percent": self.concurrency,
            "note": self.note,
        })
    }
}

/// The share of each bucket this token (or the service app `app`) may use, from the principal rate
/// limits (one request, in a bucket of its own). A refusal (403: the token may not read them) is said in
/// the note.
pub async fn token_share(client: &Client, app: Option<&str>) -> Share {
    let kind = if app.is_some() {
        "OAUTH_CLIENT"
    } else {
        "SSWS_TOKEN"
    };
    let unread = |note: String| Share {
        kind,
        note,
        ..Share::default()
    };
    let e: &Endpoint = &endpoints::LIST_PRINCIPAL_RATE_LIMITS;
    let mut req = e.request(&[]);
    req.path = format!(
        "{}?{}",
        e.path,
        serde_urlencoded::to_string([
            ("filter", format!("principalType eq \"{kind}\"")),
            ("limit", "50".into()),
        ])
        .unwrap_or_default()
    );
    let entities: Vec<Value> = match client.send(&req).await {
        Ok(resp) => match resp.json() {
            Ok(v) => v,
            Err(err) => return unread(format!("an answer this tool cannot read: {err}")),
        },
        Err(ApiError::Status { status, .. }) if status.as_u16() == 403 => {
            return unread(format!(
                "this token may not read the principal rate limits (403; scope {})",
                e.scope.unwrap_or_default()
            ));
        }
        Err(ApiError::Status { status, .. }) => {
            return unread(format!("Okta answered {}", status.as_u16()));
        }
        Err(err) => return unread(format!("no answer: {err}")),
    };
    let percent = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64);
    let mine: Vec<&Value> = match app {
        Some(id) => entities
            .iter()
            .filter(|v| v.get("principalId").and_then(Value::as_str) == Some(id))
            .collect(),
        None => entities.iter().collect(),
    };
    let shares: Vec<u64> = mine
        .iter()
        .filter_map(|v| percent(v, "defaultPercentage"))
        .collect();
    let range = shares
        .iter()
        .min()
        .copied()
        .zip(shares.iter().max().copied());
    let note = match (app, range) {
        (_, None) => "no principal rate limit names this token or app: it may use the whole bucket"
            .to_string(),
        (Some(_), Some((p, _))) => format!("this service app may use {p} % of each bucket"),
        (None, Some((lo, hi))) if lo == hi => {
            format!("every API token of the org may use {lo} % of each bucket")
        }
        (None, Some((lo, hi))) => format!(
            "the org's API tokens may use {lo} to {hi} % of each bucket (an API token cannot tell \
             which entry is its own)"
        ),
    };
    Share {
        readable: true,
        kind,
        range,
        concurrency: mine
            .iter()
            .filter_map(|v| percent(v, "defaultConcurrencyPercentage"))
            .min(),
        note,
    }
}

/// The `-o text` view.
fn render(all: &Value) -> String {
    let mut rows: Vec<[String; 6]> =
        vec![["bucket", "limit", "remaining", "resets", "a minute", "from"].map(str::to_string)];
    let mut notes = Vec::new();
    if let Some(buckets) = all["buckets"].as_object() {
        for (name, b) in buckets {
            let n = |k: &str| {
                b[k].as_u64()
                    .map_or_else(|| "-".to_string(), |v| v.to_string())
            };
            let per_minute = match (
                b["requests_per_minute"].as_u64(),
                b["addresses_per_minute"].as_u64(),
            ) {
                (Some(r), Some(a)) => format!("{r} requests ({a} addresses)"),
                (Some(r), None) => format!("{r} requests"),
                _ => "-".into(),
            };
            rows.push([
                name.clone(),
                n("limit"),
                n("remaining"),
                b["reset"].as_str().unwrap_or("-").to_string(),
                per_minute,
                b["call"].as_str().unwrap_or_default().to_string(),
            ]);
            if let Some(note) = b["note"].as_str() {
                notes.push(format!("{name}: {note}"));
            }
        }
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{:<w$}", super::shown(c)))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for n in notes {
        out.push_str(&super::shown(&n));
        out.push('\n');
    }
    if let Some(note) = all["principal"]["note"].as_str() {
        out.push_str(&format!("principal rate limit: {}\n", super::shown(note)));
    }
    out
}
