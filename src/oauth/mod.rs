//! OAuth 2.0 for a service app, as Okta recommends for its management APIs: client credentials with
//! `private_key_jwt` at `{orgUrl}/oauth2/v1/token`, the access token cached until shortly before it
//! expires, and optionally DPoP (RFC 9449): a per-run key, a fresh proof for every request (retries
//! included), and the `use_dpop_nonce` dance. Tokens, assertions and proofs only ever travel in headers
//! marked sensitive; nothing here prints them.

pub mod keys;

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName};
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::client::auth::{AuthHeaders, BoxFuture, sensitive};
use crate::client::{ApiError, AuthRetry, Authorizer, Body, Client, Request};
use crate::endpoints;
use crate::secret::Secret;
pub use keys::SigningKey;

/// What a service app needs to get tokens.
#[derive(Debug)]
pub struct OAuthSettings {
    pub org_url: Url,
    pub client_id: String,
    pub key: SigningKey,
    /// `kid` of the key, when the app has several.
    pub key_id: Option<String>,
    pub scopes: Vec<String>,
    pub dpop: bool,
}

/// An access token and what came with it.
#[derive(Clone)]
pub struct AccessToken {
    pub token: Secret,
    /// `Bearer` or `DPoP`.
    pub kind: String,
    pub scopes: Vec<String>,
    pub expires_in: u64,
    refresh_at: Instant,
    fetched_at: Instant,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AccessToken({}, <redacted>, {:?})",
            self.kind, self.scopes
        )
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Deserialize, Default)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// Gets, caches and uses access tokens. Shared by all requests of a run.
pub struct OAuth {
    settings: OAuthSettings,
    token_url: Url,
    dpop_key: Option<SigningKey>,
    cache: tokio::sync::Mutex<Option<AccessToken>>,
    /// The latest `DPoP-Nonce` of the authorization server and of the resource server.
    nonces: Mutex<(Option<String>, Option<String>)>,
}

fn epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn jti() -> String {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .expect("system randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn auth_error(message: impl Into<String>) -> ApiError {
    ApiError::Auth(message.into())
}

impl OAuth {
    pub fn new(settings: OAuthSettings) -> OAuth {
        let token_url = settings
            .org_url
            .join(endpoints::TOKEN.path.trim_start_matches('/'))
            .expect("a valid org URL");
        OAuth {
            dpop_key: settings.dpop.then(SigningKey::generate_ec),
            settings,
            token_url,
            cache: tokio::sync::Mutex::new(None),
            nonces: Mutex::new((None, None)),
        }
    }

    pub fn token_url(&self) -> &Url {
        &self.token_url
    }

    /// The service app's client id (its principal id, for principal rate limits).
    pub fn client_id(&self) -> &str {
        &self.settings.client_id
    }

    pub fn dpop(&self) -> bool {
        self.dpop_key.is_some()
    }

    fn nonces(&self) -> std::sync::MutexGuard<'_, (Option<String>, Option<String>)> {
        self.nonces.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The client assertion: a JWT signed with the app's key, `iss` = `sub` = client id, `aud` = the
    /// token URL, five minutes of validity and a fresh `jti`.
    fn assertion(&self) -> String {
        let now = epoch();
        let mut header = json!({ "typ": "JWT" });
        if let Some(kid) = &self.settings.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.settings.client_id,
            "sub": self.settings.client_id,
            "aud": self.token_url.as_str(),
            "iat": now,
            "exp": now + 300,
            "jti": jti(),
        });
        self.settings.key.jwt(header, &claims)
    }

    /// A DPoP proof for one request.
    fn proof(
        &self,
        method: &Method,
        url: &Url,
        token: Option<&str>,
        nonce: Option<&str>,
    ) -> Option<String> {
        let key = self.dpop_key.as_ref()?;
        let mut htu = url.clone();
        htu.set_query(None);
        htu.set_fragment(None);
        let mut claims = json!({
            "htm": method.as_str(),
            "htu": htu.as_str(),
            "iat": epoch(),
            "jti": jti(),
        });
        if let Some(t) = token {
            claims["ath"] = json!(keys::sha256_b64(t));
        }
        if let Some(n) = nonce {
            claims["nonce"] = json!(n);
        }
        let header = json!({ "typ": "dpop+jwt", "jwk": key.public_jwk() });
        Some(key.jwt(header, &claims))
    }

    /// A valid access token: the cached one, or a new one fetched through `client`.
    pub async fn token(&self, client: &Client) -> Result<AccessToken, ApiError> {
        let mut cache = self.cache.lock().await;
        if let Some(t) = cache.as_ref()
            && Instant::now() < t.refresh_at
        {
            return Ok(t.clone());
        }
        let fresh = self.fetch(client).await?;
        *cache = Some(fresh.clone());
        Ok(fresh)
    }

    /// Forgets the cached token if it was fetched before `since` (a request sent then was refused with
    /// 401); a token fetched since is kept.
    pub async fn invalidate_older_than(&self, since: Instant) {
        let mut cache = self.cache.lock().await;
        if cache.as_ref().is_some_and(|t| t.fetched_at <= since) {
            *cache = None;
        }
    }

    /// The token request, with a fresh assertion and DPoP proof (a new one for every attempt: an
    /// assertion's `jti` may be used once).
    fn token_request(&self, scope: &str) -> Request {
        let mut req = endpoints::TOKEN.request(&[]).note("access token");
        req.body = Body::Form(vec![
            ("grant_type".into(), "client_credentials".into()),
            ("scope".into(), scope.into()),
            (
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ),
            ("client_assertion".into(), self.assertion()),
        ]);
        let nonce = self.nonces().0.clone();
        if let Some(p) = self.proof(&Method::POST, &self.token_url, None, nonce.as_deref()) {
            req.headers
                .push((HeaderName::from_static("dpop"), sensitive(&p)));
        }
        req
    }

    /// Asks the authorization server for a token through the client (its pacing, its retries and
    /// `Retry-After` on 429/503), meeting a `use_dpop_nonce` challenge with a new assertion and proof.
    /// A token endpoint that is rate limited or down ends as a retryable error, never as a refusal.
    pub async fn fetch(&self, client: &Client) -> Result<AccessToken, ApiError> {
        let scope = self.settings.scopes.join(" ");
        let mut last = String::new();
        for _ in 0..4 {
            let resp = client
                .execute(&|| self.token_request(&scope))
                .await
                .map_err(|e| match e {
                    ApiError::Exhausted { attempts, detail } => ApiError::Exhausted {
                        attempts,
                        detail: format!("the token endpoint {}: {detail}", self.token_url),
                    },
                    other => other,
                })?;
            let status = resp.status;
            let new_nonce = resp
                .headers
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            if new_nonce.is_some() {
                self.nonces().0 = new_nonce.clone();
            }
            if status.is_success() {
                let t: TokenResponse = serde_json::from_slice(&resp.body)
                    .map_err(|e| ApiError::Decode(format!("token response: {e}")))?;
                // A token's life is read as at most a day, so the arithmetic on it cannot overflow.
                let expires_in = t.expires_in.unwrap_or(3600).min(86_400);
                let margin = (expires_in / 10).clamp(1, 60);
                let granted = t
                    .scope
                    .map(|s| s.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_else(|| self.settings.scopes.clone());
                tracing::info!(
                    "got a {} access token for {} s with scopes {}",
                    t.token_type.as_deref().unwrap_or("Bearer"),
                    expires_in,
                    scope
                );
                return Ok(AccessToken {
                    token: Secret::new(t.access_token),
                    kind: t.token_type.unwrap_or_else(|| "Bearer".into()),
                    scopes: granted,
                    expires_in,
                    refresh_at: Instant::now()
                        + Duration::from_secs(expires_in.saturating_sub(margin)),
                    fetched_at: Instant::now(),
                });
            }
            let err: TokenError = serde_json::from_slice(&resp.body).unwrap_or_default();
            last = match &err.error_description {
                Some(d) => format!("{}: {d}", err.error),
                None if !err.error.is_empty() => err.error.clone(),
                None => format!("HTTP {}", status.as_u16()),
            };
            if err.error == "use_dpop_nonce" && new_nonce.is_some() {
                tracing::debug!("the token endpoint asked for a DPoP nonce; asking again");
                continue;
            }
            return Err(auth_error(format!(
                "the token request to {} was refused (HTTP {}): {last}",
                self.token_url,
                status.as_u16()
            )));
        }
        Err(auth_error(format!(
            "no access token from {} after several tries: {last}",
            self.token_url
        )))
    }

    fn resource_headers(&self, t: &AccessToken, method: &Method, url: &Url) -> AuthHeaders {
        let mut h = vec![(
            reqwest::header::AUTHORIZATION,
            sensitive(&format!("{} {}", t.kind, t.token.expose())),
        )];
        if t.kind.eq_ignore_ascii_case("dpop") {
            let nonce = self.nonces().1.clone();
            if let Some(p) = self.proof(method, url, Some(t.token.expose()), nonce.as_deref()) {
                h.push((HeaderName::from_static("dpop"), sensitive(&p)));
            }
        }
        h
    }
}

impl Authorizer for OAuth {
    fn scheme(&self) -> &'static str {
        if self.dpop() {
            "DPoP"
        } else {
            "Bearer (OAuth)"
        }
    }

    fn prepare<'a>(&'a self, client: &'a Client) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move { self.token(client).await.map(|_| ()) })
    }

    fn headers<'a>(
        &'a self,
        client: &'a Client,
        method: &'a Method,
        url: &'a Url,
    ) -> BoxFuture<'a, Result<AuthHeaders, ApiError>> {
        Box::pin(async move {
            let t = self.token(client).await?;
            Ok(self.resource_headers(&t, method, url))
        })
    }

    /// Takes in a resource server's `DPoP-Nonce`.
    fn observe(&self, headers: &HeaderMap) {
        if let Some(n) = headers.get("dpop-nonce").and_then(|v| v.to_str().ok()) {
            self.nonces().1 = Some(n.to_string());
        }
    }

    fn retry_unauthorized<'a>(
        &'a self,
        sent: Instant,
        www_authenticate: Option<&'a str>,
        tried: &'a mut AuthRetry,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            // Each challenge brings a new nonce; a server that rotates it often refuses requests sent
            // together with the old one, so a request may need several tries while the run slows down
            // (each refusal halves the requests in flight).
            if www_authenticate.is_some_and(|w| w.contains("use_dpop_nonce"))
                && tried.nonce_tries < 20
            {
                tried.nonce_tries += 1;
                tracing::debug!("Okta asked for a new DPoP nonce");
                return true;
            }
            // A token fetched before the request left was refused: get another (one fetched since is
            // kept). A few times at most, for tokens that die sooner than they said while requests
            // wait at the gate.
            if tried.renewals >= 3 {
                return false;
            }
            tried.renewals += 1;
            tracing::debug!("401 with a cached token; getting a new one");
            self.invalidate_older_than(sent).await;
            true
        })
    }
}

/// The scopes a command needs: configured ones win; otherwise reads need `okta.orgs.read` and changes
/// (and the bounce list) `okta.orgs.manage`.
pub fn scopes_for(configured: Option<&[String]>, needed: &[&str]) -> Vec<String> {
    match configured {
        Some(s) if !s.is_empty() => s.to_vec(),
        _ => needed.iter().map(|s| s.to_string()).collect(),
    }
}

/// The public JWK of a key as text, for registering a service app (and the simulator's `--jwk`).
pub fn public_jwk_text(key: &SigningKey, kid: Option<&str>) -> String {
    let mut jwk: Value = key.public_jwk();
    if let Some(k) = kid {
        jwk["kid"] = json!(k);
    }
    jwk.to_string()
}
