//! The simulator's authorization server and resource checks: `/oauth2/v1/token` for service apps
//! registered by public JWK (client credentials with `private_key_jwt`), opaque access tokens with scopes
//! and an expiry, scope enforcement per endpoint, and DPoP (RFC 9449): the nonce dance at the token
//! endpoint, proof checks on every API call, and resource nonces that rotate.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Admission, Shared, error_response, forbidden, jws, now_epoch};

/// A service app the simulator knows, by its public key.
#[derive(Debug, Clone)]
pub struct ServiceApp {
    pub client_id: String,
    /// The public JWK its assertions are checked with.
    pub jwk: Value,
    /// Scopes it may be granted.
    pub scopes: Vec<String>,
    /// Tokens must be DPoP-bound.
    pub dpop: bool,
}

struct Issued {
    /// The service app it was issued to.
    client_id: String,
    scopes: Vec<String>,
    expires_at: f64,
    /// RFC 7638 thumbprint of the DPoP key the token is bound to.
    jkt: Option<String>,
}

#[derive(Default)]
pub(crate) struct OAuthState {
    used_jtis: HashSet<String>,
    tokens: HashMap<String, Issued>,
    auth_nonce: String,
    resource_nonce: String,
    resource_calls: u64,
}

fn random_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

fn with_header(mut resp: Response, name: &'static str, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
    resp
}

fn invalid_token(scheme: &str, why: &str) -> Response {
    let resp = error_response(
        StatusCode::UNAUTHORIZED,
        "E0000011",
        "Invalid token provided",
        &[],
    );
    with_header(
        resp,
        "www-authenticate",
        &format!("{scheme} error=\"invalid_token\", error_description=\"{why}\""),
    )
}

impl Shared {
    fn oauth_state(&self) -> std::sync::MutexGuard<'_, OAuthState> {
        self.oauth.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn token_url(&self) -> String {
        format!("{}/oauth2/v1/token", self.base)
    }

    /// Checks a DPoP proof: signed by the key in its header, for this method and URL, fresh, not
    /// replayed; returns the key's thumbprint and the claims.
    fn check_proof(&self, proof: &str, method: &str, url: &str) -> Result<(String, Value), String> {
        let header_part = proof.split('.').next().unwrap_or("");
        let header = jws::json_part(header_part).ok_or("the DPoP proof is not a JWT")?;
        if header["typ"] != "dpop+jwt" {
            return Err("the DPoP proof's typ is not dpop+jwt".into());
        }
        let jwk = header.get("jwk").ok_or("the DPoP proof has no jwk")?;
        if jwk.get("d").is_some() {
            return Err("the DPoP proof carries a private key".into());
        }
        let (_, claims) = jws::verify(proof, jwk).ok_or("the DPoP proof's signature is invalid")?;
        if claims["htm"] != method {
            return Err("the DPoP proof's htm does not match".into());
        }
        if claims["htu"] != url {
            return Err("the DPoP proof's htu does not match".into());
        }
        let iat = claims["iat"].as_f64().ok_or("the DPoP proof has no iat")?;
        if (iat - now_epoch()).abs() > 300.0 {
            return Err("the DPoP proof's iat is not recent".into());
        }
        let jti = claims["jti"].as_str().ok_or("the DPoP proof has no jti")?;
        if !self.oauth_state().used_jtis.insert(format!("dpop:{jti}")) {
            return Err("the DPoP proof's jti was already used".into());
        }
        let jkt = jws::thumbprint(jwk).ok_or("the DPoP proof's jwk is not usable")?;
        Ok((jkt, claims))
    }

    /// The client id of the service app an access token was issued to, if it is one.
    pub(crate) fn client_of(&self, token: &str) -> Option<String> {
        self.oauth_state()
            .tokens
            .get(token)
            .map(|i| i.client_id.clone())
    }

    /// Who a request acts as, as a System Log `actor`: the service app of an access token, or the
    /// administrator an API token belongs to.
    pub(crate) fn principal(&self, headers: &HeaderMap) -> Value {
        let given = headers.get("authorization").and_then(|v| v.to_str().ok());
        let token = given
            .and_then(|g| g.split_once(' '))
            .filter(|(scheme, _)| *scheme == "Bearer" || *scheme == "DPoP")
            .map(|(_, t)| t.trim());
        let app = token.and_then(|t| self.client_of(t));
        match app {
            Some(id) => json!({"id": id, "type": "PublicClientApp", "alternateId": id,
                               "displayName": "okta-org service app", "detailEntry": null}),
            None => crate::logs::events::token_admin(),
        }
    }

    /// The 401/403 for an OAuth access token that may not call `method path` needing `scope`, if any.
    pub(crate) fn refuse_access_token(
        &self,
        scheme: &str,
        token: &str,
        headers: &HeaderMap,
        method: &str,
        path: &str,
        scope: &str,
    ) -> Option<Response> {
        let (scopes, jkt) = {
            let st = self.oauth_state();
            let Some(t) = st.tokens.get(token) else {
                return Some(invalid_token(scheme, "The access token is invalid."));
            };
            if now_epoch() >= t.expires_at {
                return Some(invalid_token(scheme, "The access token is expired."));
            }
            (t.scopes.clone(), t.jkt.clone())
        };
        match (scheme, jkt) {
            ("Bearer", None) => {}
            ("Bearer", Some(_)) => {
                return Some(invalid_token(
                    "DPoP",
                    "The access token is bound to a DPoP key.",
                ));
            }
            ("DPoP", Some(jkt)) => {
                let url = format!("{}{path}", self.base);
                let Some(proof) = headers.get("dpop").and_then(|v| v.to_str().ok()) else {
                    return Some(invalid_token("DPoP", "A DPoP proof is required."));
                };
                let (thumb, claims) = match self.check_proof(proof, method, &url) {
                    Ok(x) => x,
                    Err(why) => return Some(invalid_token("DPoP", &why)),
                };
                if thumb != jkt {
                    return Some(invalid_token(
                        "DPoP",
                        "The DPoP proof key does not match the token.",
                    ));
                }
                if claims["ath"] != jws::sha256_of(token) {
                    return Some(invalid_token(
                        "DPoP",
                        "The DPoP proof's ath does not match the token.",
                    ));
                }
                if let Some(nonce) = self.resource_nonce_challenge(&claims) {
                    let resp = error_response(
                        StatusCode::UNAUTHORIZED,
                        "E0000011",
                        "Invalid token provided",
                        &[],
                    );
                    let resp = with_header(
                        resp,
                        "www-authenticate",
                        "DPoP error=\"use_dpop_nonce\", error_description=\"Resource server requires nonce in DPoP proof\"",
                    );
                    return Some(with_header(resp, "dpop-nonce", &nonce));
                }
            }
            _ => return Some(invalid_token(scheme, "The token type does not match.")),
        }
        if !scopes.iter().any(|s| s == scope) {
            return Some(forbidden(path, scope));
        }
        None
    }

    /// With resource nonces on: the current nonce, when the proof does not carry it. Nonces rotate every
    /// `dpop_nonce_rotate_every` calls.
    fn resource_nonce_challenge(&self, claims: &Value) -> Option<String> {
        let every = self.config.dpop_nonce_rotate_every?;
        let mut st = self.oauth_state();
        st.resource_calls += 1;
        if st.resource_nonce.is_empty()
            || (every > 0 && st.resource_calls.is_multiple_of(u64::from(every)))
        {
            st.resource_nonce = random_id();
        }
        (claims["nonce"] != st.resource_nonce.as_str()).then(|| st.resource_nonce.clone())
    }
}

fn form(body: &[u8]) -> HashMap<String, String> {
    serde_urlencoded::from_bytes(body).unwrap_or_default()
}

/// `POST /oauth2/v1/token`.
pub(crate) async fn token(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // The authorization server's bucket is the org's, whoever asks.
    let resp = match s.admit("token", s.config.token_rate_limit, false, None) {
        Admission::Throttled(resp) => resp,
        Admission::Go(rate) => {
            let mut resp = s
                .token_fault()
                .unwrap_or_else(|| issue(&s, &headers, &body));
            resp.headers_mut().extend(rate);
            resp
        }
    };
    s.log_with_body("POST", "/oauth2/v1/token", resp.status(), &headers, None);
    resp
}

fn issue(s: &Shared, headers: &HeaderMap, body: &[u8]) -> Response {
    let f = form(body);
    let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
    if get("grant_type") != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "The grant type is not supported.",
        );
    }
    if get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client_assertion_type is missing or wrong.",
        );
    }
    let assertion = get("client_assertion");
    let unverified: Option<Value> = assertion.split('.').nth(1).and_then(jws::json_part);
    let Some(iss) = unverified.as_ref().and_then(|c| c["iss"].as_str()) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client_assertion is not a JWT.",
        );
    };
    let Some(app) = s.config.service_apps.iter().find(|a| a.client_id == iss) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client is not registered.",
        );
    };
    let Some((_, claims)) = jws::verify(assertion, &app.jwk) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client_assertion signature is invalid.",
        );
    };
    let now = now_epoch();
    if claims["aud"] != s.token_url().as_str() {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The audience of the client_assertion is wrong.",
        );
    }
    if claims["sub"] != app.client_id.as_str() {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The sub of the client_assertion must be the client id.",
        );
    }
    let (exp, iat) = (
        claims["exp"].as_f64().unwrap_or(0.0),
        claims["iat"].as_f64().unwrap_or(0.0),
    );
    if exp <= now {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client_assertion token is expired.",
        );
    }
    if exp - iat > 3600.0 || iat > now + 60.0 {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client_assertion must expire within one hour of its iat.",
        );
    }
    let Some(jti) = claims["jti"].as_str() else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client_assertion has no jti.",
        );
    };
    if !s.oauth_state().used_jtis.insert(format!("assertion:{jti}")) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The client_assertion token has already been used.",
        );
    }
    let mut jkt = None;
    if app.dpop {
        let Some(proof) = headers.get("dpop").and_then(|v| v.to_str().ok()) else {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_dpop_proof",
                "The DPoP proof JWT header is missing.",
            );
        };
        let (thumb, proof_claims) = match s.check_proof(proof, "POST", &s.token_url()) {
            Ok(x) => x,
            Err(why) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_dpop_proof", &why),
        };
        let nonce = {
            let mut st = s.oauth_state();
            if st.auth_nonce.is_empty() {
                st.auth_nonce = random_id();
            }
            st.auth_nonce.clone()
        };
        if proof_claims["nonce"] != nonce.as_str() {
            let resp = oauth_error(
                StatusCode::BAD_REQUEST,
                "use_dpop_nonce",
                "Authorization server requires nonce in DPoP proof.",
            );
            return with_header(resp, "dpop-nonce", &nonce);
        }
        jkt = Some(thumb);
    }
    let requested: Vec<String> = get("scope")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if requested.is_empty() {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "The scope parameter is required.",
        );
    }
    let refused: Vec<&String> = requested
        .iter()
        .filter(|r| !app.scopes.contains(r))
        .collect();
    if !refused.is_empty() {
        let names: Vec<&str> = refused.iter().map(|s| s.as_str()).collect();
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("The following scopes are not allowed: {}", names.join(", ")),
        );
    }
    let token = format!("eyJsim{}", random_id());
    let lifetime = s.config.token_lifetime.unwrap_or(s.config.token_ttl) as f64;
    s.oauth_state().tokens.insert(
        token.clone(),
        Issued {
            client_id: app.client_id.clone(),
            scopes: requested.clone(),
            expires_at: now + lifetime,
            jkt: jkt.clone(),
        },
    );
    let kind = if jkt.is_some() { "DPoP" } else { "Bearer" };
    axum::Json(json!({
        "token_type": kind,
        "expires_in": s.config.token_ttl,
        "access_token": token,
        "scope": requested.join(" "),
    }))
    .into_response()
}
