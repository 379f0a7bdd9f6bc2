//! Every Okta operation this tool calls, described once: method, path template, the OAuth scope it needs
//! (from Okta's OpenAPI spec), whether sending it twice has the effect of sending it once, and the
//! rate-limit bucket Okta counts it in, and the most its answer may hold. Commands build their requests
//! from here; sign-in asks for the scopes of the endpoints a command will call; a 403 names the endpoint's
//! scope; the retry policy reads `idempotent`; the client reads no more of an answer than its limit.

use reqwest::Method;

use crate::client::{Body, Request};

/// The HTTP methods the Org API uses (plain values, so the table can be constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
}

impl Verb {
    pub fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Patch => Method::PATCH,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub verb: Verb,
    /// The path, with `{name}` for each path parameter.
    pub path: &'static str,
    /// The OAuth scope the operation needs; `None` for public endpoints (sent without credentials).
    pub scope: Option<&'static str>,
    /// Sending it again is harmless (a timeout, a dropped connection or a 5xx may be retried).
    pub idempotent: bool,
    /// The rate-limit bucket Okta counts it in.
    pub bucket: &'static str,
    /// The most bytes a successful answer may hold; a longer one is not read further, and confirms
    /// nothing ([`crate::client::ApiError::TooLarge`]). Error answers are held to [`ERROR_ANSWER`].
    pub answer_limit: usize,
}

/// A remove-list answer holds at most 1,000 `errors` entries: an address (at most 254 octets, 1,524 if
/// every one were written as a `\uXXXX` escape) and a reason of a sentence or two, so under 2 KiB each and
/// 2 MB for a whole batch. Twice that is room enough for any honest answer.
pub const BOUNCES_ANSWER: usize = 4 << 20;

/// A System Log page holds at most 1,000 events of a few KiB each, a few MiB in all; `debugData` can make
/// an event 10 KiB or more, 10 MB a page. 32 MiB leaves three times that, and is still a bounded amount of
/// memory.
pub const LOG_PAGE_ANSWER: usize = 32 << 20;

/// The org's settings objects (the org, contacts, preferences, support cases, consents, metadata) are a
/// few KiB at most: 1 MiB is far past any of them.
pub const SETTINGS_ANSWER: usize = 1 << 20;

/// A token answer is an access token (a JWT of a few KiB) and a few fields.
pub const TOKEN_ANSWER: usize = 64 << 10;

/// An error answer (4xx, 5xx, a redirect) is read this far at most: only its start is ever shown.
pub const ERROR_ANSWER: usize = 64 << 10;

const READ: Option<&str> = Some("okta.orgs.read");
const MANAGE: Option<&str> = Some("okta.orgs.manage");

const fn op(
    verb: Verb,
    path: &'static str,
    scope: Option<&'static str>,
    idempotent: bool,
) -> Endpoint {
    Endpoint {
        verb,
        path,
        scope,
        idempotent,
        bucket: "org",
        answer_limit: SETTINGS_ANSWER,
    }
}

// The main job.
pub const REMOVE_BOUNCES: Endpoint = Endpoint {
    bucket: "bounces",
    answer_limit: BOUNCES_ANSWER,
    // Okta removes what is on its bounce list; a list sent twice is removed once.
    ..op(
        Verb::Post,
        "/api/v1/org/email/bounces/remove-list",
        MANAGE,
        true,
    )
};

// Sign-in.
pub const TOKEN: Endpoint = Endpoint {
    bucket: "token",
    answer_limit: TOKEN_ANSWER,
    // A client-credentials grant asked twice gives two tokens, no harm.
    ..op(Verb::Post, "/oauth2/v1/token", None, true)
};

// The System Log: a bucket of its own.
pub const LIST_LOGS: Endpoint = Endpoint {
    bucket: "logs",
    answer_limit: LOG_PAGE_ANSWER,
    ..op(Verb::Get, "/api/v1/logs", Some("okta.logs.read"), true)
};

// Rate limits: the share of each bucket one API token or service app may use (principal rate limits).
/// One page holds at most 50 entities of a few hundred bytes: 64 KiB is far past it.
pub const PRINCIPALS_ANSWER: usize = 64 << 10;
pub const LIST_PRINCIPAL_RATE_LIMITS: Endpoint = Endpoint {
    bucket: "principals",
    answer_limit: PRINCIPALS_ANSWER,
    ..op(
        Verb::Get,
        "/api/v1/principal-rate-limits",
        Some("okta.principalRateLimits.read"),
        true,
    )
};

// Org settings.
pub const GET_ORG: Endpoint = op(Verb::Get, "/api/v1/org", READ, true);
/// A partial update: the same fields twice have the effect of once.
pub const UPDATE_ORG: Endpoint = op(Verb::Post, "/api/v1/org", MANAGE, true);
pub const REPLACE_ORG: Endpoint = op(Verb::Put, "/api/v1/org", MANAGE, true);
pub const LIST_CONTACT_TYPES: Endpoint = op(Verb::Get, "/api/v1/org/contacts", READ, true);
pub const GET_CONTACT: Endpoint = op(Verb::Get, "/api/v1/org/contacts/{contactType}", READ, true);
pub const SET_CONTACT: Endpoint = op(
    Verb::Put,
    "/api/v1/org/contacts/{contactType}",
    MANAGE,
    true,
);
/// Gone from the current spec (kept there as a comment, with this scope), still in the reference.
pub const UPLOAD_LOGO: Endpoint = op(
    Verb::Post,
    "/api/v1/org/logo",
    Some("okta.apps.manage"),
    true,
);
pub const GET_SUPPORT: Endpoint = op(Verb::Get, "/api/v1/org/privacy/oktaSupport", READ, true);
/// Extending twice adds twice the time; grant and revoke are no safer to repeat blindly.
pub const GRANT_SUPPORT: Endpoint = op(
    Verb::Post,
    "/api/v1/org/privacy/oktaSupport/grant",
    MANAGE,
    false,
);
pub const EXTEND_SUPPORT: Endpoint = op(
    Verb::Post,
    "/api/v1/org/privacy/oktaSupport/extend",
    MANAGE,
    false,
);
pub const REVOKE_SUPPORT: Endpoint = op(
    Verb::Post,
    "/api/v1/org/privacy/oktaSupport/revoke",
    MANAGE,
    false,
);
pub const LIST_SUPPORT_CASES: Endpoint = op(
    Verb::Get,
    "/api/v1/org/privacy/oktaSupport/cases",
    READ,
    true,
);
pub const UPDATE_SUPPORT_CASE: Endpoint = op(
    Verb::Patch,
    "/api/v1/org/privacy/oktaSupport/cases/{caseNumber}",
    MANAGE,
    false,
);
/// The spec asks for the manage scope even to read the consent.
pub const GET_AERIAL: Endpoint = op(Verb::Get, "/api/v1/org/privacy/aerial", MANAGE, true);
pub const GRANT_AERIAL: Endpoint = op(
    Verb::Post,
    "/api/v1/org/privacy/aerial/grant",
    MANAGE,
    false,
);
pub const REVOKE_AERIAL: Endpoint = op(
    Verb::Post,
    "/api/v1/org/privacy/aerial/revoke",
    MANAGE,
    false,
);
pub const GET_COMMUNICATION: Endpoint = op(
    Verb::Get,
    "/api/v1/org/privacy/oktaCommunication",
    READ,
    true,
);
pub const OPT_IN_COMMUNICATION: Endpoint = op(
    Verb::Post,
    "/api/v1/org/privacy/oktaCommunication/optIn",
    MANAGE,
    true,
);
pub const OPT_OUT_COMMUNICATION: Endpoint = op(
    Verb::Post,
    "/api/v1/org/privacy/oktaCommunication/optOut",
    MANAGE,
    true,
);
pub const GET_PREFERENCES: Endpoint = op(Verb::Get, "/api/v1/org/preferences", READ, true);
pub const SHOW_FOOTER: Endpoint = op(
    Verb::Post,
    "/api/v1/org/preferences/showEndUserFooter",
    MANAGE,
    true,
);
pub const HIDE_FOOTER: Endpoint = op(
    Verb::Post,
    "/api/v1/org/preferences/hideEndUserFooter",
    MANAGE,
    true,
);
pub const GET_THIRD_PARTY_ADMIN: Endpoint = op(
    Verb::Get,
    "/api/v1/org/orgSettings/thirdPartyAdminSetting",
    READ,
    true,
);
pub const SET_THIRD_PARTY_ADMIN: Endpoint = op(
    Verb::Post,
    "/api/v1/org/orgSettings/thirdPartyAdminSetting",
    MANAGE,
    true,
);
pub const GET_AUTO_ASSIGN_ADMIN_APP: Endpoint = op(
    Verb::Get,
    "/api/v1/org/settings/autoAssignAdminAppSetting",
    READ,
    true,
);
pub const SET_AUTO_ASSIGN_ADMIN_APP: Endpoint = op(
    Verb::Post,
    "/api/v1/org/settings/autoAssignAdminAppSetting",
    MANAGE,
    true,
);
pub const GET_CLIENT_PRIVILEGES: Endpoint = op(
    Verb::Get,
    "/api/v1/org/settings/clientPrivilegesSetting",
    READ,
    true,
);
pub const SET_CLIENT_PRIVILEGES: Endpoint = op(
    Verb::Put,
    "/api/v1/org/settings/clientPrivilegesSetting",
    MANAGE,
    true,
);
pub const ORG_METADATA: Endpoint = op(Verb::Get, "/.well-known/okta-organization", None, true);

impl Endpoint {
    /// A request to this endpoint, with `params` filling its `{...}` placeholders in order (each
    /// percent-encoded as a path segment).
    pub fn request(&self, params: &[&str]) -> Request {
        let mut path = String::with_capacity(self.path.len() + 16);
        let mut rest = self.path;
        let mut params = params.iter();
        while let Some(open) = rest.find('{') {
            path.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c + 1);
            let value = params.next().expect("a value for every path parameter");
            let mut segment = reqwest::Url::parse("http://segment/").expect("a URL");
            segment.path_segments_mut().expect("a base URL").push(value);
            path.push_str(&segment.path()[1..]);
            rest = &rest[close..];
        }
        path.push_str(rest);
        Request {
            method: self.verb.method(),
            path,
            body: Body::Empty,
            idempotent: self.idempotent,
            note: String::new(),
            scope: self.scope.unwrap_or(""),
            anonymous: self.scope.is_none(),
            bucket: self.bucket,
            answer_limit: self.answer_limit,
            headers: Vec::new(),
            order: 0,
        }
    }

    /// The scopes of `endpoints`, each once, for asking only what a command needs.
    pub fn scopes(endpoints: &[&Endpoint]) -> Vec<&'static str> {
        let mut scopes: Vec<&'static str> = Vec::new();
        for s in endpoints.iter().filter_map(|e| e.scope) {
            if !scopes.contains(&s) {
                scopes.push(s);
            }
        }
        scopes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_filled_and_encoded() {
        let r = SET_CONTACT.request(&["BILLING"]);
        assert_eq!(r.path, "/api/v1/org/contacts/BILLING");
        assert_eq!(r.scope, "okta.orgs.manage");
        let r = UPDATE_SUPPORT_CASE.request(&["10 0/2"]);
        assert_eq!(r.path, "/api/v1/org/privacy/oktaSupport/cases/10%200%2F2");
        assert!(!r.idempotent);
        assert!(ORG_METADATA.request(&[]).anonymous);
        assert_eq!(REMOVE_BOUNCES.request(&[]).bucket, "bounces");
    }

    #[test]
    fn scopes_are_asked_once() {
        assert_eq!(
            Endpoint::scopes(&[&GET_ORG, &UPDATE_ORG, &GET_CONTACT, &UPLOAD_LOGO]),
            vec!["okta.orgs.read", "okta.orgs.manage", "okta.apps.manage"]
        );
    }
}
