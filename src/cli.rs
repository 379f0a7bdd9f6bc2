//! The command line, defined once with clap: every command, flag, default and help text lives here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::exit::EXIT_STATUS_HELP;
use crate::report;
use crate::simulator::{RetryAfterFormat, RetryAfterMode};

const ABOUT: &str = "Clear a mail system's bounce list from Okta's email bounce list, and manage Okta org settings.";

const CONFIG_HELP: &str = "\
Configuration (weakest first): ~/.okta/okta.yaml, ./okta.yaml (okta: client: orgUrl, token),
the environment (OKTA_CLIENT_ORGURL, OKTA_CLIENT_TOKEN), then --org-url and --token-file.";

#[derive(Debug, Parser)]
#[command(name = "okta-org", version, about = ABOUT, after_help = format!("{CONFIG_HELP}\n\n{EXIT_STATUS_HELP}"))]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// The org's URL, e.g. https://acme.okta.com [env: OKTA_CLIENT_ORGURL]
    #[arg(long, global = true, value_name = "URL")]
    pub org_url: Option<String>,
    /// Read the API token from this file instead of OKTA_CLIENT_TOKEN
    #[arg(long, global = true, value_name = "PATH")]
    pub token_file: Option<PathBuf>,
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
    #[command(subcommand)]
    Bounces(BouncesCommand),
    /// Run the embedded Okta simulator on 127.0.0.1, for trying the tool without an Okta org
    Simulate(SimulateArgs),
}

#[derive(Debug, Subcommand)]
pub enum BouncesCommand {
    /// Remove the addresses of a mail system's bounce export from Okta's email bounce list
    #[command(after_help = REMOVE_HELP)]
    Remove(RemoveArgs),
}

const REMOVE_HELP: &str = "\
Reads CSV exports of SendGrid, Mailgun, Mailchimp, Brevo, SparkPost, SES, Postmark, Mandrill, Exchange
message traces, or plain lists of addresses (UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or
pipe). The address column is found by its header name, or by content; --column overrides.

Every input row gets one report row (line, email, status, reason, source) with status accepted,
rejected, invalid, duplicate or failed (valid under --dry-run). Rows marked failed are safe to send again.

Examples:
  okta-org bounces remove samples/sendgrid-bounces.csv --simulate
  okta-org bounces remove bounces.csv --report report.csv
  aws sesv2 ... | okta-org bounces remove - --max-wait 5m --report /var/log/bounces.csv";

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// Export files to read, one after another; `-` or none reads stdin
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// The address column, by header name or 1-based number (default: found by header name or content)
    #[arg(long, value_name = "NAME|NUMBER")]
    pub column: Option<String>,
    /// Write the report here instead of stdout
    #[arg(long, value_name = "PATH")]
    pub report: Option<PathBuf>,
    /// Report format
    #[arg(long, value_enum, default_value_t = report::Format::Csv)]
    pub report_format: report::Format,
    /// Check everything and write the report, but send nothing to Okta
    #[arg(long)]
    pub dry_run: bool,
    /// At most this many requests a minute (on top of Okta's own rate-limit headers)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// Requests in flight at once (more than one only while Okta advertises the remaining budget)
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub concurrency: u16,
    /// If Okta asks to wait longer than this (Retry-After), stop and report the rest as failed with the
    /// time to retry, instead of sleeping (e.g. 90s, 5m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_wait: Option<Duration>,
    /// Retries of one request after 429, 5xx and network errors
    #[arg(
        long,
        value_name = "N",
        default_value_t = 6,
        env = "OKTA_CLIENT_RATELIMIT_MAXRETRIES"
    )]
    pub max_retries: usize,
    /// Time limit of one request
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Run against the embedded Okta simulator (a demo org whose users match samples/); no org needed
    #[arg(long)]
    pub simulate: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  okta-org simulate --port 8080 --rate-limit 10 --window 60
  OKTA_CLIENT_TOKEN=simulator-token okta-org bounces remove samples/mailgun-bounces.csv --org-url http://127.0.0.1:8080")]
pub struct SimulateArgs {
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
    /// Rate-limit window, in seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub window: u64,
    /// Retry-After on 429/503: auto (until the window resets), none, or seconds
    #[arg(long, value_name = "auto|none|SECONDS", default_value = "auto")]
    pub retry_after: RetryAfterMode,
    /// Retry-After as delta-seconds or as an HTTP-date
    #[arg(long, value_enum, default_value_t = RetryAfterFormat::Seconds)]
    pub retry_after_format: RetryAfterFormat,
    /// Send X-Rate-Limit-Limit/-Remaining/-Reset headers
    #[arg(long, value_name = "true|false", default_value_t = true, action = clap::ArgAction::Set)]
    pub advertise_limits: bool,
    /// Fail every K-th bounce request with --fail-status
    #[arg(long, value_name = "K")]
    pub fail_every: Option<u32>,
    /// Status of the injected failures
    #[arg(long, default_value_t = 503, value_parser = parse_fail_status)]
    pub fail_status: u16,
    /// Refuse whole any request holding this address (400, naming no address); repeatable
    #[arg(long, value_name = "ADDRESS", hide = true)]
    pub poison: Vec<String>,
    /// The longest list the bounce endpoint takes
    #[arg(long, value_name = "N", default_value_t = 1000, hide = true)]
    pub max_list: usize,
}

fn parse_fail_status(s: &str) -> Result<u16, String> {
    match s {
        "503" => Ok(503),
        "500" => Ok(500),
        _ => Err("expected 503 or 500".into()),
    }
}

/// `90`, `90s`, `5m`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("{e} (try 90s, 5m or 1h)"))
}

impl Cli {
    pub fn parse_args() -> Cli {
        Cli::parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert!(parse_duration("soon").is_err());
    }
}
