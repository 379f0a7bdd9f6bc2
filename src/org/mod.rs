//! The secondary commands: every other Org API operation (settings, contacts, logo, Okta Support, Aerial,
//! communication, preferences, admin settings, metadata), on the same client as the bounce remover. Each
//! command checks its input before any request, sends one request, and prints the answer as text or as the
//! API's JSON exactly as received.

pub mod models;

use std::io::{self, BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::cli::{
    AdminCommand, AerialCommand, Approval, CaseUpdateArgs, CasesCommand, Command,
    CommunicationCommand, ContactsCommand, FlagCommand, LogoCommand, Output, PreferencesCommand,
    SettingsCommand, SettingsReplaceArgs, SettingsUpdateArgs, SupportCommand, Toggle,
};
use crate::client::{ApiError, Body, Client, Request, Response};
use crate::exit::Exit;
use models::{
    AerialConsent, CommunicationSetting, ContactTypeObj, ContactUser, Flag, OrgMetadata,
    OrgSetting, Preferences, READ_ONLY_FIELDS, Render, SupportCase, SupportCases, SupportSettings,
    WRITABLE_FIELDS,
};

/// Why an org command failed.
#[derive(Debug)]
pub enum CmdError {
    /// Bad input, found before any request.
    Usage(String),
    Api(ApiError),
    /// Okta answered the deprecated Okta Support operations with a redirect.
    Deprecated(String),
    Io(io::Error),
}

impl CmdError {
    pub fn exit(&self) -> Exit {
        match self {
            CmdError::Usage(_) => Exit::Usage,
            CmdError::Api(e) => e.exit(),
            CmdError::Deprecated(_) | CmdError::Io(_) => Exit::Error,
        }
    }
}

impl std::fmt::Display for CmdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CmdError::Usage(m) | CmdError::Deprecated(m) => f.write_str(m),
            CmdError::Api(e) => write!(f, "{e}"),
            CmdError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<ApiError> for CmdError {
    fn from(e: ApiError) -> Self {
        CmdError::Api(e)
    }
}

fn usage(m: impl Into<String>) -> CmdError {
    CmdError::Usage(m.into())
}

/// Where the answer goes.
pub struct Ctx<'a> {
    pub client: &'a Client,
    pub output: Output,
    pub quiet: bool,
}

impl Ctx<'_> {
    async fn send(&self, req: Request) -> Result<Response, CmdError> {
        Ok(self.client.send(&req).await?)
    }

    /// Sends `req` and prints the answer as `T`.
    async fn show<T: DeserializeOwned + Render>(&self, req: Request) -> Result<(), CmdError> {
        let resp = self.send(req).await?;
        self.print::<T>(&resp)
    }

    fn print<T: DeserializeOwned + Render>(&self, resp: &Response) -> Result<(), CmdError> {
        match self.output {
            Output::Json => {
                let mut body = resp.body.clone();
                if !body.ends_with(b"\n") {
                    body.push(b'\n');
                }
                write_stdout(&body)
            }
            Output::Text => {
                let v: T = if resp.body.iter().all(u8::is_ascii_whitespace) {
                    serde_json::from_str("{}")
                        .map_err(|e| CmdError::Api(ApiError::Decode(e.to_string())))?
                } else {
                    resp.json()?
                };
                write_stdout(format!("{}\n", v.render()).as_bytes())
            }
        }
    }

    /// A one-line note on stderr (not under `--quiet`).
    fn note(&self, text: &str) {
        if !self.quiet {
            crate::say(format_args!("okta-org: {text}"));
        }
    }
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<(), CmdError> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(CmdError::Io),
    }
}

/// Input checks that need no request, so a bad command line fails before anything is sent.
pub fn check(cmd: &Command) -> Result<(), CmdError> {
    match cmd {
        Command::Settings(SettingsCommand::Update(a)) => settings_update_body(a).map(|_| ()),
        Command::Settings(SettingsCommand::Replace(a)) => read_settings_file(&a.file).map(|_| ()),
        Command::Logo(LogoCommand::Upload { file }) => logo_part(file).map(|_| ()),
        Command::Support(SupportCommand::Cases(CasesCommand::Update(a))) => {
            case_update_body(a).map(|_| ())
        }
        Command::Aerial(
            AerialCommand::Grant { account_id } | AerialCommand::Revoke { account_id },
        ) if account_id.trim().is_empty() => Err(usage("--account-id must not be empty")),
        Command::Contacts(ContactsCommand::Set { user_id, .. }) if user_id.trim().is_empty() => {
            Err(usage("--user-id must not be empty"))
        }
        _ => Ok(()),
    }
}

/// The OAuth scopes a command needs.
pub fn scopes(cmd: &Command) -> &'static [&'static str] {
    match cmd {
        Command::Logo(_) => &["okta.apps.manage"],
        Command::Settings(SettingsCommand::Get)
        | Command::Contacts(ContactsCommand::List | ContactsCommand::Get { .. })
        | Command::Support(SupportCommand::Get | SupportCommand::Cases(CasesCommand::List))
        | Command::Communication(CommunicationCommand::Get)
        | Command::Preferences(PreferencesCommand::Get)
        | Command::Metadata => &["okta.orgs.read"],
        Command::Admin(
            AdminCommand::ThirdParty(FlagCommand::Get)
            | AdminCommand::AutoAssignAdminApp(FlagCommand::Get)
            | AdminCommand::ClientPrivileges(FlagCommand::Get),
        ) => &["okta.orgs.read"],
        _ => &["okta.orgs.manage"],
    }
}

/// Runs one org command.
pub async fn run(cmd: Command, ctx: &Ctx<'_>) -> Result<(), CmdError> {
    match cmd {
        Command::Settings(c) => settings(c, ctx).await,
        Command::Contacts(c) => contacts(c, ctx).await,
        Command::Logo(LogoCommand::Upload { file }) => logo(&file, ctx).await,
        Command::Support(c) => support(c, ctx).await,
        Command::Aerial(c) => aerial(c, ctx).await,
        Command::Communication(c) => {
            let p = "/api/v1/org/privacy/oktaCommunication";
            let req = match c {
                CommunicationCommand::Get => Request::new(Method::GET, p),
                CommunicationCommand::OptIn => {
                    Request::new(Method::POST, format!("{p}/optIn")).idempotent()
                }
                CommunicationCommand::OptOut => {
                    Request::new(Method::POST, format!("{p}/optOut")).idempotent()
                }
            };
            ctx.show::<CommunicationSetting>(req).await
        }
        Command::Preferences(c) => {
            let p = "/api/v1/org/preferences";
            let req = match c {
                PreferencesCommand::Get => Request::new(Method::GET, p),
                PreferencesCommand::ShowFooter => {
                    Request::new(Method::POST, format!("{p}/showEndUserFooter")).idempotent()
                }
                PreferencesCommand::HideFooter => {
                    Request::new(Method::POST, format!("{p}/hideEndUserFooter")).idempotent()
                }
            };
            ctx.show::<Preferences>(req).await
        }
        Command::Admin(c) => {
            let (path, field, write) = match &c {
                AdminCommand::ThirdParty(_) => (
                    "/api/v1/org/orgSettings/thirdPartyAdminSetting",
                    "thirdPartyAdmin",
                    Method::POST,
                ),
                AdminCommand::AutoAssignAdminApp(_) => (
                    "/api/v1/org/settings/autoAssignAdminAppSetting",
                    "autoAssignAdminAppSetting",
                    Method::POST,
                ),
                AdminCommand::ClientPrivileges(_) => (
                    "/api/v1/org/settings/clientPrivilegesSetting",
                    "clientPrivilegesSetting",
                    Method::PUT,
                ),
            };
            let (AdminCommand::ThirdParty(f)
            | AdminCommand::AutoAssignAdminApp(f)
            | AdminCommand::ClientPrivileges(f)) = c;
            let req = match f {
                FlagCommand::Get => Request::new(Method::GET, path),
                FlagCommand::Set { value } => {
                    // Setting a flag twice sets it once.
                    Request::new(write, path)
                        .idempotent()
                        .json(&json!({ field: value }))
                }
            };
            ctx.show::<Flag>(req).await
        }
        Command::Metadata => {
            ctx.show::<OrgMetadata>(
                Request::new(Method::GET, "/.well-known/okta-organization").anonymous(),
            )
            .await
        }
        Command::Bounces(_) | Command::Simulate(_) | Command::Config(_) => {
            Err(usage("not an org command"))
        }
    }
}

// ---- settings ----

fn read_json_object(path: &Path) -> Result<Map<String, Value>, CmdError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(usage(format!("{} must hold a JSON object", path.display()))),
        Err(e) => Err(usage(format!("{} is not valid JSON: {e}", path.display()))),
    }
}

/// A settings file as a typed org setting, minus the read-only fields (which are never sent).
fn read_settings_file(path: &Path) -> Result<(OrgSetting, Vec<String>), CmdError> {
    let obj = read_json_object(path)?;
    let dropped: Vec<String> = obj
        .keys()
        .filter(|k| READ_ONLY_FIELDS.contains(&k.as_str()))
        .cloned()
        .collect();
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

fn settings_update_body(a: &SettingsUpdateArgs) -> Result<(OrgSetting, Vec<String>), CmdError> {
    if a.set.is_empty() && a.file.is_none() {
        return Err(usage(
            "nothing to change: give --set FIELD=VALUE (repeatable) or --file F.json",
        ));
    }
    let (mut setting, dropped) = match &a.file {
        Some(p) => read_settings_file(p)?,
        None => (OrgSetting::default(), Vec::new()),
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
        return Err(usage(
            "nothing to change: the file holds only read-only fields",
        ));
    }
    Ok((setting, dropped))
}

async fn settings(c: SettingsCommand, ctx: &Ctx<'_>) -> Result<(), CmdError> {
    match c {
        SettingsCommand::Get => {
            ctx.show::<OrgSetting>(Request::new(Method::GET, "/api/v1/org"))
                .await
        }
        SettingsCommand::Update(a) => {
            let (body, dropped) = settings_update_body(&a)?;
            if !dropped.is_empty() {
                ctx.note(&format!(
                    "not sending read-only fields: {}",
                    dropped.join(", ")
                ));
            }
            // A partial update of the same fields twice has the effect of once.
            ctx.show::<OrgSetting>(
                Request::new(Method::POST, "/api/v1/org")
                    .idempotent()
                    .json(&body),
            )
            .await
        }
        SettingsCommand::Replace(a) => settings_replace(&a, ctx).await,
    }
}

async fn settings_replace(a: &SettingsReplaceArgs, ctx: &Ctx<'_>) -> Result<(), CmdError> {
    let (body, dropped) = read_settings_file(&a.file)?;
    if !dropped.is_empty() {
        ctx.note(&format!(
            "not sending read-only fields: {}",
            dropped.join(", ")
        ));
    }
    if !a.yes {
        let interactive = io::stdin().is_terminal() && io::stderr().is_terminal();
        if !interactive {
            return Err(usage(
                "settings replace deletes every property the file does not give (PUT /api/v1/org); \
                 pass --yes to confirm, or use settings update to change some fields",
            ));
        }
        let current: OrgSetting = ctx
            .send(Request::new(Method::GET, "/api/v1/org"))
            .await?
            .json()?;
        let now = serde_json::to_value(current.writable()).expect("serialisable");
        let given = serde_json::to_value(&body).expect("serialisable");
        let lost: Vec<&String> = now
            .as_object()
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(k, v)| !v.is_null() && given.get(k.as_str()).is_none())
            .map(|(k, _)| k)
            .collect();
        crate::say(format_args!(
            "settings replace sends a full update (PUT): properties not in {} are deleted.",
            a.file.display()
        ));
        if lost.is_empty() {
            crate::say(format_args!(
                "No property that is set now would be deleted."
            ));
        } else {
            let names: Vec<&str> = lost.iter().map(|s| s.as_str()).collect();
            crate::say(format_args!("These would be deleted: {}", names.join(", ")));
        }
        {
            let _ = write!(io::stderr(), "Type yes to replace the org settings: ");
            let _ = io::stderr().flush();
        }
        let mut answer = String::new();
        io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(CmdError::Io)?;
        if !matches!(answer.trim(), "yes" | "y" | "YES") {
            return Err(usage("not confirmed; nothing was changed"));
        }
    }
    ctx.show::<OrgSetting>(Request::new(Method::PUT, "/api/v1/org").json(&body))
        .await
}

// ---- contacts ----

async fn contacts(c: ContactsCommand, ctx: &Ctx<'_>) -> Result<(), CmdError> {
    match c {
        ContactsCommand::List => {
            ctx.show::<Vec<ContactTypeObj>>(Request::new(Method::GET, "/api/v1/org/contacts"))
                .await
        }
        ContactsCommand::Get { contact_type } => {
            let path = format!("/api/v1/org/contacts/{}", contact_type.api_name());
            ctx.show::<ContactUser>(Request::new(Method::GET, path))
                .await
        }
        ContactsCommand::Set {
            contact_type,
            user_id,
        } => {
            let path = format!("/api/v1/org/contacts/{}", contact_type.api_name());
            let req = Request::new(Method::PUT, path).json(&json!({ "userId": user_id.trim() }));
            ctx.show::<ContactUser>(req).await
        }
    }
}

// ---- logo ----

/// Checks the image locally: PNG, JPEG or GIF by its first bytes, and under 1 MB.
fn logo_part(path: &Path) -> Result<Body, CmdError> {
    let bytes =
        std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
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

async fn logo(file: &Path, ctx: &Ctx<'_>) -> Result<(), CmdError> {
    let mut req = Request::new(Method::POST, "/api/v1/org/logo")
        .idempotent()
        .scope("okta.apps.manage")
        .note("logo upload");
    req.body = logo_part(file)?;
    let resp = ctx.send(req).await?;
    let location = resp
        .headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match ctx.output {
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

// ---- Okta Support ----

async fn support(c: SupportCommand, ctx: &Ctx<'_>) -> Result<(), CmdError> {
    let p = "/api/v1/org/privacy/oktaSupport";
    let (op, instead) = match c {
        SupportCommand::Get => {
            return ctx
                .show::<SupportSettings>(Request::new(Method::GET, p))
                .await;
        }
        SupportCommand::Cases(CasesCommand::List) => {
            return ctx
                .show::<SupportCases>(Request::new(Method::GET, format!("{p}/cases")))
                .await;
        }
        SupportCommand::Cases(CasesCommand::Update(a)) => {
            let body = case_update_body(&a)?;
            let req =
                Request::new(Method::PATCH, format!("{p}/cases/{}", a.case.trim())).json(&body);
            return ctx.show::<SupportCase>(req).await;
        }
        SupportCommand::Grant => ("grant", "--impersonation enabled"),
        SupportCommand::Extend => ("extend", "--expiration TIME"),
        SupportCommand::Revoke => ("revoke", "--impersonation disabled"),
    };
    let req = Request::new(Method::POST, format!("{p}/{op}")).not_idempotent();
    match ctx.send(req).await {
        Ok(resp) => ctx.print::<SupportSettings>(&resp),
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

// ---- Okta Aerial ----

async fn aerial(c: AerialCommand, ctx: &Ctx<'_>) -> Result<(), CmdError> {
    let p = "/api/v1/org/privacy/aerial";
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Consent<'a> {
        account_id: &'a str,
    }
    let req = match &c {
        AerialCommand::Get => Request::new(Method::GET, p).scope("okta.orgs.manage"),
        AerialCommand::Grant { account_id } => Request::new(Method::POST, format!("{p}/grant"))
            .json(&Consent {
                account_id: account_id.trim(),
            }),
        AerialCommand::Revoke { account_id } => Request::new(Method::POST, format!("{p}/revoke"))
            .json(&Consent {
                account_id: account_id.trim(),
            }),
    };
    let resp = ctx.send(req).await?;
    if let (AerialCommand::Revoke { account_id }, Output::Text) = (&c, ctx.output) {
        return write_stdout(format!("Okta Aerial consent of {account_id} revoked\n").as_bytes());
    }
    ctx.print::<AerialConsent>(&resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(set: &[&str]) -> Result<Value, CmdError> {
        let a = SettingsUpdateArgs {
            set: set.iter().map(|s| s.to_string()).collect(),
            file: None,
        };
        settings_update_body(&a).map(|(s, _)| serde_json::to_value(s).unwrap())
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
