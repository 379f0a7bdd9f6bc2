//! Email addresses as they come out of mail-system exports: pulling the bare address out of a cell
//! (`mailto:`, `Jane Doe <jane@example.com>`), and the local checks that mirror what Okta rejects as failing
//! RFC 3696, so no request capacity is spent on an address Okta would refuse anyway.
//!
//! The checks are deliberately permissive where RFC 3696 is: quoted local parts, backslash escapes and every
//! `atext` character pass. Anything this module lets through that Okta still refuses comes back as a
//! per-address `rejected` row, which costs nothing extra; wrongly refusing a real address would lose it.

use std::borrow::Cow;
use std::fmt;

use email_address::{EmailAddress, Options};

/// Why a cell is not a sendable address. Shown verbatim in the report's `reason` column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    Empty,
    NoAt,
    /// C0, DEL or C1: never part of an address, and unsafe to show raw.
    ControlCharacter(char),
    /// An invisible formatting character (a zero-width space, a soft hyphen, a bidi control, a BOM): no
    /// one typed it, and it makes the address another one than it reads as.
    Invisible(char),
    /// U+FFFD: a byte sequence of the input that could not be decoded (a broken UTF-16 surrogate).
    Undecodable,
    Whitespace,
    LocalPartEmpty,
    LocalPartTooLong(usize),
    AddressTooLong(usize),
    DomainEmpty,
    LabelEmpty,
    LabelTooLong,
    LabelCharacter,
    LabelHyphen,
    NumericTld,
    Syntax,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Empty => f.write_str("empty value"),
            Invalid::NoAt => f.write_str("not an email address (no @)"),
            Invalid::ControlCharacter(c) => write!(
                f,
                "contains a control character (U+{:04X}): not an address character",
                *c as u32
            ),
            Invalid::Invisible(c) => write!(
                f,
                "contains an invisible character (U+{:04X}): not an address character",
                *c as u32
            ),
            Invalid::Undecodable => f.write_str(
                "holds a character the input's encoding could not give (U+FFFD): not sent as it reads",
            ),
            Invalid::Whitespace => f.write_str("contains whitespace outside quotes"),
            Invalid::LocalPartEmpty => f.write_str("nothing before the @"),
            Invalid::LocalPartTooLong(n) => {
                write!(f, "local part is {n} octets; RFC 3696 allows at most 64")
            }
            Invalid::AddressTooLong(n) => {
                write!(f, "address is {n} octets; RFC 3696 allows at most 254")
            }
            Invalid::DomainEmpty => f.write_str("nothing after the @"),
            Invalid::LabelEmpty => {
                f.write_str("domain has an empty label (two dots, or a dot at an end)")
            }
            Invalid::LabelTooLong => f.write_str("domain label longer than 63 octets"),
            Invalid::LabelCharacter => {
                f.write_str("domain may hold only letters, digits, hyphens and dots")
            }
            Invalid::LabelHyphen => f.write_str("domain label starts or ends with a hyphen"),
            Invalid::NumericTld => f.write_str("top-level domain is all-numeric"),
            Invalid::Syntax => f.write_str("invalid email address syntax (RFC 3696)"),
        }
    }
}

/// Pulls the bare address out of one export cell: trims it, drops a `mailto:` scheme (and its `?query`,
/// with `%XX` escapes decoded), and takes the part in angle brackets of `Jane Doe <jane@example.com>`.
pub fn extract(cell: &str) -> Cow<'_, str> {
    let mut s = trim(cell);
    // Microsoft 365's message trace: `a@x.com##Receive, Fail`.
    if let Some((address, _)) = s.split_once("##")
        && address.contains('@')
    {
        s = trim(address);
    }
    if s.ends_with('>')
        && let Some(open) = s.rfind('<')
    {
        s = trim(&s[open + 1..s.len() - 1]);
    }
    if s.len() >= 7 && s.is_char_boundary(7) && s[..7].eq_ignore_ascii_case("mailto:") {
        let rest = &s[7..];
        let rest = rest.split_once('?').map_or(rest, |(a, _)| a);
        return percent_decode(trim(rest));
    }
    Cow::Borrowed(s)
}

fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}' || c == '\u{200b}')
}

fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(decoded) => Cow::Owned(decoded),
        Err(_) => Cow::Borrowed(s),
    }
}

/// Checks one bare address against RFC 3696 as Okta applies it. `Ok` means "worth sending".
pub fn validate(addr: &str) -> Result<(), Invalid> {
    if addr.is_empty() {
        return Err(Invalid::Empty);
    }
    let Some(at) = addr.rfind('@') else {
        return Err(control(addr).map_or(Invalid::NoAt, Invalid::ControlCharacter));
    };
    if addr.contains('\u{FFFD}') {
        return Err(Invalid::Undecodable);
    }
    let (local, domain) = (&addr[..at], &addr[at + 1..]);
    // The common case, a dot-atom local part, is settled here; it holds no whitespace or control
    // characters (C0, DEL, C1) by construction.
    let simple = dot_atom(local);
    if !simple && let Some(c) = control(addr) {
        return Err(Invalid::ControlCharacter(c));
    }
    if !simple && let Some(c) = addr.chars().find(|&c| is_invisible(c)) {
        return Err(Invalid::Invisible(c));
    }
    if local.is_empty() {
        return Err(Invalid::LocalPartEmpty);
    }
    if domain.is_empty() {
        return Err(Invalid::DomainEmpty);
    }
    if local.len() > 64 {
        return Err(Invalid::LocalPartTooLong(local.len()));
    }
    if addr.len() > 254 {
        return Err(Invalid::AddressTooLong(addr.len()));
    }
    if !domain.starts_with('[') {
        check_domain(domain)?;
        if simple {
            return Ok(());
        }
    }
    if has_bare_whitespace(local) || domain.chars().any(char::is_whitespace) {
        return Err(Invalid::Whitespace);
    }
    // The grammar itself: the email_address crate covers quoted strings and domain literals.
    // RFC 3696 also shows backslash escapes, in unquoted local parts (`Abc\@def@example.com`) and as
    // quoted pairs of any character (`"Fred\ Bloggs"@example.com`), which that crate refuses; those are
    // checked here.
    let options = Options::default()
        .without_display_text()
        .with_domain_literal()
        .with_no_minimum_sub_domains();
    if EmailAddress::parse_with_options(addr, options).is_ok()
        || ((escaped_local_part(local) || quoted_local_part(local))
            && EmailAddress::is_valid_domain(domain))
    {
        Ok(())
    } else {
        Err(Invalid::Syntax)
    }
}

/// An unquoted local part of `atext` characters and single dots, not at either end.
fn dot_atom(local: &str) -> bool {
    let b = local.as_bytes();
    !b.is_empty()
        && b[0] != b'.'
        && b[b.len() - 1] != b'.'
        && b.windows(2).all(|w| w != b"..")
        && local.chars().all(|c| c == '.' || is_atext(c))
}

/// A quoted string: any printable character or space, with `"` and `\` only as quoted pairs.
fn quoted_local_part(local: &str) -> bool {
    let Some(inner) = local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) else {
        return false;
    };
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none_or(|e| e.is_control()) => return false,
            '"' => return false,
            c if c.is_control() => return false,
            _ => {}
        }
    }
    true
}

/// Whitespace that is neither inside a quoted string nor escaped with a backslash.
fn has_bare_whitespace(local: &str) -> bool {
    let mut quoted = false;
    let mut escaped = false;
    for c in local.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c.is_whitespace() && !quoted {
            return true;
        }
    }
    false
}

/// RFC 3696 section 3: an unquoted local part in which any character may be escaped with a backslash.
fn escaped_local_part(local: &str) -> bool {
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    let mut chars = local.chars();
    let mut saw_escape = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) if !e.is_control() => saw_escape = true,
                _ => return false,
            },
            c if is_atext(c) || c == '.' => {}
            _ => return false,
        }
    }
    saw_escape
}

/// An invisible formatting character: the soft hyphen, the zero-width space, the bidi controls, the
/// word joiners and the BOM (Unicode's Default_Ignorable format characters that text may carry unseen).
/// Not the zero-width joiner and non-joiner (U+200C, U+200D), which Sinhala, Malayalam and Persian
/// spell words with (`ශ්‍රී`), and IDNA allows.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{ad}' | '\u{61c}' | '\u{180e}' | '\u{200b}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206f}' | '\u{feff}')
}

/// An RFC 3696 `atext` character, or any non-ASCII one but a C1 control (U+0080–U+009F, which a terminal
/// may act on as it does on ESC), white space (U+00A0, U+3000, ...) or an invisible character.
#[inline]
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '*'
                | '+'
                | '-'
                | '/'
                | '='
                | '?'
                | '^'
                | '_'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        )
        || !c.is_ascii() && !c.is_control() && !c.is_whitespace() && !is_invisible(c)
}

/// The first control character (C0, DEL or C1) of `s`.
fn control(s: &str) -> Option<char> {
    s.chars().find(|c| c.is_control())
}

fn check_domain(domain: &str) -> Result<(), Invalid> {
    let mut last = "";
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(Invalid::LabelEmpty);
        }
        if label.len() > 63 {
            return Err(Invalid::LabelTooLong);
        }
        let ldh = if label.is_ascii() {
            label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        } else {
            label.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        if !ldh {
            return Err(if let Some(c) = control(label) {
                Invalid::ControlCharacter(c)
            } else if label.chars().any(char::is_whitespace) {
                Invalid::Whitespace
            } else {
                Invalid::LabelCharacter
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(Invalid::LabelHyphen);
        }
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::NumericTld);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every valid example of RFC 3696 section 3, in its original and its errata (EID 246) forms.
    const RFC3696_VALID: &[&str] = &[
        r"Abc\@def@example.com",
        r"Fred\ Bloggs@example.com",
        r"Joe.\\Blow@example.com",
        r#""Abc@def"@example.com"#,
        r#""Fred Bloggs"@example.com"#,
        r#""Abc\@def"@example.com"#,
        r#""Fred\ Bloggs"@example.com"#,
        r#""Joe.\\Blow"@example.com"#,
        "customer/department=shipping@example.com",
        "$A12345@example.com",
        "!def!xyz%abc@example.com",
        "_somename@example.com",
    ];

    #[test]
    fn accepts_every_rfc3696_example() {
        for a in RFC3696_VALID {
            assert_eq!(validate(a), Ok(()), "{a}");
        }
    }

    #[test]
    fn accepts_everyday_addresses() {
        for a in [
            "name@company.com",
            "first.last+tag@sub.example.co.uk",
            "o'brien@example.ie",
            "x@example.com",
            "a=b@example.org",
            "user@localhost",
            "user@[192.0.2.1]",
            "USER@EXAMPLE.COM",
            "1234@123.example",
            "user@xn--bcher-kva.example",
            &format!("{}@example.com", "a".repeat(64)),
        ] {
            assert_eq!(validate(a), Ok(()), "{a}");
        }
    }

    #[test]
    fn rejects_what_rfc3696_forbids() {
        let long_label = format!("a@{}.com", "b".repeat(64));
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_total = format!("a@{}.com", vec!["b".repeat(60); 5].join("."));
        let cases: &[(&str, Invalid)] = &[
            ("", Invalid::Empty),
            ("name@okta@com", Invalid::Syntax),
            ("plainaddress", Invalid::NoAt),
            ("@example.com", Invalid::LocalPartEmpty),
            ("user@", Invalid::DomainEmpty),
            ("user@example..com", Invalid::LabelEmpty),
            ("user@example.com.", Invalid::LabelEmpty),
            ("user@-example.com", Invalid::LabelHyphen),
            ("user@example-.com", Invalid::LabelHyphen),
            ("user@exa_mple.com", Invalid::LabelCharacter),
            ("user@192.168.1.1", Invalid::NumericTld),
            ("user@example.123", Invalid::NumericTld),
            ("jane doe@example.com", Invalid::Whitespace),
            ("jane@exam ple.com", Invalid::Whitespace),
            ("jane\u{7}@example.com", Invalid::ControlCharacter('\u{7}')),
            (
                "jane\u{9b}31m@example.com",
                Invalid::ControlCharacter('\u{9b}'),
            ),
            (
                "jane@exa\u{85}mple.com",
                Invalid::ControlCharacter('\u{85}'),
            ),
            (
                "ja\u{7f}ne@example.com",
                Invalid::ControlCharacter('\u{7f}'),
            ),
            (
                "\"ja\u{1b}ne\"@example.com",
                Invalid::ControlCharacter('\u{1b}'),
            ),
            ("jane\u{9b}example.com", Invalid::ControlCharacter('\u{9b}')),
            ("\u{fffd}b@example.com", Invalid::Undecodable),
            ("jane\t@example.com", Invalid::ControlCharacter('\t')),
            (".jane@example.com", Invalid::Syntax),
            ("jane.@example.com", Invalid::Syntax),
            ("ja..ne@example.com", Invalid::Syntax),
            ("jane(comment)@example.com", Invalid::Syntax),
            ("\"unterminated@example.com", Invalid::Syntax),
            ("a\"b@example.com", Invalid::Syntax),
        ];
        for (a, want) in cases {
            assert_eq!(validate(a).as_ref(), Err(want), "{a}");
        }
        assert_eq!(validate(&long_label), Err(Invalid::LabelTooLong));
        assert_eq!(validate(&long_local), Err(Invalid::LocalPartTooLong(65)));
        assert!(matches!(
            validate(&long_total),
            Err(Invalid::AddressTooLong(_))
        ));
    }

    #[test]
    fn a_control_character_is_named_in_the_reason() {
        assert_eq!(
            validate("jane\u{9b}31m@example.com")
                .unwrap_err()
                .to_string(),
            "contains a control character (U+009B): not an address character"
        );
    }

    /// Characters no one types, which make an address another one than it reads as, are refused; other
    /// scripts are not.
    #[test]
    fn invisible_characters_and_unicode_spaces_are_not_address_characters() {
        for (addr, why) in [
            ("zw\u{200b}@acme.example", "invisible character (U+200B)"),
            ("soft\u{ad}hy@acme.example", "invisible character (U+00AD)"),
            ("rlo\u{202e}@acme.example", "invisible character (U+202E)"),
            ("bom\u{feff}x@acme.example", "invisible character (U+FEFF)"),
            ("nb\u{a0}sp@acme.example", "whitespace"),
            ("ideo\u{3000}x@acme.example", "whitespace"),
        ] {
            let e = validate(addr).unwrap_err().to_string();
            assert!(e.contains(why), "{addr:?}: {e}");
        }
        for addr in [
            "jürgen@acme.example",
            "用户@例子.广告",
            "δοκιμή@acme.example",
            "ශ්\u{200d}රී@acme.example",
        ] {
            assert_eq!(validate(addr), Ok(()), "{addr}");
        }
    }

    #[test]
    fn extracts_bare_addresses() {
        let cases = [
            ("  jane@example.com \r", "jane@example.com"),
            ("Jane Doe <jane@example.com>", "jane@example.com"),
            ("\"Doe, Jane\" <jane@example.com>", "jane@example.com"),
            ("<jane@example.com>", "jane@example.com"),
            ("mailto:jane@example.com", "jane@example.com"),
            ("MAILTO:jane@example.com?subject=hi", "jane@example.com"),
            ("mailto:jane%2Btag@example.com", "jane+tag@example.com"),
            ("Jane <mailto:jane@example.com>", "jane@example.com"),
            ("\u{feff}jane@example.com", "jane@example.com"),
            ("\u{a0}jane@example.com\u{a0}", "jane@example.com"),
            ("", ""),
            ("mailto:", ""),
            ("mailto:%zz@example.com", "%zz@example.com"),
            ("mailto:a%4", "a%4"),
            ("jane@example.com##Receive, Fail", "jane@example.com"),
            ("a##b@example.com", "a##b@example.com"),
        ];
        for (cell, want) in cases {
            assert_eq!(extract(cell), want, "{cell:?}");
        }
    }
}
