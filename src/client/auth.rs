//! What the transport needs from whatever authorizes a request: the headers of one attempt, and what to
//! do after a 401. API tokens implement it here ([`StaticToken`]); OAuth service apps implement it in
//! `crate::oauth`, which fetches its tokens through the same [`Client`] (its retries and pacing), so the
//! transport never depends on sign-in.

use std::future::Future;
use std::pin::Pin;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use tokio::time::Instant;

use super::{ApiError, Client};
use crate::secret::Secret;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Headers that authorize one attempt; their values are marked sensitive.
pub type AuthHeaders = Vec<(HeaderName, HeaderValue)>;

/// What a request has already tried after 401s, so an authorizer can give up.
#[derive(Debug, Default)]
pub struct AuthRetry {
    /// `use_dpop_nonce` challenges answered so far.
    pub nonce_tries: u8,
    /// Fresh tokens fetched for this request so far.
    pub renewals: u8,
}

pub trait Authorizer: Send + Sync {
    /// A short name for logs and `Debug` (never the secret).
    fn scheme(&self) -> &'static str;

    /// Runs before an attempt waits at the gate: a chance to fetch a token (through `client`) without
    /// holding a place among the requests in flight.
    fn prepare<'a>(&'a self, _client: &'a Client) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async { Ok(()) })
    }

    /// The headers of one attempt of `method url`.
    fn headers<'a>(
        &'a self,
        client: &'a Client,
        method: &'a Method,
        url: &'a Url,
    ) -> BoxFuture<'a, Result<AuthHeaders, ApiError>>;

    /// Takes in an answer's headers (DPoP nonces).
    fn observe(&self, _headers: &HeaderMap) {}

    /// A request sent at `sent` was answered 401 (with this `WWW-Authenticate`): whether to try it once
    /// more.
    fn retry_unauthorized<'a>(
        &'a self,
        _sent: Instant,
        _www_authenticate: Option<&'a str>,
        _tried: &'a mut AuthRetry,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async { false })
    }
}

impl std::fmt::Debug for dyn Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}(<redacted>)", self.scheme())
    }
}

/// A header value that logs and `Debug` output never show.
pub fn sensitive(value: &str) -> HeaderValue {
    let mut v =
        HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("invalid"));
    v.set_sensitive(true);
    v
}

/// A token sent as is: `SSWS` API tokens, or `Bearer` access tokens obtained elsewhere.
pub struct StaticToken {
    scheme: &'static str,
    token: Secret,
}

impl StaticToken {
    pub fn ssws(token: Secret) -> StaticToken {
        StaticToken {
            scheme: "SSWS",
            token,
        }
    }

    pub fn bearer(token: Secret) -> StaticToken {
        StaticToken {
            scheme: "Bearer",
            token,
        }
    }
}

impl Authorizer for StaticToken {
    fn scheme(&self) -> &'static str {
        self.scheme
    }

    fn headers<'a>(
        &'a self,
        _client: &'a Client,
        _method: &'a Method,
        _url: &'a Url,
    ) -> BoxFuture<'a, Result<AuthHeaders, ApiError>> {
        let value = sensitive(&format!("{} {}", self.scheme, self.token.expose()));
        Box::pin(async move { Ok(vec![(AUTHORIZATION, value)]) })
    }
}
