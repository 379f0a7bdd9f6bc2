//! One module per command, each holding its clap arguments beside one `run` entry; this module dispatches
//! to them, holds what the org commands share (printing an answer as text or JSON), and is the one place
//! where an error becomes an exit status and a line on stderr.
//!
//! A request flows: `cmd::<command>::run` checks its input, picks its endpoints from [`crate::endpoints`],
//! gets a [`Session`] (configuration and sign-in, `session.rs`), and sends through the shared
//! [`crate::client::Client`] (pacing and retries, `client/`). `bounces remove` hands its inputs to the
//! engine in `engine/` (reading in `input/`, checks in `address.rs`, `dedupe.rs`, the report in
//! `report.rs`). ARCHITECTURE.md is the map.

pub mod admin;
pub mod aerial;
pub mod bounces;
pub mod communication;
pub mod completions;
pub mod config;
pub mod contacts;
pub mod fleet;
pub mod limits;
pub mod logo;
pub mod man;
pub mod metadata;
pub mod preferences;
pub mod settings;
pub mod simulate;
pub mod support;

use std::io::{self, IsTerminal, Write};

use serde::de::DeserializeOwned;

use crate::cli::{Global, Output};
use crate::client::{ApiError, Request, Response};
use crate::config::ConfigError;
use crate::endpoints::Endpoint;
use crate::exit::{EXIT_STATUS_HELP, Exit};
use crate::input::InputError;
use crate::models::Render;
use crate::session::Connect;
use crate::session::{Session, SessionError, Tuning};

/// `okta-org --version`: the version and the commit it was built from (`build.rs`).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("OKTA_ORG_COMMIT"),
    ")"
);

const ABOUT: &str = "Clear a mail system's bounce list from Okta's email bounce list, and manage Okta org settings.";

const CONFIG_HELP: &str = "\
Configuration, weakest first: ~/.okta/okta.yaml, ./okta.yaml, ./.okta.yaml
(okta: client: orgUrl, token, authorizationMode, clientId, scopes, privateKey,
privateKeyId, dpop; --profile NAME adds okta.profiles.NAME.client), then the
OKTA_CLIENT_* variables (ORGURL, TOKEN, AUTHORIZATIONMODE, CLIENTID, SCOPES,
PRIVATEKEY, PRIVATEKEYID, DPOP, REQUESTTIMEOUT, RATELIMIT_MAXRETRIES), then
flags. `okta-org config show` tells where each setting came from;
`okta-org config check` tries them.";

const EXAMPLES: &str = "\
Examples:
  okta-org bounces remove samples/sendgrid-bounces.csv --simulate
  okta-org bounces remove bounces.csv --report report.csv
  okta-org settings get
  okta-org --profiles all bounces remove bounces.csv --report 'reports/{profile}.csv'
  okta-org --profiles prod,preview settings get";

#[derive(Debug, clap::Parser)]
#[command(
    name = "okta-org",
    version = VERSION,
    about = ABOUT,
    after_help = format!("{EXAMPLES}\n\n{CONFIG_HELP}\n\n{EXIT_STATUS_HELP}")
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Email bounce list operations
    Bounces(bounces::Group),
    /// The org's general settings (name, address, phone, website)
    #[command(after_help = settings::EXAMPLES)]
    Settings(settings::Group),
    /// The org's billing and technical contacts
    #[command(after_help = contacts::EXAMPLES)]
    Contacts(contacts::Group),
    /// The org's logo
    #[command(after_help = logo::EXAMPLES)]
    Logo(logo::Group),
    /// Okta Support access to the org
    #[command(after_help = support::EXAMPLES)]
    Support(support::Group),
    /// Okta Aerial consent
    #[command(after_help = aerial::EXAMPLES)]
    Aerial(aerial::Group),
    /// Whether the org's users receive Okta communication emails
    #[command(after_help = communication::EXAMPLES)]
    Communication(communication::Group),
    /// End-user dashboard preferences
    #[command(after_help = preferences::EXAMPLES)]
    Preferences(preferences::Group),
    /// Org admin settings
    #[command(after_help = admin::EXAMPLES)]
    Admin(admin::Group),
    /// The rate limits this tool's calls meet: what the org advertises, and this token's share
    #[command(after_help = limits::LIMITS_HELP)]
    Limits(limits::Args),
    /// The org's public metadata (/.well-known/okta-organization; needs no token)
    Metadata(metadata::Args),
    /// Show or check the configuration (okta.yaml, OKTA_CLIENT_* variables, flags)
    Config(config::Group),
    /// Run the embedded Okta simulator on 127.0.0.1, for trying the tool without an Okta org
    Simulate(simulate::Args),
    /// Print the completion script of a shell (bash, zsh, fish, powershell, elvish)
    Completions(completions::Args),
    /// Print the manual page (roff), or write one page a command with --dir
    Man(man::Args),
}

impl Cli {
    /// The whole command line as clap sees it (for parsing, completions and the man page): the derived
    /// definition, plus the examples of the admin settings' `get` and `set`, which share one definition
    /// but name their own setting.
    pub fn command() -> clap::Command {
        let cmd = <Cli as clap::CommandFactory>::command();
        cmd.mut_subcommand("admin", |admin| {
            let names: Vec<String> = admin
                .get_subcommands()
                .map(|s| s.get_name().to_string())
                .collect();
            names.iter().fold(admin, |admin, name| {
                admin.mut_subcommand(name, |flag| {
                    flag.mut_subcommand("get", |c| {
                        c.after_help(format!("Example:\n  okta-org admin {name} get"))
                    })
                    .mut_subcommand("set", |c| {
                        c.after_help(format!("Example:\n  okta-org admin {name} set false"))
                    })
                })
            })
        })
    }

    pub fn parse_args() -> Cli {
        let matches = Cli::command().get_matches();
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    /// Bad input, found before any request.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Input(#[from] InputError),
    /// An output the command must not, or cannot, write.
    #[error(transparent)]
    Output(#[from] crate::outputs::OutputError),
    /// An earlier report that cannot be read back.
    #[error(transparent)]
    Report(#[from] crate::report::ReadError),
    /// Okta answered a deprecated operation with a redirect.
    #[error("{0}")]
    Deprecated(String),
    #[error("{what}: {}", crate::os_error::plain(source))]
    Io { what: String, source: io::Error },
    /// `config check`: what worked before the error.
    #[error("{said}{source}")]
    Check { said: String, source: ApiError },
    #[error(transparent)]
    Ledger(#[from] crate::ledger::LedgerError),
}

impl From<crate::sync::SyncError> for CmdError {
    fn from(e: crate::sync::SyncError) -> CmdError {
        match e {
            crate::sync::SyncError::Api(a) => CmdError::Api(a),
            crate::sync::SyncError::Ledger(l) => CmdError::Ledger(l),
        }
    }
}

impl CmdError {
    /// The exit status of every failure, decided here and nowhere else.
    pub fn exit(&self) -> Exit {
        match self {
            CmdError::Usage(_)
            | CmdError::Config(_)
            | CmdError::Input(_)
            | CmdError::Report(_)
            | CmdError::Output(_)
            | CmdError::Deprecated(_) => Exit::Usage,
            CmdError::Api(e) | CmdError::Check { source: e, .. } => e.failure().into(),
            CmdError::Session(
                SessionError::Config(_) | SessionError::Client(_) | SessionError::NoSimulator,
            ) => Exit::Usage,
            CmdError::Session(SessionError::Simulator(_)) | CmdError::Io { .. } => Exit::Error,
            CmdError::Ledger(e) => e.exit(),
        }
    }
}

/// What a command did, beside its result: for a caller that runs it for many orgs (the fleet's table
/// and its `--fleet-summary`), handed over as values rather than read back from the command's output.
#[derive(Debug, Default, Clone)]
pub struct Counted {
    /// Rows (or recipients, addresses) the command settled or listed; `None` when it did not get that far.
    pub rows: Option<u64>,
    pub accepted: Option<u64>,
    pub rejected: Option<u64>,
    pub invalid: Option<u64>,
    pub failed: Option<u64>,
    /// Why it ended early, or failed.
    pub stop: Option<bounces::summary::Stop>,
    /// The command's own summary fields (as `--summary` writes them), or null.
    pub body: serde_json::Value,
}

/// A command's result and what it did.
#[derive(Debug)]
pub struct Ran {
    pub result: Result<Exit, CmdError>,
    pub counted: Counted,
}

impl Ran {
    /// A command that failed, or ended, with nothing to count beyond its error.
    pub fn of(result: Result<Exit, CmdError>) -> Ran {
        let stop = result.as_ref().err().map(bounces::summary::Stop::of_error);
        Ran {
            result,
            counted: Counted {
                stop,
                ..Counted::default()
            },
        }
    }
}

pub fn usage(m: impl Into<String>) -> CmdError {
    CmdError::Usage(m.into())
}

/// Runs one parsed command line: logging, the async runtime, the command; every outcome becomes one exit
/// status, with at most one line of error on stderr.
pub fn run(cli: Cli) -> Exit {
    crate::term::init_logging(cli.global.verbose, cli.global.quiet, cli.global.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            crate::term::error(format_args!("cannot start the async runtime: {e}"));
            return Exit::Error;
        }
    };
    let global = cli.global;
    let result = runtime.block_on(async move {
        if global.profiles.is_some() {
            return fleet::run(cli.command, global).await;
        }
        for (flag, given) in [
            ("--parallel", global.parallel.is_some()),
            ("--fleet-summary", global.fleet_summary.is_some()),
        ] {
            if given {
                return Err(usage(format!(
                    "{flag} is for runs across several orgs: give --profiles LIST (or all) too"
                )));
            }
        }
        dispatch(cli.command, &global).await
    });
    match result {
        Ok(exit) => exit,
        Err(e) => {
            crate::term::error(&e);
            e.exit()
        }
    }
}

/// Runs one command for one org (or none).
pub async fn dispatch(command: Command, global: &Global) -> Result<Exit, CmdError> {
    match command {
        Command::Bounces(g) => bounces::run(g, global).await,
        Command::Settings(g) => settings::run(g, global).await,
        Command::Contacts(g) => contacts::run(g, global).await,
        Command::Logo(g) => logo::run(g, global).await,
        Command::Support(g) => support::run(g, global).await,
        Command::Aerial(g) => aerial::run(g, global).await,
        Command::Communication(g) => communication::run(g, global).await,
        Command::Preferences(g) => preferences::run(g, global).await,
        Command::Admin(g) => admin::run(g, global).await,
        Command::Limits(a) => limits::run(a, global).await,
        Command::Metadata(a) => metadata::run(a, global).await,
        Command::Config(g) => config::run(g, global).await,
        Command::Simulate(a) => simulate::run(a).await,
        Command::Completions(a) => completions::run(a),
        Command::Man(a) => man::run(a),
    }
}

/// An org command's view of the org: its session and how it prints.
pub struct Org {
    pub session: Session,
    pub output: Output,
    pub quiet: bool,
}

impl Org {
    /// Connects for a command that calls `endpoints`.
    pub async fn connect(
        conn: &Connect,
        output: Output,
        global: &Global,
        endpoints: &[&Endpoint],
    ) -> Result<Org, CmdError> {
        Ok(Org {
            session: Session::connect(conn, global.quiet, Tuning::default(), endpoints).await?,
            output,
            quiet: global.quiet,
        })
    }

    pub async fn send(&self, req: Request) -> Result<Response, CmdError> {
        Ok(self.session.client.send(&req).await?)
    }

    /// Sends `req` and prints the answer as `T`.
    pub async fn show<T: DeserializeOwned + Render>(&self, req: Request) -> Result<Exit, CmdError> {
        let resp = self.send(req).await?;
        self.print::<T>(&resp)
    }

    pub fn print<T: DeserializeOwned + Render>(&self, resp: &Response) -> Result<Exit, CmdError> {
        match self.output {
            Output::Json => write_stdout(&json_for_stdout(&resp.body, stdout_is_terminal())),
            Output::Text => {
                let v: T = if resp.body.iter().all(u8::is_ascii_whitespace) {
                    serde_json::from_str("{}")
                        .map_err(|e| CmdError::Api(ApiError::Decode(e.to_string())))?
                } else if stdout_is_terminal() {
                    // On a terminal every text Okta sent is shown escaped: the values themselves, before
                    // the view lays them out in lines.
                    let mut v: serde_json::Value = resp.json()?;
                    crate::escape::value(&mut v);
                    serde_path_to_error::deserialize(v).map_err(|e| {
                        CmdError::Api(ApiError::Decode(format!("at {}: {}", e.path(), e.inner())))
                    })?
                } else {
                    resp.json()?
                };
                write_stdout(format!("{}\n", v.render()).as_bytes())
            }
        }
    }

    /// A one-line note on stderr (not under `--quiet`).
    pub fn note(&self, text: &str) {
        crate::term::note(text);
    }
}

/// JSON as Okta sent it, for `-o json`: to a pipe or file exactly as received (byte for byte, so nothing
/// is lost or reordered), to a terminal indented for reading, with the control characters and bidi
/// overrides JSON leaves raw (DEL, C1) written as `\uXXXX` escapes (the same JSON; an answer that is not
/// JSON is shown escaped as text). Ends with a newline either way.
pub fn json_for_stdout(body: &[u8], terminal: bool) -> Vec<u8> {
    let pretty = terminal
        .then(|| serde_json::from_slice::<serde_json::Value>(body).ok())
        .flatten()
        .and_then(|v| serde_json::to_string_pretty(&v).ok());
    let mut out = match (terminal, pretty) {
        (true, Some(json)) => crate::escape::json(&json).into_owned().into_bytes(),
        (true, None) => crate::escape::lines(&String::from_utf8_lossy(body))
            .into_owned()
            .into_bytes(),
        (false, _) => body.to_vec(),
    };
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out
}

/// Outside text in a line the tool writes on stdout: escaped when stdout is a terminal, else exact.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    crate::escape::for_terminal(text, io::stdout().is_terminal())
}

tokio::task_local! {
    /// What a command writes on stdout, when its caller keeps it (one org of several, whose answers are
    /// shown side by side once all are in).
    static CAPTURE: std::sync::Arc<std::sync::Mutex<Vec<u8>>>;
}

/// Runs `fut` keeping what it writes on stdout, and returns that too.
pub async fn captured<T>(fut: impl Future<Output = T>) -> (T, Vec<u8>) {
    let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out = CAPTURE.scope(buf.clone(), fut).await;
    let bytes = std::mem::take(&mut *buf.lock().unwrap_or_else(|e| e.into_inner()));
    (out, bytes)
}

/// Whether what a command writes on stdout reaches a terminal (not when it is kept).
fn stdout_is_terminal() -> bool {
    CAPTURE.try_with(|_| ()).is_err() && io::stdout().is_terminal()
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<Exit, CmdError> {
    let kept = CAPTURE.try_with(|buf| {
        buf.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(bytes)
    });
    if kept.is_ok() {
        return Ok(Exit::Ok);
    }
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Exit::Ok),
        Err(source) => Err(CmdError::Io {
            what: "cannot write to stdout".into(),
            source,
        }),
        Ok(()) => Ok(Exit::Ok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn json_is_indented_only_for_a_terminal() {
        let body = br#"{"b":1,"a":[true,null]}"#;
        assert_eq!(
            json_for_stdout(body, false),
            b"{\"b\":1,\"a\":[true,null]}\n"
        );
        assert_eq!(
            String::from_utf8(json_for_stdout(body, true)).unwrap(),
            "{\n  \"b\": 1,\n  \"a\": [\n    true,\n    null\n  ]\n}\n"
        );
        // What is not JSON is shown as it came.
        assert_eq!(json_for_stdout(b"oops", true), b"oops\n");
        // On a terminal what JSON leaves raw is escaped, as the same JSON; elsewhere it is kept.
        let body = "{\"name\":\"a\u{9b}2J\u{202e}b\u{7f}\"}".as_bytes();
        let shown = String::from_utf8(json_for_stdout(body, true)).unwrap();
        assert_eq!(shown, "{\n  \"name\": \"a\\u009b2J\\u202eb\\u007f\"\n}\n");
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&shown).unwrap(),
            serde_json::from_slice::<serde_json::Value>(body).unwrap()
        );
        assert_eq!(json_for_stdout(body, false), [body, b"\n"].concat());
        assert_eq!(
            json_for_stdout(b"<h1>\x1b[2J</h1>", true),
            b"<h1>\\x1b[2J</h1>\n"
        );
    }

    #[test]
    fn admin_examples_name_their_own_setting() {
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("admin")
            .and_then(|a| a.find_subcommand_mut("auto-assign-admin-app"))
            .and_then(|a| a.find_subcommand_mut("set"))
            .map(|c| c.render_help().to_string())
            .unwrap();
        assert!(
            help.contains("okta-org admin auto-assign-admin-app set false"),
            "{help}"
        );
    }

    /// Connection flags are on the commands that connect, and only there.
    #[test]
    fn connection_flags_are_where_they_mean_something() {
        let cmd = Cli::command();
        let long_flags = |path: &[&str]| -> Vec<String> {
            let mut c = cmd.clone();
            c.build();
            let mut c = &c;
            for name in path {
                c = c.find_subcommand(name).expect("a subcommand");
            }
            c.get_arguments()
                .filter_map(|a| a.get_long().map(str::to_string))
                .collect()
        };
        let remove = long_flags(&["bounces", "remove"]);
        assert!(remove.contains(&"org-url".to_string()));
        assert!(!remove.contains(&"output".to_string()));
        let get = long_flags(&["settings", "get"]);
        assert!(get.contains(&"org-url".to_string()) && get.contains(&"output".to_string()));
        let simulate = long_flags(&["simulate"]);
        for flag in ["org-url", "simulate", "dpop", "output", "token-file"] {
            assert!(
                !simulate.contains(&flag.to_string()),
                "simulate has --{flag}"
            );
        }
    }
}
