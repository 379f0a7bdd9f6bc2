//! `okta-org config show|check`: the effective configuration and where each setting came from (secrets
//! redacted), and a one-line check that it reaches the org.

use std::time::Duration;

use super::{CmdError, write_stdout};
use crate::cli::{ConnectArgs, Global, Output, OutputArgs};
use crate::config::Config;
use crate::endpoints;
use crate::exit::Exit;
use crate::models::OrgSetting;
use crate::session::{self, Session, Tuning};

#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Examples:\n  okta-org config show\n  okta-org config check --profile staging"
)]
pub struct Group {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub conn: ConnectArgs,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// The effective configuration: each setting, where it came from, secrets redacted
    #[command(after_help = "Example:\n  okta-org config show --profile staging")]
    Show(OutputArgs),
    /// Reach the org with the configuration (for OAuth: get a token and list its scopes)
    #[command(after_help = "Example:\n  okta-org config check")]
    Check,
}

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    match g.command {
        Command::Show(out) => show(&g.conn, out.output, global),
        Command::Check => check(&g.conn, global).await,
    }
}

/// What `--simulate` puts in place of the configuration: the session never reads it then.
const SIMULATED_ORG: &str = "http://127.0.0.1:<a free port> (embedded simulator)";

fn show(conn: &ConnectArgs, output: Output, global: &Global) -> Result<Exit, CmdError> {
    let c = if conn.simulate {
        Config::default()
    } else {
        session::load_config(&conn.connect().flags, global.quiet)?
    };
    let mut rows = c.rows();
    if conn.simulate {
        for r in &mut rows {
            let (value, source) = match r.name {
                "orgUrl" => (SIMULATED_ORG, "--simulate"),
                "authorizationMode" => ("SSWS", "--simulate"),
                "token" => ("(made for the run, redacted)", "--simulate"),
                "requestTimeout" | "rateLimit.maxRetries" => continue,
                _ => ("(not used with --simulate)", ""),
            };
            (r.value, r.source) = (value.to_string(), source.to_string());
        }
    }
    let text = match output {
        Output::Json => {
            let mut m = serde_json::Map::new();
            for r in &rows {
                m.insert(
                    r.name.to_string(),
                    serde_json::json!({ "value": r.value, "source": r.source }),
                );
            }
            let text = serde_json::Value::Object(m).to_string();
            String::from_utf8(super::json_for_stdout(
                text.as_bytes(),
                std::io::IsTerminal::is_terminal(&std::io::stdout()),
            ))
            .expect("JSON is UTF-8")
        }
        Output::Text => {
            let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(0);
            let v = rows
                .iter()
                .map(|r| r.value.len())
                .max()
                .unwrap_or(0)
                .min(50);
            let mut text = String::new();
            for r in &rows {
                // (Values and sources come from files and the environment: escaped on a terminal.)
                let (value, source) = (super::shown(&r.value), super::shown(&r.source));
                let line = format!("{:w$}  {value:v$}  {source}", r.name);
                text.push_str(line.trim_end());
                text.push('\n');
            }
            if conn.simulate {
                text.push_str(
                    "files: none read with --simulate (okta.yaml and OKTA_CLIENT_* are not used); \
                     `okta-org config check --simulate` reaches it\n",
                );
                return write_stdout(text.as_bytes());
            }
            let files: Vec<String> = c
                .files
                .iter()
                .map(|(p, found)| {
                    format!(
                        "{} ({})",
                        super::shown(&p.display().to_string()),
                        if *found { "read" } else { "not found" }
                    )
                })
                .collect();
            text.push_str(&format!("files: {}\n", files.join(", ")));
            text
        }
    };
    write_stdout(text.as_bytes())?;
    // An org URL every command would refuse is shown, then refused here too (with its fix); one not set
    // is only shown as such.
    match c.org_url() {
        Err(e @ crate::config::ConfigError::OrgUrl { .. }) if !conn.simulate => Err(e.into()),
        _ => Ok(Exit::Ok),
    }
}

/// Reaches the org; for OAuth, gets a token and lists its scopes. One line either way.
async fn check(conn: &ConnectArgs, global: &Global) -> Result<Exit, CmdError> {
    // A check answers quickly: one short retry, not the patience of a long run.
    let tuning = Tuning {
        max_retries: Some(1),
        min_backoff: Some(Duration::from_millis(300)),
        timeout: Some(Duration::from_secs(15)),
        ..Tuning::default()
    };
    let e = &endpoints::GET_ORG;
    let session = Session::connect(&conn.connect(), global.quiet, tuning, &[e]).await?;
    let mut said = String::new();
    if let Some(oauth) = &session.oauth {
        let t = oauth.token(&session.client).await?;
        said = format!(
            "got a {} access token for {} s with scopes {}; ",
            t.kind,
            t.expires_in,
            t.scopes.join(" ")
        );
    }
    match session
        .client
        .send(&e.request(&[]))
        .await
        .and_then(|r| r.json::<OrgSetting>())
    {
        Ok(org) => write_stdout(
            format!(
                "ok: {said}reached {} ({}, {})\n",
                session.client.base(),
                super::shown(org.company_name.as_deref().unwrap_or("?")),
                super::shown(org.subdomain.as_deref().unwrap_or("?"))
            )
            .as_bytes(),
        ),
        Err(source) => Err(CmdError::Check { said, source }),
    }
}
