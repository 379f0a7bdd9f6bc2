//! A string that must never be printed: API tokens and private keys. Its `Debug` and `Display` are
//! redacted, so a secret cannot reach a log, an error message or a panic by accident.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself. Callers put it in a request header marked sensitive, and nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_its_value() {
        let s = Secret::new("00abcSECRET");
        assert!(!format!("{s:?}").contains("SECRET"));
        assert!(!format!("{s}").contains("SECRET"));
        assert_eq!(s.expose(), "00abcSECRET");
    }
}
