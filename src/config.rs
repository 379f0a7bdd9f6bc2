//! Where every setting comes from, the way Okta's SDKs read them, weakest first: `~/.okta/okta.yaml`,
//! `./okta.yaml`, `./.okta.yaml` (each `okta.client`, then `okta.profiles.NAME.client` under `--profile`),
//! the environment (`OKTA_CLIENT_*`), then command-line flags. Each value remembers its source, for
//! `config show` and for error messages; secrets stay [`Secret`]s. The org URL is checked before anything
//! is sent: HTTPS (plain HTTP only to loopback), a bare origin.

use std::fmt;
use std::path::{Path, PathBuf};

use reqwest::Url;
use serde::Deserialize;

use crate::client::is_loopback;
use crate::secret::Secret;

/// Where a setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag(&'static str),
    Env(&'static str),
    File(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(name) => write!(f, "{name}"),
            Origin::Env(name) => write!(f, "${name}"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Sourced<T> {
    pub value: T,
    pub origin: Origin,
}

/// The command-line part of the configuration.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub org_url: Option<String>,
    pub token_file: Option<PathBuf>,
    pub profile: Option<String>,
    pub authorization_mode: Option<String>,
    pub client_id: Option<String>,
    pub scopes: Option<String>,
    pub private_key: Option<PathBuf>,
    pub private_key_id: Option<String>,
    pub dpop: bool,
}

/// How requests are authorised (`authorizationMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An API token: `Authorization: SSWS <token>`.
    Ssws,
    /// An access token obtained elsewhere: `Authorization: Bearer <token>`.
    Bearer,
    /// OAuth 2.0 client credentials with `private_key_jwt` (optionally DPoP-bound).
    PrivateKey,
}

impl Mode {
    fn parse(s: &str) -> Option<Mode> {
        match s.trim().to_ascii_lowercase().as_str() {
            "ssws" => Some(Mode::Ssws),
            "bearer" => Some(Mode::Bearer),
            "privatekey" | "private_key" | "private-key" => Some(Mode::PrivateKey),
            _ => None,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Ssws => "SSWS",
            Mode::Bearer => "Bearer",
            Mode::PrivateKey => "PrivateKey",
        })
    }
}

/// Every setting, each with its source; `None` where no source gave it.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub profile: Option<String>,
    pub org_url: Option<Sourced<String>>,
    pub token: Option<Sourced<Secret>>,
    pub authorization_mode: Option<Sourced<String>>,
    pub client_id: Option<Sourced<String>>,
    pub scopes: Option<Sourced<Vec<String>>>,
    /// PEM or JWK text, read from a file when the setting named one.
    pub private_key: Option<Sourced<Secret>>,
    pub private_key_id: Option<Sourced<String>>,
    pub dpop: Option<Sourced<bool>>,
    pub request_timeout: Option<Sourced<u64>>,
    pub max_retries: Option<Sourced<usize>>,
    /// The files looked at, and whether each was there.
    pub files: Vec<(PathBuf, bool)>,
    /// Files holding secrets that others may read.
    pub warnings: Vec<String>,
}

/// A line of `config show`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowRow {
    pub name: &'static str,
    pub value: String,
    pub source: String,
}

/// Why the configuration cannot be used; each says what to fix, and none quotes a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("no profile \"{0}\" in any okta.yaml (expected okta: profiles: {0}: client: ...)")]
    NoProfile(String),
    #[error("{origin} must be {what}, not {value:?}")]
    NotANumber {
        origin: Origin,
        what: &'static str,
        value: String,
    },
    #[error("cannot read {what} {path}: {reason}")]
    Read {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error(
        "{path} is not an okta.yaml this tool can read{at} (expected okta: client: orgUrl, token, ...)"
    )]
    Yaml { path: String, at: String },
    #[error("the private key from {origin}: {why}")]
    KeySource { origin: Origin, why: String },
    #[error("the private key from {origin}: {source}")]
    Key {
        origin: Origin,
        source: crate::oauth::keys::KeyError,
    },
    #[error("authorization mode {value:?} (from {origin}) is not one of SSWS, Bearer, PrivateKey")]
    Mode { value: String, origin: Origin },
    #[error(
        "no org URL: pass --org-url https://YOUR-ORG.okta.com, set OKTA_CLIENT_ORGURL, or put \
         okta.client.orgUrl in ./okta.yaml or ~/.okta/okta.yaml (or try --simulate)"
    )]
    NoOrgUrl,
    #[error("the org URL from {origin} {source}")]
    OrgUrl { origin: Origin, source: OrgUrlError },
    #[error(
        "no API token: set OKTA_CLIENT_TOKEN, pass --token-file PATH, or put okta.client.token in \
         ./okta.yaml or ~/.okta/okta.yaml"
    )]
    NoToken,
    #[error("the token from {0} is empty or contains whitespace")]
    BadToken(Origin),
    #[error(
        "PrivateKey mode needs the service app's client id: --client-id, OKTA_CLIENT_CLIENTID or \
         okta.client.clientId"
    )]
    NoClientId,
    #[error(
        "PrivateKey mode needs the app's private key: --private-key FILE, OKTA_CLIENT_PRIVATEKEY or \
         okta.client.privateKey"
    )]
    NoPrivateKey,
}

/// What is wrong with an org URL, and the URL to use instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgUrlError {
    #[error("is not a URL ({0}): use https://YOUR-ORG.okta.com")]
    NotAUrl(String),
    #[error("has no https://: use https://{0}")]
    NoScheme(String),
    #[error(
        "uses plain http:// to {0}: only https:// is allowed, except to this machine (localhost, \
         127.0.0.1, [::1])"
    )]
    PlainHttp(String),
    #[error("has scheme {0}: use https://")]
    Scheme(String),
    #[error("has no host")]
    NoHost,
    #[error("holds a user name or password: use {0}")]
    Credentials(String),
    #[error("is not a bare origin: use {0}")]
    NotBare(String),
    #[error("is the Admin Console address: use https://{0}")]
    AdminConsole(String),
}

#[derive(Debug, Default, Deserialize)]
struct OktaYaml {
    okta: Option<OktaSection>,
}

#[derive(Debug, Default, Deserialize)]
struct OktaSection {
    client: Option<ClientSection>,
    #[serde(default)]
    profiles: std::collections::HashMap<String, ProfileSection>,
}

#[derive(Debug, Default, Deserialize)]
struct ProfileSection {
    client: Option<ClientSection>,
}

/// `okta.client` as Okta's SDKs write it.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientSection {
    org_url: Option<String>,
    token: Option<String>,
    authorization_mode: Option<String>,
    client_id: Option<String>,
    scopes: Option<Scopes>,
    private_key: Option<String>,
    private_key_id: Option<String>,
    dpop: Option<bool>,
    request_timeout: Option<u64>,
    rate_limit: Option<RateLimitSection>,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimitSection {
    max_retries: Option<usize>,
}

/// Scopes as a YAML list or one comma/space-separated string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Scopes {
    List(Vec<String>),
    Text(String),
}

fn split_scopes(s: &str) -> Vec<String> {
    s.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The process environment, or a fixed one in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
    fn home(&self) -> Option<PathBuf>;
    fn cwd(&self) -> PathBuf;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
    fn home(&self) -> Option<PathBuf> {
        self.var("HOME").map(PathBuf::from)
    }
    fn cwd(&self) -> PathBuf {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
    }
}

fn set<T>(slot: &mut Option<Sourced<T>>, value: Option<T>, origin: &Origin) {
    if let Some(value) = value {
        *slot = Some(Sourced {
            value,
            origin: origin.clone(),
        });
    }
}

fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// The okta.yaml files, weakest first: `~/.okta/okta.yaml`, `./okta.yaml`, `./.okta.yaml`.
fn yaml_files(env: &dyn Env) -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(home) = env.home() {
        files.push(home.join(".okta").join("okta.yaml"));
    }
    files.push(env.cwd().join("okta.yaml"));
    files.push(env.cwd().join(".okta.yaml"));
    files
}

/// Every profile name (`okta.profiles.NAME`) of the okta.yaml files, in natural order (`org2` before
/// `org10`), each once.
pub fn profile_names(env: &dyn Env) -> Result<Vec<String>, ConfigError> {
    let mut names: Vec<String> = Vec::new();
    for path in yaml_files(env) {
        if let Some(section) = read_yaml(&path)? {
            names.extend(section.profiles.into_keys());
        }
    }
    names.sort_by_key(|n| natural(n));
    names.dedup();
    Ok(names)
}

/// A name as text and numbers, so that numbers compare by value: `org2` < `org10`.
fn natural(s: &str) -> Vec<(String, u128)> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            if !digits.is_empty() {
                parts.push((
                    std::mem::take(&mut text),
                    digits.parse().unwrap_or(u128::MAX),
                ));
                digits.clear();
            }
            text.push(c);
        }
    }
    parts.push((text, digits.parse().unwrap_or(0)));
    parts
}

impl Config {
    /// Reads every source, weakest first; later sources override earlier ones setting by setting.
    pub fn load(flags: &Flags, env: &dyn Env) -> Result<Config, ConfigError> {
        let mut c = Config {
            profile: flags
                .profile
                .clone()
                .or_else(|| env.var("OKTA_CLIENT_PROFILE")),
            ..Config::default()
        };
        let mut profile_found = false;
        for path in yaml_files(env) {
            let Some(section) = read_yaml(&path)? else {
                c.files.push((path, false));
                continue;
            };
            c.files.push((path.clone(), true));
            let origin = Origin::File(path.clone());
            let mut sections: Vec<ClientSection> = section.client.into_iter().collect();
            if let Some(name) = &c.profile
                && let Some(p) = section.profiles.get(name)
            {
                profile_found = true;
                sections.extend(p.client.clone());
            }
            let mut secret_here = false;
            for s in sections {
                secret_here |= s.token.is_some() || s.private_key.is_some();
                c.apply(s, &origin)?;
            }
            if secret_here && let Some(w) = loose_permissions(&path) {
                c.warnings.push(w);
            }
        }
        if let Some(name) = &c.profile
            && !profile_found
        {
            return Err(ConfigError::NoProfile(name.clone()));
        }
        c.apply_env(env)?;
        c.apply_flags(flags)?;
        Ok(c)
    }

    fn apply(&mut self, s: ClientSection, origin: &Origin) -> Result<(), ConfigError> {
        set(&mut self.org_url, nonempty(s.org_url), origin);
        set(
            &mut self.token,
            nonempty(s.token).map(|t| Secret::new(t.trim())),
            origin,
        );
        set(
            &mut self.authorization_mode,
            nonempty(s.authorization_mode),
            origin,
        );
        set(&mut self.client_id, nonempty(s.client_id), origin);
        let scopes = s.scopes.map(|sc| match sc {
            Scopes::List(l) => l,
            Scopes::Text(t) => split_scopes(&t),
        });
        set(&mut self.scopes, scopes.filter(|s| !s.is_empty()), origin);
        if let Some(k) = nonempty(s.private_key) {
            let text = self.key_text(&k, origin)?;
            set(&mut self.private_key, Some(text), origin);
        }
        set(&mut self.private_key_id, nonempty(s.private_key_id), origin);
        set(&mut self.dpop, s.dpop, origin);
        set(&mut self.request_timeout, s.request_timeout, origin);
        set(
            &mut self.max_retries,
            s.rate_limit.and_then(|r| r.max_retries),
            origin,
        );
        Ok(())
    }

    fn apply_env(&mut self, env: &dyn Env) -> Result<(), ConfigError> {
        let var = |name: &'static str| env.var(name).map(|v| (v, Origin::Env(name)));
        if let Some((v, o)) = var("OKTA_CLIENT_ORGURL") {
            set(&mut self.org_url, Some(v), &o);
        }
        if let Some((v, o)) = var("OKTA_CLIENT_TOKEN") {
            set(&mut self.token, Some(Secret::new(v.trim())), &o);
        }
        if let Some((v, o)) = var("OKTA_CLIENT_AUTHORIZATIONMODE") {
            set(&mut self.authorization_mode, Some(v), &o);
        }
        if let Some((v, o)) = var("OKTA_CLIENT_CLIENTID") {
            set(&mut self.client_id, Some(v), &o);
        }
        if let Some((v, o)) = var("OKTA_CLIENT_SCOPES") {
            set(&mut self.scopes, Some(split_scopes(&v)), &o);
        }
        if let Some((v, o)) = var("OKTA_CLIENT_PRIVATEKEY") {
            let text = self.key_text(&v, &o)?;
            set(&mut self.private_key, Some(text), &o);
        }
        if let Some((v, o)) = var("OKTA_CLIENT_PRIVATEKEYID") {
            set(&mut self.private_key_id, Some(v), &o);
        }
        if let Some((v, o)) = var("OKTA_CLIENT_DPOP") {
            let on = matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            );
            set(&mut self.dpop, Some(on), &o);
        }
        if let Some((v, o)) = var("OKTA_CLIENT_REQUESTTIMEOUT") {
            let secs = v.trim().parse().map_err(|_| ConfigError::NotANumber {
                origin: o.clone(),
                what: "a number of seconds",
                value: v.clone(),
            })?;
            set(&mut self.request_timeout, Some(secs), &o);
        }
        if let Some((v, o)) = var("OKTA_CLIENT_RATELIMIT_MAXRETRIES") {
            let n = v.trim().parse().map_err(|_| ConfigError::NotANumber {
                origin: o.clone(),
                what: "a number",
                value: v.clone(),
            })?;
            set(&mut self.max_retries, Some(n), &o);
        }
        Ok(())
    }

    fn apply_flags(&mut self, flags: &Flags) -> Result<(), ConfigError> {
        let flag = Origin::Flag;
        set(&mut self.org_url, flags.org_url.clone(), &flag("--org-url"));
        if let Some(path) = &flags.token_file {
            let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                what: "the token file",
                path: path.display().to_string(),
                reason: crate::os_error::plain(&e),
            })?;
            if let Some(w) = loose_permissions(path) {
                self.warnings.push(w);
            }
            set(
                &mut self.token,
                Some(Secret::new(text.trim())),
                &flag("--token-file"),
            );
        }
        set(
            &mut self.authorization_mode,
            flags.authorization_mode.clone(),
            &flag("--authorization-mode"),
        );
        set(
            &mut self.client_id,
            flags.client_id.clone(),
            &flag("--client-id"),
        );
        set(
            &mut self.scopes,
            flags.scopes.as_deref().map(split_scopes),
            &flag("--scopes"),
        );
        if let Some(path) = &flags.private_key {
            let origin = flag("--private-key");
            let text = self.key_text(&path.to_string_lossy(), &origin)?;
            set(&mut self.private_key, Some(text), &origin);
        }
        set(
            &mut self.private_key_id,
            flags.private_key_id.clone(),
            &flag("--private-key-id"),
        );
        if flags.dpop {
            set(&mut self.dpop, Some(true), &flag("--dpop"));
        }
        Ok(())
    }

    /// A private key setting holds PEM or JWK text, or names a file that does. The value is never
    /// echoed: it may be the key itself.
    fn key_text(&mut self, value: &str, origin: &Origin) -> Result<Secret, ConfigError> {
        let v = value.trim();
        if v.contains("-----BEGIN") || v.starts_with('{') {
            return Ok(Secret::new(v.replace("\\n", "\n")));
        }
        let path = PathBuf::from(v);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            let why = if v.len() > 255 || v.contains('\n') {
                "it is neither PEM or JWK text nor a file name".to_string()
            } else {
                format!("it names no readable file ({})", crate::os_error::plain(&e))
            };
            ConfigError::KeySource {
                origin: origin.clone(),
                why,
            }
        })?;
        if let Some(w) = loose_permissions(&path) {
            self.warnings.push(w);
        }
        Ok(Secret::new(text))
    }

    /// One row a setting, for `config show`: secrets show only that they are set.
    pub fn rows(&self) -> Vec<ShowRow> {
        fn row<T>(
            name: &'static str,
            s: &Option<Sourced<T>>,
            show: impl Fn(&T) -> String,
            default: &str,
        ) -> ShowRow {
            match s {
                Some(s) => ShowRow {
                    name,
                    value: show(&s.value),
                    source: s.origin.to_string(),
                },
                None => ShowRow {
                    name,
                    value: default.to_string(),
                    source: if default == "(not set)" {
                        ""
                    } else {
                        "default"
                    }
                    .to_string(),
                },
            }
        }
        let secret = |_: &Secret| "(set, redacted)".to_string();
        let mode = match self.mode() {
            Ok(m) => m.to_string(),
            Err(e) => format!("invalid: {e}"),
        };
        vec![
            ShowRow {
                name: "profile",
                value: self.profile.clone().unwrap_or_else(|| "(none)".into()),
                source: String::new(),
            },
            row("orgUrl", &self.org_url, String::clone, "(not set)"),
            ShowRow {
                name: "authorizationMode",
                value: mode,
                source: self
                    .authorization_mode
                    .as_ref()
                    .map_or("default".into(), |m| m.origin.to_string()),
            },
            row("token", &self.token, secret, "(not set)"),
            row("clientId", &self.client_id, String::clone, "(not set)"),
            row(
                "scopes",
                &self.scopes,
                |s| s.join(" "),
                "(what each command needs)",
            ),
            row("privateKey", &self.private_key, secret, "(not set)"),
            row(
                "privateKeyId",
                &self.private_key_id,
                String::clone,
                "(not set)",
            ),
            row("dpop", &self.dpop, bool::to_string, "false"),
            row(
                "requestTimeout",
                &self.request_timeout,
                |t| format!("{t} s"),
                "60 s",
            ),
            row(
                "rateLimit.maxRetries",
                &self.max_retries,
                usize::to_string,
                "6",
            ),
        ]
    }

    /// The authorization mode: as set, or PrivateKey when a client id and key are given, else SSWS.
    pub fn mode(&self) -> Result<Mode, ConfigError> {
        match &self.authorization_mode {
            Some(m) => Mode::parse(&m.value).ok_or_else(|| ConfigError::Mode {
                value: m.value.clone(),
                origin: m.origin.clone(),
            }),
            None if self.client_id.is_some() && self.private_key.is_some() => Ok(Mode::PrivateKey),
            None => Ok(Mode::Ssws),
        }
    }

    /// The checked org URL, or how to give one.
    pub fn org_url(&self) -> Result<Sourced<Url>, ConfigError> {
        let u = self.org_url.as_ref().ok_or(ConfigError::NoOrgUrl)?;
        let url = check_org_url(&u.value).map_err(|source| ConfigError::OrgUrl {
            origin: u.origin.clone(),
            source,
        })?;
        Ok(Sourced {
            value: url,
            origin: u.origin.clone(),
        })
    }

    /// The API token (SSWS) or access token (Bearer), or how to give one.
    pub fn token(&self) -> Result<&Sourced<Secret>, ConfigError> {
        let t = self.token.as_ref().ok_or(ConfigError::NoToken)?;
        let value = t.value.expose().trim();
        if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(ConfigError::BadToken(t.origin.clone()));
        }
        Ok(t)
    }
}

fn read_yaml(path: &Path) -> Result<Option<OktaSection>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigError::Read {
                what: "the configuration",
                path: path.display().to_string(),
                reason: crate::os_error::plain(&e),
            });
        }
    };
    if text.trim().is_empty() {
        return Ok(Some(OktaSection::default()));
    }
    // The parser's message can quote the file, and the file may hold a token: only say where.
    let parsed: OktaYaml = serde_norway::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        ConfigError::Yaml {
            path: path.display().to_string(),
            at,
        }
    })?;
    Ok(Some(parsed.okta.unwrap_or_default()))
}

/// A warning when a file holding a secret may be read by group or others.
fn loose_permissions(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode();
        (mode & 0o077 != 0).then(|| {
            format!(
                "{} holds a secret and can be read by other users (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// An org URL must be the bare origin of the org: `https://acme.okta.com`.
pub fn check_org_url(raw: &str) -> Result<Url, OrgUrlError> {
    let raw = raw.trim();
    // A bare host name, as admins often type it.
    if !raw.is_empty() && !raw.contains("://") && Url::parse(&format!("https://{raw}")).is_ok() {
        let host = raw.trim_end_matches('/');
        // A bare org name (`acme`) is the org at okta.com, the likeliest meaning.
        let host = if host.contains(['.', ':']) || host == "localhost" {
            host.to_string()
        } else {
            format!("{host}.okta.com")
        };
        return Err(OrgUrlError::NoScheme(host));
    }
    let url = Url::parse(raw).map_err(|e| OrgUrlError::NotAUrl(e.to_string()))?;
    let host = url.host_str().unwrap_or_default().to_string();
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => return Err(OrgUrlError::PlainHttp(host)),
        other => return Err(OrgUrlError::Scheme(other.to_string())),
    }
    if host.is_empty() {
        return Err(OrgUrlError::NoHost);
    }
    let origin = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
        + &url.port().map(|p| format!(":{p}")).unwrap_or_default();
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OrgUrlError::Credentials(origin));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(OrgUrlError::NotBare(origin));
    }
    if let Some(first) = host.split('.').next()
        && let Some(org) = first.strip_suffix("-admin")
    {
        let fixed = host.replacen(first, org, 1);
        return Err(OrgUrlError::AdminConsole(fixed));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct FakeEnv {
        vars: HashMap<&'static str, String>,
        home: PathBuf,
        cwd: PathBuf,
    }

    impl Env for FakeEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn home(&self) -> Option<PathBuf> {
            Some(self.home.clone())
        }
        fn cwd(&self) -> PathBuf {
            self.cwd.clone()
        }
    }

    fn sandbox(name: &str) -> (PathBuf, FakeEnv) {
        let d = std::env::temp_dir().join(format!("okta-org-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("home/.okta")).unwrap();
        std::fs::create_dir_all(d.join("work")).unwrap();
        let env = FakeEnv {
            vars: HashMap::new(),
            home: d.join("home"),
            cwd: d.join("work"),
        };
        (d, env)
    }

    #[test]
    fn org_url_rules() {
        assert!(check_org_url("https://acme.okta.com").is_ok());
        assert!(check_org_url("https://acme.okta.com/").is_ok());
        assert!(check_org_url("http://127.0.0.1:8080").is_ok());
        assert!(check_org_url("http://localhost:1").is_ok());
        assert!(check_org_url("http://[::1]:1").is_ok());
        let e = check_org_url("http://acme.okta.com")
            .unwrap_err()
            .to_string();
        assert!(e.contains("only https://"), "{e}");
        let e = check_org_url("https://acme.okta.com/api/v1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("use https://acme.okta.com"), "{e}");
        let e = check_org_url("https://acme-admin.okta.com")
            .unwrap_err()
            .to_string();
        assert!(e.contains("use https://acme.okta.com"), "{e}");
        assert!(check_org_url("https://acme.okta.com?x=1").is_err());
        let e = check_org_url("acme.okta.com").unwrap_err().to_string();
        assert_eq!(e, "has no https://: use https://acme.okta.com");
    }

    #[test]
    fn precedence_files_then_env_then_flags() {
        let (d, mut env) = sandbox("precedence");
        std::fs::write(
            d.join("home/.okta/okta.yaml"),
            "okta:\n  client:\n    orgUrl: https://home.okta.com\n    token: hometoken\n    clientId: homeclient\n    rateLimit:\n      maxRetries: 9\n",
        )
        .unwrap();
        std::fs::write(
            d.join("work/okta.yaml"),
            "okta:\n  client:\n    orgUrl: https://work.okta.com\n    scopes: [okta.orgs.read]\n",
        )
        .unwrap();
        std::fs::write(
            d.join("work/.okta.yaml"),
            "okta:\n  client:\n    requestTimeout: 30\n",
        )
        .unwrap();
        let c = Config::load(&Flags::default(), &env).unwrap();
        assert_eq!(
            c.org_url().unwrap().value.as_str(),
            "https://work.okta.com/"
        );
        assert_eq!(c.token().unwrap().value.expose(), "hometoken");
        assert_eq!(c.client_id.as_ref().unwrap().value, "homeclient");
        assert_eq!(c.max_retries.as_ref().unwrap().value, 9);
        assert_eq!(c.scopes.as_ref().unwrap().value, vec!["okta.orgs.read"]);
        assert_eq!(
            c.request_timeout.as_ref().unwrap().origin,
            Origin::File(d.join("work/.okta.yaml"))
        );
        env.vars.insert("OKTA_CLIENT_TOKEN", "envtoken".into());
        env.vars
            .insert("OKTA_CLIENT_ORGURL", "https://env.okta.com".into());
        env.vars.insert(
            "OKTA_CLIENT_SCOPES",
            "okta.orgs.read,okta.orgs.manage".into(),
        );
        env.vars
            .insert("OKTA_CLIENT_RATELIMIT_MAXRETRIES", "2".into());
        let c = Config::load(&Flags::default(), &env).unwrap();
        assert_eq!(c.org_url().unwrap().value.as_str(), "https://env.okta.com/");
        assert_eq!(c.token().unwrap().value.expose(), "envtoken");
        assert_eq!(c.scopes.as_ref().unwrap().value.len(), 2);
        assert_eq!(c.max_retries.as_ref().unwrap().value, 2);
        std::fs::write(d.join("tok"), "filetoken\n").unwrap();
        let flags = Flags {
            org_url: Some("https://flag.okta.com".into()),
            token_file: Some(d.join("tok")),
            scopes: Some("okta.orgs.manage".into()),
            ..Flags::default()
        };
        let c = Config::load(&flags, &env).unwrap();
        assert_eq!(
            c.org_url().unwrap().value.as_str(),
            "https://flag.okta.com/"
        );
        assert_eq!(c.token().unwrap().value.expose(), "filetoken");
        assert_eq!(c.token().unwrap().origin, Origin::Flag("--token-file"));
        assert_eq!(c.scopes.unwrap().value, vec!["okta.orgs.manage"]);
    }

    #[test]
    fn profile_names_of_every_file_in_natural_order() {
        let (d, env) = sandbox("profile-names");
        std::fs::write(
            d.join("home/.okta/okta.yaml"),
            "okta:\n  profiles:\n    org10:\n      client: {}\n    org2:\n      client: {}\n",
        )
        .unwrap();
        std::fs::write(
            d.join("work/okta.yaml"),
            "okta:\n  profiles:\n    org2:\n      client: {}\n    eu:\n      client: {}\n",
        )
        .unwrap();
        assert_eq!(profile_names(&env).unwrap(), ["eu", "org2", "org10"]);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn profiles_select_their_client_section() {
        let (d, env) = sandbox("profiles");
        std::fs::write(
            d.join("home/.okta/okta.yaml"),
            "okta:\n  client:\n    orgUrl: https://default.okta.com\n    token: t1\n  profiles:\n    staging:\n      client:\n        orgUrl: https://staging.okta.com\n",
        )
        .unwrap();
        let flags = Flags {
            profile: Some("staging".into()),
            ..Flags::default()
        };
        let c = Config::load(&flags, &env).unwrap();
        assert_eq!(
            c.org_url().unwrap().value.as_str(),
            "https://staging.okta.com/"
        );
        assert_eq!(c.token().unwrap().value.expose(), "t1");
        let flags = Flags {
            profile: Some("nope".into()),
            ..Flags::default()
        };
        assert!(
            Config::load(&flags, &env)
                .unwrap_err()
                .to_string()
                .contains("no profile \"nope\"")
        );
    }

    #[test]
    fn modes_and_keys() {
        let (d, mut env) = sandbox("modes");
        let key = format!("{}/tests/fixtures/ec-pkcs8.pem", env!("CARGO_MANIFEST_DIR"));
        env.vars.insert("OKTA_CLIENT_CLIENTID", "0oa1".into());
        env.vars.insert("OKTA_CLIENT_PRIVATEKEY", key);
        let c = Config::load(&Flags::default(), &env).unwrap();
        assert_eq!(c.mode().unwrap(), Mode::PrivateKey);
        assert!(
            c.private_key
                .unwrap()
                .value
                .expose()
                .starts_with("-----BEGIN")
        );
        env.vars
            .insert("OKTA_CLIENT_AUTHORIZATIONMODE", "bearer".into());
        assert_eq!(
            Config::load(&Flags::default(), &env)
                .unwrap()
                .mode()
                .unwrap(),
            Mode::Bearer
        );
        env.vars
            .insert("OKTA_CLIENT_AUTHORIZATIONMODE", "magic".into());
        assert!(
            Config::load(&Flags::default(), &env)
                .unwrap()
                .mode()
                .is_err()
        );
        env.vars.insert(
            "OKTA_CLIENT_PRIVATEKEY",
            d.join("missing.pem").display().to_string(),
        );
        let e = Config::load(&Flags::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("names no readable file"), "{e}");
        assert!(!e.contains("missing.pem"), "{e}");
        env.vars.insert(
            "OKTA_CLIENT_PRIVATEKEY",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ".repeat(8),
        );
        let e = Config::load(&Flags::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("MIIEvQ"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn warns_about_readable_secrets() {
        use std::os::unix::fs::PermissionsExt;
        let (d, env) = sandbox("perms");
        let f = d.join("work/okta.yaml");
        std::fs::write(&f, "okta:\n  client:\n    token: abc\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = Config::load(&Flags::default(), &env).unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("chmod 600"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            Config::load(&Flags::default(), &env)
                .unwrap()
                .warnings
                .is_empty()
        );
    }

    #[test]
    fn bad_yaml_never_echoes_the_file() {
        let (d, env) = sandbox("badyaml");
        std::fs::write(
            d.join("work/okta.yaml"),
            "okta: [client: token: SECRET-VALUE\n",
        )
        .unwrap();
        let e = Config::load(&Flags::default(), &env)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET"), "{e}");
        assert!(e.contains("okta.yaml"), "{e}");
    }

    #[test]
    fn missing_settings_say_how_to_give_them() {
        let (_d, env) = sandbox("missing");
        let c = Config::load(&Flags::default(), &env).unwrap();
        assert!(
            c.org_url()
                .unwrap_err()
                .to_string()
                .contains("OKTA_CLIENT_ORGURL")
        );
        assert!(
            c.token()
                .unwrap_err()
                .to_string()
                .contains("OKTA_CLIENT_TOKEN")
        );
    }
}
