//! The Org API's settings endpoints, with state, as the seeds and the OpenAPI spec show them: grant sets
//! Okta Support `ENABLED` for 8 hours, extend adds 24 hours, revoke sets `DISABLED` and `null`; opt-in/out
//! and the footer flip their booleans and their `_links` follow the state; PUT /api/v1/org deletes what it
//! is not given while POST merges; a contact set to an unknown user answers the seed's 404.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::{Admission, Shared, error_response};

const READ: &str = "okta.orgs.read";
const MANAGE: &str = "okta.orgs.manage";

/// The org's mutable state.
pub(crate) struct OrgState {
    settings: Map<String, Value>,
    /// `BILLING`/`TECHNICAL` to user id.
    contacts: HashMap<&'static str, String>,
    support_until: Option<SystemTime>,
    cases: Vec<Value>,
    aerial: Option<Value>,
    /// The org's booleans: communication, the footer and the admin settings, by their field names.
    flags: HashMap<&'static str, bool>,
    logos: u32,
}

/// Who the simulated org is: its id, subdomain and company name (`GET /api/v1/org`, the metadata, the
/// `orgId` of its principal rate limits). Orgs of one fleet differ here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgIdentity {
    pub id: String,
    pub subdomain: String,
    pub company_name: String,
}

impl Default for OrgIdentity {
    /// The demo org: Acme Corp.
    fn default() -> OrgIdentity {
        OrgIdentity {
            id: "00o1sim0rg1d3m0000g7".into(),
            subdomain: "acme".into(),
            company_name: "Acme Corp".into(),
        }
    }
}

/// Okta user ids of the simulated org, one per user, in the order of the users list.
pub fn user_id(index: usize) -> String {
    format!("00u{:017}", index + 1)
}

fn now_text() -> String {
    humantime::format_rfc3339_millis(SystemTime::now()).to_string()
}

fn time_text(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl OrgState {
    pub(crate) fn new(user_ids: &[String], who: &OrgIdentity) -> OrgState {
        let settings = json!({
            "id": who.id,
            "subdomain": who.subdomain,
            "companyName": who.company_name,
            "status": "ACTIVE",
            "expiresAt": null,
            "created": "2024-01-24T14:15:22.000Z",
            "lastUpdated": "2026-07-21T14:15:22.000Z",
            "website": "https://acme.example",
            "phoneNumber": "+1-555-415-1337",
            "endUserSupportHelpURL": "https://support.acme.example",
            "supportPhoneNumber": "+1-555-514-1337",
            "address1": "301 Brannan St.",
            "address2": "Unit 100",
            "city": "San Francisco",
            "state": "California",
            "country": "United States of America",
            "postalCode": "94107"
        });
        let mut contacts = HashMap::new();
        if let Some(first) = user_ids.first() {
            contacts.insert("BILLING", first.clone());
            contacts.insert("TECHNICAL", user_ids.get(1).unwrap_or(first).clone());
        }
        OrgState {
            settings: settings.as_object().cloned().unwrap_or_default(),
            contacts,
            support_until: None,
            cases: vec![
                json!({"impersonation": {"status": "ENABLED", "expiration": "2026-12-24T11:13:14.000Z"},
                       "selfAssigned": {"status": "REQUESTED"},
                       "subject": "Reset admin password", "caseNumber": "1000001"}),
                json!({"impersonation": {"status": "REQUESTED", "expiration": null},
                       "selfAssigned": {"status": "NOT_REQUIRED"},
                       "subject": "Review IP restriction configuration", "caseNumber": "1000002"}),
            ],
            aerial: None,
            flags: HashMap::from([
                ("optOutEmailUsers", false),
                ("showEndUserFooter", true),
                ("thirdPartyAdmin", false),
                ("autoAssignAdminAppSetting", true),
                ("clientPrivilegesSetting", false),
            ]),
            logos: 0,
        }
    }
}

fn link(base: &str, path: &str, method: Option<&str>) -> Value {
    let mut l = json!({ "href": format!("{base}{path}") });
    if let Some(m) = method {
        l["hints"] = json!({ "allow": [m] });
    }
    l
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, axum::Json(v)).into_response()
}

fn bad_request(summary: &str, cause: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, "E0000001", summary, &[cause])
}

fn not_found(what: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        "E0000007",
        &format!("Not found: Resource not found: {what}"),
        &[],
    )
}

fn malformed() -> Response {
    error_response(
        StatusCode::BAD_REQUEST,
        "E0000003",
        "The request body was not well-formed.",
        &[],
    )
}

/// The JSON object of a request body (anything else gets [`malformed`]).
fn object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

impl Shared {
    /// Authorises, rate-limits and logs one settings call, then runs `f` on the org state.
    fn handle(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        body: Option<&[u8]>,
        scope: Option<&str>,
        f: impl FnOnce(&mut OrgState, &str) -> Response,
    ) -> Response {
        let resp = self.handle_inner(method, path, headers, scope, f);
        let text = body.map(|b| String::from_utf8_lossy(&b[..b.len().min(8192)]).into_owned());
        self.log_with_body(method, path, resp.status(), headers, text);
        resp
    }

    fn handle_inner(
        &self,
        method: &str,
        path: &str,
        headers: &HeaderMap,
        scope: Option<&str>,
        f: impl FnOnce(&mut OrgState, &str) -> Response,
    ) -> Response {
        if let Some(scope) = scope
            && let Some(refusal) = self.refuse_scope(method, path, headers, scope)
        {
            return refusal;
        }
        let principal = self.principal_id(headers);
        let inject = self.inject(true);
        let rate = match self.admit(
            "org",
            self.config.org_rate_limit,
            inject,
            principal.as_deref(),
        ) {
            Admission::Go(h) => h,
            Admission::Throttled(resp) => return resp,
        };
        let mut resp = {
            let mut org = self.org.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut org, &self.base_url())
        };
        resp.headers_mut().extend(rate);
        resp
    }
}

type S = State<Arc<Shared>>;

pub(crate) fn routes() -> Router<Arc<Shared>> {
    let router = Router::new()
        .route(
            "/api/v1/org",
            get(get_org).post(update_org).put(replace_org),
        )
        .route("/api/v1/org/contacts", get(list_contacts))
        .route(
            "/api/v1/org/contacts/{contact_type}",
            get(get_contact).put(set_contact),
        )
        .route("/api/v1/org/logo", post(upload_logo))
        .route("/api/v1/org/privacy/oktaSupport", get(get_support))
        .route("/api/v1/org/privacy/oktaSupport/grant", post(grant_support))
        .route(
            "/api/v1/org/privacy/oktaSupport/extend",
            post(extend_support),
        )
        .route(
            "/api/v1/org/privacy/oktaSupport/revoke",
            post(revoke_support),
        )
        .route("/api/v1/org/privacy/oktaSupport/cases", get(list_cases))
        .route(
            "/api/v1/org/privacy/oktaSupport/cases/{case_number}",
            axum::routing::patch(update_case),
        )
        .route("/api/v1/org/privacy/aerial", get(get_aerial))
        .route("/api/v1/org/privacy/aerial/grant", post(grant_aerial))
        .route("/api/v1/org/privacy/aerial/revoke", post(revoke_aerial))
        .route("/.well-known/okta-organization", get(metadata));
    let router = TOGGLES.iter().fold(router, add_toggle);
    ADMIN_FLAGS.iter().fold(router, add_admin_flag)
}

// ---- general settings ----

fn org_json(org: &OrgState, base: &str) -> Value {
    let mut v = Value::Object(org.settings.clone());
    v["_links"] = json!({
        "preferences": link(base, "/api/v1/org/preferences", None),
        "uploadLogo": link(base, "/api/v1/org/logo", Some("POST")),
        "oktaCommunication": link(base, "/api/v1/org/privacy/oktaCommunication", None),
        "logo": link(base, "/bc/image/fileStoreRecord?id=fs02ju1ejvy2Cv2Yx0g4", None),
        "oktaSupport": link(base, "/api/v1/org/privacy/oktaSupport", None),
        "contacts": link(base, "/api/v1/org/contacts", None),
    });
    v
}

/// The properties of the OpenAPI spec's `OrgSetting` that are `readOnly`, and `_links`, whose schema
/// (`orgGeneralSettingLinks`) is `readOnly` as a whole. Okta sets them; a write ignores them.
const READ_ONLY: [&str; 7] = [
    "created",
    "expiresAt",
    "id",
    "lastUpdated",
    "status",
    "subdomain",
    "_links",
];

async fn get_org(State(s): S, h: HeaderMap) -> Response {
    s.handle("GET", "/api/v1/org", &h, None, Some(READ), |org, base| {
        ok(org_json(org, base))
    })
}

/// POST merges the given properties; PUT replaces: every property not given is deleted (the read-only
/// ones stay). Either way read-only properties in the body are ignored.
fn write_org(s: &Shared, method: &str, h: &HeaderMap, body: &[u8]) -> Response {
    s.handle(
        method,
        "/api/v1/org",
        h,
        Some(body),
        Some(MANAGE),
        |org, base| {
            let Some(given) = object(body) else {
                return malformed();
            };
            if method == "PUT" {
                org.settings.retain(|k, _| READ_ONLY.contains(&k.as_str()));
            }
            for (k, v) in given {
                if !READ_ONLY.contains(&k.as_str()) {
                    org.settings.insert(k, v);
                }
            }
            org.settings
                .insert("lastUpdated".into(), Value::String(now_text()));
            ok(org_json(org, base))
        },
    )
}

async fn update_org(State(s): S, h: HeaderMap, body: Bytes) -> Response {
    write_org(&s, "POST", &h, &body)
}

async fn replace_org(State(s): S, h: HeaderMap, body: Bytes) -> Response {
    write_org(&s, "PUT", &h, &body)
}

// ---- contacts ----

fn contact_type(raw: &str) -> Option<&'static str> {
    match raw.to_ascii_uppercase().as_str() {
        "BILLING" => Some("BILLING"),
        "TECHNICAL" => Some("TECHNICAL"),
        _ => None,
    }
}

fn contact_user(base: &str, id: &str) -> Value {
    json!({ "userId": id, "_links": { "user": link(base, &format!("/api/v1/users/{id}"), None) } })
}

async fn list_contacts(State(s): S, h: HeaderMap) -> Response {
    s.handle("GET", "/api/v1/org/contacts", &h, None, Some(READ), |_, base| {
        ok(json!([
            {"contactType": "BILLING", "_links": {"billing": link(base, "/api/v1/org/contacts/billing", None)}},
            {"contactType": "TECHNICAL", "_links": {"technical": link(base, "/api/v1/org/contacts/technical", None)}},
        ]))
    })
}

async fn get_contact(State(s): S, h: HeaderMap, Path(t): Path<String>) -> Response {
    let path = format!("/api/v1/org/contacts/{t}");
    s.handle(
        "GET",
        &path,
        &h,
        None,
        Some(READ),
        |org, base| match contact_type(&t).and_then(|t| org.contacts.get(t)) {
            Some(id) => ok(contact_user(base, id)),
            None => not_found(&format!("{t} (ContactType)")),
        },
    )
}

async fn set_contact(State(s): S, h: HeaderMap, Path(t): Path<String>, body: Bytes) -> Response {
    let path = format!("/api/v1/org/contacts/{t}");
    let users = s.user_ids.clone();
    s.handle("PUT", &path, &h, Some(&body), Some(MANAGE), |org, base| {
        let Some(kind) = contact_type(&t) else {
            return not_found(&format!("{t} (ContactType)"));
        };
        let Some(given) = object(&body) else {
            return malformed();
        };
        let Some(id) = given.get("userId").and_then(Value::as_str) else {
            return bad_request(
                "Api validation failed: userId",
                "userId: The field is required",
            );
        };
        if !users.iter().any(|u| u == id) {
            return not_found(&format!("{id} (User)"));
        }
        org.contacts.insert(kind, id.to_string());
        ok(contact_user(base, id))
    })
}

// ---- logo ----

async fn upload_logo(
    State(s): S,
    h: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    // Read the upload before taking the state lock.
    let upload = match multipart {
        Ok(mut m) => {
            let mut file = None;
            while let Ok(Some(field)) = m.next_field().await {
                if field.name() == Some("file") {
                    let ct = field.content_type().map(str::to_string);
                    file = field.bytes().await.ok().map(|b| (b, ct));
                }
            }
            file
        }
        Err(_) => None,
    };
    s.handle(
        "POST",
        "/api/v1/org/logo",
        &h,
        None,
        Some("okta.apps.manage"),
        |org, base| {
            let Some((bytes, _)) = upload else {
                return bad_request("Api validation failed: file", "file: The field is required");
            };
            let image = bytes.starts_with(b"\x89PNG\r\n\x1a\n")
                || bytes.starts_with(&[0xFF, 0xD8, 0xFF])
                || bytes.starts_with(b"GIF87a")
                || bytes.starts_with(b"GIF89a");
            if !image {
                return bad_request(
                    "Api validation failed: file",
                    "file: The file must be in PNG, JPG, or GIF format",
                );
            }
            if bytes.len() >= 1 << 20 {
                return bad_request(
                    "Api validation failed: file",
                    "file: The file must be less than 1 MB in size",
                );
            }
            org.logos += 1;
            let mut resp = StatusCode::CREATED.into_response();
            let location = format!("{base}/bc/image/fileStoreRecord?id=fs0{:017}", org.logos);
            resp.headers_mut()
                .insert("location", HeaderValue::from_str(&location).expect("ascii"));
            resp
        },
    )
}

// ---- Okta Support ----

fn support_json(org: &OrgState, base: &str) -> Value {
    let p = "/api/v1/org/privacy/oktaSupport";
    match org.support_until {
        Some(until) if until > SystemTime::now() => json!({
            "support": "ENABLED",
            "expiration": time_text(until),
            "_links": {
                "extend": link(base, &format!("{p}/extend"), Some("POST")),
                "revoke": link(base, &format!("{p}/revoke"), Some("POST")),
            }
        }),
        _ => json!({
            "support": "DISABLED",
            "expiration": null,
            "_links": { "grant": link(base, &format!("{p}/grant"), Some("POST")) }
        }),
    }
}

async fn get_support(State(s): S, h: HeaderMap) -> Response {
    s.handle(
        "GET",
        "/api/v1/org/privacy/oktaSupport",
        &h,
        None,
        Some(READ),
        |org, base| ok(support_json(org, base)),
    )
}

/// Current orgs answer the deprecated grant/extend/revoke with a 301 to the support cases.
fn moved(base: &str) -> Response {
    let mut resp = StatusCode::MOVED_PERMANENTLY.into_response();
    let to = format!("{base}/api/v1/org/privacy/oktaSupport/cases");
    resp.headers_mut()
        .insert("location", HeaderValue::from_str(&to).expect("ascii"));
    resp
}

/// One of the deprecated grant/extend/revoke POSTs: `change` runs, unless the org is a current one that
/// answers them with a 301.
fn support_change(
    s: &Shared,
    h: &HeaderMap,
    op: &str,
    change: impl FnOnce(&mut OrgState, &str) -> Response,
) -> Response {
    let redirect = s.config.support_redirect;
    let path = format!("/api/v1/org/privacy/oktaSupport/{op}");
    s.handle("POST", &path, h, None, Some(MANAGE), |org, base| {
        if redirect {
            moved(base)
        } else {
            change(org, base)
        }
    })
}

async fn grant_support(State(s): S, h: HeaderMap) -> Response {
    support_change(&s, &h, "grant", |org, base| {
        org.support_until = Some(SystemTime::now() + Duration::from_secs(8 * 3600));
        ok(support_json(org, base))
    })
}

async fn extend_support(State(s): S, h: HeaderMap) -> Response {
    support_change(&s, &h, "extend", |org, base| match org.support_until {
        Some(until) if until > SystemTime::now() => {
            org.support_until = Some(until + Duration::from_secs(24 * 3600));
            ok(support_json(org, base))
        }
        _ => bad_request(
            "Api validation failed: support",
            "Okta Support access is not granted, so it cannot be extended",
        ),
    })
}

async fn revoke_support(State(s): S, h: HeaderMap) -> Response {
    support_change(&s, &h, "revoke", |org, base| {
        org.support_until = None;
        ok(support_json(org, base))
    })
}

async fn list_cases(State(s): S, h: HeaderMap) -> Response {
    s.handle(
        "GET",
        "/api/v1/org/privacy/oktaSupport/cases",
        &h,
        None,
        Some(READ),
        |org, _| ok(json!({ "supportCases": org.cases })),
    )
}

async fn update_case(State(s): S, h: HeaderMap, Path(case): Path<String>, body: Bytes) -> Response {
    let path = format!("/api/v1/org/privacy/oktaSupport/cases/{case}");
    s.handle("PATCH", &path, &h, Some(&body), Some(MANAGE), |org, _| {
        let Some(given) = object(&body) else {
            return malformed();
        };
        let Some(c) = org
            .cases
            .iter_mut()
            .find(|c| c["caseNumber"].as_str() == Some(case.as_str()))
        else {
            return not_found(&format!("{case} (SupportCase)"));
        };
        if let Some(imp) = given.get("impersonation").and_then(Value::as_object) {
            if let Some(status) = imp.get("status").and_then(Value::as_str) {
                if !["ENABLED", "DISABLED"].contains(&status) {
                    return bad_request(
                        "Api validation failed: impersonation",
                        "impersonation.status: ENABLED or DISABLED",
                    );
                }
                c["impersonation"]["status"] = json!(status);
                if status == "DISABLED" {
                    c["impersonation"]["expiration"] = Value::Null;
                } else if c["impersonation"]["expiration"].is_null() {
                    c["impersonation"]["expiration"] = json!(time_text(
                        SystemTime::now() + Duration::from_secs(24 * 3600)
                    ));
                }
            }
            if let Some(exp) = imp.get("expiration").and_then(Value::as_str) {
                if humantime::parse_rfc3339_weak(exp).is_err() {
                    return bad_request(
                        "Api validation failed: impersonation",
                        "impersonation.expiration: not a date-time",
                    );
                }
                c["impersonation"]["expiration"] = json!(exp);
            }
        }
        if let Some(sa) = given.get("selfAssigned").and_then(Value::as_object)
            && let Some(status) = sa.get("status").and_then(Value::as_str)
        {
            c["selfAssigned"]["status"] = json!(status);
        }
        let mut out = c.clone();
        if let Some(o) = out.as_object_mut() {
            o.remove("subject");
        }
        ok(out)
    })
}

// ---- Okta Aerial ----

fn valid_account_id(id: &str) -> bool {
    id.len() >= 10 && id.chars().all(|c| c.is_ascii_alphanumeric())
}

fn aerial_json(consent: &Value, base: &str) -> Value {
    let mut v = consent.clone();
    v["_links"] = json!({
        "self": link(base, "/api/v1/org/privacy/aerial", Some("GET")),
        "revoke": link(base, "/api/v1/org/privacy/aerial/revoke", Some("POST")),
    });
    v
}

async fn get_aerial(State(s): S, h: HeaderMap) -> Response {
    s.handle(
        "GET",
        "/api/v1/org/privacy/aerial",
        &h,
        None,
        Some(MANAGE),
        |org, base| match &org.aerial {
            Some(c) => ok(aerial_json(c, base)),
            None => not_found("grant (String)"),
        },
    )
}

async fn grant_aerial(State(s): S, h: HeaderMap, body: Bytes) -> Response {
    s.handle("POST", "/api/v1/org/privacy/aerial/grant", &h, Some(&body), Some(MANAGE), |org, base| {
        let Some(given) = object(&body) else {
            return malformed();
        };
        let id = given.get("accountId").and_then(Value::as_str).unwrap_or("");
        if !valid_account_id(id) {
            return bad_request("Api validation failed: account", "Invalid aerial account ID.");
        }
        if org.aerial.is_some() {
            return bad_request("Api validation failed: account", "The org already has a consent grant added to Aerial.");
        }
        let consent = json!({ "accountId": id, "grantedBy": "00u00000000000000001", "grantedDate": now_text() });
        org.aerial = Some(consent.clone());
        ok(aerial_json(&consent, base))
    })
}

async fn revoke_aerial(State(s): S, h: HeaderMap, body: Bytes) -> Response {
    s.handle("POST", "/api/v1/org/privacy/aerial/revoke", &h, Some(&body), Some(MANAGE), |org, base| {
        let Some(given) = object(&body) else {
            return malformed();
        };
        let id = given.get("accountId").and_then(Value::as_str).unwrap_or("");
        match &org.aerial {
            Some(c) if c["accountId"].as_str() == Some(id) => {
                org.aerial = None;
                ok(json!({ "_links": { "grant": link(base, "/api/v1/org/privacy/aerial/grant", Some("POST")) } }))
            }
            Some(_) => bad_request("Api validation failed: account", "Invalid aerial account ID."),
            None => not_found("grant (String)"),
        }
    })
}

// ---- communication, preferences and admin settings ----

/// One of the org's booleans behind a GET and two POSTs that set it, each answering with the object, whose
/// `_links` name the POST that would change it back.
struct Toggle {
    path: &'static str,
    field: &'static str,
    /// The POSTs under `path` that set the field to true and to false.
    set_true: &'static str,
    set_false: &'static str,
}

static TOGGLES: [Toggle; 2] = [
    Toggle {
        path: "/api/v1/org/privacy/oktaCommunication",
        field: "optOutEmailUsers",
        set_true: "optOut",
        set_false: "optIn",
    },
    Toggle {
        path: "/api/v1/org/preferences",
        field: "showEndUserFooter",
        set_true: "showEndUserFooter",
        set_false: "hideEndUserFooter",
    },
];

impl Toggle {
    fn render(&self, org: &OrgState, base: &str) -> Value {
        let value = org.flags.get(self.field).copied().unwrap_or(false);
        let back = if value { self.set_false } else { self.set_true };
        let href = format!("{}/{back}", self.path);
        json!({ self.field: value, "_links": { back: link(base, &href, Some("POST")) } })
    }
}

fn add_toggle(router: Router<Arc<Shared>>, t: &'static Toggle) -> Router<Arc<Shared>> {
    let read = move |State(s): S, h: HeaderMap| async move {
        s.handle("GET", t.path, &h, None, Some(READ), |org, base| {
            ok(t.render(org, base))
        })
    };
    let router = router.route(t.path, get(read));
    [(t.set_true, true), (t.set_false, false)]
        .into_iter()
        .fold(router, |router, (name, value)| {
            let path = format!("{}/{name}", t.path);
            let set = {
                let path = path.clone();
                move |State(s): S, h: HeaderMap| async move {
                    s.handle("POST", &path, &h, None, Some(MANAGE), |org, base| {
                        org.flags.insert(t.field, value);
                        ok(t.render(org, base))
                    })
                }
            };
            router.route(&path, post(set))
        })
}

/// The admin settings: (path, field, method that writes it). Each is a boolean, read with GET and
/// written with `{field: bool}`.
static ADMIN_FLAGS: [(&str, &str, &str); 3] = [
    (
        "/api/v1/org/orgSettings/thirdPartyAdminSetting",
        "thirdPartyAdmin",
        "POST",
    ),
    (
        "/api/v1/org/settings/autoAssignAdminAppSetting",
        "autoAssignAdminAppSetting",
        "POST",
    ),
    (
        "/api/v1/org/settings/clientPrivilegesSetting",
        "clientPrivilegesSetting",
        "PUT",
    ),
];

fn add_admin_flag(
    router: Router<Arc<Shared>>,
    &(path, field, method): &'static (&'static str, &'static str, &'static str),
) -> Router<Arc<Shared>> {
    let read = get(move |State(s): S, h: HeaderMap| async move {
        s.handle("GET", path, &h, None, Some(READ), |org, _| {
            ok(json!({ field: org.flags.get(field).copied().unwrap_or(false) }))
        })
    });
    let write = move |State(s): S, h: HeaderMap, body: Bytes| async move {
        s.handle(method, path, &h, Some(&body), Some(MANAGE), |org, _| {
            let Some(given) = object(&body) else {
                return malformed();
            };
            let Some(value) = given.get(field).and_then(Value::as_bool) else {
                return bad_request(
                    &format!("Api validation failed: {field}"),
                    &format!("{field}: must be true or false"),
                );
            };
            org.flags.insert(field, value);
            ok(json!({ field: value }))
        })
    };
    let methods = if method == "PUT" {
        read.put(write)
    } else {
        read.post(write)
    };
    router.route(path, methods)
}

// ---- metadata (no authentication) ----

async fn metadata(State(s): S, h: HeaderMap) -> Response {
    s.handle(
        "GET",
        "/.well-known/okta-organization",
        &h,
        None,
        None,
        |_, base| {
            ok(json!({
                "id": s.config.org.id,
                "_links": { "organization": { "href": base } },
                "pipeline": "idx"
            }))
        },
    )
}
