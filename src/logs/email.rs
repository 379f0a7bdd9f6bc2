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
/// words of its outcome's reason, then of its message, then what `debugData` says (its words, an SMTP
/// reply's class). Words are matched whole, and never inside an address (`drop.box@x.com` is no drop).
pub fn delivery_kind(e: &LogEvent) -> Kind {
    match reported_kind(e) {
        // A bounce whose SMTP reply is a 4xx (greylisting's 451, a full mailbox's 452) is a temporary
        // failure: a soft bounce, never a reason to clear the address.
        Kind::Bounce if reply_class(e) == Some('4') => Kind::Deferred,
        k => k,
    }
}

/// The kind an event reports (its outcome, words, provider's bounce type or SMTP reply class, in that
/// order), before a 4xx reply makes a reported bounce a soft one.
pub fn reported_kind(e: &LogEvent) -> Kind {
    match e.result.to_ascii_uppercase().as_str() {
        "SUCCESS" => return Kind::Delivered,
        "DEFERRED" => return Kind::Deferred,
        _ => {}
    }
    let debug = debug_text(e);
    // A delivery from words only when the event has no outcome to say otherwise.
    let words_may_deliver = e.result.trim().is_empty();
    if let Some(k) = [e.reason.as_str(), &e.display_message, &debug]
        .into_iter()
        .filter_map(kind_in)
        .find(|&k| k != Kind::Delivered || words_may_deliver)
    {
        return k;
    }
    if let Some(k) = bounce_type(e) {
        return k;
    }
    let failed = e.result.eq_ignore_ascii_case("FAILURE");
    match smtp_class(&without_addresses(&debug)) {
        Some('5') => Kind::Bounce,
        Some('4') => Kind::Deferred,
        Some('2') if !failed => Kind::Delivered,
        _ => Kind::Other,
    }
}

/// A provider's bounce type in `debugData` (`bounceType: Permanent` as SES says it, `hard`, `soft`,
/// `Transient`): permanent is a bounce, transient a deferral.
fn bounce_type(e: &LogEvent) -> Option<Kind> {
    e.debug
        .iter()
        .filter(|(k, _)| matches!(normal(k).as_str(), "bouncetype" | "type" | "bouncekind"))
        .find_map(
            |(_, v)| match v.as_str()?.trim().to_ascii_lowercase().as_str() {
                "permanent" | "hard" | "hardbounce" | "hard bounce" => Some(Kind::Bounce),
                "transient" | "soft" | "softbounce" | "soft bounce" => Some(Kind::Deferred),
                _ => None,
            },
        )
}

/// `text` with every word that holds an `@` left out.
fn without_addresses(text: &str) -> String {
    text.split_whitespace()
        .filter(|w| !w.contains('@'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The kind the words of `text` name: a drop before a deferral (a soft bounce) before a bounce.
fn kind_in(text: &str) -> Option<Kind> {
    let text = without_addresses(text).to_lowercase();
    let words: Vec<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let any = |set: &[&str]| words.iter().any(|w| set.contains(w));
    let soft = words
        .windows(2)
        .any(|p| p[0] == "soft" && matches!(p[1], "bounce" | "bounced" | "bounces"));
    if any(&["drop", "dropped", "drops"]) {
        Some(Kind::Dropped)
    } else if soft || any(&["defer", "deferred", "deferral", "deferrals", "softbounce"]) {
        Some(Kind::Deferred)
    } else if any(&["bounce", "bounced", "bounces", "hardbounce"]) {
        Some(Kind::Bounce)
    } else if any(&[
        "failure",
        "failed",
        "undeliverable",
        "undelivered",
        "rejected",
        "error",
        "not",
        "couldn",
        "cannot",
        "unable",
        "never",
    ]) {
        None
    } else if any(&["delivered", "success", "successful", "succeeded"]) {
        // An event without `outcome` that says so in words ("Email delivery SUCCESS").
        Some(Kind::Delivered)
    } else {
        None
    }
}

/// The class of the first SMTP reply code in `text` (`550 5.1.1` → `5`, `250 2.0.0 OK` → `2`).
fn smtp_class(text: &str) -> Option<char> {
    text.split(|c: char| !c.is_ascii_alphanumeric() && c != '.')
        .find_map(|w| {
            let b = w.as_bytes();
            let code = b.len() == 3 && b.iter().all(u8::is_ascii_digit);
            let enhanced = b.len() >= 5
                && b[1] == b'.'
                && w.split('.').count() == 3
                && w.bytes().all(|c| c.is_ascii_digit() || c == b'.');
            (code || enhanced)
                .then(|| b[0] as char)
                .filter(|c| matches!(c, '2' | '4' | '5'))
        })
}

/// The class of the SMTP reply an event quotes (`451 4.7.1 greylisted` → `4`): the first reply code of its
/// `debugData`, else of its outcome's reason, else of its message. A bounce with a 4xx reply is a
/// temporary failure (greylisting, a full mailbox), not a reason to clear the address.
pub fn reply_class(e: &LogEvent) -> Option<char> {
    [debug_text(e).as_str(), &e.reason, &e.display_message]
        .into_iter()
        .find_map(|t| smtp_class(&without_addresses(t)))
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

/// The strings of `v`, leaving out the values of sender keys at any depth (an `envelope` object's
/// `from`, say).
fn collect_recipient_strings(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => m
            .iter()
            .filter(|(k, _)| !is_sender_key(k))
            .for_each(|(_, x)| collect_recipient_strings(x, out)),
        Value::Array(a) => a.iter().for_each(|x| collect_recipient_strings(x, out)),
        other => collect_strings(other, out),
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
const RECIPIENT_KEYS: [&str; 14] = [
    "recipient",
    "recipientaddress",
    "recipientemail",
    "recipients",
    "email",
    "emailaddress",
    "to",
    "toaddress",
    "envelopeto",
    "rcptto",
    "bouncedaddress",
    "bouncedemail",
    "address",
    "useremail",
];

/// `debugData` keys whose addresses are never the recipient (`from`, `sender`, `envelopeFrom`,
/// `replyTo`, ...; not `envelopeTo`), nor mail's own ids (`messageId`: `<id@host>` looks like an
/// address).
fn is_sender_key(k: &str) -> bool {
    let k = normal(k);
    [
        "sender",
        "from",
        "sentby",
        "replyto",
        "returnpath",
        "notif",
        "messageid",
        "msgid",
    ]
    .iter()
    .any(|s| k.contains(s))
}

/// An address-shaped string that is no one's mailbox: a Message-ID's (`0100018c1a2b3c4d-5e6f@...`: a long
/// run of hex digits and separators) or a VERP/SRS return path (`bounces+123-ab=x.example@...`,
/// `SRS0=...@...`), which carry the recipient inside them, not as themselves.
fn is_machine_address(addr: &str) -> bool {
    let local = addr.rsplit_once('@').map_or(addr, |(l, _)| l);
    let lower = local.to_ascii_lowercase();
    // A Message-ID's left part: 20 or more hex digits and separators, digits and hex letters mixed
    // (`0100018c1a2b3c4d-5e6f`); a student number or a phone number has no letters.
    let id_like = local.len() >= 20
        && local.bytes().filter(u8::is_ascii_digit).count() * 10 >= local.len() * 4
        && local
            .bytes()
            .any(|b| matches!(b, b'a'..=b'f' | b'A'..=b'F'))
        && local
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || matches!(b, b'-' | b'.' | b'_' | b'$'));
    // VERP and SRS carry a domain after their last `=` (`bounces+123-ab=x.example`); `dept=sales+eu` does
    // not.
    let verp = lower.starts_with("srs0=")
        || lower.starts_with("srs1=")
        || lower.starts_with("prvs=")
        || local.rsplit_once('=').is_some_and(|(_, d)| d.contains('.'));
    id_like || verp || lower.starts_with("bounce+") || lower.starts_with("bounces+")
}

/// The strings under sender keys of `debugData`, at any depth.
fn sender_strings(key: &str, v: &Value, out: &mut String) {
    if is_sender_key(key) {
        return collect_strings(v, out);
    }
    match v {
        Value::Object(m) => m.iter().for_each(|(k, x)| sender_strings(k, x, out)),
        Value::Array(a) => a.iter().for_each(|x| sender_strings(key, x, out)),
        _ => {}
    }
}

/// Mailboxes that send bounces and replies, never a recipient of Okta's mail: found in free text, they
/// are the sender.
fn is_system_mailbox(addr: &str) -> bool {
    let local = addr.rsplit_once('@').map_or(addr, |(l, _)| l);
    let local = local.to_ascii_lowercase();
    [
        "mailer-daemon",
        "postmaster",
        "noreply",
        "no-reply",
        "donotreply",
        "do-not-reply",
        "bounce",
        "bounces",
    ]
    .contains(&local.as_str())
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
        c.is_whitespace() || matches!(c, ',' | ';' | '"' | '(' | ')' | '[' | ']' | '{' | '}')
    })
    .filter(|w| w.contains('@'))
    .filter_map(|w| {
        // Quotes around an address go, one inside it stays (o'brien@x.com).
        let w = w.trim_matches(|c: char| matches!(c, '.' | ':' | '<' | '>' | '`' | '\''));
        let a = address::extract(w);
        address::validate(&a).is_ok().then(|| a.into_owned())
    })
    .collect()
}

/// What the words before an address in free text say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// After "to", "for", "recipient", "Final-Recipient: rfc822;", ...
    Recipient,
    /// After "from", "sender", "by", "reply-to", ...
    Sender,
    Unsaid,
}

/// Every valid address in free text, with what the word before it says it is.
fn addresses_with_roles(text: &str) -> Vec<(String, Role)> {
    let mut out = Vec::new();
    let mut before: Vec<String> = Vec::new();
    let tokens: Vec<&str> = text
        .split(|c: char| {
            c.is_whitespace()
                || matches!(c, ':' | ';' | ',' | '<' | '>' | '(' | ')' | '[' | ']' | '"')
        })
        .filter(|w| !w.is_empty())
        .collect();
    for (at, word) in tokens.iter().enumerate() {
        let found = addresses_in(word);
        if found.is_empty() {
            let w: String = word
                .trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-')
                .to_ascii_lowercase();
            if !w.is_empty() {
                before.push(w);
            }
            continue;
        }
        // "Final-Recipient: rfc822; bob@x" and "to: <bob@x>": the address type is not the role.
        let mut words = before
            .iter()
            .rev()
            .filter(|w| !matches!(w.as_str(), "rfc822" | "smtp" | "address" | "addr" | "user"));
        let role_word = words.next();
        // "reported to", "notified to", "forwarded to": someone told of it, not whom the mail was for.
        let told = role_word.is_some_and(|w| w == "to")
            && words.next().is_some_and(|w| {
                matches!(
                    w.as_str(),
                    "reported" | "notified" | "forwarded" | "copied" | "escalated" | "cc" | "bcc"
                )
            });
        // An SMTP reply names the recipient it refuses: "550 5.1.1 <bob@x>: user unknown"; unless the
        // words after it say it is the sender it refuses ("<x@y>: Sender address rejected", "Domain of
        // sender address does not exist").
        let coded = role_word.is_some_and(|w| {
            w.starts_with(['4', '5'])
                && w.len() >= 3
                && w.chars().all(|c| c.is_ascii_digit() || c == '.')
        });
        let sender_after = tokens[at + 1..]
            .iter()
            .take(5)
            .any(|w| w.eq_ignore_ascii_case("sender"));
        if coded && sender_after {
            out.extend(found.into_iter().map(|a| (a, Role::Sender)));
            before.clear();
            continue;
        }
        let smtp_code = coded;
        let role = match role_word.map(String::as_str) {
            _ if told => Role::Sender,
            _ if smtp_code => Role::Recipient,
            Some(
                "to"
                | "for"
                | "recipient"
                | "recipients"
                | "rcpt"
                | "final-recipient"
                | "original-recipient"
                | "x-failed-recipients"
                | "bounced"
                | "deliver",
            ) => Role::Recipient,
            Some(
                "from" | "sender" | "by" | "reply-to" | "return-path" | "via" | "envelope-from",
            ) => Role::Sender,
            _ => Role::Unsaid,
        };
        out.extend(found.into_iter().map(|a| (a, role)));
        before.clear();
    }
    out
}

/// The recipient that free text names, read across `texts` together: an address the words around it say
/// is the recipient (`to`, `for`, `Final-Recipient:`, an SMTP reply's `550 5.1.1 <...>`), in any of
/// them, before an address nothing is said of; and that one only when it is the one such address
/// (`marked` and `lone` say which addresses may be taken as each). Several name no one for sure.
fn recipient_in_text(
    texts: &[&str],
    marked: impl Fn(&String) -> bool,
    lone: impl Fn(&String) -> bool,
) -> Option<String> {
    let found: Vec<(String, Role)> = texts
        .iter()
        .flat_map(|t| addresses_with_roles(t))
        .filter(|(_, role)| *role != Role::Sender)
        .collect();
    if let Some((a, _)) = found.iter().find(|(a, r)| {
        *r == Role::Recipient && marked(a) && !is_machine_address(a) && !is_system_mailbox(a)
    }) {
        return Some(a.clone());
    }
    let mut unsaid = found
        .into_iter()
        .filter(|(a, r)| *r == Role::Unsaid && lone(a) && !is_system_mailbox(a))
        .map(|(a, _)| a);
    let first = unsaid.next()?;
    unsaid
        .all(|a| a.eq_ignore_ascii_case(&first))
        .then_some(first)
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
        .flat_map(|(k, v)| {
            let mut s = String::new();
            sender_strings(k, v, &mut s);
            addresses_in(&s)
        })
        .map(|a| a.to_lowercase())
        .collect();
    // An address a field names as the recipient is taken as it is (an Okta employee's, the actor's own in
    // a self-service flow), unless debugData names it as a sender; one found elsewhere must also be
    // none of Okta's senders, not the actor, and a mailbox (not a Message-ID or a return path).
    let not_sender = |a: &String| !senders.contains(&a.to_lowercase());
    let usable = |a: &String| {
        not_sender(a)
            && !is_okta_sender(a)
            && !actor.contains(&a.to_lowercase())
            && !is_machine_address(a)
    };
    let first_named = |text: &str| addresses_in(text).into_iter().find(|a| not_sender(a));
    let first = |text: &str| addresses_in(text).into_iter().find(|a| usable(a));
    let user_targets: Vec<&super::Party> = e
        .targets
        .iter()
        .filter(|t| t.kind.eq_ignore_ascii_case("User"))
        .collect();
    let named = |t: &super::Party| {
        let mut all = addresses_in(&t.alternate_id);
        all.extend(addresses_in(&t.display_name));
        all
    };
    // The Okta user is the User target that names the address, or the only User target when it names no
    // address at all (a login that is not one); never a User who is someone else.
    let found = |email: String| {
        let user = user_targets
            .iter()
            .find(|t| named(t).iter().any(|a| a.eq_ignore_ascii_case(&email)))
            .or(match user_targets.as_slice() {
                [only] if named(only).is_empty() => Some(only),
                _ => None,
            })
            .map(|t| {
                if t.id.is_empty() {
                    t.alternate_id.clone()
                } else {
                    t.id.clone()
                }
            })
            .filter(|u| !u.is_empty());
        Some(Recipient { email, user })
    };
    // 1. A recipient field of debugData: the address the mail went to (a User target's login may be
    //    another).
    for key in RECIPIENT_KEYS {
        for (k, v) in &e.debug {
            if normal(k) == key {
                let mut s = String::new();
                collect_recipient_strings(v, &mut s);
                if let Some(a) = first_named(&s) {
                    return found(a);
                }
            }
        }
    }
    // 2. A User target: the only one, even when it is the actor (a user who asked for a password reset
    //    is both); among several, not the actor (an admin acting on a user).
    let several = user_targets.len() > 1;
    for t in &user_targets {
        let take = |text: &str| {
            addresses_in(text)
                .into_iter()
                .find(|a| not_sender(a) && !(several && actor.contains(&a.to_lowercase())))
        };
        if let Some(a) = take(&t.alternate_id).or_else(|| take(&t.display_name)) {
            return found(a);
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
    // 4. The event's words: the outcome's reason, the message and the rest of debugData, read together for
    //    what the words around an address say it is. Never the actor's (only a User target may be the
    //    actor too); one nothing is said of is not a Message-ID or a return path either.
    let mut rest = String::new();
    collect_recipient_strings(&Value::Object(e.debug.clone()), &mut rest);
    let marked =
        |a: &String| not_sender(a) && !is_okta_sender(a) && !actor.contains(&a.to_lowercase());
    recipient_in_text(
        &[e.reason.as_str(), &e.display_message, &rest],
        marked,
        usable,
    )
    .and_then(found)
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
    // The targets' lists are what was submitted, taken as they are.
    let mut found: Vec<String> = addresses_in(&text);
    if found.is_empty() {
        let mut rest = e.display_message.clone();
        rest.push(' ');
        collect_recipient_strings(&Value::Object(e.debug.clone()), &mut rest);
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
        // Logged as a bounce, but its reply is a 4xx (greylisting): a soft bounce, never cleared.
        let greylisted = json!({"outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"},
                                "debugContext": {"debugData": {"smtpResponse": "451 4.7.1 Greylisted"}}});
        assert_eq!(reported_kind(&event(greylisted.clone())), Kind::Bounce);
        assert_eq!(k(greylisted), Kind::Deferred);
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
    fn kinds_are_whole_words_outside_addresses() {
        let k = |reason: &str, message: &str| {
            delivery_kind(&event(
                json!({"outcome": {"result": "FAILURE", "reason": reason},
                                        "displayMessage": message}),
            ))
        };
        assert_eq!(k("Bounce", "mail to drop.box@x.com failed"), Kind::Bounce);
        assert_eq!(k("", "Email to bounce.desk@x.com: dropped"), Kind::Dropped);
        assert_eq!(k("Soft bounce", ""), Kind::Deferred);
        assert_eq!(k("undroppable bounces", ""), Kind::Bounce);
        // The outcome's reason before the message.
        assert_eq!(k("Bounce", "Email dropped"), Kind::Bounce);
        assert_eq!(k("", "airdrop failed"), Kind::Other);
    }

    #[test]
    fn free_text_names_the_recipient_by_the_words_around_it() {
        let r =
            |message: &str| recipient(&event(json!({"displayMessage": message}))).map(|r| r.email);
        let some = |a: &str| Some(a.to_string());
        assert_eq!(
            r("Delivery to bob@x.com failed; reported by mailer-daemon@mx.x.com"),
            some("bob@x.com")
        );
        assert_eq!(
            r("Message from it-noreply@acme.example to carol@acme.example bounced"),
            some("carol@acme.example")
        );
        assert_eq!(r("Final-Recipient: rfc822; dan@x.com"), some("dan@x.com"));
        assert_eq!(r("to:<erin@x.com> bounced"), some("erin@x.com"));
        assert_eq!(r("o'brien@x.com bounced"), some("o'brien@x.com"));
        assert_eq!(
            r("MAILER-DAEMON@mx.x.com returned mail for frank@x.com"),
            some("frank@x.com")
        );
        // Only a sender, or two addresses with nothing said of them: no one for sure.
        assert_eq!(r("Mail from sender@acme.example bounced"), None);
        assert_eq!(r("a@x.com, b@x.com bounced"), None);
        assert_eq!(r("postmaster@x.com: undeliverable"), None);
    }

    #[test]
    fn debug_data_senders_at_any_depth_and_the_user_who_was_meant() {
        let r = recipient(&event(json!({
            "target": [{"id": "00uA", "type": "User", "alternateId": "jdoe"}],
            "debugContext": {"debugData": {"envelope": {"from": "s@acme.example", "to": "r@acme.example"}}}
        })))
        .unwrap();
        assert_eq!(
            (r.email.as_str(), r.user.as_deref()),
            ("r@acme.example", Some("00uA"))
        );
        let r = recipient(&event(json!({
            "target": [{"id": "00uB", "type": "User", "alternateId": "admin@acme.example"},
                       {"type": "User", "id": "00uC", "alternateId": "kim@acme.example"}],
            "actor": {"alternateId": "admin@acme.example"},
            "debugContext": {"debugData": {"envelopeTo": "kim@acme.example"}}
        })))
        .unwrap();
        assert_eq!(
            (r.email.as_str(), r.user.as_deref()),
            ("kim@acme.example", Some("00uC"))
        );
        // The recipient from debugData, the User target someone else: no user named.
        let r = recipient(&event(json!({
            "target": [{"id": "00uD", "type": "User", "alternateId": "okta.admin@okta.com"}],
            "debugContext": {"debugData": {"recipient": "lee@acme.example"}}
        })))
        .unwrap();
        assert_eq!((r.email.as_str(), r.user), ("lee@acme.example", None));
    }

    #[test]
    fn explicit_recipients_win_and_machine_addresses_are_no_one() {
        let r = |v: Value| recipient(&event(v)).map(|r| (r.email, r.user));
        // A recipient field beats a User target's login; the user is named only when it is the same.
        assert_eq!(
            r(json!({
                "target": [{"id": "00uS", "type": "User", "alternateId": "sam.login@corp.example"}],
                "debugContext": {"debugData": {"recipient": "sam.personal@gmail.example"}}
            })),
            Some(("sam.personal@gmail.example".into(), None))
        );
        // The only User target is the recipient even when it is the actor (a self-service reset), and
        // even at okta.com.
        assert_eq!(
            r(json!({
                "actor": {"id": "00uR", "type": "User", "alternateId": "rita@x.example"},
                "target": [{"id": "00uR", "type": "User", "alternateId": "rita@x.example"}],
                "outcome": {"result": "FAILURE", "reason": "Email delivery FAILURE: Bounce"}
            })),
            Some(("rita@x.example".into(), Some("00uR".into())))
        );
        assert_eq!(
            r(
                json!({"target": [{"id": "00uU", "type": "User", "alternateId": "ursa@partner.okta.com"}]})
            ),
            Some(("ursa@partner.okta.com".into(), Some("00uU".into())))
        );
        // A Message-ID or a VERP return path in debugData is no recipient.
        assert_eq!(
            r(json!({"debugContext": {"debugData": {
                "messageId": "<0100018c1a2b3c4d-5e6f@email.amazonses.com>", "reason": "Bounced Address"}}})),
            None
        );
        assert_eq!(
            r(
                json!({"debugContext": {"debugData": {"note": "bounces+123-ab=x.example@em.acme.example"}}})
            ),
            None
        );
        assert_eq!(
            r(json!({"displayMessage": "id 0100018c1a2b3c4d5e6f7a8b@mx.example bounced"})),
            None
        );
    }

    #[test]
    fn a_recipient_said_so_anywhere_beats_a_lone_address() {
        let r = |v: Value| recipient(&event(v)).map(|r| r.email);
        let some = |a: &str| Some(a.to_string());
        assert_eq!(
            r(
                json!({"outcome": {"reason": "Email delivery FAILURE: Bounce; admin notified: it-team@acme.example"},
                     "displayMessage": "Email to bob5@x.example bounced"})
            ),
            some("bob5@x.example")
        );
        assert_eq!(
            r(
                json!({"displayMessage": "Bounce (helpdesk: it-help@acme.example)",
                     "debugContext": {"debugData": {"smtpResponse": "550 5.1.1 RCPT TO:<carl5@x.example> user unknown"}}})
            ),
            some("carl5@x.example")
        );
        assert_eq!(
            r(
                json!({"debugContext": {"debugData": {"sentBy": "okta-mailer@acme.example",
                     "smtpResponse": "550 5.1.1 <mona@x.example> unknown"}}})
            ),
            some("mona@x.example")
        );
        assert_eq!(
            r(
                json!({"displayMessage": "Bounce for bob@x.example (reported to it-team@acme.example)"})
            ),
            some("bob@x.example")
        );
        assert_eq!(
            r(json!({"displayMessage": "550 5.1.1 Undeliverable mail: bob.mail@x.example"})),
            some("bob.mail@x.example")
        );
        // Real mailboxes that only look like machine addresses.
        for a in [
            "2019123456789012@student.univ.edu",
            "0049-151-12345678@sms.x.example",
            "dee.abbe.1985120312@x.example",
            "dept=sales+eu@x.example",
        ] {
            assert_eq!(
                r(json!({"displayMessage": format!("Email to {a} bounced")})),
                some(a),
                "{a}"
            );
            assert_eq!(
                r(json!({"displayMessage": format!("{a} bounced")})),
                some(a),
                "{a}"
            );
        }
    }

    #[test]
    fn smtp_replies_that_refuse_the_sender() {
        let r = |m: &str| recipient(&event(json!({"displayMessage": m}))).map(|r| r.email);
        assert_eq!(
            r("bob@x.example: 550 5.7.1 <noreply@acme.example>: Sender address rejected"),
            Some("bob@x.example".into())
        );
        assert_eq!(
            r(
                "553 5.1.8 <bounces+123-ab=x.example@em.acme.example>... Domain of sender address does not exist"
            ),
            None
        );
    }

    #[test]
    fn deliveries_said_in_words() {
        let k = |v: Value| delivery_kind(&event(v));
        assert_eq!(
            k(json!({"displayMessage": "Email delivery SUCCESS"})),
            Kind::Delivered
        );
        assert_eq!(
            k(json!({"displayMessage": "Email delivered"})),
            Kind::Delivered
        );
        assert_eq!(
            k(json!({"displayMessage": "Email delivery FAILURE"})),
            Kind::Other
        );
        assert_eq!(
            k(json!({"displayMessage": "Email could not be delivered"})),
            Kind::Other
        );
        // An outcome that says otherwise wins over words.
        assert_eq!(
            k(
                json!({"outcome": {"result": "FAILURE"}, "displayMessage": "Email delivery",
                "debugContext": {"debugData": {"smtpResponse":
                    "550 5.1.1 mailbox does not exist; message could not be delivered"}}})
            ),
            Kind::Bounce
        );
        assert_eq!(
            k(
                json!({"debugContext": {"debugData": {"smtpResponse": "250 2.0.0 OK 1732783456 5.1.1"}}})
            ),
            Kind::Delivered
        );
    }

    #[test]
    fn provider_bounce_types() {
        let k = |t: &str| {
            delivery_kind(&event(json!({"outcome": {"result": "FAILURE"},
                "debugContext": {"debugData": {"bounceType": t}}})))
        };
        assert_eq!(k("Permanent"), Kind::Bounce);
        assert_eq!(k("hard"), Kind::Bounce);
        assert_eq!(k("Transient"), Kind::Deferred);
        assert_eq!(k("Undetermined"), Kind::Other);
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
