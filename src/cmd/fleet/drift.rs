//! The answers of a read command across orgs, side by side, so that differences stand out (a drift
//! view): one row per field, one column per org, a `*` before each field whose value is not the same
//! in every org. `-o json` gives one object keyed by profile (each org's answer as Okta sent it, `null`
//! for an org that gave none).

use serde_json::{Map, Value};

use super::super::{CmdError, json_for_stdout, shown, write_stdout};
use super::table::Line;
use crate::cli::Output;
use crate::exit::Exit;

/// What a field shows for an org whose answer lacks it.
const ABSENT: &str = "-";

/// Prints the orgs' answers (the bodies the fleet kept) on stdout.
pub fn show(lines: &[Line], output: Output) -> Result<Exit, CmdError> {
    let answered: Vec<&Line> = lines
        .iter()
        .filter(|l| l.started && l.counted.stop.is_none())
        .collect();
    match output {
        Output::Json => {
            let all: Map<String, Value> = lines
                .iter()
                .map(|l| {
                    let body = if answered.iter().any(|a| a.profile == l.profile) {
                        l.counted.body.clone()
                    } else {
                        Value::Null
                    };
                    (l.profile.clone(), body)
                })
                .collect();
            let text = serde_json::to_vec(&Value::Object(all)).expect("JSON serialises");
            write_stdout(&json_for_stdout(
                &text,
                std::io::IsTerminal::is_terminal(&std::io::stdout()),
            ))
        }
        Output::Text if answered.is_empty() => Ok(Exit::Ok),
        Output::Text => {
            let columns: Vec<(&str, &Value)> = answered
                .iter()
                .map(|l| (l.profile.as_str(), &l.counted.body))
                .collect();
            let (table, differs) = table(&columns);
            if differs {
                crate::term::note("fields marked * differ between orgs");
            }
            write_stdout(table.as_bytes())
        }
    }
}

/// The table of `columns` (profile, answer), and whether any field differs.
fn table(columns: &[(&str, &Value)]) -> (String, bool) {
    let flat: Vec<Vec<(String, String)>> = columns
        .iter()
        .map(|(_, v)| {
            let mut out = Vec::new();
            flatten("", v, &mut out);
            out
        })
        .collect();
    // Fields in the order the orgs' answers first name them.
    let mut fields: Vec<&str> = Vec::new();
    for org in &flat {
        for (f, _) in org {
            if !fields.contains(&f.as_str()) {
                fields.push(f);
            }
        }
    }
    let mut rows: Vec<Vec<String>> = vec![
        std::iter::once(String::new())
            .chain(std::iter::once("field".to_string()))
            .chain(columns.iter().map(|(p, _)| shown(p).into_owned()))
            .collect(),
    ];
    let mut differs = false;
    for field in &fields {
        let values: Vec<&str> = flat
            .iter()
            .map(|org| {
                org.iter()
                    .find(|(f, _)| f == field)
                    .map_or(ABSENT, |(_, v)| v.as_str())
            })
            .collect();
        let differ = values.iter().any(|v| *v != values[0]);
        differs |= differ;
        rows.push(
            std::iter::once(if differ { "*" } else { "" }.to_string())
                .chain(std::iter::once(shown(field).into_owned()))
                .chain(values.iter().map(|v| shown(v).into_owned()))
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, &w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    (out, differs)
}

/// Every value of `v` with its path (`impersonation.status`, `[0].contactType`), links (`_links`,
/// `_embedded`) left out: they name each org's own URLs, which always differ.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    let at = |key: &str| match prefix {
        "" => key.to_string(),
        p if key.starts_with('[') => format!("{p}{key}"),
        p => format!("{p}.{key}"),
    };
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m.iter().filter(|(k, _)| !k.starts_with('_')) {
                flatten(&at(k), v, out);
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for (i, v) in a.iter().enumerate() {
                flatten(&at(&format!("[{i}]")), v, out);
            }
        }
        other => {
            let text = match other {
                Value::String(s) => s.clone(),
                Value::Null | Value::Object(_) | Value::Array(_) => "(none)".into(),
                v => v.to_string(),
            };
            let name = if prefix.is_empty() {
                "(answer)"
            } else {
                prefix
            };
            out.push((name.to_string(), text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_that_differ_are_marked() {
        let a = json!({"companyName": "Acme", "city": "Paris", "_links": {"self": {"href": "x"}}});
        let b = json!({"companyName": "Acme 2", "city": "Paris", "impersonation": {"status": "ENABLED"}});
        let (t, differs) = table(&[("org1", &a), ("org2", &b)]);
        assert!(differs);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(
            lines[0].split_whitespace().collect::<Vec<_>>(),
            ["field", "org1", "org2"]
        );
        assert!(lines[1].starts_with("*  companyName"), "{t}");
        assert!(lines[2].starts_with("   city"), "{t}");
        assert!(
            lines[3].starts_with("*  impersonation.status") && lines[3].contains(" -"),
            "{t}"
        );
        assert!(!t.contains("_links") && !t.contains("href"), "{t}");
        let (_, same) = table(&[("org1", &a), ("org2", &a)]);
        assert!(!same);
    }
}
