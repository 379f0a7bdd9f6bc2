//! The System Log's `filter` parameter: a SCIM filter expression (RFC 7644 §3.4.2.2) over a LogEvent's
//! attributes, e.g. `eventType eq "system.email.delivery" and (outcome.result eq "FAILURE" or
//! outcome.result eq "DEFERRED")`. Operators `eq ne co sw ew gt ge lt le pr`, `and`, `or`, `not (...)`
//! and parentheses, with SCIM's precedence (`not` over `and` over `or`). An attribute path that crosses an
//! array (`target.id`) matches when any element does. Values compare case-sensitively. Okta supports every
//! operator but the `[ ]` value filter; anything this parser does not take is a 400, as Okta's would be.

use serde_json::Value;

/// Top-level properties of a LogEvent (the OpenAPI schema); a filter on anything else is refused.
const ATTRIBUTES: &[&str] = &[
    "actor",
    "authenticationContext",
    "client",
    "debugContext",
    "device",
    "displayMessage",
    "eventType",
    "legacyEventType",
    "outcome",
    "published",
    "request",
    "securityContext",
    "severity",
    "target",
    "transaction",
    "uuid",
    "version",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Vec<String>, Op, Value),
    Present(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Text(String),
}

fn tokens(text: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                out.push(Token::Open);
            }
            ')' => {
                chars.next();
                out.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("a quoted value is not closed".into()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '/')) => s.push(e),
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some(other) => return Err(format!("unknown escape \\{other}")),
                            None => return Err("a quoted value is not closed".into()),
                        },
                        Some(other) => s.push(other),
                    }
                }
                out.push(Token::Text(s));
            }
            '[' | ']' => return Err("value filters ([ ]) are not supported".into()),
            _ => {
                let mut w = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || matches!(c, '(' | ')' | '"' | '[' | ']') {
                        break;
                    }
                    w.push(c);
                    chars.next();
                }
                out.push(Token::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.at += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.at += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_word("not") {
            self.at += 1;
            if self.tokens.get(self.at) != Some(&Token::Open) {
                return Err("not must be followed by a parenthesised expression".into());
            }
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            Some(Token::Word(attr)) => self.comparison(&attr),
            Some(Token::Close) => Err("unexpected )".into()),
            Some(Token::Text(t)) => Err(format!("expected an attribute, not \"{t}\"")),
            None => Err("the expression ends too early".into()),
        }
    }

    fn comparison(&mut self, attr: &str) -> Result<Expr, String> {
        let path: Vec<String> = attr.split('.').map(str::to_string).collect();
        let known = ATTRIBUTES.contains(&path[0].as_str())
            && path
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        if !known {
            return Err(format!("unknown attribute {attr}"));
        }
        let name = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            _ => return Err(format!("expected an operator after {attr}")),
        };
        let op = match name.as_str() {
            "pr" => return Ok(Expr::Present(path)),
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "co" => Op::Co,
            "sw" => Op::Sw,
            "ew" => Op::Ew,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "lt" => Op::Lt,
            "le" => Op::Le,
            other => return Err(format!("unknown operator {other}")),
        };
        let value = match self.next() {
            Some(Token::Text(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                n => match serde_json::from_str::<serde_json::Number>(n) {
                    Ok(n) => Value::Number(n),
                    Err(_) => return Err(format!("{n} is not a value (strings are quoted)")),
                },
            },
            _ => return Err(format!("expected a value after {attr} {name}")),
        };
        Ok(Expr::Compare(path, op, value))
    }
}

/// Parses a filter expression; the error says what is wrong with it.
pub(crate) fn parse(text: &str) -> Result<Expr, String> {
    let mut p = Parser {
        tokens: tokens(text)?,
        at: 0,
    };
    if p.tokens.is_empty() {
        return Err("the filter is empty".into());
    }
    let expr = p.or()?;
    match p.tokens.get(p.at) {
        None => Ok(expr),
        Some(t) => Err(format!("unexpected {t:?} after a complete expression")),
    }
}

/// The values at `path`, through arrays.
fn values<'a>(v: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| values(i, path, out)),
        _ => match path.split_first() {
            None => out.push(v),
            Some((first, rest)) => {
                if let Some(child) = v.get(first.as_str()) {
                    values(child, rest, out);
                }
            }
        },
    }
}

fn compare(found: &Value, op: Op, want: &Value) -> bool {
    use std::cmp::Ordering;
    let order = match (found, want) {
        (Value::String(a), Value::String(b)) => Some(a.as_str().cmp(b.as_str())),
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        _ => None,
    };
    let text = found.as_str().zip(want.as_str());
    match op {
        Op::Eq => found == want,
        Op::Ne => found != want,
        Op::Co => text.is_some_and(|(a, b)| a.contains(b)),
        Op::Sw => text.is_some_and(|(a, b)| a.starts_with(b)),
        Op::Ew => text.is_some_and(|(a, b)| a.ends_with(b)),
        Op::Gt => order == Some(Ordering::Greater),
        Op::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
        Op::Lt => order == Some(Ordering::Less),
        Op::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
    }
}

impl Expr {
    pub(crate) fn matches(&self, event: &Value) -> bool {
        match self {
            Expr::Or(a, b) => a.matches(event) || b.matches(event),
            Expr::And(a, b) => a.matches(event) && b.matches(event),
            Expr::Not(e) => !e.matches(event),
            Expr::Present(path) => {
                let mut found = Vec::new();
                values(event, path, &mut found);
                found.iter().any(|v| !v.is_null() && v.as_str() != Some(""))
            }
            Expr::Compare(path, op, want) => {
                let mut found = Vec::new();
                values(event, path, &mut found);
                match op {
                    // Multi-valued: `ne` holds when no value equals.
                    Op::Ne => !found.contains(&want),
                    _ => found.iter().any(|v| compare(v, *op, want)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;
    use serde_json::json;

    fn event(kind: &str, result: &str, targets: &[&str]) -> serde_json::Value {
        let target: Vec<_> = targets
            .iter()
            .map(|id| json!({"id": id, "type": "User"}))
            .collect();
        json!({"eventType": kind, "outcome": {"result": result, "reason": null}, "target": target,
               "actor": {"id": "sys", "type": "SystemPrincipal"}})
    }

    fn m(filter: &str, e: &serde_json::Value) -> bool {
        parse(filter)
            .unwrap_or_else(|e| panic!("{filter}: {e}"))
            .matches(e)
    }

    #[test]
    fn and_binds_tighter_than_or() {
        let delivered = event("system.email.delivery", "SUCCESS", &[]);
        let removal = event("system.email.bounce.removal", "SUCCESS", &[]);
        // a and b or c  ==  (a and b) or c
        let f = r#"eventType eq "system.email.delivery" and outcome.result eq "FAILURE" or eventType eq "system.email.bounce.removal""#;
        assert!(!m(f, &delivered));
        assert!(m(f, &removal));
        // a or b and c  ==  a or (b and c)
        let f = r#"eventType eq "system.email.bounce.removal" or eventType eq "system.email.delivery" and outcome.result eq "FAILURE""#;
        assert!(!m(f, &delivered));
        assert!(m(f, &removal));
        let f = r#"(eventType eq "system.email.bounce.removal" OR eventType eq "system.email.delivery") AND outcome.result eq "SUCCESS""#;
        assert!(m(f, &delivered));
        assert!(m(f, &removal));
        assert!(!m(r#"not (outcome.result eq "SUCCESS")"#, &delivered));
    }

    #[test]
    fn arrays_match_when_any_element_does() {
        let e = event("system.email.delivery", "FAILURE", &["00u1", "00u2"]);
        assert!(m(r#"target.id eq "00u2""#, &e));
        assert!(!m(r#"target.id eq "00u3""#, &e));
        assert!(m(r#"target.id ne "00u3""#, &e));
        assert!(!m(r#"target.id ne "00u1""#, &e));
        assert!(m(r#"actor.id eq "sys" and target pr"#, &e));
        assert!(!m(r#"eventType eq "SYSTEM.EMAIL.DELIVERY""#, &e));
        assert!(m(r#"eventType sw "system.email""#, &e));
    }

    #[test]
    fn escapes_in_values() {
        let e = json!({"displayMessage": "say \"hi\" \\ bye", "eventType": "x"});
        assert!(m(r#"displayMessage eq "say \"hi\" \\ bye""#, &e));
    }

    #[test]
    fn what_it_refuses() {
        for bad in [
            "",
            "eventType",
            r#"eventType eq"#,
            r#"eventType = "x""#,
            r#"eventType eq system.email.delivery"#,
            r#"eventType eq "x" and"#,
            r#"(eventType eq "x""#,
            r#"eventType eq "x")"#,
            r#"eventType eq "x" outcome.result eq "y""#,
            r#"nosuch eq "x""#,
            r#"target[type eq "User"].id eq "x""#,
            r#"eventType eq "unterminated"#,
            r#"not eventType eq "x""#,
            r#"eventType regex "x""#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
