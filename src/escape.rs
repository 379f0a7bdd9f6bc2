//! Text from outside (file names, cells, Okta's messages, System Log fields, headers) made safe to show on
//! a terminal: control characters and bidi overrides are written as visible escapes, so none can move the
//! cursor, clear the screen, set the window title, or reorder what the line seems to say.
//!
//! Escaped: C0 (U+0000–U+001F), DEL, C1 (U+0080–U+009F), and the bidi controls (U+061C, U+200E, U+200F,
//! U+202A–U+202E, U+2066–U+2069). `\n`, `\r` and `\t` read as such, other C0 and DEL as `\x1b`, the rest
//! as `\u{202e}`. Everything else, other scripts included, is kept as it is. What the escapes write is
//! plain ASCII, so escaping twice changes nothing.

use std::borrow::Cow;
use std::fmt::Write as _;

use serde_json::Value;

/// Whether `c` is written as an escape.
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}'
        | '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character escaped, line breaks included: for one value (a cell, a field).
pub fn text(s: &str) -> Cow<'_, str> {
    escape_with(s, |_| false, visible)
}

/// `s` with every unsafe character escaped but `\n`: for a message the tool lays out in lines itself.
pub fn lines(s: &str) -> Cow<'_, str> {
    escape_with(s, |c| c == '\n', visible)
}

/// JSON text with every unsafe character but `\n` written as a JSON escape (`\u202e`): a JSON document
/// that reads as the same values, safe on a terminal. (Inside strings JSON escapes C0 itself, but not
/// DEL, C1 or the bidi controls; between values only its own line breaks and spaces appear.)
pub fn json(s: &str) -> Cow<'_, str> {
    escape_with(
        s,
        |c| c == '\n',
        |c, out| {
            let _ = write!(out, "\\u{:04x}", c as u32);
        },
    )
}

/// Every string of `v` (keys too) escaped as [`text`], for a view that shows the values themselves.
pub fn value(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Cow::Owned(e) = text(s) {
                *s = e;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(value),
        Value::Object(map) => {
            let unsafe_keys = map.keys().any(|k| k.chars().any(is_unsafe));
            if unsafe_keys {
                *map = std::mem::take(map)
                    .into_iter()
                    .map(|(k, v)| (text(&k).into_owned(), v))
                    .collect();
            }
            map.values_mut().for_each(value);
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// The cells of one row (a struct serialising to an object of plain values, in field order), each
/// escaped as [`text`]: how a row is shown on a terminal. `None` for anything else.
pub fn cells(row: &impl serde::Serialize) -> Option<Vec<String>> {
    let Value::Object(map) = serde_json::to_value(row).ok()? else {
        return None;
    };
    map.into_iter()
        .map(|(_, v)| match v {
            Value::String(s) => Some(text(&s).into_owned()),
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Array(_) | Value::Object(_) => None,
        })
        .collect()
}

/// Text made safe for a terminal when it goes to one (`terminal`), else kept exactly as it is.
pub fn for_terminal(s: &str, terminal: bool) -> Cow<'_, str> {
    if terminal { text(s) } else { Cow::Borrowed(s) }
}

/// How [`text`] writes an unsafe character.
fn visible(c: char, out: &mut String) {
    let _ = match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        '\u{0}'..='\u{1f}' | '\u{7f}' => write!(out, "\\x{:02x}", c as u32),
        _ => write!(out, "\\u{{{:x}}}", c as u32),
    };
}

fn escape_with(
    s: &str,
    keep: impl Fn(char) -> bool,
    write: impl Fn(char, &mut String),
) -> Cow<'_, str> {
    let escaped = |c: char| is_unsafe(c) && !keep(c);
    let Some(first) = s.find(escaped) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 8);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if escaped(c) {
            write(c, &mut out);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(text("in\x1b[2J.csv"), "in\\x1b[2J.csv");
        assert_eq!(text("\x1b]0;pwned\x07"), "\\x1b]0;pwned\\x07");
        assert_eq!(text("a\u{9b}31mb"), "a\\u{9b}31mb");
        assert_eq!(text("\u{202e}fdp.exe"), "\\u{202e}fdp.exe");
        assert_eq!(text("x\u{7f}y\u{0}"), "x\\x7fy\\x00");
        assert_eq!(text("550-5.1.1\r\n550 no"), "550-5.1.1\\r\\n550 no");
        assert_eq!(text("a\tb"), "a\\tb");
        for c in [
            '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{2066}', '\u{2069}',
        ] {
            assert_eq!(text(&c.to_string()), format!("\\u{{{:x}}}", c as u32));
        }
        assert_eq!(lines("one\ntwo\x1b"), "one\ntwo\\x1b");
    }

    #[test]
    fn keeps_everything_else_as_it_is() {
        for s in [
            "jane@example.com",
            "José Müller <j@bücher.de>",
            "日本語のテキスト",
            "emoji 👩‍💻 with a zero-width joiner",
            "C:\\Users\\x1b literally",
            "",
        ] {
            assert!(matches!(text(s), Cow::Borrowed(_)), "{s}");
            assert!(matches!(json(s), Cow::Borrowed(_)), "{s}");
        }
        // The characters either side of each range are kept.
        for c in [
            '\u{20}', '\u{7e}', '\u{a0}', '\u{61b}', '\u{200d}', '\u{2029}', '\u{202f}',
            '\u{2065}', '\u{206a}',
        ] {
            assert!(!is_unsafe(c), "{c:?}");
        }
    }

    #[test]
    fn json_stays_the_same_json() {
        let v = serde_json::json!({ "reason": "a\u{1b}[2J\u{85}\u{202e}\u{7f}z", "n": 1 });
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let safe = json(&pretty);
        assert!(!safe.chars().any(|c| is_unsafe(c) && c != '\n'), "{safe}");
        assert!(safe.contains("\\u202e") && safe.contains("\\u0085") && safe.contains("\\u007f"));
        assert_eq!(serde_json::from_str::<Value>(&safe).unwrap(), v);
    }

    #[test]
    fn values_and_rows() {
        let mut v = serde_json::json!({ "a\u{1b}": ["x\u{9b}", { "b": "\n" }], "c": true });
        value(&mut v);
        assert_eq!(
            v,
            serde_json::json!({ "a\\x1b": ["x\\u{9b}", { "b": "\\n" }], "c": true })
        );

        #[derive(serde::Serialize)]
        struct Row<'a> {
            email: &'a str,
            events: u64,
            user: Option<&'a str>,
            removed: bool,
        }
        let row = Row {
            email: "a\u{1b}@x.com",
            events: 3,
            user: None,
            removed: true,
        };
        assert_eq!(cells(&row).unwrap(), ["a\\x1b@x.com", "3", "", "true"]);
        assert_eq!(cells(&vec![1, 2]), None);
        assert_eq!(for_terminal("a\u{1b}", true), "a\\x1b");
        assert_eq!(for_terminal("a\u{1b}", false), "a\u{1b}");
    }

    fn any_text() -> impl Strategy<Value = String> {
        // Mostly the characters that matter, among ordinary ones.
        let interesting = prop_oneof![
            any::<char>(),
            (0u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
            (0x7fu32..0xa0).prop_map(|c| char::from_u32(c).unwrap()),
            prop::sample::select(vec![
                '\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{202e}', '\u{2066}', '\u{2069}',
                '\\', 'x', 'u', '{'
            ]),
        ];
        prop::collection::vec(interesting, 0..40).prop_map(|cs| cs.into_iter().collect())
    }

    proptest! {
        #[test]
        fn nothing_unsafe_is_left(s in any_text()) {
            prop_assert!(!text(&s).chars().any(is_unsafe));
            prop_assert!(!lines(&s).chars().any(|c| is_unsafe(c) && c != '\n'));
            prop_assert!(!json(&s).chars().any(|c| is_unsafe(c) && c != '\n'));
        }

        #[test]
        fn escaping_twice_is_escaping_once(s in any_text()) {
            let once = text(&s).into_owned();
            prop_assert_eq!(text(&once), once.as_str());
            let once = lines(&s).into_owned();
            prop_assert_eq!(lines(&once), once.as_str());
        }

        #[test]
        fn safe_characters_pass_in_order(s in any_text()) {
            let kept: String = s.chars().filter(|&c| !is_unsafe(c)).collect();
            let escaped = text(&s);
            // Taking the escapes out again leaves the safe characters as they were.
            let mut rest = escaped.as_ref();
            for c in kept.chars() {
                let at = rest.find(c);
                prop_assert!(at.is_some(), "{:?} lost from {:?}", c, escaped);
                rest = &rest[at.unwrap() + c.len_utf8()..];
            }
            prop_assert_eq!(text(&kept), kept.as_str());
        }

        #[test]
        fn json_reads_back_the_same(s in any_text()) {
            let doc = serde_json::to_string_pretty(&serde_json::json!({ "v": s, "k": [s.clone()] })).unwrap();
            let back: Value = serde_json::from_str(&json(&doc)).unwrap();
            prop_assert_eq!(&back["v"], &Value::String(s.clone()));
            prop_assert_eq!(&back["k"][0], &Value::String(s));
        }
    }
}
