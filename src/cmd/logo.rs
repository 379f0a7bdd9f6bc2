//! `okta-org logo upload FILE`: the org's logo (POST /api/v1/org/logo), checked locally first: PNG, JPEG
//! or GIF by its first bytes, and under 1 MB.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{CmdError, Org, usage, write_stdout};
use crate::cli::{Global, OrgGroup, Output};
use crate::client::Body;
use crate::endpoints;
use crate::exit::Exit;

/// The examples of `okta-org logo --help`.
pub const EXAMPLES: &str = "Example:\n  okta-org logo upload acme-logo.png";

pub type Group = OrgGroup<Command>;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Upload a PNG, JPEG or GIF under 1 MB as the org's logo (POST /api/v1/org/logo)
    #[command(
        after_help = "Needs the okta.apps.manage scope. Prints where Okta stored the logo.\n\nExample:\n  okta-org logo upload acme-logo.png"
    )]
    Upload {
        /// The image file
        file: PathBuf,
    },
}

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    let Command::Upload { file } = g.command;
    let e = &endpoints::UPLOAD_LOGO;
    let mut req = e.request(&[]).note("logo upload");
    req.body = logo_part(&file)?;
    let org = Org::connect(&g.conn.connect(), g.out.output, global, &[e]).await?;
    let resp = org.send(req).await?;
    let location = resp
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match org.output {
        Output::Json => {
            let v = json!({ "status": resp.status.as_u16(), "location": location });
            write_stdout(format!("{v}\n").as_bytes())
        }
        Output::Text => {
            let text = match location {
                Some(l) => format!("Logo uploaded: {l}\n"),
                None => "Logo uploaded (Okta gave no Location)\n".to_string(),
            };
            write_stdout(text.as_bytes())
        }
    }
}

/// Checks the image locally: PNG, JPEG or GIF by its first bytes, and under 1 MB.
fn logo_part(path: &Path) -> Result<Body, CmdError> {
    let bytes = std::fs::read(path).map_err(|e| {
        usage(format!(
            "cannot read {}: {}",
            path.display(),
            crate::os_error::plain(&e)
        ))
    })?;
    let mime = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        "image/gif"
    } else {
        return Err(usage(format!(
            "{} is not a PNG, JPEG or GIF image (Okta takes only those)",
            path.display()
        )));
    };
    if bytes.len() >= 1 << 20 {
        return Err(usage(format!(
            "{} is {} bytes; Okta takes logos under 1 MB ({} bytes)",
            path.display(),
            bytes.len(),
            1 << 20
        )));
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "logo".into());
    Ok(Body::Multipart {
        field: "file",
        file_name,
        mime,
        bytes,
    })
}
