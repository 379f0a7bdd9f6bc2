//! `okta-org settings get|update|replace`: the org's general settings (GET, POST and PUT /api/v1/org).
//! Fields are checked before any request: only the writable ones are sent, read-only ones never.

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::{CmdError, Org, usage};
use crate::cli::{ConnectArgs, Global, OrgGroup, OutputArgs};
use crate::endpoints;
use crate::exit::Exit;
use crate::models::{OrgSetting, READ_ONLY_FIELDS, WRITABLE_FIELDS};

/// The examples of `okta-org settings --help`.
pub const EXAMPLES: &str =
    "Examples:\n  okta-org settings get\n  okta-org settings update --set city=Paris";

pub type Group = OrgGroup<Command>;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Show the org's general settings (GET /api/v1/org)
    #[command(
        after_help = "Examples:\n  okta-org settings get\n  okta-org settings get -o json > org.json"
    )]
    Get,
    /// Change some settings, keeping the rest (POST /api/v1/org)
    #[command(after_help = UPDATE_HELP)]
    Update(UpdateArgs),
    /// Replace all settings with a file: properties the file does not give are DELETED (PUT /api/v1/org)
    #[command(
        after_help = "The file holds writable fields by their API names (see settings update --help). Its \
read-only fields (id, subdomain, status, created, lastUpdated, expiresAt, _links) are dropped with a note, so \
a file from settings get -o json works as it is; a field this tool does not know is refused. Asks for \
confirmation on a terminal, listing what would be deleted; elsewhere needs --yes.\n\nExample:\n  okta-org settings get -o json > org.json   # edit org.json\n  okta-org settings replace --file org.json --yes"
    )]
    Replace(ReplaceArgs),
}

const UPDATE_HELP: &str = "\
Writable fields: companyName (alias for --set: name), website, phoneNumber,
endUserSupportHelpURL, supportPhoneNumber, address1, address2, city, state,
country, postalCode. --set and --file refuse any other field before any
request: a read-only one (id, subdomain, status, created, lastUpdated,
expiresAt, _links) and one this tool does not know; a file names fields
exactly as the API does.

Examples:
  okta-org settings update --set city=Paris --set postalCode=75001
  okta-org settings update --file changes.json";

#[derive(Debug, Clone, clap::Args)]
pub struct UpdateArgs {
    /// A field to change, as FIELD=VALUE; repeatable
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub set: Vec<String>,
    /// A JSON object of fields to change (applied before --set)
    #[arg(long, value_name = "F.json")]
    pub file: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReplaceArgs {
    /// The complete org setting, as a JSON object
    #[arg(long, value_name = "F.json")]
    pub file: PathBuf,
}

pub async fn run(g: Group, global: &Global) -> Result<Exit, CmdError> {
    match g.command {
        Command::Get => {
            let org = Org::connect(
                &g.conn.connect(),
                g.out.output,
                global,
                &[&endpoints::GET_ORG],
            )
            .await?;
            org.show::<OrgSetting>(endpoints::GET_ORG.request(&[]))
                .await
        }
        Command::Update(a) => {
            let body = update_body(&a)?;
            let org = Org::connect(
                &g.conn.connect(),
                g.out.output,
                global,
                &[&endpoints::UPDATE_ORG],
            )
            .await?;
            org.show::<OrgSetting>(endpoints::UPDATE_ORG.request(&[]).json(&body))
                .await
        }
        Command::Replace(a) => replace(&a, &g.conn, g.out, global).await,
    }
}

fn read_json_object(path: &Path) -> Result<Map<String, Value>, CmdError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        usage(format!(
            "cannot read {}: {}",
            path.display(),
            crate::os_error::plain(&e)
        ))
    })?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(usage(format!("{} must hold a JSON object", path.display()))),
        Err(e) => Err(usage(format!("{} is not valid JSON: {e}", path.display()))),
    }
}

/// What a settings file may hold besides the writable fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadOnly {
    /// `settings update --file`: a read-only field is refused, as `--set` refuses it.
    Refused,
    /// `settings replace --file`: read-only fields are dropped, so a file from `settings get -o json`
    /// works as it is.
    Dropped,
}

fn is_read_only(field: &str) -> bool {
    READ_ONLY_FIELDS.contains(&field) || field.starts_with('_')
}

/// A settings file as a typed org setting: only writable fields, by their exact API names. An unknown
/// field is refused (it would reach the org); a read-only one is refused or dropped, as `read_only`
/// says. Returns the dropped fields.
fn read_settings_file(
    path: &Path,
    read_only: ReadOnly,
) -> Result<(OrgSetting, Vec<String>), CmdError> {
    let obj = read_json_object(path)?;
    let list = WRITABLE_FIELDS.join(", ");
    let mut dropped = Vec::new();
    for name in obj.keys() {
        if WRITABLE_FIELDS.contains(&name.as_str()) {
            continue;
        }
        if is_read_only(name) {
            if read_only == ReadOnly::Refused {
                return Err(usage(format!(
                    "{}: {name} is read-only; writable fields: {list} (settings replace --file drops \
                     read-only fields, for a file from settings get -o json)",
                    path.display()
                )));
            }
            dropped.push(name.clone());
            continue;
        }
        let hint = WRITABLE_FIELDS
            .iter()
            .find(|f| f.eq_ignore_ascii_case(name))
            .map(|f| format!(" (did you mean {f}?)"))
            .unwrap_or_default();
        return Err(usage(format!(
            "{}: unknown field {name}{hint}; writable fields: {list}",
            path.display()
        )));
    }
    let setting: OrgSetting = serde_json::from_value(Value::Object(obj)).map_err(|e| {
        usage(format!(
            "{}: {e} (every org setting field is a string)",
            path.display()
        ))
    })?;
    Ok((setting.writable(), dropped))
}

/// Maps a `--set` name to the API field: exact API names case-insensitively, and the seed's `name` for
/// `companyName`.
fn writable_field(name: &str) -> Result<&'static str, CmdError> {
    if name.eq_ignore_ascii_case("name") {
        return Ok("companyName");
    }
    if let Some(f) = WRITABLE_FIELDS
        .iter()
        .find(|f| f.eq_ignore_ascii_case(name))
    {
        return Ok(f);
    }
    let list = WRITABLE_FIELDS.join(", ");
    if READ_ONLY_FIELDS
        .iter()
        .any(|f| f.eq_ignore_ascii_case(name))
    {
        Err(usage(format!(
            "{name} is read-only; writable fields: {list}"
        )))
    } else {
        Err(usage(format!(
            "unknown field {name}; writable fields: {list}"
        )))
    }
}

fn update_body(a: &UpdateArgs) -> Result<OrgSetting, CmdError> {
    if a.set.is_empty() && a.file.is_none() {
        return Err(usage(
            "nothing to change: give --set FIELD=VALUE (repeatable) or --file F.json",
        ));
    }
    let mut setting = match &a.file {
        Some(p) => read_settings_file(p, ReadOnly::Refused)?.0,
        None => OrgSetting::default(),
    };
    let mut body = serde_json::to_value(&setting)
        .expect("serialisable")
        .as_object()
        .cloned()
        .unwrap_or_default();
    for pair in &a.set {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(usage(format!(
                "--set {pair:?} needs the form FIELD=VALUE, e.g. --set city=Paris"
            )));
        };
        let field = writable_field(name.trim())?;
        body.insert(field.to_string(), Value::String(value.to_string()));
    }
    setting = serde_json::from_value(Value::Object(body)).expect("strings only");
    let empty = serde_json::to_value(&setting)
        .ok()
        .and_then(|v| v.as_object().map(Map::is_empty))
        .unwrap_or(true);
    if empty {
        return Err(usage("nothing to change: the file sets no field"));
    }
    Ok(setting)
}

async fn replace(
    a: &ReplaceArgs,
    conn: &ConnectArgs,
    out: OutputArgs,
    global: &Global,
) -> Result<Exit, CmdError> {
    let (body, dropped) = read_settings_file(&a.file, ReadOnly::Dropped)?;
    let interactive = io::stdin().is_terminal() && io::stderr().is_terminal();
    if !global.yes && !interactive {
        return Err(usage(
            "settings replace deletes every property the file does not give (PUT /api/v1/org); \
             pass --yes to confirm, or use settings update to change some fields",
        ));
    }
    let org = Org::connect(
        &conn.connect(),
        out.output,
        global,
        &[&endpoints::GET_ORG, &endpoints::REPLACE_ORG],
    )
    .await?;
    if !dropped.is_empty() {
        org.note(&format!(
            "not sending read-only fields: {}",
            dropped.join(", ")
        ));
    }
    if !global.yes {
        let current: OrgSetting = org.send(endpoints::GET_ORG.request(&[])).await?.json()?;
        let now = serde_json::to_value(current.writable()).expect("serialisable");
        let given = serde_json::to_value(&body).expect("serialisable");
        let lost: Vec<&String> = now
            .as_object()
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(k, v)| !v.is_null() && given.get(k.as_str()).is_none())
            .map(|(k, _)| k)
            .collect();
        crate::term::say(format_args!(
            "settings replace sends a full update (PUT): properties not in {} are deleted.",
            a.file.display()
        ));
        if lost.is_empty() {
            crate::term::say("No property that is set now would be deleted.");
        } else {
            let names: Vec<&str> = lost.iter().map(|s| s.as_str()).collect();
            crate::term::say(format_args!("These would be deleted: {}", names.join(", ")));
        }
        crate::term::write_stderr(b"Type yes to replace the org settings: ");
        let mut answer = String::new();
        io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|source| CmdError::Io {
                what: "cannot read the answer".into(),
                source,
            })?;
        let _ = io::stderr().flush();
        if !matches!(answer.trim(), "yes" | "y" | "YES") {
            return Err(usage("not confirmed; nothing was changed"));
        }
    }
    org.show::<OrgSetting>(endpoints::REPLACE_ORG.request(&[]).json(&body))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn update(set: &[&str]) -> Result<Value, CmdError> {
        let a = UpdateArgs {
            set: set.iter().map(|s| s.to_string()).collect(),
            file: None,
        };
        update_body(&a).map(|s| serde_json::to_value(s).unwrap())
    }

    fn from_file(text: &str, read_only: ReadOnly) -> Result<(Value, Vec<String>), String> {
        let dir = std::env::temp_dir().join(format!("okta-org-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("f{}.json", file_id(text)));
        std::fs::write(&path, text).unwrap();
        let r = read_settings_file(&path, read_only)
            .map(|(s, d)| (serde_json::to_value(s).unwrap(), d))
            .map_err(|e| e.to_string());
        let _ = std::fs::remove_file(&path);
        r
    }

    /// A file name of its own for each text, so tests running at once do not share one.
    fn file_id(text: &str) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        h.finish()
    }

    #[test]
    fn a_file_is_held_to_the_writable_fields() {
        let (v, _) = from_file(r#"{"city":"Paris"}"#, ReadOnly::Refused).unwrap();
        assert_eq!(v, json!({"city": "Paris"}));
        let e = from_file(r#"{"city":"Paris","id":"00o1"}"#, ReadOnly::Refused).unwrap_err();
        assert!(
            e.contains("id is read-only") && e.contains("postalCode"),
            "{e}"
        );
        let e = from_file(r#"{"colour":"red"}"#, ReadOnly::Dropped).unwrap_err();
        assert!(
            e.contains("unknown field colour") && e.contains("companyName"),
            "{e}"
        );
        let e = from_file(r#"{"postalcode":"1"}"#, ReadOnly::Refused).unwrap_err();
        assert!(e.contains("did you mean postalCode?"), "{e}");
        // A file from settings get -o json: its read-only fields are dropped for replace.
        let (v, dropped) = from_file(
            r#"{"id":"00o1","companyName":"Acme","expiresAt":null,"_links":{"x":{}}}"#,
            ReadOnly::Dropped,
        )
        .unwrap();
        assert_eq!(v, json!({"companyName": "Acme"}));
        assert_eq!(dropped, ["id", "expiresAt", "_links"]);
    }

    #[test]
    fn set_maps_names_and_refuses_the_rest() {
        assert_eq!(
            update(&["city=Paris", "NAME=Acme", "postalcode=75001"]).unwrap(),
            json!({"companyName": "Acme", "city": "Paris", "postalCode": "75001"})
        );
        let e = update(&["id=x"]).unwrap_err().to_string();
        assert!(e.contains("read-only") && e.contains("companyName"), "{e}");
        let e = update(&["colour=red"]).unwrap_err().to_string();
        assert!(e.starts_with("unknown field colour"), "{e}");
        let e = update(&["city"]).unwrap_err().to_string();
        assert!(e.contains("FIELD=VALUE"), "{e}");
        assert!(update(&[]).is_err());
    }
}
