//! Where the org URL and credentials come from, the way Okta's SDKs read them, weakest first:
//! `~/.okta/okta.yaml`, `./okta.yaml`, the environment (`OKTA_CLIENT_ORGURL`, `OKTA_CLIENT_TOKEN`), then
//! command-line flags (`--org-url`, `--token-file`). Each value remembers its source for error messages,
//! and the org URL is checked before anything is sent: HTTPS (plain HTTP only to loopback), a bare origin.

use std::fmt;
use std::path::{Path, PathBuf};

use reqwest::Url;
use serde::Deserialize;

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
}

/// The settings a command needs to reach an org.
#[derive(Debug, Clone)]
pub struct Settings {
    pub org_url: Sourced<Url>,
    pub token: Option<Sourced<Secret>>,
}

impl Settings {
    /// The token, or how to give one.
    pub fn token(&self) -> Result<&Sourced<Secret>, ConfigError> {
        self.token.as_ref().ok_or_else(|| {
            ConfigError(
                "no API token: set OKTA_CLIENT_TOKEN, pass --token-file PATH, or put okta.client.token in \
                 ./okta.yaml or ~/.okta/okta.yaml"
                    .into(),
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Default, Deserialize)]
struct OktaYaml {
    okta: Option<OktaSection>,
}

#[derive(Debug, Default, Deserialize)]
struct OktaSection {
    client: Option<ClientSection>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientSection {
    org_url: Option<String>,
    token: Option<String>,
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

/// Reads every source and returns the org URL and token, or says which is missing and how to give it.
pub fn resolve(flags: &Flags, env: &dyn Env) -> Result<Settings, ConfigError> {
    let mut org_url: Option<Sourced<String>> = None;
    let mut token: Option<Sourced<String>> = None;
    let mut files = Vec::new();
    if let Some(home) = env.home() {
        files.push(home.join(".okta").join("okta.yaml"));
    }
    files.push(env.cwd().join("okta.yaml"));
    for path in files {
        let Some(client) = read_yaml(&path)? else {
            continue;
        };
        let origin = Origin::File(path.clone());
        if let Some(v) = client.org_url.filter(|v| !v.trim().is_empty()) {
            org_url = Some(Sourced {
                value: v,
                origin: origin.clone(),
            });
        }
        if let Some(v) = client.token.filter(|v| !v.trim().is_empty()) {
            token = Some(Sourced { value: v, origin });
        }
    }
    if let Some(v) = env.var("OKTA_CLIENT_ORGURL") {
        org_url = Some(Sourced {
            value: v,
            origin: Origin::Env("OKTA_CLIENT_ORGURL"),
        });
    }
    if let Some(v) = env.var("OKTA_CLIENT_TOKEN") {
        token = Some(Sourced {
            value: v,
            origin: Origin::Env("OKTA_CLIENT_TOKEN"),
        });
    }
    if let Some(v) = &flags.org_url {
        org_url = Some(Sourced {
            value: v.clone(),
            origin: Origin::Flag("--org-url"),
        });
    }
    if let Some(path) = &flags.token_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError(format!(
                "cannot read the token file {}: {e}",
                path.display()
            ))
        })?;
        token = Some(Sourced {
            value: text,
            origin: Origin::Flag("--token-file"),
        });
    }
    let org_url = org_url.ok_or_else(|| {
        ConfigError(
            "no org URL: pass --org-url https://YOUR-ORG.okta.com, set OKTA_CLIENT_ORGURL, or put \
             okta.client.orgUrl in ./okta.yaml or ~/.okta/okta.yaml (or try --simulate)"
                .into(),
        )
    })?;
    let url = check_org_url(&org_url.value)
        .map_err(|e| ConfigError(format!("the org URL from {} {e}", org_url.origin)))?;
    let token = match token {
        Some(t) => {
            let value = t.value.trim();
            if value.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ConfigError(format!(
                    "the API token from {} is empty or contains whitespace",
                    t.origin
                )));
            }
            Some(Sourced {
                value: Secret::new(value),
                origin: t.origin,
            })
        }
        None => None,
    };
    Ok(Settings {
        org_url: Sourced {
            value: url,
            origin: org_url.origin,
        },
        token,
    })
}

fn read_yaml(path: &Path) -> Result<Option<ClientSection>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ConfigError(format!("cannot read {}: {e}", path.display()))),
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    // The parser's message can quote the file, and the file may hold a token: only say where.
    let parsed: OktaYaml = serde_norway::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or_default();
        ConfigError(format!(
            "{} is not an okta.yaml this tool can read{at} (expected okta: client: orgUrl / token)",
            path.display()
        ))
    })?;
    Ok(parsed.okta.and_then(|o| o.client))
}

/// An org URL must be the bare origin of the org: `https://acme.okta.com`.
pub fn check_org_url(raw: &str) -> Result<Url, String> {
    let raw = raw.trim();
    let url = Url::parse(raw)
        .map_err(|e| format!("is not a URL ({e}): use https://YOUR-ORG.okta.com"))?;
    let host = url.host_str().unwrap_or_default().to_string();
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http" => {
            return Err(format!(
                "uses plain http:// to {host}: only https:// is allowed, except to this machine \
                 (localhost, 127.0.0.1, [::1])"
            ));
        }
        other => return Err(format!("has scheme {other}: use https://")),
    }
    if host.is_empty() {
        return Err("has no host".into());
    }
    let origin = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default())
        + &url.port().map(|p| format!(":{p}")).unwrap_or_default();
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("holds a user name or password: use {origin}"));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(format!("is not a bare origin: use {origin}"));
    }
    if let Some(first) = host.split('.').next()
        && let Some(org) = first.strip_suffix("-admin")
    {
        let fixed = host.replacen(first, org, 1);
        return Err(format!("is the Admin Console address: use https://{fixed}"));
    }
    Ok(url)
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("okta-org-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("home/.okta")).unwrap();
        std::fs::create_dir_all(d.join("work")).unwrap();
        d
    }

    #[test]
    fn org_url_rules() {
        assert!(check_org_url("https://acme.okta.com").is_ok());
        assert!(check_org_url("https://acme.okta.com/").is_ok());
        assert!(check_org_url("http://127.0.0.1:8080").is_ok());
        assert!(check_org_url("http://localhost:1").is_ok());
        assert!(check_org_url("http://[::1]:1").is_ok());
        let e = check_org_url("http://acme.okta.com").unwrap_err();
        assert!(e.contains("only https://"), "{e}");
        let e = check_org_url("https://acme.okta.com/api/v1").unwrap_err();
        assert!(e.contains("use https://acme.okta.com"), "{e}");
        let e = check_org_url("https://acme-admin.okta.com").unwrap_err();
        assert!(e.contains("use https://acme.okta.com"), "{e}");
        assert!(check_org_url("https://acme.okta.com?x=1").is_err());
        assert!(check_org_url("acme.okta.com").is_err());
    }

    #[test]
    fn precedence_file_then_env_then_flags() {
        let d = temp_dir("precedence");
        std::fs::write(
            d.join("home/.okta/okta.yaml"),
            "okta:\n  client:\n    orgUrl: https://home.okta.com\n    token: hometoken\n",
        )
        .unwrap();
        std::fs::write(
            d.join("work/okta.yaml"),
            "okta:\n  client:\n    orgUrl: https://work.okta.com\n",
        )
        .unwrap();
        let mut env = FakeEnv {
            vars: HashMap::new(),
            home: d.join("home"),
            cwd: d.join("work"),
        };
        let s = resolve(&Flags::default(), &env).unwrap();
        assert_eq!(s.org_url.value.as_str(), "https://work.okta.com/");
        assert_eq!(s.token().unwrap().value.expose(), "hometoken");
        env.vars.insert("OKTA_CLIENT_TOKEN", "envtoken".into());
        env.vars
            .insert("OKTA_CLIENT_ORGURL", "https://env.okta.com".into());
        let s = resolve(&Flags::default(), &env).unwrap();
        assert_eq!(
            (s.org_url.value.as_str(), s.token().unwrap().value.expose()),
            ("https://env.okta.com/", "envtoken")
        );
        std::fs::write(d.join("tok"), "filetoken\n").unwrap();
        let flags = Flags {
            org_url: Some("https://flag.okta.com".into()),
            token_file: Some(d.join("tok")),
        };
        let s = resolve(&flags, &env).unwrap();
        assert_eq!(
            (s.org_url.value.as_str(), s.token().unwrap().value.expose()),
            ("https://flag.okta.com/", "filetoken")
        );
        assert_eq!(s.token().unwrap().origin, Origin::Flag("--token-file"));
    }

    #[test]
    fn bad_yaml_never_echoes_the_file() {
        let d = temp_dir("badyaml");
        std::fs::write(
            d.join("work/okta.yaml"),
            "okta: [client: token: SECRET-VALUE\n",
        )
        .unwrap();
        let env = FakeEnv {
            vars: HashMap::new(),
            home: d.join("home"),
            cwd: d.join("work"),
        };
        let e = resolve(&Flags::default(), &env).unwrap_err().to_string();
        assert!(!e.contains("SECRET"), "{e}");
        assert!(e.contains("okta.yaml"), "{e}");
    }

    #[test]
    fn missing_settings_say_how_to_give_them() {
        let d = temp_dir("missing");
        let env = FakeEnv {
            vars: HashMap::new(),
            home: d.join("home"),
            cwd: d.join("work"),
        };
        let e = resolve(&Flags::default(), &env).unwrap_err().to_string();
        assert!(e.contains("OKTA_CLIENT_ORGURL"), "{e}");
        let flags = Flags {
            org_url: Some("https://a.okta.com".into()),
            token_file: None,
        };
        let e = resolve(&flags, &env)
            .unwrap()
            .token()
            .unwrap_err()
            .to_string();
        assert!(e.contains("OKTA_CLIENT_TOKEN"), "{e}");
    }
}
