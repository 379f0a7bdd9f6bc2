//! `okta-org aerial get|grant|revoke`: Okta Aerial consent (/api/v1/org/privacy/aerial[/grant,/revoke]).

use serde::Serialize;

use super::{CmdError, Org, usage, write_stdout};
use crate::cli::{Global, OrgGroup, Output};
use crate::client::ApiError;
use crate::endpoints;
use crate::exit::Exit;
use crate::models::AerialConsent;

/// The examples of `okta-org aerial --help`.
pub const EXAMPLES: &str = "Examples:\n  okta-org aerial get\n  okta-org aerial grant --account-id 0200bs0617vvhv2v675mch1cukp";

pub type Group = OrgGroup<Command>;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Show the Okta Aerial consent (GET /api/v1/org/privacy/aerial)
    #[command(
        after_help = "With no consent granted (Okta answers 404), says so and exits 0; -o json prints null.\n\nExample:\n  okta-org aerial get"
    )]
    Get,
    /// Grant an Okta Aerial account access to the org (POST /api/v1/org/privacy/aerial/grant)
    #[command(
        after_help = "Example:\n  okta-org aerial grant --account-id 0200bs0617vvhv2v675mch1cukp"
    )]
    Grant {
        /// The Okta Aerial account id to grant access to
        #[arg(long, value_name = "ID")]
        account_id: String,
    },
    /// Revoke an Okta Aerial account's access (POST /api/v1/org/privacy/aerial/revoke)
    #[command(
        after_help = "Example:\n  okta-org aerial revoke --account-id 0200bs0617vvhv2v675mch1cukp"
    )]
    Revoke {
        /// The Okta Aerial account id whose access ends
        #[arg(long, value_name = "ID")]
        account_id: String,
    },
}

/// What `aerial get` says of an org where no Aerial account has consent.
const NO_CONSENT: &str =
    "No Okta Aerial account has consent (grant one with okta-org aerial grant --account-id ID)\n";

/// Okta answers `GET /privacy/aerial` of an org without a grant with 404 E0000007: not an error here,
/// just the answer "none".
fn no_consent(e: &ApiError) -> bool {
    match e {
        ApiError::Status { status, error, .. } => {
            status.as_u16() == 404 && error.code().is_none_or(|c| c == "E0000007")
        }
        _ => false,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Consent<'a> {
    account_id: &'a str,
}

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    let (e, account) = match &g.command {
        Command::Get => (&endpoints::GET_AERIAL, None),
        Command::Grant { account_id } => (&endpoints::GRANT_AERIAL, Some(account_id.trim())),
        Command::Revoke { account_id } => (&endpoints::REVOKE_AERIAL, Some(account_id.trim())),
    };
    let mut req = e.request(&[]);
    if let Some(account_id) = account {
        if account_id.is_empty() {
            return Err(usage("--account-id must not be empty"));
        }
        req = req.json(&Consent { account_id });
    }
    let org = Org::connect(&g.conn.connect(), g.out.output, global, &[e]).await?;
    let resp = match org.send(req).await {
        Err(CmdError::Api(err)) if matches!(g.command, Command::Get) && no_consent(&err) => {
            return write_stdout(match org.output {
                Output::Text => NO_CONSENT.as_bytes(),
                Output::Json => b"null\n",
            });
        }
        other => other?,
    };
    if let (Command::Revoke { account_id }, Output::Text) = (&g.command, org.output) {
        let account_id = super::shown(account_id);
        return write_stdout(format!("Okta Aerial consent of {account_id} revoked\n").as_bytes());
    }
    org.print::<AerialConsent>(&resp)
}
