//! What Okta's email events say: the kind of a `system.email.delivery` (bounce, drop, deferral, delivery),
//! whom it was for, and which addresses a `system.email.bounce.removal` names.
//!
//! The recipient is taken from the most specific place: a `User` target's `alternateId`, then a recipient
//! field of `debugData`, then other targets, and only then the event's text (`displayMessage`, the outcome's
//! reason, the rest of `debugData`). Never from the actor, from a sender field, or from Okta's own sending
//! domains.

use std::fmt;

use serde_json::Value;

use super::LogEvent;
use crate::address;

/// The kind of a delivery event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A hard bounce: the kind that puts the address on the bounce list `remove-list` clears.
    Bounce,
    /// The provider dropped the mail (often because the address bounced before).
    Dropped,
    /// Delivery was deferred (a soft bounce): not on the bounce list.
    Deferred,
    /// A failure of no kind this tool knows (a spam report, say); shown with `--kind all`.
    Other,
    /// Delivered.
    Delivered,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Bounce => "bounce",
            Kind::Dropped => "dropped",
            Kind::Deferred => "deferred",
            Kind::Other => "other",
            Kind::Delivered => "delivered",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a `system.email.delivery` event: its outcome's result first (`SUCCESS`, `DEFERRED`), then the
/// words of its outcome's reason and message, then what `debugData` says (an SMTP reply's class).
pub fn delivery_kind(e: &LogEvent) -> Kind {
    match e.result.to_ascii_uppercase().as_str() {
        "SUCCESS" => return Kind::Delivered,
        "DEFERRED" => return Kind::Deferred,
        _ => {}
    }
    let said = format!("{} {}", e.reason, e.display_message).to_lowercase();
    if let Some(k) = kind_in(&said) {
        return k;
    }
    let debug = debug_text(e).to_lowercase();
    if let Some(k) = kind_in(&debug) {
        return k;
    }
    match smtp_class(&debug) {
        Some('5') => Kind::Bounce,
        Some('4') => Kind::Deferred,
        _ => Kind::Other,
    }
}

fn kind_in(text: &str) -> Option<Kind> {
    if text.contains("drop") {
        Some(Kind::Dropped)
    } else if text.contains("defer") || text.contains("soft bounce") || text.contains("softbounce")
    {
        Some(Kind::Deferred)
    } else if text.contains("bounce") {
        Some(Kind::Bounce)
    } else {
        None
    }
}

/// The class of the first SMTP reply code in `text` (`550 5.1.1` → `5`).
fn smtp_class(text: &str) -> Option<char> {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '.')
        .find_map(|w| {
            let b = w.as_bytes();
            let code = b.len() == 3 && b.iter().all(u8::is_ascii_digit);
            let enhanced = b.len() >= 5 && b[1] == b'.' && w.split('.').count() == 3;
            (code || enhanced)
                .then(|| b[0] as char)
                .filter(|c| matches!(c, '4' | '5'))
        })
}

fn debug_text(e: &LogEvent) -> String {
    let mut s = String::new();
    for v in e.debug.values() {
        collect_strings(v, &mut s);
    }
    s
}

fn collect_strings(v: &Value, out: &mut String) {
    match v {
        Value::String(t) => {
            out.push_str(t);
            out.push(' ');
        }
        Value::Array(a) => a.iter().for_each(|x| collect_strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| collect_strings(x, out)),
        _ => {}
    }
}

/// The provider's own words about a delivery, when the event has them (for the `reason` column).
pub fn provider_text(e: &LogEvent) -> String {
    const KEYS: [&str; 8] = [
        "reason",
        "bouncereason",
        "response",
        "smtpresponse",
        "diagnosticcode",
        "message",
        "error",
        "status",
    ];
    for key in KEYS {
        if let Some(v) = e
            .debug
            .iter()
            .find(|(k, _)| normal(k) == key)
            .and_then(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
        {
            return v.trim().to_string();
        }
    }
    e.reason.trim().to_string()
}

/// A key lowercased without `_`, `-`, `.` and spaces.
fn normal(k: &str) -> String {
    k.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// `debugData` keys that name the recipient.
const RECIPIENT_KEYS: [&str; 10] = [
    "recipient",
    "recipientaddress",
    "recipientemail",
    "email",
    "emailaddress",
    "to",
    "toaddress",
    "bouncedaddress",
    "address",
    "useremail",
];

/// `debugData` keys whose addresses are never the recipient.
fn is_sender_key(k: &str) -> bool {
    let k = normal(k);
    [
        "sender",
        "from",
        "replyto",
        "returnpath",
        "envelope",
        "mailfrom",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// Okta's own sending domains: an address there is the sender, never a recipient.
fn is_okta_sender(addr: &str) -> bool {
    let domain = addr
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .to_ascii_lowercase();
    [
        "okta.com",
        "oktapreview.com",
        "okta-emea.com",
        "okta-gov.com",
        "okta.mil",
        "oktacdn.com",
    ]
    .iter()
    .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
}

/// Every valid address in `text`, in order.
pub fn addresses_in(text: &str) -> Vec<String> {
    text.split(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ',' | ';' | '"' | '\'' | '(' | ')' | '[' | ']' | '{' | '}'
            )
    })
    .filter(|w| w.contains('@'))
    .filter_map(|w| {
        let w = w.trim_matches(|c: char| matches!(c, '.' | ':' | '<' | '>' | '`'));
        let a = address::extract(w);
        address::validate(&a).is_ok().then(|| a.into_owned())
    })
    .collect()
}

/// Whom a delivery event was for, and the Okta user when the event names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub email: String,
    /// The `User` target's id (or login).
    pub user: Option<String>,
}

/// The recipient of a delivery event, from the most specific place that names one.
pub fn recipient(e: &LogEvent) -> Option<Recipient> {
    let actor: Vec<String> = e
        .actor
        .iter()
        .flat_map(|a| {
            addresses_in(&a.alternate_id)
                .into_iter()
                .chain(addresses_in(&a.display_name))
        })
        .map(|a| a.to_lowercase())
        .collect();
    let senders: Vec<String> = e
        .debug
        .iter()
        .filter(|(k, _)| is_sender_key(k))
        .flat_map(|(_, v)| {
            let mut s = String::new();
            collect_strings(v, &mut s);
            addresses_in(&s)
        })
        .map(|a| a.to_lowercase())
        .collect();
    let usable = |a: &String| {
        let l = a.to_lowercase();
        !is_okta_sender(a) && !actor.contains(&l) && !senders.contains(&l)
    };
    let first = |text: &str| addresses_in(text).into_iter().find(|a| usable(a));
    let user_target = e
        .targets
        .iter()
        .find(|t| t.kind.eq_ignore_ascii_case("User"));
    let user = user_target.map(|t| {
        if t.id.is_empty() {
            t.alternate_id.clone()
        } else {
            t.id.clone()
        }
    });
    let found = |email: String| {
        Some(Recipient {
            email,
            user: user.clone().filter(|u| !u.is_empty()),
        })
    };
    // 1. The User target.
    if let Some(t) = user_target
        && let Some(a) = first(&t.alternate_id).or_else(|| first(&t.display_name))
    {
        return found(a);
    }
    // 2. A recipient field of debugData.
    for key in RECIPIENT_KEYS {
        for (k, v) in &e.debug {
            if normal(k) == key {
                let mut s = String::new();
                collect_strings(v, &mut s);
                if let Some(a) = first(&s) {
                    return found(a);
                }
            }
        }
    }
    // 3. Any other target naming an address (not a removal's list).
    for t in e
        .targets
        .iter()
        .filter(|t| !t.kind.eq_ignore_ascii_case("EmailList"))
    {
        if let Some(a) = first(&t.alternate_id).or_else(|| first(&t.display_name)) {
            return found(a);
        }
    }
    // 4. The event's words.
    let mut rest = format!("{} {} ", e.display_message, e.reason);
    for (k, v) in &e.debug {
        if !is_sender_key(k) {
            collect_strings(v, &mut rest);
        }
    }
    first(&rest).and_then(found)
}

/// The addresses a `system.email.bounce.removal` names: its targets' lists (up to 50 each; one request
/// may be logged as several events), or else its `debugData` and message.
pub fn removal_addresses(e: &LogEvent) -> Vec<String> {
    let mut text = String::new();
    for t in &e.targets {
        text.push_str(&t.alternate_id);
        text.push(' ');
        text.push_str(&t.display_name);
        text.push(' ');
        if let Some(d) = &t.detail {
            collect_strings(d, &mut text);
        }
    }
    let mut found: Vec<String> = addresses_in(&text)
        .into_iter()
        .filter(|a| !is_okta_sender(a))
        .collect();
    if found.is_empty() {
        let mut rest = e.display_message.clone();
        rest.push(' ');
        for (k, v) in &e.debug {
            if !is_sender_key(k) {
                collect_strings(v, &mut rest);
            }
        }
        found = addresses_in(&rest)
            .into_iter()
            .filter(|a| !is_okta_sender(a))
            .collect();
    }
    found.sort_by_key(|a| a.to_lowercase());
    found.dedup_by(|a, b| a.eq_ignore_ascii_case(b));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: Value) -> LogEvent {
        LogEvent::from_value(&v).unwrap()
    }

    #[test]
    fn kinds_from_the_outcome_and_the_words() {
        let k = |v: Value| delivery_kind(&event(v));
        assert_eq!(
            k(
                json!({"outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"}})
            ),
            Kind::Bounce
        );
        assert_eq!(
            k(
                json!({"outcome": {"result": "FAILURE"}, "displayMessage": "Email delivery FAILURE: dropped",
                     "debugContext": {"debugData": {"reason": "Bounced Address"}}})
            ),
            Kind::Dropped
        );
        assert_eq!(
            k(json!({"outcome": {"result": "DEFERRED"}})),
            Kind::Deferred
        );
        assert_eq!(
            k(json!({"outcome": {"result": "SUCCESS"}})),
            Kind::Delivered
        );
        assert_eq!(
            k(
                json!({"outcome": {"result": "FAILURE"}, "debugContext": {"debugData": {"smtp": "550 5.1.1 user unknown"}}})
            ),
            Kind::Bounce
        );
        assert_eq!(
            k(
                json!({"outcome": {"result": "FAILURE"}, "debugContext": {"debugData": {"smtp": "421 4.7.0 try later"}}})
            ),
            Kind::Deferred
        );
        assert_eq!(k(json!({"outcome": {"result": "FAILURE"}})), Kind::Other);
    }

    #[test]
    fn the_recipient_comes_from_the_most_specific_place() {
        // A User target.
        let r = recipient(&event(json!({
            "actor": {"type": "SystemPrincipal", "alternateId": "system@okta.com"},
            "target": [{"id": "00u1", "type": "User", "alternateId": "Jane@Acme.example", "displayName": "Jane"}],
            "displayMessage": "Email sent to other@acme.example bounced",
        })))
        .unwrap();
        assert_eq!(
            (r.email.as_str(), r.user.as_deref()),
            ("Jane@Acme.example", Some("00u1"))
        );
        // debugData, with the sender beside it.
        let r = recipient(&event(json!({
            "debugContext": {"debugData": {"sender": "noreply@acme.example", "recipient": "bob@acme.example"}},
        })))
        .unwrap();
        assert_eq!(r.email, "bob@acme.example");
        assert_eq!(r.user, None);
        // Only in the message; never the actor, never Okta's sender.
        let r = recipient(&event(json!({
            "actor": {"type": "User", "alternateId": "admin@acme.example"},
            "displayMessage": "Email from noreply@okta.com to carol@acme.example bounced (admin@acme.example)",
        })))
        .unwrap();
        assert_eq!(r.email, "carol@acme.example");
        assert!(recipient(&event(json!({
            "actor": {"alternateId": "admin@acme.example"},
            "displayMessage": "An email bounced for admin@acme.example, sent from noreply@okta.com",
        })))
        .is_none());
    }

    #[test]
    fn removals_name_every_listed_address() {
        let e = event(json!({
            "eventType": "system.email.bounce.removal",
            "target": [
                {"type": "EmailList", "displayName": "a@x.com, b@x.com,c@x.com"},
                {"type": "EmailList", "alternateId": "[\"d@x.com\"]"}
            ],
            "debugContext": {"debugData": {"provider": "SendGrid"}}
        }));
        assert_eq!(
            removal_addresses(&e),
            vec!["a@x.com", "b@x.com", "c@x.com", "d@x.com"]
        );
    }
}
