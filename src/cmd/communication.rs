//! `okta-org communication get|opt-in|opt-out`: whether the org's users receive Okta communication
//! emails (/api/v1/org/privacy/oktaCommunication[/optIn,/optOut]).

use super::{CmdError, Org};
use crate::cli::{Global, OrgGroup};
use crate::endpoints;
use crate::exit::Exit;
use crate::models::CommunicationSetting;

/// The examples of `okta-org communication --help`.
pub const EXAMPLES: &str =
    "Examples:\n  okta-org communication get\n  okta-org communication opt-out";

pub type Group = OrgGroup<Command>;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
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

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    let e = match g.command {
        Command::Get => &endpoints::GET_COMMUNICATION,
        Command::OptIn => &endpoints::OPT_IN_COMMUNICATION,
        Command::OptOut => &endpoints::OPT_OUT_COMMUNICATION,
    };
    let org = Org::connect(&g.conn.connect(), g.out.output, global, &[e]).await?;
    org.show::<CommunicationSetting>(e.request(&[])).await
}
