//! Runs one parsed command line: sets up logging and the async runtime, resolves the configuration, starts
//! the embedded simulator when asked, dispatches to the command, and turns every outcome into one exit
//! status with at most one line of error on stderr.

use std::num::NonZeroU32;
use std::sync::Arc;

use crate::bounces::{self, RemoveOptions};
use crate::cli::{
    BouncesCommand, Cli, Command, ConfigCommand, Global, Output, RemoveArgs, SimulateArgs,
};
use crate::client::pacer::PacerOptions;
use crate::client::{Authorizer, Client, ClientOptions, StaticToken};
use crate::config::{self, Config, Mode, ProcessEnv};
use crate::exit::Exit;
use crate::input::{ColumnChoice, InputSpec, ReadOptions};
use crate::interrupt::{Interrupt, Level};
use crate::oauth::{self, OAuth, OAuthSettings, SigningKey};
use crate::org;
use crate::org::models::OrgSetting;
use crate::secret::Secret;
use crate::simulator::{self, SimConfig, Simulator};

/// Prints `okta-org: error: ...` on stderr and returns `exit`.
pub fn fail(exit: Exit, message: impl std::fmt::Display) -> Exit {
    crate::say(format_args!("okta-org: error: {message}"));
    exit
}

pub fn run(cli: Cli) -> Exit {
    crate::term::init_logging(cli.global.verbose, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(Exit::Error, format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Bounces(BouncesCommand::Remove(args)) => remove(&cli.global, args).await,
            Command::Simulate(args) => simulate(args).await,
            Command::Config(ConfigCommand::Show) => config_show(&cli.global),
            Command::Config(ConfigCommand::Check) => config_check(&cli.global).await,
            other => org_command(&cli.global, other).await,
        }
    })
}

/// Request tuning a command sets from its own flags; the rest comes from the configuration.
#[derive(Default)]
struct Tuning {
    timeout: Option<std::time::Duration>,
    max_retries: Option<usize>,
    rate: Option<u32>,
    max_wait: Option<std::time::Duration>,
    concurrency: Option<u32>,
    min_backoff: Option<std::time::Duration>,
}

/// A client for the configured org, or for the embedded simulator under `--simulate` (kept running as
/// long as the connection lives).
struct Connection {
    client: Arc<Client>,
    oauth: Option<Arc<OAuth>>,
    _simulator: Option<Simulator>,
}

fn flags(global: &Global) -> config::Flags {
    config::Flags {
        org_url: global.org_url.clone(),
        token_file: global.token_file.clone(),
        profile: global.profile.clone(),
        authorization_mode: global.authorization_mode.clone(),
        client_id: global.client_id.clone(),
        scopes: global.scopes.clone(),
        private_key: global.private_key.clone(),
        private_key_id: global.private_key_id.clone(),
        dpop: global.dpop,
    }
}

/// Loads the configuration and prints its warnings (once, on stderr).
fn load_config(global: &Global) -> Result<Config, Exit> {
    let c = Config::load(&flags(global), &ProcessEnv).map_err(|e| fail(Exit::Usage, e))?;
    if !global.quiet {
        for w in &c.warnings {
            crate::say(format_args!("okta-org: warning: {w}"));
        }
    }
    Ok(c)
}

/// What authorizes requests, and the OAuth client behind it when there is one (for `config check`).
type SignIn = (Arc<dyn Authorizer>, Option<Arc<OAuth>>);

/// The authorization of the configured mode. `scopes` are what the command needs (for OAuth).
fn authorization(
    c: &Config,
    org_url: &reqwest::Url,
    need_token: bool,
    scopes: &[&str],
) -> Result<SignIn, Exit> {
    let usage = |e: config::ConfigError| fail(Exit::Usage, e);
    match c.mode().map_err(usage)? {
        Mode::Ssws | Mode::Bearer if !need_token && c.token.is_none() => {
            Ok((Arc::new(StaticToken::ssws(Secret::new(""))), None))
        }
        Mode::Ssws => Ok((
            Arc::new(StaticToken::ssws(c.token().map_err(usage)?.value.clone())),
            None,
        )),
        Mode::Bearer => Ok((
            Arc::new(StaticToken::bearer(c.token().map_err(usage)?.value.clone())),
            None,
        )),
        Mode::PrivateKey => {
            let client_id = c.client_id.as_ref().ok_or_else(|| {
                fail(
                    Exit::Usage,
                    "PrivateKey mode needs the service app's client id: --client-id, OKTA_CLIENT_CLIENTID \
                     or okta.client.clientId",
                )
            })?;
            let key_text = c.private_key.as_ref().ok_or_else(|| {
                fail(
                    Exit::Usage,
                    "PrivateKey mode needs the app's private key: --private-key FILE, OKTA_CLIENT_PRIVATEKEY \
                     or okta.client.privateKey",
                )
            })?;
            let key = SigningKey::parse(key_text.value.expose()).map_err(|e| {
                fail(
                    Exit::Usage,
                    format!("the private key from {}: {e}", key_text.origin),
                )
            })?;
            let oauth = Arc::new(OAuth::new(OAuthSettings {
                org_url: org_url.clone(),
                client_id: client_id.value.clone(),
                key,
                key_id: c.private_key_id.as_ref().map(|k| k.value.clone()),
                scopes: oauth::scopes_for(c.scopes.as_ref().map(|s| s.value.as_slice()), scopes),
                dpop: c.dpop.as_ref().is_some_and(|d| d.value),
            }));
            Ok((oauth.clone() as Arc<dyn Authorizer>, Some(oauth)))
        }
    }
}

async fn connect(
    global: &Global,
    tuning: Tuning,
    need_token: bool,
    scopes: &[&str],
) -> Result<Connection, Exit> {
    let mut simulator = None;
    let mut oauth = None;
    let mut config = Config::default();
    let (url, auth) = if global.simulate {
        let token = format!("sim-{:016x}", fastrand::u64(..));
        let sim = match Simulator::start(SimConfig::demo(token.clone()), 0).await {
            Ok(s) => s,
            Err(e) => {
                return Err(fail(
                    Exit::Error,
                    format!("cannot start the simulator: {e}"),
                ));
            }
        };
        if !global.quiet {
            crate::say(format_args!(
                "okta-org: using the embedded Okta simulator at {} (demo org of samples/, {} users)",
                sim.url(),
                simulator::parse_users(simulator::DEMO_USERS).len()
            ));
        }
        let url = sim.url().parse().expect("simulator URL");
        simulator = Some(sim);
        (
            url,
            Arc::new(StaticToken::ssws(Secret::new(token))) as Arc<dyn Authorizer>,
        )
    } else {
        config = load_config(global)?;
        let url = config.org_url().map_err(|e| fail(Exit::Usage, e))?.value;
        let (auth, o) = authorization(&config, &url, need_token, scopes)?;
        oauth = o;
        (url, auth)
    };
    let mut copts = ClientOptions::new(url, auth);
    if let Some(t) = tuning.timeout.or(config
        .request_timeout
        .as_ref()
        .filter(|t| t.value > 0)
        .map(|t| std::time::Duration::from_secs(t.value)))
    {
        copts.timeout = t;
    }
    copts.max_retries = tuning
        .max_retries
        .or(config.max_retries.as_ref().map(|m| m.value))
        .unwrap_or(copts.max_retries);
    copts.pacing = PacerOptions {
        rate_per_minute: tuning.rate.and_then(NonZeroU32::new),
        max_wait: tuning.max_wait,
        ceiling: tuning.concurrency.unwrap_or(copts.pacing.ceiling),
    };
    if let Some(b) = tuning.min_backoff {
        copts.min_backoff = b;
    }
    copts.ca_cert = global.ca_cert.clone();
    let client = Client::new(copts).map_err(|e| fail(Exit::Usage, e))?;
    Ok(Connection {
        client: Arc::new(client),
        oauth,
        _simulator: simulator,
    })
}

/// `config show`: every setting, its value (secrets redacted) and where it came from.
fn config_show(global: &Global) -> Exit {
    let c = match load_config(global) {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let rows = c.rows();
    match global.output {
        Output::Json => {
            let mut m = serde_json::Map::new();
            for r in &rows {
                m.insert(
                    r.name.to_string(),
                    serde_json::json!({ "value": r.value, "source": r.source }),
                );
            }
            println!("{}", serde_json::Value::Object(m));
        }
        Output::Text => {
            let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
            let v = rows
                .iter()
                .map(|r| r.value.len())
                .max()
                .unwrap_or(0)
                .min(50);
            for r in &rows {
                let line = format!("{:w$}  {:v$}  {}", r.name, r.value, r.source);
                println!("{}", line.trim_end());
            }
            let files: Vec<String> = c
                .files
                .iter()
                .map(|(p, found)| {
                    format!(
                        "{} ({})",
                        p.display(),
                        if *found { "read" } else { "not found" }
                    )
                })
                .collect();
            println!("files: {}", files.join(", "));
        }
    }
    Exit::Ok
}

/// `config check`: reach the org; for OAuth, get a token and list its scopes. One line either way.
async fn config_check(global: &Global) -> Exit {
    // A check answers quickly: one short retry, not the patience of a long run.
    let tuning = Tuning {
        max_retries: Some(1),
        min_backoff: Some(std::time::Duration::from_millis(300)),
        timeout: Some(std::time::Duration::from_secs(15)),
        ..Tuning::default()
    };
    let conn = match connect(global, tuning, true, &["okta.orgs.read"]).await {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let mut said = String::new();
    if let Some(oauth) = &conn.oauth {
        match oauth.token(&conn.client).await {
            Ok(t) => {
                said = format!(
                    "got a {} access token for {} s with scopes {}; ",
                    t.kind,
                    t.expires_in,
                    t.scopes.join(" ")
                );
            }
            Err(e) => return fail(e.exit(), e),
        }
    }
    let req = crate::client::Request::new(reqwest::Method::GET, "/api/v1/org");
    match conn
        .client
        .send(&req)
        .await
        .and_then(|r| r.json::<OrgSetting>())
    {
        Ok(org) => {
            println!(
                "ok: {said}reached {} ({}, {})",
                conn.client.base(),
                org.company_name.as_deref().unwrap_or("?"),
                org.subdomain.as_deref().unwrap_or("?")
            );
            Exit::Ok
        }
        Err(e) => fail(e.exit(), format!("{said}{e}")),
    }
}

async fn org_command(global: &Global, cmd: Command) -> Exit {
    if let Err(e) = org::check(&cmd) {
        return fail(e.exit(), e);
    }
    let need_token = !matches!(cmd, Command::Metadata);
    let conn = match connect(global, Tuning::default(), need_token, org::scopes(&cmd)).await {
        Ok(c) => c,
        Err(exit) => return exit,
    };
    let ctx = org::Ctx {
        client: &conn.client,
        output: global.output,
        quiet: global.quiet,
    };
    match org::run(cmd, &ctx).await {
        Ok(()) => Exit::Ok,
        Err(e) => fail(e.exit(), e),
    }
}

async fn remove(global: &Global, args: RemoveArgs) -> Exit {
    let inputs = if args.inputs.is_empty() {
        vec![InputSpec::stdin()]
    } else {
        args.inputs.iter().map(|a| InputSpec::parse(a)).collect()
    };
    if inputs.iter().filter(|i| i.path.is_none()).count() > 1 {
        return fail(Exit::Usage, "stdin (-) can be read only once");
    }
    let opts = RemoveOptions {
        inputs,
        interrupt: Arc::new(Interrupt::default()),
        read: ReadOptions {
            column: args
                .column
                .as_deref()
                .map_or(ColumnChoice::Auto, ColumnChoice::parse),
            allow_empty: args.allow_empty,
        },
        report: args.report.clone(),
        format: args.report_format,
        dry_run: args.dry_run,
        concurrency: args.concurrency.map(usize::from),
        quiet: global.quiet,
    };
    if let Err(e) = bounces::preflight(&opts) {
        return fail(Exit::Usage, e);
    }
    if let Some(path) = &opts.report
        && let Ok(report) = std::fs::canonicalize(path)
        && let Some(input) = opts.inputs.iter().find(|i| {
            i.path
                .as_ref()
                .and_then(|p| std::fs::canonicalize(p).ok())
                .is_some_and(|p| p == report)
        })
    {
        return fail(
            Exit::Usage,
            format!(
                "the report {} would overwrite the input {}; write it elsewhere",
                path.display(),
                input.name()
            ),
        );
    }
    if let Some(path) = &opts.report
        && let Err(e) = std::fs::File::create(path)
    {
        return fail(
            Exit::Usage,
            format!("cannot write the report {}: {e}", path.display()),
        );
    }
    if opts.inputs.iter().any(|i| i.path.is_none())
        && std::io::IsTerminal::is_terminal(&std::io::stdin())
        && !global.quiet
    {
        crate::say(format_args!(
            "okta-org: reading addresses from the terminal; end with Ctrl-D (or pass a file)"
        ));
    }
    // A dry run needs no org at all.
    let conn = if opts.dry_run {
        None
    } else {
        let tuning = Tuning {
            timeout: args.timeout,
            max_retries: args.max_retries,
            rate: args.rate,
            max_wait: args.max_wait,
            concurrency: args.concurrency.map(u32::from),
            min_backoff: None,
        };
        match connect(global, tuning, true, &["okta.orgs.manage"]).await {
            Ok(c) => Some(c),
            Err(exit) => return exit,
        }
    };
    let client = conn.as_ref().map(|c| c.client.clone());
    watch_signals(client.clone(), opts.interrupt.clone());
    let outcome = match bounces::remove(&opts, client).await {
        Ok(o) => o,
        Err(e) => return fail(Exit::Error, e),
    };
    if !global.quiet {
        crate::term::write_stderr(bounces::summary(&outcome, &opts).as_bytes());
    } else if let Some(e) = &outcome.input_error {
        fail(outcome.exit, e);
    }
    outcome.exit
}

/// How long requests in flight may take to answer after the first interrupt.
const GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// First SIGINT/SIGTERM: send nothing more, end the reading of pipes and terminals, give requests in
/// flight a few seconds to answer (so what Okta took is reported `accepted`), then finish the report.
/// Second: abandon what is in flight and finish the report at once (exit 128 + the signal).
fn watch_signals(client: Option<Arc<Client>>, interrupt: Arc<Interrupt>) {
    tokio::spawn(async move {
        let sig = wait_for_signal().await;
        let again = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            "press Ctrl-C again to stop at once"
        } else {
            "a second signal stops at once"
        };
        crate::say(format_args!(
            "okta-org: interrupted: sending nothing more; waiting up to {} s for answers in flight, \
             then finishing the report ({again})",
            GRACE.as_secs()
        ));
        interrupt.raise(Level::Stopping, sig);
        if let Some(c) = &client {
            c.control().stop(crate::client::StopReason::interrupted());
            let c = c.clone();
            tokio::spawn(async move {
                tokio::time::sleep(GRACE).await;
                c.control().abandon();
            });
        }
        let sig = wait_for_signal().await;
        crate::say(
            "okta-org: interrupted again: abandoning requests in flight; finishing the report now",
        );
        interrupt.raise(Level::Now, sig);
        if let Some(c) = &client {
            c.control().abandon();
        }
    });
}

/// Waits for SIGINT or SIGTERM and returns its number.
async fn wait_for_signal() -> i32 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => 2,
                    _ = term.recv() => 15,
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                2
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        2
    }
}

async fn simulate(args: SimulateArgs) -> Exit {
    let mut config = SimConfig::new(args.token.clone());
    config.users = match &args.users {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => simulator::parse_users(&text),
            Err(e) => return fail(Exit::Usage, format!("cannot read {}: {e}", path.display())),
        },
        None => simulator::parse_users(simulator::DEMO_USERS),
    };
    config.rate_limit = args.rate_limit;
    config.window_secs = args.window.max(1);
    config.retry_after = args.retry_after;
    config.retry_after_format = args.retry_after_format;
    config.advertise_limits = args.advertise_limits;
    config.fail_every = args.fail_every;
    config.fail_status = args.fail_status;
    config.poison = args.poison;
    config.max_list = args.max_list;
    config.latency = args.latency;
    config.max_concurrent = args.max_concurrent;
    config.bounce_answer = args.answer;
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
            _ => return fail(Exit::Usage, format!("{} is not a JWK file", path.display())),
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
    let sim = match Simulator::start(config, args.port).await {
        Ok(s) => s,
        Err(e) => {
            return fail(
                Exit::Usage,
                format!("cannot listen on 127.0.0.1:{}: {e}", args.port),
            );
        }
    };
    crate::say(format_args!(
        "okta-org simulator: listening on {} with {users} users, {} requests per {} s on the bounce endpoint\n\
         try:  OKTA_CLIENT_TOKEN={} okta-org bounces remove samples/sendgrid-bounces.csv --org-url {}\n\
         what it received: {}/__simulator/record    (Ctrl-C stops it)",
        sim.url(),
        args.rate_limit,
        args.window,
        args.token,
        sim.url(),
        sim.url()
    ));
    wait_for_signal().await;
    Exit::Ok
}
