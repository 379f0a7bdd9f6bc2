//! `okta-org simulate`: the embedded Okta simulator on its own, on 127.0.0.1, for trying the tool or
//! testing scripts without an Okta org. Only the simulator's own options apply here.

use std::path::PathBuf;
use std::time::Duration;

use super::CmdError;
use crate::cli::{BadValue, parse_duration};
use crate::exit::Exit;
#[cfg(feature = "simulator")]
use {
    super::usage,
    crate::interrupt::wait_for_signal,
    okta_org_simulator::{self as simulator, SimConfig, Simulator},
};

#[derive(Debug, clap::Args)]
#[command(after_help = "\
Example (it runs until Ctrl-C: start it in another terminal, or in the background with &):
  okta-org simulate --port 8080 --rate-limit 10 --window 60 &
  export OKTA_CLIENT_TOKEN=simulator-token
  okta-org bounces remove samples/mailgun-bounces.csv --org-url http://127.0.0.1:8080")]
pub struct Args {
    /// Port on 127.0.0.1 (0 picks a free one)
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The org's users, one email address a line (default: the demo org of samples/)
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// The API token the simulator accepts
    #[arg(long, default_value = "simulator-token")]
    pub token: String,
    /// Requests allowed per window on the bounce endpoint
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub rate_limit: u32,
    /// Requests allowed per window on the System Log (GET /api/v1/logs), a bucket of its own
    #[arg(long, value_name = "N", default_value_t = 60)]
    pub logs_rate_limit: u32,
    /// How long after an accepted remove-list call its removal events reach the System Log (e.g. 1s, 250ms)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub removal_delay: Duration,
    /// Log a successful delivery to each removed address a moment after its removal event
    #[arg(long)]
    pub deliver_after_removal: bool,
    /// Rate-limit window, in seconds (1 or more)
    #[arg(long, value_name = "SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub window: u64,
    /// Retry-After on 429/503: auto (until the window resets), none, or seconds
    #[arg(long, value_name = "auto|none|SECONDS", default_value = "auto")]
    pub retry_after: RetryAfter,
    /// Retry-After as delta-seconds or as an HTTP-date
    #[arg(long, value_enum, default_value_t = RetryAfterFormat::Seconds)]
    pub retry_after_format: RetryAfterFormat,
    /// Send X-Rate-Limit-Limit/-Remaining/-Reset headers
    #[arg(long, value_name = "true|false", default_value_t = true, action = clap::ArgAction::Set)]
    pub advertise_limits: bool,
    /// Fail every K-th bounce request with --fail-status
    #[arg(long, value_name = "K")]
    pub fail_every: Option<u32>,
    /// Status of the injected failures: 503 (with Retry-After) or 500
    #[arg(long, value_name = "503|500", default_value_t = 503, value_parser = parse_fail_status)]
    pub fail_status: u16,
    /// Answer the deprecated Okta Support grant/extend/revoke with 301, as current orgs do
    #[arg(long)]
    pub support_redirect: bool,
    /// Register an OAuth service app with this client id (needs --jwk)
    #[arg(long = "client", value_name = "ID", requires = "jwk")]
    pub client: Option<String>,
    /// The service app's public key, as a JWK file (a private JWK is reduced to its public part)
    #[arg(long, value_name = "FILE", requires = "client")]
    pub jwk: Option<PathBuf>,
    /// Scopes the service app may be granted, comma-separated
    #[arg(
        long = "app-scopes",
        value_name = "SCOPES",
        default_value = "okta.orgs.read,okta.orgs.manage,okta.logs.read"
    )]
    pub app_scopes: String,
    /// The service app must use DPoP-bound tokens
    #[arg(long)]
    pub dpop_required: bool,
    /// expires_in of issued access tokens, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub token_ttl: u64,
    /// Make access tokens stop working after this many seconds, even if expires_in says more
    #[arg(long, value_name = "SECONDS")]
    pub token_lifetime: Option<u64>,
    /// Require DPoP nonces on API calls too, rotating them every N calls
    #[arg(long, value_name = "N")]
    pub nonce_rotate_every: Option<u32>,
    /// Refuse whole any request holding this address (400, naming no address); repeatable
    #[arg(long, value_name = "ADDRESS", hide = true)]
    pub poison: Vec<String>,
    /// The longest list the bounce endpoint takes
    #[arg(long, value_name = "N", default_value_t = 1000, hide = true)]
    pub max_list: usize,
    /// How long the bounce endpoint takes to answer (e.g. 1s, 250ms)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    pub latency: Duration,
    /// Answer 429s and 503s at once, without --latency (as a rate limiter refuses before the work)
    #[arg(long)]
    pub fast_refusals: bool,
    /// Okta's concurrency limit: more bounce requests in flight get a 429 with X-Rate-Limit-Limit: 0
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<u32>,
    /// How accepted bounce requests are answered (to try clients against broken proxies)
    #[arg(long, value_enum, default_value_t = BounceAnswer::Normal, hide = true)]
    pub answer: BounceAnswer,
    /// Grow every 200 of the Org API and the System Log to BYTES (with a Content-Length), or without end
    #[arg(long, value_name = "BYTES|endless", value_parser = parse_huge_answers, hide = true)]
    pub huge_answers: Option<HugeAnswers>,
    /// The first COUNT token requests fail with STATUS (429 or 503), e.g. 2:429
    #[arg(long, value_name = "COUNT:STATUS", value_parser = parse_token_faults, hide = true)]
    pub token_faults: Option<(u32, u16)>,
}

/// `--retry-after`: when a throttled answer says to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// Until the rate-limit window resets.
    Auto,
    Seconds(u64),
    /// No `Retry-After` header.
    None,
}

impl std::str::FromStr for RetryAfter {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Self, BadValue> {
        match s {
            "auto" => Ok(RetryAfter::Auto),
            "none" => Ok(RetryAfter::None),
            n => n.parse().map(RetryAfter::Seconds).map_err(|_| {
                BadValue(format!(
                    "expected auto, none or a number of seconds, not {n:?}"
                ))
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RetryAfterFormat {
    /// `Retry-After: 2`
    Seconds,
    /// `Retry-After: Tue, 24 Nov 2026 10:00:02 GMT`
    HttpDate,
}

/// `--answer`: how the bounce endpoint answers a request it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BounceAnswer {
    /// `200` with `{"errors": [...]}`, as documented.
    Normal,
    /// `200` with an empty body.
    Empty,
    /// `204 No Content`.
    NoContent,
    /// `200` with an HTML page, as a captive portal or a proxy's login page answers.
    Html,
}

fn parse_fail_status(s: &str) -> Result<u16, BadValue> {
    match s {
        "503" => Ok(503),
        "500" => Ok(500),
        _ => Err(BadValue("expected 503 or 500".into())),
    }
}

/// `--huge-answers`: how far the simulator's answers grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HugeAnswers {
    Oversize(u64),
    Endless,
}

fn parse_huge_answers(s: &str) -> Result<HugeAnswers, BadValue> {
    match s.trim() {
        "endless" => Ok(HugeAnswers::Endless),
        n => n
            .parse()
            .map(HugeAnswers::Oversize)
            .map_err(|_| BadValue(format!("expected a number of bytes or endless, not {n:?}"))),
    }
}

fn parse_token_faults(s: &str) -> Result<(u32, u16), BadValue> {
    let (n, status) = s
        .split_once(':')
        .ok_or_else(|| BadValue(format!("expected COUNT:STATUS, e.g. 2:429, not {s:?}")))?;
    let n = n
        .trim()
        .parse()
        .map_err(|_| BadValue(format!("{n:?} is not a count")))?;
    match status.trim() {
        "429" => Ok((n, 429)),
        "503" => Ok((n, 503)),
        other => Err(BadValue(format!(
            "the status must be 429 or 503, not {other:?}"
        ))),
    }
}

/// A build without the `simulator` feature has nothing to run.
#[cfg(not(feature = "simulator"))]
pub async fn run(_: Args) -> Result<Exit, CmdError> {
    Err(crate::session::SessionError::NoSimulator.into())
}

#[cfg(feature = "simulator")]
pub async fn run(args: Args) -> Result<Exit, CmdError> {
    // The demo org, System Log and all; another org of users has an empty log.
    let mut config = SimConfig::demo(args.token.clone());
    if let Some(path) = &args.users {
        config.users = match std::fs::read_to_string(path) {
            Ok(text) => simulator::parse_users(&text),
            Err(e) => {
                return Err(usage(format!(
                    "cannot read {}: {}",
                    path.display(),
                    crate::input::plain(&e)
                )));
            }
        };
        config.log_events.clear();
    }
    config.rate_limit = args.rate_limit;
    config.logs_rate_limit = args.logs_rate_limit;
    config.removal_delay = args.removal_delay;
    config.deliver_after_removal = args.deliver_after_removal;
    config.window_secs = args.window.max(1);
    config.retry_after = match args.retry_after {
        RetryAfter::Auto => simulator::RetryAfterMode::Auto,
        RetryAfter::Seconds(s) => simulator::RetryAfterMode::Seconds(s),
        RetryAfter::None => simulator::RetryAfterMode::Omit,
    };
    config.retry_after_format = match args.retry_after_format {
        RetryAfterFormat::Seconds => simulator::RetryAfterFormat::Seconds,
        RetryAfterFormat::HttpDate => simulator::RetryAfterFormat::HttpDate,
    };
    config.advertise_limits = args.advertise_limits;
    config.fail_every = args.fail_every;
    config.fail_status = args.fail_status;
    config.poison = args.poison;
    config.max_list = args.max_list;
    config.latency = args.latency;
    config.max_concurrent = args.max_concurrent;
    config.fast_refusals = args.fast_refusals;
    config.bounce_answer = match args.answer {
        BounceAnswer::Normal => simulator::BounceAnswer::Normal,
        BounceAnswer::Empty => simulator::BounceAnswer::Empty,
        BounceAnswer::NoContent => simulator::BounceAnswer::NoContent,
        BounceAnswer::Html => simulator::BounceAnswer::Html,
    };
    config.huge_answers = args.huge_answers.map(|h| match h {
        HugeAnswers::Oversize(n) => simulator::HugeAnswers::Oversize(n),
        HugeAnswers::Endless => simulator::HugeAnswers::Endless,
    });
    config.token_faults = args.token_faults;
    config.support_redirect = args.support_redirect;
    config.token_ttl = args.token_ttl;
    config.token_lifetime = args.token_lifetime;
    config.dpop_nonce_rotate_every = args.nonce_rotate_every;
    if let (Some(client_id), Some(path)) = (&args.client, &args.jwk) {
        let jwk = match std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        {
            Some(serde_json::Value::Object(mut m)) => {
                for private in ["d", "p", "q", "dp", "dq", "qi"] {
                    m.remove(private);
                }
                serde_json::Value::Object(m)
            }
            _ => return Err(usage(format!("{} is not a JWK file", path.display()))),
        };
        config.service_apps.push(simulator::ServiceApp {
            client_id: client_id.clone(),
            jwk,
            scopes: args
                .app_scopes
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            dpop: args.dpop_required,
        });
    }
    let users = config.users.len();
    let sim = Simulator::start(config, args.port)
        .await
        .map_err(|e| usage(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    let requests = |n: u32| crate::term::count(u64::from(n), "request", "requests");
    crate::say(format_args!(
        "okta-org simulator: listening on {} with {users} users, {} per {} s on the bounce endpoint, \
         {} on the System Log\n\
         try:  OKTA_CLIENT_TOKEN={} okta-org bounces remove samples/sendgrid-bounces.csv --org-url {}\n\
         what it received: {}/__simulator/record    (Ctrl-C stops it)",
        sim.url(),
        requests(args.rate_limit),
        args.window,
        args.logs_rate_limit,
        args.token,
        sim.url(),
        sim.url()
    ));
    wait_for_signal().await;
    Ok(Exit::Ok)
}
