//! One module per command, each holding its clap arguments beside one `run` entry; this module dispatches
//! to them, holds what the org commands share (printing an answer as text or JSON), and is the one place
//! where an error becomes an exit status and a line on stderr.
//!
//! A request flows: `cmd::<command>::run` checks its input, picks its endpoints from [`crate::endpoints`],
//! gets a [`Session`] (configuration and sign-in, `session.rs`), and sends through the shared
//! [`crate::client::Client`] (pacing and retries, `client/`). `bounces remove` hands its inputs to the
//! pipeline in `bounces/` (reading in `input/`, checks in `address.rs`, `dedupe.rs`, the report in
//! `report.rs`).

pub mod admin;
pub mod aerial;
pub mod bounces;
pub mod communication;
pub mod config;
pub mod contacts;
pub mod logo;
pub mod metadata;
pub mod preferences;
pub mod settings;
pub mod simulate;
pub mod support;

use std::io::{self, Write};

use serde::de::DeserializeOwned;

use crate::bounces::RemoveError;
use crate::cli::{Cli, Command, ConnectArgs, Global, Output};
use crate::client::{ApiError, Request, Response};
use crate::config::ConfigError;
use crate::endpoints::Endpoint;
use crate::exit::Exit;
use crate::input::InputError;
use crate::models::Render;
use crate::session::{Session, SessionError, Tuning};

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
    #[error(transparent)]
    Remove(#[from] RemoveError),
    /// Okta answered a deprecated operation with a redirect.
    #[error("{0}")]
    Deprecated(String),
    #[error("{what}: {source}")]
    Io { what: String, source: io::Error },
    /// `config check`: what worked before the error.
    #[error("{said}{source}")]
    Check { said: String, source: ApiError },
}

impl CmdError {
    /// The exit status of every failure, decided here and nowhere else.
    pub fn exit(&self) -> Exit {
        match self {
            CmdError::Usage(_)
            | CmdError::Config(_)
            | CmdError::Input(_)
            | CmdError::Deprecated(_) => Exit::Usage,
            CmdError::Api(e) | CmdError::Check { source: e, .. } => e.exit(),
            CmdError::Session(SessionError::Config(_) | SessionError::Client(_)) => Exit::Usage,
            CmdError::Session(SessionError::Simulator(_))
            | CmdError::Remove(_)
            | CmdError::Io { .. } => Exit::Error,
        }
    }
}

pub fn usage(m: impl Into<String>) -> CmdError {
    CmdError::Usage(m.into())
}

/// Runs one parsed command line: logging, the async runtime, the command; every outcome becomes one exit
/// status, with at most one line of error on stderr.
pub fn run(cli: Cli) -> Exit {
    crate::term::init_logging(cli.global.verbose, cli.global.quiet);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            crate::say(format_args!(
                "okta-org: error: cannot start the async runtime: {e}"
            ));
            return Exit::Error;
        }
    };
    let global = cli.global;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Bounces(g) => bounces::run(g, &global).await,
            Command::Settings(g) => settings::run(g, &global).await,
            Command::Contacts(g) => contacts::run(g, &global).await,
            Command::Logo(g) => logo::run(g, &global).await,
            Command::Support(g) => support::run(g, &global).await,
            Command::Aerial(g) => aerial::run(g, &global).await,
            Command::Communication(g) => communication::run(g, &global).await,
            Command::Preferences(g) => preferences::run(g, &global).await,
            Command::Admin(g) => admin::run(g, &global).await,
            Command::Metadata(a) => metadata::run(a, &global).await,
            Command::Config(g) => config::run(g, &global).await,
            Command::Simulate(a) => simulate::run(a).await,
        }
    });
    match result {
        Ok(exit) => exit,
        Err(e) => {
            crate::say(format_args!("okta-org: error: {e}"));
            e.exit()
        }
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
        conn: &ConnectArgs,
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
            Output::Json => {
                let mut body = resp.body.clone();
                if !body.ends_with(b"\n") {
                    body.push(b'\n');
                }
                write_stdout(&body)
            }
            Output::Text => {
                let v: T = if resp.body.iter().all(u8::is_ascii_whitespace) {
                    serde_json::from_str("{}")
                        .map_err(|e| CmdError::Api(ApiError::Decode(e.to_string())))?
                } else {
                    resp.json()?
                };
                write_stdout(format!("{}\n", v.render()).as_bytes())
            }
        }
    }

    /// A one-line note on stderr (not under `--quiet`).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            crate::say(format_args!("okta-org: {text}"));
        }
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<Exit, CmdError> {
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
