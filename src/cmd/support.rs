//! `okta-org support ...`: Okta Support access to the org (/api/v1/org/privacy/oktaSupport). Org-wide
//! grant/extend/revoke are deprecated (current orgs answer 301, which is explained); access is now given
//! per support case (`support cases update`).

use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use super::{CmdError, Org, usage};
use crate::cli::{Global, OrgGroup};
use crate::client::ApiError;
use crate::endpoints::{self, Endpoint};
use crate::exit::Exit;
use crate::models::{SupportCase, SupportCases, SupportSettings};

/// The examples of `okta-org support --help`.
pub const EXAMPLES: &str = "Examples:\n  okta-org support get\n  okta-org support cases update 1000002 --impersonation enabled";

pub type Group = OrgGroup<Command>;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
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

#[derive(Debug, Clone, clap::Subcommand)]
#[command(
    after_help = "Examples:\n  okta-org support cases list\n  okta-org support cases update 1000002 --expiration 48h"
)]
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

#[derive(Debug, Clone, clap::Args)]
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

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    let (conn, output) = (&g.conn, g.out.output);
    let connect = |e: &'static Endpoint| {
        let conn = conn.connect();
        async move { Org::connect(&conn, output, global, &[e]).await }
    };
    let (e, op, instead): (&'static Endpoint, _, _) = match g.command {
        Command::Get => {
            let e = &endpoints::GET_SUPPORT;
            return connect(e)
                .await?
                .show::<SupportSettings>(e.request(&[]))
                .await;
        }
        Command::Cases(CasesCommand::List) => {
            let e = &endpoints::LIST_SUPPORT_CASES;
            return connect(e).await?.show::<SupportCases>(e.request(&[])).await;
        }
        Command::Cases(CasesCommand::Update(a)) => {
            let body = case_update_body(&a)?;
            let e = &endpoints::UPDATE_SUPPORT_CASE;
            let req = e.request(&[a.case.trim()]).json(&body);
            return connect(e).await?.show::<SupportCase>(req).await;
        }
        Command::Grant => (
            &endpoints::GRANT_SUPPORT,
            "grant",
            "--impersonation enabled",
        ),
        Command::Extend => (&endpoints::EXTEND_SUPPORT, "extend", "--expiration TIME"),
        Command::Revoke => (
            &endpoints::REVOKE_SUPPORT,
            "revoke",
            "--impersonation disabled",
        ),
    };
    let org = connect(e).await?;
    match org.send(e.request(&[])).await {
        Ok(resp) => org.print::<SupportSettings>(&resp),
        Err(CmdError::Api(ApiError::Status {
            status, location, ..
        })) if status.is_redirection() => Err(CmdError::Deprecated(format!(
            "Okta answered HTTP {} to support {op}{}: granting, extending and revoking Okta Support \
             access org-wide is deprecated. Access is now given per support case: run \
             `okta-org support cases list`, then `okta-org support cases update CASE {instead}`",
            status.as_u16(),
            location
                .map(|l| format!(" (moved to {l})"))
                .unwrap_or_default()
        ))),
        Err(e) => Err(e),
    }
}

fn case_update_body(a: &CaseUpdateArgs) -> Result<Value, CmdError> {
    if a.case.trim().is_empty() || !a.case.trim().chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(usage(format!("{:?} is not a support case number", a.case)));
    }
    if a.impersonation.is_none() && a.expiration.is_none() && a.self_assigned.is_none() {
        return Err(usage(
            "nothing to change: give --impersonation enabled|disabled, --expiration TIME or \
             --self-assigned approved",
        ));
    }
    let mut body = Map::new();
    let mut imp = Map::new();
    if let Some(t) = a.impersonation {
        let status = match t {
            Toggle::Enabled => "ENABLED",
            Toggle::Disabled => "DISABLED",
        };
        imp.insert("status".into(), json!(status));
    }
    if let Some(e) = &a.expiration {
        imp.insert("expiration".into(), json!(parse_expiration(e)?));
    }
    if !imp.is_empty() {
        body.insert("impersonation".into(), Value::Object(imp));
    }
    if let Some(Approval::Approved) = a.self_assigned {
        body.insert("selfAssigned".into(), json!({ "status": "APPROVED" }));
    }
    Ok(Value::Object(body))
}

/// An RFC 3339 time, or a duration from now; given back as Okta writes times (UTC, milliseconds).
fn parse_expiration(s: &str) -> Result<String, CmdError> {
    let s = s.trim();
    let at = match humantime::parse_rfc3339_weak(s) {
        Ok(t) => t,
        Err(_) => match humantime::parse_duration(s) {
            Ok(d) => SystemTime::now() + d,
            Err(_) => {
                return Err(usage(format!(
                    "--expiration {s:?} is neither a time like 2026-12-01T00:00:00Z nor a duration like 24h"
                )));
            }
        },
    };
    if at < SystemTime::now() - Duration::from_secs(60) {
        return Err(usage(format!("--expiration {s} is in the past")));
    }
    Ok(humantime::format_rfc3339_millis(at).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_bodies() {
        let a = CaseUpdateArgs {
            case: "1000002".into(),
            impersonation: Some(Toggle::Enabled),
            expiration: Some("2099-01-25T11:13:14Z".into()),
            self_assigned: None,
        };
        assert_eq!(
            case_update_body(&a).unwrap(),
            json!({"impersonation": {"status": "ENABLED", "expiration": "2099-01-25T11:13:14.000Z"}})
        );
        let none = CaseUpdateArgs {
            case: "1".into(),
            impersonation: None,
            expiration: None,
            self_assigned: None,
        };
        assert!(case_update_body(&none).is_err());
        assert!(parse_expiration("yesterday").is_err());
        assert!(parse_expiration("2001-01-01T00:00:00Z").is_err());
        assert!(parse_expiration("48h").unwrap().ends_with('Z'));
    }
}
