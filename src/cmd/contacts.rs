//! `okta-org contacts list|get|set`: the org's billing and technical contacts
//! (/api/v1/org/contacts[/{contactType}]).

use serde_json::json;

use super::{CmdError, Org, usage};
use crate::cli::{Global, OrgGroup};
use crate::endpoints;
use crate::exit::Exit;
use crate::models::{ContactTypeObj, ContactUser};

/// The examples of `okta-org contacts --help`.
pub const EXAMPLES: &str = "Examples:\n  okta-org contacts list\n  okta-org contacts get billing";

pub type Group = OrgGroup<Command>;

/// The contact type: `BILLING`/`TECHNICAL` in the OpenAPI spec, lowercase in the reference's links;
/// either is accepted, and the spec's uppercase is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum ContactType {
    Billing,
    Technical,
}

impl ContactType {
    pub fn api_name(self) -> &'static str {
        match self {
            ContactType::Billing => "BILLING",
            ContactType::Technical => "TECHNICAL",
        }
    }
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
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
        after_help = "Example:\n  okta-org contacts set technical --user-id 00u00000000000000001"
    )]
    Set {
        #[arg(value_enum, ignore_case = true)]
        contact_type: ContactType,
        /// The Okta user id
        #[arg(long, value_name = "ID")]
        user_id: String,
    },
}

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    match g.command {
        Command::List => {
            let e = &endpoints::LIST_CONTACT_TYPES;
            let org = Org::connect(&g.conn.connect(), g.out.output, global, &[e]).await?;
            org.show::<Vec<ContactTypeObj>>(e.request(&[])).await
        }
        Command::Get { contact_type } => {
            let e = &endpoints::GET_CONTACT;
            let org = Org::connect(&g.conn.connect(), g.out.output, global, &[e]).await?;
            org.show::<ContactUser>(e.request(&[contact_type.api_name()]))
                .await
        }
        Command::Set {
            contact_type,
            user_id,
        } => {
            if user_id.trim().is_empty() {
                return Err(usage("--user-id must not be empty"));
            }
            let e = &endpoints::SET_CONTACT;
            let org = Org::connect(&g.conn.connect(), g.out.output, global, &[e]).await?;
            let req = e
                .request(&[contact_type.api_name()])
                .json(&json!({ "userId": user_id.trim() }));
            org.show::<ContactUser>(req).await
        }
    }
}
