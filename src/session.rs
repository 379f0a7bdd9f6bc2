//! From configuration to an authorized client: reads the settings (files, environment, flags), picks how
//! to sign in (API token, access token, or an OAuth service app asking for the scopes of the endpoints the
//! command will call), and sets up the shared client, or starts the embedded simulator under `--simulate`.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::client::pacer::PacerOptions;
use crate::client::{Authorizer, Client, ClientError, ClientOptions, StaticToken};
use crate::config::{self, Config, ConfigError, Mode, ProcessEnv};
use crate::endpoints::Endpoint;
use crate::oauth::{self, OAuth, OAuthSettings, SigningKey};
use crate::secret::Secret;
#[cfg(feature = "simulator")]
use okta_org_simulator::{self as simulator, SimConfig, Simulator};

/// Why no client could be set up.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("cannot start the simulator: {0}")]
    Simulator(std::io::Error),
    /// `--simulate` or `okta-org simulate` in a build without the `simulator` feature.
    #[error(
        "this build of okta-org has no simulator: --simulate and `okta-org simulate` need the `simulator` \
         feature (on by default)"
    )]
    NoSimulator,
}

/// The embedded simulator that `--simulate` runs against; a build without the feature has none.
#[cfg(feature = "simulator")]
type Embedded = Simulator;
#[cfg(not(feature = "simulator"))]
type Embedded = std::convert::Infallible;

/// A started simulator, its URL, and the token it takes.
type Started = (Embedded, reqwest::Url, Arc<dyn Authorizer>);

/// `--simulate`: the embedded simulator with the demo org of samples/, on an ephemeral port.
#[cfg(feature = "simulator")]
async fn start_embedded(quiet: bool) -> Result<Started, SessionError> {
    let token = format!("sim-{:016x}", fastrand::u64(..));
    let sim = Simulator::start(SimConfig::demo(token.clone()), 0)
        .await
        .map_err(SessionError::Simulator)?;
    let _ = quiet;
    crate::term::note(format_args!(
        "using the embedded Okta simulator at {} (demo org of samples/, {} users)",
        sim.url(),
        simulator::parse_users(simulator::DEMO_USERS).len()
    ));
    let url = sim.url().parse().expect("simulator URL");
    Ok((sim, url, Arc::new(StaticToken::ssws(Secret::new(token)))))
}

#[cfg(not(feature = "simulator"))]
async fn start_embedded(_quiet: bool) -> Result<Started, SessionError> {
    Err(SessionError::NoSimulator)
}

/// Request tuning a command sets from its own flags; the rest comes from the configuration.
#[derive(Debug, Default, Clone)]
pub struct Tuning {
    pub timeout: Option<Duration>,
    pub max_retries: Option<usize>,
    pub rate: Option<u32>,
    pub max_wait: Option<Duration>,
    pub concurrency: Option<u32>,
    pub min_backoff: Option<Duration>,
}

/// A client for the configured org, or for the embedded simulator under `--simulate` (kept running as
/// long as the session lives).
pub struct Session {
    pub client: Arc<Client>,
    /// The OAuth sign-in behind the client, when there is one (`config check` reports its token).
    pub oauth: Option<Arc<OAuth>>,
    _simulator: Option<Embedded>,
}

/// Where the org is and how to sign in, as the command line said.
#[derive(Debug, Clone, Default)]
pub struct Connect {
    pub flags: config::Flags,
    /// Run against the embedded simulator instead.
    pub simulate: bool,
    /// A CA certificate to trust besides the system's.
    pub ca_cert: Option<PathBuf>,
}

/// Loads the configuration and prints its warnings (once, on stderr, unless `quiet`).
pub fn load_config(flags: &config::Flags, quiet: bool) -> Result<Config, ConfigError> {
    let c = Config::load(flags, &ProcessEnv)?;
    let _ = quiet;
    for w in &c.warnings {
        tracing::warn!("{w}");
    }
    Ok(c)
}

/// What authorizes requests, and the OAuth sign-in behind it when there is one.
type SignIn = (Arc<dyn Authorizer>, Option<Arc<OAuth>>);

/// The sign-in of the configured mode; `scopes` are what the command's endpoints need (for OAuth).
fn sign_in(
    c: &Config,
    org_url: &reqwest::Url,
    need_token: bool,
    scopes: &[&str],
) -> Result<SignIn, ConfigError> {
    // Every request of the command goes without credentials: no sign-in is set up, so a half-configured
    // one (an OAuth app without its key, say) is no reason to refuse.
    if !need_token {
        return Ok((Arc::new(StaticToken::ssws(Secret::new(""))), None));
    }
    match c.mode()? {
        Mode::Ssws => Ok((Arc::new(StaticToken::ssws(c.token()?.value.clone())), None)),
        Mode::Bearer => Ok((
            Arc::new(StaticToken::bearer(c.token()?.value.clone())),
            None,
        )),
        Mode::PrivateKey => {
            let client_id = c.client_id.as_ref().ok_or(ConfigError::NoClientId)?;
            let key_text = c.private_key.as_ref().ok_or(ConfigError::NoPrivateKey)?;
            let key =
                SigningKey::parse(key_text.value.expose()).map_err(|source| ConfigError::Key {
                    origin: key_text.origin.clone(),
                    source,
                })?;
            let oauth = Arc::new(OAuth::new(OAuthSettings {
                org_url: org_url.clone(),
                client_id: client_id.value.clone(),
                key,
                key_id: c.private_key_id.as_ref().map(|k| k.value.clone()),
                scopes: oauth::scopes_for(c.scopes.as_ref().map(|s| s.value.as_slice()), scopes),
                dpop: c.dpop.as_ref().is_some_and(|d| d.value),
            }));
            Ok((oauth.clone() as Arc<dyn Authorizer>, Some(oauth)))
        }
    }
}

impl Session {
    /// Connects for a command that will call `endpoints`: their scopes are what OAuth asks for, and a
    /// command whose endpoints are all public needs no token.
    pub async fn connect(
        conn: &Connect,
        quiet: bool,
        tuning: Tuning,
        endpoints: &[&Endpoint],
    ) -> Result<Session, SessionError> {
        let need_token = endpoints.iter().any(|e| e.scope.is_some());
        let scopes = Endpoint::scopes(endpoints);
        let mut simulator = None;
        let mut oauth = None;
        let mut config = Config::default();
        let (url, auth) = if conn.simulate {
            let (sim, url, auth) = start_embedded(quiet).await?;
            simulator = Some(sim);
            (url, auth)
        } else {
            config = load_config(&conn.flags, quiet)?;
            let url = config.org_url()?.value;
            let (auth, o) = sign_in(&config, &url, need_token, &scopes)?;
            oauth = o;
            (url, auth)
        };
        let mut copts = ClientOptions::new(url, auth);
        if let Some(t) = tuning.timeout.or(config
            .request_timeout
            .as_ref()
            .filter(|t| t.value > 0)
            .map(|t| Duration::from_secs(t.value)))
        {
            copts.timeout = t;
        }
        copts.max_retries = tuning
            .max_retries
            .or(config.max_retries.as_ref().map(|m| m.value))
            .unwrap_or(copts.max_retries);
        copts.pacing = PacerOptions {
            rate_per_minute: tuning.rate.and_then(NonZeroU32::new),
            max_wait: tuning.max_wait,
            ceiling: tuning.concurrency.unwrap_or(copts.pacing.ceiling),
        };
        if let Some(b) = tuning.min_backoff {
            copts.min_backoff = b;
        }
        copts.ca_cert = conn.ca_cert.clone();
        let client = Client::new(copts)?;
        Ok(Session {
            client: Arc::new(client),
            oauth,
            _simulator: simulator,
        })
    }
}
