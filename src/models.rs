//! Typed models of the Org API objects, as the official OpenAPI spec names their fields. Every model keeps
//! the fields it does not know in a flattened map, so nothing Okta adds is dropped on a read-modify-write;
//! optional fields are skipped when absent. `Render` turns each into the readable `-o text` view.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `-o text` view of an object.
pub trait Render {
    fn render(&self) -> String;
}

/// Lines of `label  value`, aligned, skipping absent values.
fn table(rows: &[(&str, Option<String>)]) -> String {
    let width = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    rows.iter()
        .filter_map(|(label, v)| v.as_ref().map(|v| format!("{label:width$}  {v}")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A field name this tool does not know, as words: `endUserSupportHelpURL` reads `End user support help
/// URL`, `some_field` reads `Some field`.
pub fn words(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut parts: Vec<String> = Vec::new();
    let mut word = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|p| chars[p]);
        let next = chars.get(i + 1).copied();
        let starts = c.is_uppercase()
            && (prev.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit())
                || (prev.is_some_and(char::is_uppercase) && next.is_some_and(char::is_lowercase)));
        if c == '_' || c == '-' || c == ' ' || starts {
            if !word.is_empty() {
                parts.push(std::mem::take(&mut word));
            }
            if !starts {
                continue;
            }
        }
        word.push(c);
    }
    parts.extend((!word.is_empty()).then_some(word));
    let parts: Vec<String> = parts
        .into_iter()
        .enumerate()
        .map(|(i, w)| {
            let acronym = w.chars().count() > 1 && w.chars().all(|c| !c.is_lowercase());
            match (i, acronym) {
                (_, true) => w,
                (0, false) => {
                    let mut cs = w.chars();
                    cs.next()
                        .map(|f| {
                            f.to_uppercase()
                                .chain(cs.flat_map(char::to_lowercase))
                                .collect()
                        })
                        .unwrap_or_default()
                }
                _ => w.to_lowercase(),
            }
        })
        .collect();
    parts.join(" ")
}

/// A value in a text view: text as it is, booleans as yes/no, nothing as `(none)`.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => yes_no(Some(*b)).unwrap_or_default(),
        Value::Null => "(none)".into(),
        other => other.to_string(),
    }
}

fn extra_rows(extra: &Map<String, Value>) -> Vec<(String, Option<String>)> {
    extra
        .iter()
        .filter(|(k, _)| !k.starts_with('_'))
        .map(|(k, v)| (words(k), Some(value_text(v))))
        .collect()
}

fn with_extra(rows: Vec<(&str, Option<String>)>, extra: &Map<String, Value>) -> String {
    let extra = extra_rows(extra);
    let mut all: Vec<(&str, Option<String>)> = rows;
    all.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
    table(&all)
}

fn yes_no(b: Option<bool>) -> Option<String> {
    b.map(|b| if b { "yes" } else { "no" }.to_string())
}

/// The org's general settings (`/api/v1/org`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subdomain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(
        default,
        rename = "endUserSupportHelpURL",
        skip_serializing_if = "Option::is_none"
    )]
    pub end_user_support_help_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Fields of the org setting that Okta sets and never takes back (`_links` included).
pub const READ_ONLY_FIELDS: [&str; 7] = [
    "id",
    "subdomain",
    "status",
    "created",
    "lastUpdated",
    "expiresAt",
    "_links",
];

/// Fields `settings update --set` may change, by their API names.
pub const WRITABLE_FIELDS: [&str; 11] = [
    "companyName",
    "website",
    "phoneNumber",
    "endUserSupportHelpURL",
    "supportPhoneNumber",
    "address1",
    "address2",
    "city",
    "state",
    "country",
    "postalCode",
];

impl OrgSetting {
    /// The same object without the fields Okta does not take.
    pub fn writable(&self) -> OrgSetting {
        let mut w = self.clone();
        w.id = None;
        w.subdomain = None;
        w.status = None;
        w.created = None;
        w.last_updated = None;
        w.expires_at = None;
        w.extra
            .retain(|k, _| !READ_ONLY_FIELDS.contains(&k.as_str()));
        w
    }
}

impl Render for OrgSetting {
    fn render(&self) -> String {
        with_extra(
            vec![
                ("Company name", self.company_name.clone()),
                ("Subdomain", self.subdomain.clone()),
                ("ID", self.id.clone()),
                ("Status", self.status.clone()),
                ("Website", self.website.clone()),
                ("Phone", self.phone_number.clone()),
                ("Support phone", self.support_phone_number.clone()),
                ("Support help URL", self.end_user_support_help_url.clone()),
                ("Address 1", self.address1.clone()),
                ("Address 2", self.address2.clone()),
                ("City", self.city.clone()),
                ("State", self.state.clone()),
                ("Postal code", self.postal_code.clone()),
                ("Country", self.country.clone()),
                ("Created", self.created.clone()),
                ("Last updated", self.last_updated.clone()),
                ("Expires", self.expires_at.clone()),
            ],
            &self.extra,
        )
    }
}

/// An entry of `GET /api/v1/org/contacts`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactTypeObj {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_type: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Render for Vec<ContactTypeObj> {
    fn render(&self) -> String {
        let types: Vec<String> = self
            .iter()
            .map(|c| {
                c.contact_type
                    .as_deref()
                    .map_or_else(|| "(unnamed)".into(), str::to_lowercase)
            })
            .collect();
        let shown = if types.is_empty() {
            "(none)".to_string()
        } else {
            types.join(", ")
        };
        table(&[("Contact types", Some(shown))])
    }
}

/// The user behind a contact type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactUser {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Render for ContactUser {
    fn render(&self) -> String {
        with_extra(vec![("User ID", self.user_id.clone())], &self.extra)
    }
}

/// Okta Support access (`/api/v1/org/privacy/oktaSupport`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Render for SupportSettings {
    fn render(&self) -> String {
        with_extra(
            vec![
                ("Okta Support access", self.support.clone()),
                (
                    "Expires",
                    Some(self.expiration.clone().unwrap_or_else(|| "(none)".into())),
                ),
                ("Case", self.case_number.clone()),
            ],
            &self.extra,
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Impersonation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// `Some(None)` is an explicit `null`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "nullable")]
    pub expiration: Option<Option<String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SelfAssigned {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An Okta Support case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportCase {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impersonation: Option<Impersonation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_assigned: Option<SelfAssigned>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Render for SupportCase {
    fn render(&self) -> String {
        let imp = self.impersonation.as_ref();
        with_extra(
            vec![
                ("Case", self.case_number.clone()),
                ("Subject", self.subject.clone()),
                ("Access", imp.and_then(|i| i.status.clone())),
                (
                    "Expires",
                    imp.and_then(|i| i.expiration.clone())
                        .map(|e| e.unwrap_or_else(|| "(none)".into())),
                ),
                (
                    "Self-assigned",
                    self.self_assigned.as_ref().and_then(|s| s.status.clone()),
                ),
            ],
            &self.extra,
        )
    }
}

/// The org's support cases. The spec's schema wraps them in `{"supportCases": [...]}`, while its example
/// is a bare array: both are read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "CasesShape")]
pub struct SupportCases {
    #[serde(rename = "supportCases")]
    pub support_cases: Vec<SupportCase>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum CasesShape {
    Wrapped {
        #[serde(default, rename = "supportCases")]
        support_cases: Vec<SupportCase>,
        #[serde(flatten)]
        extra: Map<String, Value>,
    },
    Bare(Vec<SupportCase>),
}

impl From<CasesShape> for SupportCases {
    fn from(shape: CasesShape) -> Self {
        match shape {
            CasesShape::Wrapped {
                support_cases,
                extra,
            } => SupportCases {
                support_cases,
                extra,
            },
            CasesShape::Bare(support_cases) => SupportCases {
                support_cases,
                extra: Map::new(),
            },
        }
    }
}

impl Render for SupportCases {
    fn render(&self) -> String {
        if self.support_cases.is_empty() {
            return "(no support cases)".into();
        }
        self.support_cases
            .iter()
            .map(Render::render)
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

/// Okta Aerial consent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AerialConsent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granted_by: Option<String>,
    /// `grantedDate` in the spec's schema; its example says `grantDate`: both are read.
    #[serde(default, alias = "grantDate", skip_serializing_if = "Option::is_none")]
    pub granted_date: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Render for AerialConsent {
    fn render(&self) -> String {
        if self.account_id.is_none() {
            return "Okta Aerial: no consent granted".into();
        }
        with_extra(
            vec![
                ("Aerial account", self.account_id.clone()),
                ("Granted by", self.granted_by.clone()),
                ("Granted", self.granted_date.clone()),
            ],
            &self.extra,
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommunicationSetting {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opt_out_email_users: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Render for CommunicationSetting {
    fn render(&self) -> String {
        let receive = self.opt_out_email_users.map(|o| !o);
        with_extra(
            vec![("Users receive Okta communication emails", yes_no(receive))],
            &self.extra,
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_end_user_footer: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Render for Preferences {
    fn render(&self) -> String {
        with_extra(
            vec![("End-user footer shown", yes_no(self.show_end_user_footer))],
            &self.extra,
        )
    }
}

/// One of the boolean admin settings: its API field name and value, plus anything else in the object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// The admin settings' fields, in words.
const FLAG_LABELS: [(&str, &str); 3] = [
    ("thirdPartyAdmin", "Third-party admins"),
    (
        "autoAssignAdminAppSetting",
        "Admin Console assigned with an admin role",
    ),
    (
        "clientPrivilegesSetting",
        "Super Admin role for new public client apps",
    ),
];

impl Render for Flag {
    fn render(&self) -> String {
        let rows: Vec<(String, Option<String>)> = self
            .fields
            .iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| {
                let label = FLAG_LABELS
                    .iter()
                    .find(|(field, _)| field == k)
                    .map_or_else(|| words(k), |(_, label)| label.to_string());
                (label, Some(value_text(v)))
            })
            .collect();
        let rows: Vec<(&str, Option<String>)> =
            rows.iter().map(|(l, v)| (l.as_str(), v.clone())).collect();
        table(&rows)
    }
}

/// `/.well-known/okta-organization`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Render for OrgMetadata {
    fn render(&self) -> String {
        let link = |name: &str| {
            self.extra
                .get("_links")
                .and_then(|l| l.get(name))
                .and_then(|l| l.get("href"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let engine = self.pipeline.as_deref().map(|p| match p {
            "idx" => "idx (Identity Engine)".to_string(),
            "v1" => "v1 (Classic Engine)".to_string(),
            other => other.to_string(),
        });
        with_extra(
            vec![
                ("Org ID", self.id.clone()),
                ("Pipeline", engine),
                ("Org URL", link("organization")),
                ("Custom domain", link("alternate")),
            ],
            &self.extra,
        )
    }
}

/// Reads an explicit JSON `null` as `Some(None)`, so `"expiration": null` survives a round trip.
mod nullable {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Option<String>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Option::<String>::deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let text =
            r#"{"id":"00o1","companyName":"Okta","newField":{"a":1},"_links":{"x":{"href":"h"}}}"#;
        let o: OrgSetting = serde_json::from_str(text).unwrap();
        assert_eq!(o.extra.get("newField"), Some(&serde_json::json!({"a":1})));
        let back = serde_json::to_value(&o).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(text).unwrap());
        let w = serde_json::to_value(o.writable()).unwrap();
        assert_eq!(
            w,
            serde_json::json!({"companyName":"Okta","newField":{"a":1}})
        );
    }

    #[test]
    fn field_names_read_as_words() {
        assert_eq!(words("endUserSupportHelpURL"), "End user support help URL");
        assert_eq!(words("thirdPartyAdmin"), "Third party admin");
        assert_eq!(words("some_field"), "Some field");
        assert_eq!(words("URLPath"), "URL path");
        assert_eq!(words("x"), "X");
        let flag: Flag =
            serde_json::from_str(r#"{"thirdPartyAdmin":false,"newThing":true,"_links":{}}"#)
                .unwrap();
        assert_eq!(
            flag.render(),
            "Third-party admins  no\nNew thing           yes"
        );
    }

    #[test]
    fn support_cases_in_both_documented_shapes() {
        let wrapped: SupportCases =
            serde_json::from_str(r#"{"supportCases":[{"caseNumber":"1"}]}"#).unwrap();
        let bare: SupportCases = serde_json::from_str(r#"[{"caseNumber":"1"}]"#).unwrap();
        assert_eq!(wrapped.support_cases, bare.support_cases);
        assert_eq!(bare.support_cases[0].case_number.as_deref(), Some("1"));
    }

    #[test]
    fn support_case_keeps_explicit_null() {
        let text = r#"{"impersonation":{"status":"DISABLED","expiration":null},"caseNumber":"1"}"#;
        let c: SupportCase = serde_json::from_str(text).unwrap();
        assert_eq!(c.impersonation.as_ref().unwrap().expiration, Some(None));
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }
}
