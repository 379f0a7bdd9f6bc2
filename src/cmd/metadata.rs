//! `okta-org metadata`: the org's public metadata (GET /.well-known/okta-organization), sent without
//! credentials.

use super::{CmdError, Org};
use crate::cli::{Global, OutputArgs, PublicConnectArgs};
use crate::endpoints;
use crate::exit::Exit;
use crate::models::OrgMetadata;

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Example:\n  okta-org metadata --org-url https://acme.okta.com -o json")]
pub struct Args {
    #[command(flatten)]
    pub conn: PublicConnectArgs,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub async fn run(a: Args, global: &Global) -> Result<Exit, CmdError> {
    let e = &endpoints::ORG_METADATA;
    let org = Org::connect(&a.conn.connect(), a.out.output, global, &[e]).await?;
    org.show::<OrgMetadata>(e.request(&[])).await
}
