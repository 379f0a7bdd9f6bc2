//! The simulator's own check of an email address against RFC 3696, which is what Okta says the bounce
//! endpoint applies ("failed validation against RFC 3696"). It is written from the RFC's text and errata,
//! not taken from the tool, so that a mistake in the tool's checks shows up as a difference in a test
//! instead of being repeated here.
//!
//! What the RFC allows, and so what passes:
//! - Local part (section 3), at most 64 octets: the letters, digits and `! # $ % & ' * + - / = ? ^ _ `
//!   { | } ~` the RFC lists, with periods between them (not first, not last, never two in a row); any
//!   character quoted with a backslash (`Abc\@def`, `Fred\ Bloggs`, `Joe.\\Blow`); or a whole quoted string
//!   (`"Fred Bloggs"`), in which `"` and `\` appear only after a backslash. Erratum 246 gives the backslash
//!   examples again in quotes; both forms pass. The sentence "any ASCII graphic character other than ...
//!   may appear without quoting" is wider than the list and than RFC 5322 (it would let `(`, `:` or `<`
//!   through); the list is what is applied.
//! - The whole address is at most 254 octets (erratum 1690; the text's 320 cannot fit in SMTP's path).
//! - Domain (section 2): labels of letters, digits and hyphens, 1 to 63 octets, no hyphen at either end,
//!   at most 255 octets; the top-level label is not all-numeric. Or an IP address in square brackets,
//!   which section 3 permits (`[192.0.2.1]`, `[IPv6:2001:db8::1]`).
//! - RFC 3696 predates internationalized mail. As RFC 6531 extends it, characters beyond ASCII may stand in
//!   the local part, and letters and digits beyond ASCII in domain labels.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Whether Okta would take `address` as a valid email address under RFC 3696.
pub fn is_valid(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    address.len() <= 254 && local_part(local) && domain_part(domain)
}

/// The characters section 3 lists as usable without quoting (besides the period).
const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

fn local_part(local: &str) -> bool {
    if local.is_empty() || local.len() > 64 {
        return false;
    }
    match local.strip_prefix('"') {
        Some(rest) => quoted_string(rest),
        None => unquoted(local),
    }
}

/// The rest of a quoted local part after its opening quote: the closing quote must end it. "Any ASCII
/// character, including control characters, may appear quoted", so only `"` and `\` need a backslash.
fn quoted_string(rest: &str) -> bool {
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return i + 1 == rest.len();
        }
    }
    false
}

fn unquoted(local: &str) -> bool {
    // Each element between periods must be non-empty: that rules out a period first, last or doubled.
    let mut element_len = 0;
    let mut chars = local.chars();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if element_len == 0 {
                    return false;
                }
                element_len = 0;
            }
            '\\' => {
                if chars.next().is_none() {
                    return false;
                }
                element_len += 1;
            }
            c if c.is_ascii_alphanumeric() || SPECIALS.contains(c) || !c.is_ascii() => {
                element_len += 1;
            }
            _ => return false,
        }
    }
    element_len > 0
}

fn domain_part(domain: &str) -> bool {
    if let Some(literal) = domain.strip_prefix('[') {
        return address_literal(literal);
    }
    if domain.is_empty() || domain.len() > 255 {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let top = labels[labels.len() - 1];
    labels.iter().all(|l| label(l)) && !top.bytes().all(|b| b.is_ascii_digit())
}

fn label(l: &str) -> bool {
    let letter_digit = |c: char| {
        if c.is_ascii() {
            c.is_ascii_alphanumeric()
        } else {
            c.is_alphanumeric()
        }
    };
    !l.is_empty()
        && l.len() <= 63
        && l.chars().all(|c| c == '-' || letter_digit(c))
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// The part of `[...]` after the opening bracket.
fn address_literal(literal: &str) -> bool {
    let Some(inner) = literal.strip_suffix(']') else {
        return false;
    };
    if inner.len() > 5 && inner[..5].eq_ignore_ascii_case("IPv6:") {
        return inner[5..].parse::<Ipv6Addr>().is_ok();
    }
    inner.parse::<Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::is_valid;

    /// Section 3's examples, as the RFC prints them.
    const RFC_EXAMPLES: &[&str] = &[
        r"Abc\@def@example.com",
        r"Fred\ Bloggs@example.com",
        r"Joe.\\Blow@example.com",
        r#""Abc@def"@example.com"#,
        r#""Fred Bloggs"@example.com"#,
        "user+mailbox@example.com",
        "customer/department=shipping@example.com",
        "$A12345@example.com",
        "!def!xyz%abc@example.com",
        "_somename@example.com",
    ];

    /// Erratum 246's corrected forms of the backslash examples.
    const ERRATA_EXAMPLES: &[&str] = &[
        r#""Abc\@def"@example.com"#,
        r#""Fred\ Bloggs"@example.com"#,
        r#""Joe.\\Blow"@example.com"#,
    ];

    /// A local part of 64 octets at three labels of 61 and `top`: 250 octets and the top label's.
    fn long_address(top: &str) -> String {
        let label = |c: &str| c.repeat(61);
        let local = "a".repeat(64);
        format!("{local}@{}.{}.{}.{top}", label("b"), label("c"), label("d"))
    }

    #[test]
    fn the_rfc_and_its_errata_examples_pass() {
        for a in RFC_EXAMPLES.iter().chain(ERRATA_EXAMPLES) {
            assert!(is_valid(a), "{a}");
        }
    }

    #[test]
    fn everyday_and_edge_addresses_pass() {
        let longest_local = format!("{}@example.com", "a".repeat(64));
        let label_63 = format!("a@{}.com", "b".repeat(63));
        let longest = long_address("com");
        assert_eq!(longest.len(), 254);
        for a in [
            "jane.doe@example.com",
            "o'brien@example.ie",
            "x@example.com",
            "USER@EXAMPLE.COM",
            "1234@123.example",
            "user@localhost",
            "user@xn--bcher-kva.example",
            "user@a-b.example",
            "user@[192.0.2.1]",
            "user@[IPv6:2001:db8::1]",
            "{}|~^`@example.com",
            "jürgen@bücher.example",
            &longest_local,
            &label_63,
            &longest,
        ] {
            assert!(is_valid(a), "{a}");
        }
    }

    #[test]
    fn what_the_rfc_forbids_fails() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        let long_label = format!("a@{}.com", "b".repeat(64));
        let too_long = long_address("coms");
        for a in [
            "",
            "plainaddress",
            "@example.com",
            "user@",
            "name@okta@com",
            ".jane@example.com",
            "jane.@example.com",
            "ja..ne@example.com",
            "jane doe@example.com",
            "jane\t@example.com",
            "jane(comment)@example.com",
            "a,b@example.com",
            "a[b]@example.com",
            "a:b@example.com",
            "a<b>@example.com",
            "a\"b@example.com",
            "\"unterminated@example.com",
            "\"a\"b@example.com",
            r#""a\"@example.com"#,
            r"trailing\@example.com",
            "user@example..com",
            "user@.example.com",
            "user@example.com.",
            "user@-example.com",
            "user@example-.com",
            "user@exa_mple.com",
            "user@exam ple.com",
            "user@192.168.1.1",
            "user@example.123",
            "user@[192.0.2.1",
            "user@[example.com]",
            "user@[IPv6:not-an-address]",
            &long_local,
            &long_label,
            &too_long,
        ] {
            assert!(!is_valid(a), "{a:?}");
        }
    }

    #[test]
    fn quoting_lets_anything_through_but_a_bare_quote_or_backslash() {
        for a in [
            r#""a@b c\"d\\e"@example.com"#,
            "\"tab\there\"@example.com",
            r"a\,b@example.com",
            r"a\ \(b\)@example.com",
            // A quoted period is an ordinary character, so it may end the local part or stand beside a
            // period.
            r"a\.@example.com",
            r"a\..b@example.com",
        ] {
            assert!(is_valid(a), "{a:?}");
        }
    }
}
