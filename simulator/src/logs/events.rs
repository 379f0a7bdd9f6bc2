//! LogEvents the simulator writes, shaped as the OpenAPI schema documents them and as public tools have
//! observed the email ones: `system.email.delivery` with the recipient in a `User` target, in `debugData`
//! or only in `displayMessage`; `system.email.bounce.removal` with an `EmailList` target of at most 50
//! addresses; and the demo org's recent history.

use serde_json::{Map, Value, json};

use super::time::{self, Millis};

/// Okta's sender address of its own mail; never a recipient.
pub(crate) const OKTA_SENDER: &str = "noreply@okta.com";
/// The demo org's custom sender address; never a recipient either.
const ORG_SENDER: &str = "it-noreply@acme.example";
/// The email provider Okta passes removals to.
const PROVIDER: &str = "SendGrid";
/// Most addresses one removal event's target lists.
pub(crate) const REMOVAL_CHUNK: usize = 50;

/// What became of an email.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bounce,
    Dropped,
    Deferred,
    Delivered,
}

impl Kind {
    fn outcome(self) -> (&'static str, &'static str) {
        match self {
            Kind::Bounce => ("FAILURE", "Email delivery FAILURE: Bounce"),
            Kind::Dropped => ("FAILURE", "Email delivery FAILURE: dropped"),
            Kind::Deferred => ("DEFERRED", "Email delivery DEFERRED: deferred"),
            Kind::Delivered => ("SUCCESS", "Email delivery SUCCESS: delivered"),
        }
    }

    /// `displayMessage` of an event that names its recipient nowhere else.
    fn sentence(self, to: &str) -> String {
        match self {
            Kind::Bounce => format!("An email from {OKTA_SENDER} to {to} bounced"),
            Kind::Dropped => format!("An email to {to} was dropped"),
            Kind::Deferred => format!("Delivery of an email to {to} was deferred"),
            Kind::Delivered => format!("An email to {to} was delivered"),
        }
    }
}

/// Where a delivery event names its recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A `User` target: `alternateId` the address, `id` the user's id.
    Target,
    /// No `User` target; the address under this key of `debugData`.
    DebugData(&'static str),
    /// Only in the text of `displayMessage`.
    Message,
    /// Nowhere (observed: some events name no recipient at all).
    Nowhere,
}

/// A `system.email.delivery` event to write.
pub(crate) struct Delivery<'a> {
    pub kind: Kind,
    pub shape: Shape,
    pub to: &'a str,
    /// The recipient's Okta user id, when it is a user.
    pub user_id: Option<&'a str>,
    pub published: Millis,
    /// More `debugData`: a provider message, the sender, ...
    pub extra: &'a [(&'a str, &'a str)],
    /// A `displayMessage` other than the usual one (shapes other than `Message`).
    pub message: Option<&'a str>,
    pub uuid: String,
}

/// "Ava Adams" for ava.adams@acme.example.
pub(crate) fn display_name(address: &str) -> String {
    let local = address.split('@').next().unwrap_or(address);
    local
        .split(['.', '_', '-'])
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A uuid-shaped id for an event or a transaction.
pub(crate) fn uuid(rng: &mut fastrand::Rng) -> String {
    format!(
        "{:08x}-{:04x}-11f0-{:04x}-{:012x}",
        rng.u32(..),
        rng.u16(..),
        rng.u16(..) | 0x8000,
        rng.u64(..) & 0xffff_ffff_ffff
    )
}

/// A transaction id derived from an event's uuid.
pub(crate) fn transaction_id(uuid: &str) -> String {
    uuid.replace('-', "").chars().take(20).collect()
}

/// An event's `published` time, if it has one that parses.
pub(crate) fn published(event: &Value) -> Option<Millis> {
    event
        .get("published")
        .and_then(Value::as_str)
        .and_then(time::parse)
}

/// Okta's own principal, the actor of events no person caused.
pub(crate) fn system_principal() -> Value {
    json!({
        "id": "0oa1sy5temprinc1pal0",
        "type": "SystemPrincipal",
        "alternateId": "system@okta.com",
        "displayName": "Okta System",
        "detailEntry": null
    })
}

/// The fields every event has, most of them empty for events no browser caused.
fn envelope(
    event_type: &str,
    actor: Value,
    published: Millis,
    uuid: &str,
    client: Value,
    transaction: Value,
) -> Map<String, Value> {
    let v = json!({
        "actor": actor,
        "client": client,
        "device": null,
        "authenticationContext": {
            "authenticationProvider": null,
            "credentialProvider": null,
            "credentialType": null,
            "issuer": null,
            "interface": null,
            "authenticationStep": 0,
            "rootSessionId": "unknown",
            "externalSessionId": "unknown"
        },
        "displayMessage": "",
        "eventType": event_type,
        "outcome": {"result": "SUCCESS", "reason": null},
        "published": time::format(published),
        "securityContext": {"asNumber": null, "asOrg": null, "isp": null, "domain": null, "isProxy": null},
        "severity": "INFO",
        "debugContext": {"debugData": {}},
        "legacyEventType": null,
        "transaction": transaction,
        "uuid": uuid,
        "version": "0",
        "request": {"ipChain": []},
        "target": []
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

fn no_client() -> Value {
    json!({"userAgent": null, "zone": null, "device": null, "id": null, "ipAddress": null,
           "geographicalContext": null})
}

fn job(id: &str) -> Value {
    json!({"type": "JOB", "id": id, "detail": {}})
}

pub(crate) fn delivery(d: &Delivery<'_>) -> Value {
    let mut e = envelope(
        "system.email.delivery",
        system_principal(),
        d.published,
        &d.uuid,
        no_client(),
        job(&transaction_id(&d.uuid)),
    );
    let (result, reason) = d.kind.outcome();
    e["outcome"] = json!({"result": result, "reason": reason});
    e["severity"] = json!(if d.kind == Kind::Delivered {
        "INFO"
    } else {
        "WARN"
    });
    e["displayMessage"] = json!(match (d.shape, d.message) {
        (Shape::Message, _) => d.kind.sentence(d.to),
        (_, Some(m)) => m.to_string(),
        _ => "An email's delivery status was updated".to_string(),
    });
    let mut debug = Map::new();
    debug.insert("requestId".into(), json!(format!("sim{}", &d.uuid[..8])));
    debug.insert("provider".into(), json!(PROVIDER));
    for (k, v) in d.extra {
        debug.insert((*k).to_string(), json!(v));
    }
    match d.shape {
        Shape::Target => {
            e["target"] = json!([{
                "id": d.user_id.unwrap_or("unknown"),
                "type": "User",
                "alternateId": d.to,
                "displayName": display_name(d.to),
                "detailEntry": null
            }]);
        }
        Shape::DebugData(key) => {
            debug.insert(key.into(), json!(d.to));
        }
        Shape::Message | Shape::Nowhere => {}
    }
    e["debugContext"] = json!({ "debugData": debug });
    Value::Object(e)
}

/// One `system.email.bounce.removal` event for at most [`REMOVAL_CHUNK`] addresses. The observed target
/// is an `EmailList` whose `displayName` holds the addresses; `variant` varies where else they appear.
pub(crate) fn removal(
    addresses: &[String],
    variant: u64,
    actor: &Value,
    user_agent: Option<&str>,
    published: Millis,
    uuid: &str,
    transaction: &str,
) -> Value {
    let client = json!({
        "userAgent": {"rawUserAgent": user_agent.unwrap_or("unknown"), "os": "Unknown", "browser": "UNKNOWN"},
        "zone": "null",
        "device": "Unknown",
        "id": actor["type"].as_str().filter(|t| *t != "User").and(actor["id"].as_str()),
        "ipAddress": "127.0.0.1",
        "geographicalContext": null
    });
    let mut e = envelope(
        "system.email.bounce.removal",
        actor.clone(),
        published,
        uuid,
        client,
        json!({"type": "WEB", "id": transaction, "detail": {}}),
    );
    e["displayMessage"] = json!("Remove email addresses from the bounce list");
    e["request"] = json!({"ipChain": [{"ip": "127.0.0.1", "geographicalContext": null, "version": "V4", "source": null}]});
    let listed = addresses.join(", ");
    e["target"] = json!([match variant % 3 {
        0 => json!({"id": null, "type": "EmailList", "alternateId": "unknown",
                    "displayName": listed, "detailEntry": null}),
        1 => json!({"id": "unknown", "type": "EmailList", "alternateId": listed,
                    "displayName": listed, "detailEntry": null}),
        _ => json!({"type": "EmailList", "displayName": addresses.join(","),
                    "detailEntry": {"emailAddresses": listed}}),
    }]);
    e["debugContext"] = json!({"debugData": {
        "requestId": transaction,
        "requestUri": "/api/v1/org/email/bounces/remove-list",
        "url": "/api/v1/org/email/bounces/remove-list",
        "provider": PROVIDER,
        "emailAddressCount": addresses.len().to_string()
    }});
    Value::Object(e)
}

/// A `user.session.start`: not about email at all, for filters to leave out.
fn session_start(
    address: &str,
    user_id: &str,
    success: bool,
    published: Millis,
    uuid: &str,
) -> Value {
    let actor = json!({"id": user_id, "type": "User", "alternateId": address,
                       "displayName": display_name(address), "detailEntry": null});
    let client = json!({
        "userAgent": {"rawUserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7)", "os": "Mac OS X",
                      "browser": "CHROME"},
        "zone": null, "device": "Computer", "id": null, "ipAddress": "10.0.0.1",
        "geographicalContext": {"city": "New York", "state": "New York", "country": "United States",
                                "postalCode": "10013", "geolocation": {"lat": 40.3157, "lon": -74.01}}
    });
    let mut e = envelope(
        "user.session.start",
        actor,
        published,
        uuid,
        client,
        json!({"type": "WEB", "id": format!("web{}", &uuid[..8]), "detail": null}),
    );
    e["displayMessage"] = json!("User login to Okta");
    e["legacyEventType"] = json!(if success {
        "core.user_auth.login_success"
    } else {
        "core.user_auth.login_failed"
    });
    e["outcome"] = if success {
        json!({"result": "SUCCESS", "reason": null})
    } else {
        json!({"result": "FAILURE", "reason": "INVALID_CREDENTIALS"})
    };
    e["target"] = json!([{"id": "0oatxlef9sQvvqInq5d6", "type": "AppInstance",
                          "alternateId": "Okta Dashboard", "displayName": "Okta Dashboard",
                          "detailEntry": null}]);
    Value::Object(e)
}

/// The administrator an API token acts for (the actor of what SSWS calls cause).
pub(crate) fn token_admin() -> Value {
    json!({"id": "00u1sim4dm1n0000g7", "type": "User", "alternateId": "okta.admin@acme.example",
           "displayName": "Acme Okta Admin", "detailEntry": null})
}

/// One planned demo delivery: how long ago, the recipient's local part (empty: none), the kind, where
/// the recipient appears, more `debugData`, and a `displayMessage` of its own.
type Planned = (
    Millis,
    &'static str,
    Kind,
    Shape,
    &'static [(&'static str, &'static str)],
    Option<&'static str>,
);

const SMTP_550: &str = "550 5.1.1 The email account that you tried to reach does not exist";

/// The demo org's System Log, relative to `now`: bounces (two users twice), drops, deferrals and
/// deliveries in every recipient shape, a removal after one bounce, events that name no recipient,
/// sign-ins, one bounce outside the default 7 days and one older than the 90 days Okta keeps.
///
/// Also the addresses these events leave on the org's bounce list: every recipient of a bounce (all of
/// the demo's are hard: a 5xx reply or `Bounced Address`) but the one removed after it.
pub(crate) fn demo(
    users: &[String],
    user_ids: &[String],
    now: Millis,
) -> (Vec<Value>, Vec<String>) {
    const H: Millis = 3_600_000;
    const M: Millis = 60_000;
    let mut rng = fastrand::Rng::with_seed(10);
    let find = |local: &str| {
        users
            .iter()
            .position(|u| u.split('@').next() == Some(local))
            .map(|i| (users[i].as_str(), user_ids.get(i).map(String::as_str)))
    };
    let mut out = Vec::new();
    let mut listed: Vec<String> = Vec::new();
    use Kind::*;
    use Shape::*;
    #[rustfmt::skip]
    let plan: &[Planned] = &[
        (2400 * H, "umar.ueda", Bounce, Target, &[("reason", "Bounced Address")], None),
        (240 * H, "tara.tanaka", Bounce, Target, &[("reason", "Bounced Address")], None),
        (150 * H, "ben.baker", Bounce, Target, &[("reason", "Bounced Address"), ("sender", OKTA_SENDER)], None),
        (120 * H + 17 * M, "chloe.chen", Bounce, DebugData("emailAddress"), &[("reason", "Bounced Address")], None),
        (96 * H + 5 * M, "daniel.diaz", Bounce, Message, &[("smtpResponse", "550 5.1.1 User unknown")], None),
        (72 * H, "elena.evans", Bounce, Target, &[("reason", "Bounced Address"), ("sender", OKTA_SENDER)], None),
        (50 * H, "felix.fischer", Dropped, Target, &[("reason", "Bounced Address")], None),
        (45 * H, "", Bounce, Nowhere, &[("reason", "Bounced Address"), ("sender", OKTA_SENDER)], None),
        (40 * H + 30 * M, "grace.garcia", Dropped, DebugData("recipient"), &[("reason", "Invalid")], None),
        (36 * H, "hugo.hansen", Deferred, Target, &[("smtpResponse", "421 4.7.0 Try again later")], None),
        (35 * H, "hugo.hansen", Delivered, Target, &[], None),
        (30 * H, "ben.baker", Bounce, DebugData("recipient"), &[("smtpResponse", SMTP_550), ("sender", ORG_SENDER)], None),
        (20 * H, "daniel.diaz", Bounce, Target, &[("smtpResponse", SMTP_550)], Some("Email delivery FAILURE: Bounce")),
        (12 * H, "", Dropped, Nowhere, &[], None),
        (10 * H, "isla.ito", Delivered, DebugData("recipient"), &[("sender", OKTA_SENDER)], None),
        (8 * H, "jonas.jones", Bounce, Target, &[("reason", "Bounced Address"), ("sender", OKTA_SENDER)], None),
        (5 * H, "kira.kowalski", Deferred, Message, &[], None),
        (3 * H, "liam.lopez", Bounce, DebugData("recipient"), &[("smtpResponse", SMTP_550), ("sender", OKTA_SENDER)], None),
    ];
    for &(ago, local, kind, shape, extra, message) in plan {
        let (to, user_id) = find(local).unwrap_or(("", None));
        if !local.is_empty() && to.is_empty() {
            continue;
        }
        if kind == Bounce && !to.is_empty() && !listed.iter().any(|l| l == to) {
            listed.push(to.to_string());
        }
        out.push(delivery(&Delivery {
            kind,
            shape,
            to,
            user_id,
            published: now - ago,
            extra,
            message,
            uuid: uuid(&mut rng),
        }));
    }
    if let Some((elena, _)) = find("elena.evans") {
        listed.retain(|l| l != elena);
        let id = uuid(&mut rng);
        let tx = transaction_id(&id);
        out.push(removal(
            &[elena.to_string()],
            0,
            &token_admin(),
            Some("okta-org/0.1.0"),
            now - 60 * H,
            &id,
            &tx,
        ));
    }
    for (ago, local, success) in [
        (26 * H, "maya.muller", true),
        (14 * H, "noah.nguyen", false),
    ] {
        if let Some((address, Some(id))) = find(local) {
            out.push(session_start(
                address,
                id,
                success,
                now - ago,
                &uuid(&mut rng),
            ));
        }
    }
    out.sort_by_key(|e| published(e).unwrap_or(0));
    (out, listed)
}

#[cfg(test)]
mod tests {
    use super::display_name;

    #[test]
    fn display_names() {
        assert_eq!(display_name("ava.adams@acme.example"), "Ava Adams");
        assert_eq!(display_name("x@y"), "X");
    }
}
