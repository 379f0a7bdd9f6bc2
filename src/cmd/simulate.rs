//! `okta-org simulate`: the embedded Okta simulator on its own, on 127.0.0.1, for trying the tool or
//! testing scripts without an Okta org: one org, or a fleet of independent ones with the okta.yaml that
//! names them, with mail flowing into their System Logs if asked. Only the simulator's options apply.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::CmdError;
use crate::cli::{BadValue, parse_duration};
use crate::exit::Exit;
#[cfg(feature = "simulator")]
use {
    super::usage,
    crate::interrupt::wait_for_signal,
    okta_org_simulator::{self as simulator, Fleet, MailFlow, MailMix, SimConfig},
};

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Examples (it runs until Ctrl-C: start it in another terminal, or in the background with &):
  okta-org simulate --port 8080 --rate-limit 10 --window 60 &
  export OKTA_CLIENT_TOKEN=simulator-token
  okta-org bounces remove samples/mailgun-bounces.csv --org-url http://127.0.0.1:8080

  # Three orgs with their own limits; the okta.yaml of their profiles (org1..org3) on stdout
  (umask 077; okta-org simulate --orgs 3 --rate-limit 60,30,10 > okta.yaml &)
  okta-org bounces remove samples/sendgrid-bounces.csv --profile org2

  # Mail keeps flowing: a delivery event every 5 s, hard bounces among them
  okta-org simulate --bounces-every 5s --repeat-bouncers 2")]
pub struct Args {
    /// Port on 127.0.0.1 (0 picks a free one). Default 8080, or free ports with --orgs; with --orgs,
    /// org K listens on PORT+K-1
    #[arg(long)]
    pub port: Option<u16>,
    /// Serve N independent orgs (profiles org1..orgN: their own port, users, limits and token), and
    /// print an okta.yaml with a profile for each on stdout
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub orgs: Option<u16>,
    /// The org's users, one email address a line (default: the demo org of samples/). With --orgs,
    /// org1 has them all and orgK all but every (K+1)-th
    #[arg(long, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// The API token the simulator accepts (with --orgs: org1's; orgK takes TOKEN-K)
    #[arg(long, default_value = "simulator-token")]
    pub token: String,
    /// Requests allowed per window on the bounce endpoint; with --orgs, one value for all or one per
    /// org (60,30,10)
    #[arg(long, value_name = "N[,N...]", default_value = "60")]
    pub rate_limit: PerOrg<u32>,
    /// Requests allowed per window on the System Log (GET /api/v1/logs), a bucket of its own; one
    /// value, or one per org
    #[arg(long, value_name = "N[,N...]", default_value = "60")]
    pub logs_rate_limit: PerOrg<u32>,
    /// Percent of each bucket one API token or service app may use, as Okta's principal rate limits
    /// (Okta's default is 50); X-Rate-Limit-Limit then advertises that share. One value, or one per org
    #[arg(long, value_name = "PCT[,PCT...]", default_value = "100")]
    pub principal_share: PerOrg<u32>,
    /// Keep mail flowing: a system.email.delivery event this often (hard and soft bounces, deferrals,
    /// drops, deliveries; some stored late), e.g. 5s
    #[arg(long, value_name = "DURATION", value_parser = parse_every)]
    pub bounces_every: Option<Duration>,
    /// The seed of the mail flow: the same seed gives the same mail
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        requires = "bounces_every"
    )]
    pub bounces_seed: u64,
    /// The share of each kind of mail, e.g. hard=30,soft=10,deferred=15,dropped=10,delivered=35 (a
    /// kind not named is never drawn; soft: 4xx replies logged as bounces)
    #[arg(long, value_name = "KIND=WEIGHT,...", requires = "bounces_every")]
    pub bounces_mix: Option<Mix>,
    /// This many users (picked by the seed) bounce first, then again after each removal of their
    /// address, as a mailbox that no longer exists does
    #[arg(
        long,
        value_name = "N",
        default_value_t = 0,
        requires = "bounces_every"
    )]
    pub repeat_bouncers: usize,
    /// How long after an accepted remove-list call its removal events reach the System Log (e.g. 1s, 250ms)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "1s")]
    pub removal_delay: Duration,
    /// Log a successful delivery to each removed address a moment after its removal event (always
    /// with --bounces-every, except for the repeat bouncers, who bounce again)
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

/// A value for every org, or one value for each (`60` or `60,30,10`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerOrg<T>(pub Vec<T>);

impl<T: FromStr> FromStr for PerOrg<T> {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Self, BadValue> {
        s.split(',')
            .map(|v| {
                v.trim().parse().map_err(|_| {
                    BadValue(format!(
                        "{:?} is not a number (give one value, or one per org: 60,30,10)",
                        v.trim()
                    ))
                })
            })
            .collect::<Result<Vec<T>, BadValue>>()
            .map(PerOrg)
    }
}

impl<T: Copy> PerOrg<T> {
    /// The value of org `k` (1-based) of `n`; one value serves every org.
    pub fn of(&self, k: usize) -> T {
        match self.0.as_slice() {
            [one] => *one,
            many => many[k - 1],
        }
    }

    /// A usage error when there are neither one value nor one per org.
    #[cfg(feature = "simulator")]
    fn check(&self, flag: &str, orgs: usize) -> Result<(), String> {
        let given = self.0.len();
        if given == 1 || given == orgs {
            return Ok(());
        }
        Err(if orgs == 1 {
            format!(
                "{flag} has {given} values, but there is one org (one value per org needs --orgs {given})"
            )
        } else {
            format!("{flag} has {given} values for {orgs} orgs: give one value, or one per org")
        })
    }
}

/// `--bounces-mix`: the weight of each kind of mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mix {
    pub hard: u32,
    pub soft: u32,
    pub deferred: u32,
    pub dropped: u32,
    pub delivered: u32,
}

impl FromStr for Mix {
    type Err = BadValue;
    fn from_str(s: &str) -> Result<Self, BadValue> {
        let mut mix = Mix::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (kind, weight) = part.split_once('=').ok_or_else(|| {
                BadValue(format!("expected KIND=WEIGHT, e.g. hard=30, not {part:?}"))
            })?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| BadValue(format!("{:?} is not a weight", weight.trim())))?;
            let slot = match kind.trim() {
                "hard" => &mut mix.hard,
                "soft" => &mut mix.soft,
                "deferred" => &mut mix.deferred,
                "dropped" => &mut mix.dropped,
                "delivered" => &mut mix.delivered,
                other => {
                    return Err(BadValue(format!(
                        "unknown kind {other:?}: use hard, soft, deferred, dropped or delivered"
                    )));
                }
            };
            *slot = weight;
        }
        if mix == Mix::default() {
            return Err(BadValue(
                "give at least one kind a weight above 0, e.g. hard=1".into(),
            ));
        }
        Ok(mix)
    }
}

/// `--bounces-every`: a duration above 0.
fn parse_every(s: &str) -> Result<Duration, BadValue> {
    match parse_duration(s) {
        Ok(d) if d.is_zero() => Err(BadValue("must be more than 0, e.g. 5s".into())),
        Ok(d) => Ok(d),
        Err(e) => Err(BadValue(e.to_string())),
    }
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
    let orgs = usize::from(args.orgs.unwrap_or(1));
    for (flag, values) in [
        ("--rate-limit", &args.rate_limit),
        ("--logs-rate-limit", &args.logs_rate_limit),
        ("--principal-share", &args.principal_share),
    ] {
        values.check(flag, orgs).map_err(usage)?;
    }
    if let Some(bad) = args
        .principal_share
        .0
        .iter()
        .find(|p| !(1..=100).contains(*p))
    {
        return Err(usage(format!(
            "--principal-share takes percents from 1 to 100, not {bad}"
        )));
    }
    // The demo org, System Log and all; another org of users has an empty log.
    let users = match &args.users {
        None => None,
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => Some(simulator::parse_users(&text)),
            Err(e) => {
                return Err(usage(format!(
                    "cannot read {}: {}",
                    path.display(),
                    crate::os_error::plain(&e)
                )));
            }
        },
    };
    let app = service_app(&args)?;
    let configs: Vec<SimConfig> = (1..=orgs)
        .map(|k| org_config(&args, k, users.as_deref(), app.clone()))
        .collect();
    let first_port = match (args.port, args.orgs) {
        (Some(port), _) => Some(port),
        (None, Some(_)) => None,
        (None, None) => Some(8080),
    };
    let fleet = Fleet::start(configs, first_port)
        .await
        .map_err(|e| usage(e.to_string()))?;
    if args.orgs.is_some() {
        use std::io::Write;
        // A reader that went away (`| head`) is no reason to stop serving.
        let mut out = std::io::stdout().lock();
        let _ = out
            .write_all(fleet.okta_yaml().as_bytes())
            .and_then(|()| out.flush());
    }
    describe(&args, &fleet);
    wait_for_signal().await;
    Ok(Exit::Ok)
}

/// The service app of `--client` and `--jwk`, if given (the same in every org).
#[cfg(feature = "simulator")]
fn service_app(args: &Args) -> Result<Option<simulator::ServiceApp>, CmdError> {
    let (Some(client_id), Some(path)) = (&args.client, &args.jwk) else {
        return Ok(None);
    };
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
    Ok(Some(simulator::ServiceApp {
        client_id: client_id.clone(),
        jwk,
        scopes: args
            .app_scopes
            .split([',', ' '])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        dpop: args.dpop_required,
    }))
}

/// The token org `k` accepts: `--token` for the first, `TOKEN-K` for the others.
#[cfg(feature = "simulator")]
fn org_token(token: &str, k: usize) -> String {
    if k <= 1 {
        token.to_string()
    } else {
        format!("{token}-{k}")
    }
}

/// Org `k` (1-based) of the run: its users, token, identity, limits and mail, then every option.
#[cfg(feature = "simulator")]
fn org_config(
    args: &Args,
    k: usize,
    users: Option<&[String]>,
    app: Option<simulator::ServiceApp>,
) -> SimConfig {
    let token = org_token(&args.token, k);
    let mut config = match users {
        Some(users) => {
            let mut c = SimConfig::new(token);
            c.users = simulator::fleet_users(users, k);
            c
        }
        None => SimConfig::demo_org(
            token,
            simulator::fleet_users(&simulator::parse_users(simulator::DEMO_USERS), k),
        ),
    };
    if let Some(every) = args.bounces_every {
        let mut flow = MailFlow::every(every);
        flow.seed = args.bounces_seed;
        if let Some(m) = args.bounces_mix {
            flow.mix = MailMix {
                hard: m.hard,
                soft_bounce: m.soft,
                deferred: m.deferred,
                dropped: m.dropped,
                delivered: m.delivered,
            };
        }
        flow.repeat_bouncers = pick(&config.users, args.repeat_bouncers, flow.seed);
        config.mail = Some(flow);
    }
    config = config.in_fleet(k);
    config.rate_limit = args.rate_limit.of(k);
    config.logs_rate_limit = args.logs_rate_limit.of(k);
    config.principal_share = args.principal_share.of(k);
    config.principal_concurrency_share = args.principal_share.of(k);
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
    config.poison = args.poison.clone();
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
    config.service_apps.extend(app);
    config
}

/// `n` of `users`, picked by `seed` (the same seed, the same users), in the order of the list.
#[cfg(feature = "simulator")]
fn pick(users: &[String], n: usize, seed: u64) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut chosen = rng.choose_multiple(0..users.len(), n.min(users.len()));
    chosen.sort_unstable();
    chosen.into_iter().map(|i| users[i].clone()).collect()
}

/// What is running, on stderr (stdout carries only the okta.yaml).
#[cfg(feature = "simulator")]
fn describe(args: &Args, fleet: &Fleet) {
    let requests = |n: u32| crate::term::count(u64::from(n), "request", "requests");
    let many = args.orgs.is_some();
    for (i, org) in fleet.orgs().iter().enumerate() {
        let k = i + 1;
        let share = args.principal_share.of(k);
        let limit = args.rate_limit.of(k);
        let shared = if share < 100 {
            format!(" ({share} % per token or app)")
        } else {
            String::new()
        };
        let name = if many {
            format!(" {}", org.profile)
        } else {
            String::new()
        };
        crate::term::say(format_args!(
            "okta-org simulator{name}: listening on {} with {} users, {} per {} s on the bounce \
             endpoint{shared}, {} on the System Log",
            org.sim.url(),
            org.sim.config().users.len(),
            requests(limit),
            args.window,
            args.logs_rate_limit.of(k),
        ));
        if let Some(every) = args.bounces_every {
            let flow = org.sim.config().mail.as_ref();
            let repeat = flow
                .map(|f| f.repeat_bouncers.join(", "))
                .unwrap_or_default();
            crate::term::say(format_args!(
                "  mail: a delivery event every {}{}",
                humantime::format_duration(every),
                if repeat.is_empty() {
                    String::new()
                } else {
                    format!("; bouncing after every removal: {repeat}")
                }
            ));
        }
    }
    let url = fleet
        .orgs()
        .first()
        .map(|o| o.sim.url())
        .unwrap_or_default();
    if many {
        crate::term::say(format_args!(
            "try, with the okta.yaml printed on stdout saved as ./okta.yaml (chmod 600: it holds the \
             tokens):  okta-org bounces remove samples/sendgrid-bounces.csv --profile org{n}\n\
             what each received: URL/__simulator/record{mail}    (Ctrl-C stops them)",
            n = fleet.orgs().len(),
            mail = if args.bounces_every.is_some() {
                ", its mail: URL/__simulator/mail"
            } else {
                ""
            }
        ));
    } else {
        crate::term::say(format_args!(
            "try:  OKTA_CLIENT_TOKEN={} okta-org bounces remove samples/sendgrid-bounces.csv --org-url {url}\n\
             what it received: {url}/__simulator/record{}    (Ctrl-C stops it)",
            args.token,
            if args.bounces_every.is_some() {
                format!(", its mail: {url}/__simulator/mail")
            } else {
                String::new()
            }
        ));
    }
}
