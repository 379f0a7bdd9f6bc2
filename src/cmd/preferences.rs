//! `okta-org preferences get|show-footer|hide-footer`: end-user dashboard preferences
//! (/api/v1/org/preferences[/showEndUserFooter,/hideEndUserFooter]).

use super::{CmdError, Org};
use crate::cli::{Global, OrgGroup};
use crate::endpoints;
use crate::exit::Exit;
use crate::models::Preferences;

/// The examples of `okta-org preferences --help`.
pub const EXAMPLES: &str =
    "Examples:\n  okta-org preferences get\n  okta-org preferences hide-footer";

pub type Group = OrgGroup<Command>;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
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

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    let e = match g.command {
        Command::Get => &endpoints::GET_PREFERENCES,
        Command::ShowFooter => &endpoints::SHOW_FOOTER,
        Command::HideFooter => &endpoints::HIDE_FOOTER,
    };
    let org = Org::connect(&g.conn.connect(), g.out.output, global, &[e]).await?;
    org.show::<Preferences>(e.request(&[])).await
}
