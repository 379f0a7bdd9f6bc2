//! `okta-org admin third-party|auto-assign-admin-app|client-privileges get|set`: the org admin settings
//! of the newer Org Admin Settings page, each a boolean behind a GET and a POST or PUT.

use serde_json::json;

use super::{CmdError, Org};
use crate::cli::{Global, OrgGroup};
use crate::endpoints::{self, Endpoint};
use crate::exit::Exit;
use crate::models::Flag;

/// The examples of `okta-org admin --help`.
pub const EXAMPLES: &str =
    "Examples:\n  okta-org admin third-party get\n  okta-org admin client-privileges set false";

pub type Group = OrgGroup<Command>;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Third-party admins (GET/POST /api/v1/org/orgSettings/thirdPartyAdminSetting)
    #[command(
        subcommand,
        name = "third-party",
        after_help = "Examples:\n  okta-org admin third-party get\n  okta-org admin third-party set true"
    )]
    ThirdParty(FlagCommand),
    /// Assign the Admin Console with an admin role (GET/POST /api/v1/org/settings/autoAssignAdminAppSetting)
    #[command(
        subcommand,
        name = "auto-assign-admin-app",
        after_help = "Examples:\n  okta-org admin auto-assign-admin-app get\n  okta-org admin auto-assign-admin-app set false"
    )]
    AutoAssignAdminApp(FlagCommand),
    /// Super Admin as the default role of new public client apps (GET/PUT /api/v1/org/settings/clientPrivilegesSetting)
    #[command(
        subcommand,
        name = "client-privileges",
        after_help = "Examples:\n  okta-org admin client-privileges get\n  okta-org admin client-privileges set false"
    )]
    ClientPrivileges(FlagCommand),
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum FlagCommand {
    /// Show the setting
    Get,
    /// Turn the setting on (true) or off (false)
    Set {
        #[arg(value_name = "true|false", action = clap::ArgAction::Set)]
        value: bool,
    },
}

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    let (get, set, field, flag): (&'static Endpoint, &'static Endpoint, _, _) = match g.command {
        Command::ThirdParty(f) => (
            &endpoints::GET_THIRD_PARTY_ADMIN,
            &endpoints::SET_THIRD_PARTY_ADMIN,
            "thirdPartyAdmin",
            f,
        ),
        Command::AutoAssignAdminApp(f) => (
            &endpoints::GET_AUTO_ASSIGN_ADMIN_APP,
            &endpoints::SET_AUTO_ASSIGN_ADMIN_APP,
            "autoAssignAdminAppSetting",
            f,
        ),
        Command::ClientPrivileges(f) => (
            &endpoints::GET_CLIENT_PRIVILEGES,
            &endpoints::SET_CLIENT_PRIVILEGES,
            "clientPrivilegesSetting",
            f,
        ),
    };
    let (e, req) = match flag {
        FlagCommand::Get => (get, get.request(&[])),
        FlagCommand::Set { value } => (set, set.request(&[]).json(&json!({ field: value }))),
    };
    let org = Org::connect(&g.conn.connect(), g.out.output, global, &[e]).await?;
    org.show::<Flag>(req).await
}
