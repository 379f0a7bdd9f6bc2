//! The command line, defined once with clap: every command, flag, default and help text lives here.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::exit::EXIT_STATUS_HELP;
use crate::report;
use crate::simulator::{BounceAnswer, RetryAfterFormat, RetryAfterMode};

const ABOUT: &str = "Clear a mail system's bounce list from Okta's email bounce list, and manage Okta org settings.";

const CONFIG_HELP: &str = "\
Configuration, weakest first: ~/.okta/okta.yaml, ./okta.yaml, ./.okta.yaml
(okta: client: orgUrl, token, authorizationMode, clientId, scopes, privateKey,
privateKeyId, dpop; --profile NAME adds okta.profiles.NAME.client), then the
OKTA_CLIENT_* variables (ORGURL, TOKEN, AUTHORIZATIONMODE, CLIENTID, SCOPES,
PRIVATEKEY, PRIVATEKEYID, DPOP, REQUESTTIMEOUT, RATELIMIT_MAXRETRIES), then
flags. `okta-org config show` tells where each setting came from;
`okta-org config check` tries them.";

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
    /// Log more on stderr: -v each request, -vv retries and rate-limit details, -vvv everything
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print nothing on stderr but errors (no progress bar, no summary)
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Output of the org commands: a readable view, or the API's JSON exactly as received
    #[arg(short, long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Run against the embedded Okta simulator (a demo org whose users match samples/); no org needed
    #[arg(long, global = true)]
    pub simulate: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Email bounce list operations
    #[command(subcommand)]
    Bounces(BouncesCommand),
    /// The org's general settings (name, address, phone, website)
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// The org's billing and technical contacts
    #[command(subcommand)]
    Contacts(ContactsCommand),
    /// The org's logo
    #[command(subcommand)]
    Logo(LogoCommand),
    /// Okta Support access to the org
    #[command(subcommand)]
    Support(SupportCommand),
    /// Okta Aerial consent
    #[command(subcommand)]
    Aerial(AerialCommand),
    /// Whether the org's users receive Okta communication emails
    #[command(subcommand)]
    Communication(CommunicationCommand),
    /// End-user dashboard preferences
    #[command(subcommand)]
    Preferences(PreferencesCommand),
    /// Org admin settings
    #[command(subcommand)]
    Admin(AdminCommand),
    /// The org's public metadata (/.well-known/okta-organization; needs no token)
    #[command(after_help = "Example:\n  okta-org metadata --org-url https://acme.okta.com -o json")]
    Metadata,
    /// Show or check the configuration (okta.yaml, OKTA_CLIENT_* variables, flags)
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run the embedded Okta simulator on 127.0.0.1, for trying the tool without an Okta org
    Simulate(SimulateArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The effective configuration: each setting, where it came from, secrets redacted
    #[command(after_help = "Example:\n  okta-org config show --profile staging")]
    Show,
    /// Reach the org with the configuration (for OAuth: get a token and list its scopes)
    #[command(after_help = "Example:\n  okta-org config check")]
    Check,
}

#[derive(Debug, Subcommand)]
pub enum BouncesCommand {
    /// Remove the addresses of a mail system's bounce export from Okta's email bounce list
    #[command(after_help = REMOVE_HELP)]
    Remove(RemoveArgs),
}

const REMOVE_HELP: &str = "\
Reads CSV exports of SendGrid, Mailgun, Mailchimp, Brevo, SparkPost, SES,
Postmark, Mandrill, Exchange message traces, or plain lists of addresses
(UTF-8, UTF-16 or Windows-1252; comma, semicolon, tab or pipe). The address
column is found by its header name, or by content; --column overrides.

Every input row gets one report row (line, email, status, reason, source) with
status accepted, rejected, invalid, duplicate or failed (valid under --dry-run).
Rows marked failed are safe to send again. A quote left open in a cell cannot
hide the rows after it: that row is reported invalid (and named on stderr).
An input that is missing, not text, or empty (unless --allow-empty) is refused
before anything is sent (exit status 2).

Examples:
  okta-org bounces remove samples/sendgrid-bounces.csv --simulate
  okta-org bounces remove bounces.csv --report report.csv
  cat export.csv | okta-org bounces remove - --max-wait 5m --report r.csv";

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
    /// Accept an input of 0 bytes as having no rows (without it, an empty file or pipe is an input error,
    /// so a broken export job does not pass for a day without bounces)
    #[arg(long)]
    pub allow_empty: bool,
    /// At most this many requests a minute (on top of Okta's own rate-limit headers)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// The most requests in flight at once (default 64). Below it the tool adapts: one at a time until
    /// Okta advertises a budget, then as many as the budget and the answers' latency call for, fewer
    /// after throttling
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,
    /// If Okta asks to wait longer than this (Retry-After), stop and report the rest as failed with the
    /// time to retry, instead of sleeping (e.g. 90s, 5m)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_wait: Option<Duration>,
    /// Retries of one request after 429, 5xx and network errors (default 6) [env: OKTA_CLIENT_RATELIMIT_MAXRETRIES]
    #[arg(long, value_name = "N")]
    pub max_retries: Option<usize>,
    /// Time limit of one request (default 60s) [env: OKTA_CLIENT_REQUESTTIMEOUT, in seconds]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Example:
  okta-org simulate --port 8080 --rate-limit 10 --window 60
  export OKTA_CLIENT_TOKEN=simulator-token
  okta-org bounces remove samples/mailgun-bounces.csv --org-url http://127.0.0.1:8080")]
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
        default_value = "okta.orgs.read,okta.orgs.manage"
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
    /// Okta's concurrency limit: more bounce requests in flight get a 429 with X-Rate-Limit-Limit: 0
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<u32>,
    /// How accepted bounce requests are answered (to try clients against broken proxies)
    #[arg(long, value_enum, default_value_t = BounceAnswer::Normal, hide = true)]
    pub answer: BounceAnswer,
    /// The first COUNT token requests fail with STATUS (429 or 503), e.g. 2:429
    #[arg(long, value_name = "COUNT:STATUS", value_parser = parse_token_faults, hide = true)]
    pub token_faults: Option<(u32, u16)>,
}

fn parse_fail_status(s: &str) -> Result<u16, String> {
    match s {
        "503" => Ok(503),
        "500" => Ok(500),
        _ => Err("expected 503 or 500".into()),
    }
}

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Show the org's general settings (GET /api/v1/org)
    #[command(
        after_help = "Example:\n  okta-org settings get\n  okta-org settings get -o json > org.json"
    )]
    Get,
    /// Change some settings, keeping the rest (POST /api/v1/org)
    #[command(after_help = SETTINGS_UPDATE_HELP)]
    Update(SettingsUpdateArgs),
    /// Replace all settings with a file: properties the file does not give are DELETED (PUT /api/v1/org)
    #[command(
        after_help = "Asks for confirmation on a terminal, listing what would be deleted; elsewhere needs --yes.\n\nExample:\n  okta-org settings get -o json > org.json   # edit org.json\n  okta-org settings replace --file org.json --yes"
    )]
    Replace(SettingsReplaceArgs),
}

const SETTINGS_UPDATE_HELP: &str = "\
Writable fields: companyName (alias: name), website, phoneNumber,
endUserSupportHelpURL, supportPhoneNumber, address1, address2, city, state,
country, postalCode. Read-only fields (id, subdomain, status, created,
lastUpdated, expiresAt, _links) are never sent.

Examples:
  okta-org settings update --set city=Paris --set postalCode=75001
  okta-org settings update --file changes.json";

#[derive(Debug, Args)]
pub struct SettingsUpdateArgs {
    /// A field to change, as FIELD=VALUE; repeatable
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// A JSON object of fields to change (applied before --set)
    #[arg(long, value_name = "F.json")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SettingsReplaceArgs {
    /// The complete org setting, as a JSON object
    #[arg(long, value_name = "F.json")]
    pub file: PathBuf,
    /// Confirm that properties missing from the file are deleted
    #[arg(long)]
    pub yes: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum ContactType {
    Billing,
    Technical,
}

impl ContactType {
    /// The path value, as the OpenAPI spec's enum spells it.
    pub fn api_name(self) -> &'static str {
        match self {
            ContactType::Billing => "BILLING",
            ContactType::Technical => "TECHNICAL",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ContactsCommand {
    /// List the contact types (GET /api/v1/org/contacts)
    #[command(after_help = "Example:\n  okta-org contacts list")]
    List,
    /// Show the user behind a contact type (GET /api/v1/org/contacts/{contactType})
    #[command(after_help = "Example:\n  okta-org contacts get billing")]
    Get {
        #[arg(value_enum, ignore_case = true)]
        contact_type: ContactType,
    },
    /// Make a user the billing or technical contact (PUT /api/v1/org/contacts/{contactType})
    #[command(
        after_help = "Example:\n  okta-org contacts set technical --user-id 00uuibMot2FBByTbs0g3"
    )]
    Set {
        #[arg(value_enum, ignore_case = true)]
        contact_type: ContactType,
        /// The Okta user id
        #[arg(long, value_name = "ID")]
        user_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogoCommand {
    /// Upload a PNG, JPEG or GIF under 1 MB as the org's logo (POST /api/v1/org/logo)
    #[command(
        after_help = "Needs the okta.apps.manage scope. Prints where Okta stored the logo.\n\nExample:\n  okta-org logo upload acme-logo.png"
    )]
    Upload {
        /// The image file
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum SupportCommand {
    /// Show whether Okta Support may access the org (GET /api/v1/org/privacy/oktaSupport)
    #[command(after_help = "Example:\n  okta-org support get")]
    Get,
    /// Let Okta Support in for 8 hours (deprecated by Okta: use `support cases update`)
    #[command(
        after_help = "Current orgs answer 301: use `okta-org support cases update CASE --impersonation enabled`.\n\nExample:\n  okta-org support grant"
    )]
    Grant,
    /// Add 24 hours to Okta Support access (deprecated by Okta: use `support cases update`)
    #[command(
        after_help = "Current orgs answer 301: use `okta-org support cases update CASE --expiration TIME`.\n\nExample:\n  okta-org support extend"
    )]
    Extend,
    /// End Okta Support access (deprecated by Okta: use `support cases update`)
    #[command(
        after_help = "Current orgs answer 301: use `okta-org support cases update CASE --impersonation disabled`.\n\nExample:\n  okta-org support revoke"
    )]
    Revoke,
    /// Okta Support cases
    #[command(subcommand)]
    Cases(CasesCommand),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Toggle {
    Enabled,
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Approval {
    Approved,
}

#[derive(Debug, Subcommand)]
pub enum CasesCommand {
    /// List the org's Okta Support cases (GET /api/v1/org/privacy/oktaSupport/cases)
    #[command(after_help = "Example:\n  okta-org support cases list")]
    List,
    /// Change Okta Support access for one case (PATCH /api/v1/org/privacy/oktaSupport/cases/{caseNumber})
    #[command(
        after_help = "Examples:\n  okta-org support cases update 1000002 --impersonation enabled\n  okta-org support cases update 1000002 --expiration 2026-12-01T00:00:00Z\n  okta-org support cases update 1000002 --expiration 48h\n  okta-org support cases update 1000001 --self-assigned approved"
    )]
    Update(CaseUpdateArgs),
}

#[derive(Debug, Args)]
pub struct CaseUpdateArgs {
    /// The case number
    #[arg(value_name = "CASE")]
    pub case: String,
    /// Allow or end Okta Support access for this case
    #[arg(long, value_enum)]
    pub impersonation: Option<Toggle>,
    /// When access ends: an RFC 3339 time, or a duration from now (e.g. 24h)
    #[arg(long, value_name = "TIME")]
    pub expiration: Option<String>,
    /// Approve access for a case Okta Support created and assigned to itself
    #[arg(long, value_enum)]
    pub self_assigned: Option<Approval>,
}

#[derive(Debug, Subcommand)]
pub enum AerialCommand {
    /// Show the Okta Aerial consent (GET /api/v1/org/privacy/aerial)
    #[command(after_help = "Example:\n  okta-org aerial get")]
    Get,
    /// Grant an Okta Aerial account access to the org (POST /api/v1/org/privacy/aerial/grant)
    #[command(
        after_help = "Example:\n  okta-org aerial grant --account-id 0200bs0617vvhv2v675mch1cukp"
    )]
    Grant {
        #[arg(long, value_name = "ID")]
        account_id: String,
    },
    /// Revoke an Okta Aerial account's access (POST /api/v1/org/privacy/aerial/revoke)
    #[command(
        after_help = "Example:\n  okta-org aerial revoke --account-id 0200bs0617vvhv2v675mch1cukp"
    )]
    Revoke {
        #[arg(long, value_name = "ID")]
        account_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CommunicationCommand {
    /// Show whether users receive Okta communication emails (GET /api/v1/org/privacy/oktaCommunication)
    #[command(after_help = "Example:\n  okta-org communication get")]
    Get,
    /// Opt every user in to Okta communication emails (POST .../oktaCommunication/optIn)
    #[command(after_help = "Example:\n  okta-org communication opt-in")]
    OptIn,
    /// Opt every user out of Okta communication emails (POST .../oktaCommunication/optOut)
    #[command(after_help = "Example:\n  okta-org communication opt-out")]
    OptOut,
}

#[derive(Debug, Subcommand)]
pub enum PreferencesCommand {
    /// Show the end-user dashboard preferences (GET /api/v1/org/preferences)
    #[command(after_help = "Example:\n  okta-org preferences get")]
    Get,
    /// Show the Okta footer to end users (POST /api/v1/org/preferences/showEndUserFooter)
    #[command(after_help = "Example:\n  okta-org preferences show-footer")]
    ShowFooter,
    /// Hide the Okta footer from end users (POST /api/v1/org/preferences/hideEndUserFooter)
    #[command(after_help = "Example:\n  okta-org preferences hide-footer")]
    HideFooter,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Third-party admins (GET/POST /api/v1/org/orgSettings/thirdPartyAdminSetting)
    #[command(subcommand, name = "third-party")]
    ThirdParty(FlagCommand),
    /// Assign the Admin Console with an admin role (GET/POST /api/v1/org/settings/autoAssignAdminAppSetting)
    #[command(subcommand, name = "auto-assign-admin-app")]
    AutoAssignAdminApp(FlagCommand),
    /// Super Admin as the default role of new public client apps (GET/PUT /api/v1/org/settings/clientPrivilegesSetting)
    #[command(subcommand, name = "client-privileges")]
    ClientPrivileges(FlagCommand),
}

#[derive(Debug, Subcommand)]
pub enum FlagCommand {
    /// Show the setting
    #[command(after_help = "Example:\n  okta-org admin third-party get")]
    Get,
    /// Turn the setting on (true) or off (false)
    #[command(after_help = "Example:\n  okta-org admin third-party set true")]
    Set {
        #[arg(value_name = "true|false", action = clap::ArgAction::Set)]
        value: bool,
    },
}

/// `90`, `90s`, `5m`, `1h30m`.
fn parse_token_faults(s: &str) -> Result<(u32, u16), String> {
    let (n, status) = s
        .split_once(':')
        .ok_or_else(|| format!("expected COUNT:STATUS, e.g. 2:429, not {s:?}"))?;
    let n = n
        .trim()
        .parse()
        .map_err(|_| format!("{n:?} is not a count"))?;
    match status.trim() {
        "429" => Ok((n, 429)),
        "503" => Ok((n, 503)),
        other => Err(format!("the status must be 429 or 503, not {other:?}")),
    }
}

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
