//! The top of the command line: the program, the flags every command takes (`-v`, `-q`), one variant per
//! command (its arguments live beside its code in `cmd/`), and the argument groups several commands share:
//! connection and sign-in, and the output format.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::cmd;
use crate::exit::EXIT_STATUS_HELP;

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
  okta-org settings get";

#[derive(Debug, Parser)]
#[command(
    name = "okta-org",
    version,
    about = ABOUT,
    after_help = format!("{EXAMPLES}\n\n{CONFIG_HELP}\n\n{EXIT_STATUS_HELP}")
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// What every command takes.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Log more on stderr: -v each request, -vv retries and rate-limit details, -vvv everything
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print nothing on stderr but errors (no progress bar, no summary)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Email bounce list operations
    Bounces(cmd::bounces::Group),
    /// The org's general settings (name, address, phone, website)
    Settings(cmd::settings::Group),
    /// The org's billing and technical contacts
    Contacts(cmd::contacts::Group),
    /// The org's logo
    Logo(cmd::logo::Group),
    /// Okta Support access to the org
    Support(cmd::support::Group),
    /// Okta Aerial consent
    Aerial(cmd::aerial::Group),
    /// Whether the org's users receive Okta communication emails
    Communication(cmd::communication::Group),
    /// End-user dashboard preferences
    Preferences(cmd::preferences::Group),
    /// Org admin settings
    Admin(cmd::admin::Group),
    /// The org's public metadata (/.well-known/okta-organization; needs no token)
    Metadata(cmd::metadata::Args),
    /// Show or check the configuration (okta.yaml, OKTA_CLIENT_* variables, flags)
    Config(cmd::config::Group),
    /// Run the embedded Okta simulator on 127.0.0.1, for trying the tool without an Okta org
    Simulate(cmd::simulate::Args),
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

/// How commands that print an object print it.
#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// A readable view, or the API's JSON exactly as received
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Text)]
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

/// A duration on the command line: `90`, `90s`, `5m`, `1h30m`.
#[derive(Debug, thiserror::Error)]
#[error("{0} (a number of seconds, or with a unit: 90s, 5m, 1h30m)")]
pub struct DurationError(String);

pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| DurationError(e.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
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

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("soon").is_err());
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
