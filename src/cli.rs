//! The pieces of the command line that several commands share: the flags every command takes (`-v`,
//! `-q`), connection and sign-in, the output format, and durations. The program and its commands are
//! defined in `cmd/`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::config;
use crate::session::Connect;

/// What every command takes; listed after each command's own options.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Log more on stderr: -v each request, -vv retries and rate-limit details, -vvv everything
    #[arg(short, long, global = true, action = clap::ArgAction::Count, display_order = 1000)]
    pub verbose: u8,
    /// Print nothing on stderr but errors (no progress bar, no summary)
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        display_order = 1001
    )]
    pub quiet: bool,
    /// Lines on stderr as text, or one JSON object a line for log collectors (`bounces sync --follow`)
    #[arg(long, global = true, value_enum, value_name = "FORMAT",
          default_value_t = crate::term::LogFormat::Text, display_order = 1002)]
    pub log_format: crate::term::LogFormat,
    /// Run the command once per okta.yaml profile (okta.profiles.NAME), comma-separated, or `all`:
    /// in parallel, each org with its own sign-in; a table of the orgs at the end (docs/fleet.md)
    #[arg(
        long,
        global = true,
        value_name = "LIST|all",
        display_order = 1002,
        help_heading = "Many orgs"
    )]
    pub profiles: Option<String>,
    /// With --profiles: at most N orgs at once (default: all of them)
    #[arg(long, global = true, value_name = "N", display_order = 1003,
          value_parser = clap::value_parser!(u32).range(1..), help_heading = "Many orgs")]
    pub parallel: Option<u32>,
    /// With --profiles: write the table of the orgs as one JSON object to FILE
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        display_order = 1004,
        help_heading = "Many orgs"
    )]
    pub fleet_summary: Option<PathBuf>,
    /// Confirm a change: settings replace, and with --profiles any command that changes orgs
    #[arg(long, global = true, display_order = 1005)]
    pub yes: bool,
    /// The org this run is for, in a run across several orgs (set by the fleet, not by a flag).
    #[arg(skip)]
    pub seat: Option<Seat>,
}

/// One org's place in a run across several orgs: its profile, and the fleet's signals.
#[derive(Debug, Clone)]
pub struct Seat {
    pub profile: std::sync::Arc<str>,
    pub signals: crate::interrupt::Signals,
}

impl Global {
    /// Where this run's stop signals come from: the process's own, or the fleet's.
    pub fn signals(&self) -> crate::interrupt::Signals {
        self.seat
            .as_ref()
            .map_or_else(Default::default, |s| s.signals.clone())
    }

    /// Whether this run is one org of several (no progress bar, lines labelled).
    pub fn in_fleet(&self) -> bool {
        self.seat.is_some()
    }
}

/// Where the org is and how to sign in: on every command that connects (and `config show`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Connection and sign-in")]
pub struct ConnectArgs {
    /// The org's URL, e.g. https://acme.okta.com [env: OKTA_CLIENT_ORGURL]
    #[arg(long, global = true, value_name = "URL")]
    pub org_url: Option<String>,
    /// Read the API token from this file instead of OKTA_CLIENT_TOKEN
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Use okta.profiles.NAME.client of okta.yaml [env: OKTA_CLIENT_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// SSWS (API token), Bearer (an access token) or PrivateKey (OAuth service app) [env: OKTA_CLIENT_AUTHORIZATIONMODE]
    #[arg(long, global = true, value_name = "MODE")]
    pub authorization_mode: Option<String>,
    /// The OAuth service app's client id [env: OKTA_CLIENT_CLIENTID]
    #[arg(long, global = true, value_name = "ID")]
    pub client_id: Option<String>,
    /// OAuth scopes to request, comma-separated (default: what the command needs) [env: OKTA_CLIENT_SCOPES]
    #[arg(long, global = true, value_name = "SCOPES")]
    pub scopes: Option<String>,
    /// The service app's private key: a PEM (PKCS#1, PKCS#8, SEC1) or JWK file [env: OKTA_CLIENT_PRIVATEKEY]
    #[arg(long, global = true, value_name = "PATH")]
    pub private_key: Option<PathBuf>,
    /// The key's id (kid), when the app has several [env: OKTA_CLIENT_PRIVATEKEYID]
    #[arg(long, global = true, value_name = "KID")]
    pub private_key_id: Option<String>,
    /// Bind access tokens to a key with DPoP (RFC 9449) [env: OKTA_CLIENT_DPOP]
    #[arg(long, global = true)]
    pub dpop: bool,
    /// Also trust this CA certificate (PEM), e.g. of a corporate TLS-inspecting proxy
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Run against the embedded Okta simulator (a demo org whose users match samples/); no org needed
    #[arg(long, global = true)]
    pub simulate: bool,
}

impl ConnectArgs {
    /// The connection these flags describe.
    pub fn connect(&self) -> Connect {
        Connect {
            flags: config::Flags {
                org_url: self.org_url.clone(),
                token_file: self.token_file.clone(),
                profile: self.profile.clone(),
                authorization_mode: self.authorization_mode.clone(),
                client_id: self.client_id.clone(),
                scopes: self.scopes.clone(),
                private_key: self.private_key.clone(),
                private_key_id: self.private_key_id.clone(),
                dpop: self.dpop,
            },
            simulate: self.simulate,
            ca_cert: self.ca_cert.clone(),
        }
    }
}

/// Where the org is, for a command that sends no credentials (`metadata`): no sign-in flags.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Connection")]
pub struct PublicConnectArgs {
    /// The org's URL, e.g. https://acme.okta.com [env: OKTA_CLIENT_ORGURL]
    #[arg(long, global = true, value_name = "URL")]
    pub org_url: Option<String>,
    /// Use the org URL of okta.profiles.NAME.client of okta.yaml [env: OKTA_CLIENT_PROFILE]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
    /// Also trust this CA certificate (PEM), e.g. of a corporate TLS-inspecting proxy
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Run against the embedded Okta simulator; no org needed
    #[arg(long, global = true)]
    pub simulate: bool,
}

impl PublicConnectArgs {
    pub fn connect(&self) -> Connect {
        Connect {
            flags: config::Flags {
                org_url: self.org_url.clone(),
                profile: self.profile.clone(),
                ..config::Flags::default()
            },
            simulate: self.simulate,
            ca_cert: self.ca_cert.clone(),
        }
    }
}

/// An org command group: its subcommands, and the connection and output flags every one of them takes.
#[derive(Debug, Clone, Args)]
pub struct OrgGroup<C: clap::Subcommand> {
    #[command(subcommand)]
    pub command: C,
    #[command(flatten)]
    pub conn: ConnectArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// How commands that print an object print it.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// A readable view, or the API's JSON as received (indented on a terminal)
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Text,
          help_heading = None::<&str>)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

/// A value clap could not take, with what it expects.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadValue(pub String);

/// A duration on the command line that is not one, with the format that is.
#[derive(Debug, thiserror::Error)]
pub enum DurationError {
    #[error(
        "not a duration: give a number of seconds (90) or a number with a unit (90s, 5m, 1h30m)"
    )]
    Format,
    #[error("{0}: use s, m, h or d (90s, 5m, 1h30m, 2d)")]
    Unit(String),
    #[error("must be more than 0 (a time limit of one request, e.g. 30s)")]
    Zero,
}

/// A duration on the command line: `90`, `90s`, `5m`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| match e {
        humantime::DurationError::UnknownUnit { unit, .. } => {
            DurationError::Unit(format!("unknown unit {unit:?}"))
        }
        _ => DurationError::Format,
    })
}

/// `--timeout`: a duration, and more than none (a request with no time at all could never answer).
pub fn parse_timeout(s: &str) -> Result<Duration, DurationError> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(DurationError::Zero),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("soon").is_err());
        let e = parse_duration("forever").unwrap_err().to_string();
        assert!(e.starts_with("not a duration") && e.contains("5m"), "{e}");
        let e = parse_duration("5 fortnights").unwrap_err().to_string();
        assert!(
            e.contains("\"fortnights\"") && e.contains("use s, m, h or d"),
            "{e}"
        );
        assert!(parse_timeout("0").is_err() && parse_timeout("0s").is_err());
        assert_eq!(parse_timeout("30s").unwrap(), Duration::from_secs(30));
    }
}
