//! The text of an export: which encoding a stretch of it is in, whether its start is text at all, and the
//! text of one cell (UTF-8 as it is, anything else as Windows-1252, which is what Excel on Windows writes).
//! Decoding the raw bytes, stretch by stretch, is [`super::transcode`]'s.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};

use encoding_rs::WINDOWS_1252;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Encoding::Utf8 => "UTF-8 (Windows-1252 where not UTF-8)",
            Encoding::Utf8Bom => "UTF-8 with BOM",
            Encoding::Utf16Le => "UTF-16 LE",
            Encoding::Utf16Be => "UTF-16 BE",
        })
    }
}

pub type DynRead = Box<dyn Read + Send>;

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The starts of files that are not text, and what each is.
pub(super) const BINARY_SIGNATURES: [(&[u8], &str); 3] = [
    (
        b"PK\x03\x04",
        "not text but a zip archive (an .xlsx workbook? save the sheet as CSV)",
    ),
    (
        b"\xD0\xCF\x11\xE0",
        "not text but an Excel .xls workbook (save the sheet as CSV)",
    ),
    (
        b"\x1F\x8B",
        "not text but gzip-compressed (gunzip it first)",
    ),
];

/// Why the decoded start of an input is not text, if it is not: the signature of a compressed file or a
/// workbook, a NUL byte (executables, images, archives), or more than one control byte in ten.
pub fn not_text(sample: &[u8]) -> Option<&'static str> {
    if let Some((_, why)) = BINARY_SIGNATURES
        .iter()
        .find(|(sig, _)| sample.starts_with(sig))
    {
        return Some(why);
    }
    if sample.contains(&0) {
        return Some("not text (it holds NUL bytes: a binary file?)");
    }
    let control = sample
        .iter()
        .filter(|&&b| matches!(b, 1..=8 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F | 0x7F))
        .count();
    if control * 10 > sample.len() {
        return Some("not text (one byte in ten or more is a control byte)");
    }
    // Windows-1252 gives a character for nearly every byte, so random or encrypted bytes would read as
    // one long row; an export is mostly ASCII (its addresses, digits and delimiters are).
    let ascii = sample
        .iter()
        .filter(|&&b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        .count();
    // (Under a tenth: Cyrillic, Korean or Japanese in a legacy encoding still has its ASCII addresses,
    // digits and delimiters; a sample cut inside a UTF-8 character is still UTF-8.)
    let lacks_ascii = sample.len() >= 64 && ascii * 10 < sample.len();
    let utf8 = match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    };
    (lacks_ascii && !utf8).then_some(
        "not text (hardly any of it is ASCII, and it is not UTF-8: encrypted or binary?)",
    )
}

/// Why an input that is text is not an export this tool reads, if it is not: JSON (a JSON array of
/// objects or strings, or JSON lines, as an API or `aws sesv2 list-suppressed-destinations` gives), whose
/// rows would all read as `invalid`.
pub fn not_delimited(sample: &[u8]) -> Option<&'static str> {
    let mut bytes = sample.iter().copied().filter(|b| !b.is_ascii_whitespace());
    let json = matches!(
        (bytes.next(), bytes.next()),
        (Some(b'['), Some(b'{' | b'"' | b']')) | (Some(b'{'), Some(b'"' | b'}'))
    );
    json.then_some(
        "JSON, not a delimited export: take the addresses out first, e.g. \
         jq -r '.[].email' FILE | okta-org bounces remove - (for JSON lines: jq -r .email)",
    )
}

/// The text of one cell: UTF-8 as is, anything else read as Windows-1252.
pub fn cell_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => WINDOWS_1252.decode_without_bom_handling(bytes).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_to_windows_1252_per_cell() {
        assert_eq!(cell_text(b"jos\xe9@example.com"), "josé@example.com");
        assert_eq!(cell_text("josé@example.com".as_bytes()), "josé@example.com");
    }

    #[test]
    fn binary_is_not_text() {
        assert_eq!(not_text(b"email\r\na@x.com\tjos\xe9\x0c\r\n"), None);
        assert!(
            not_text(b"\x7fELF\x02\x01\x01\x00\x00")
                .unwrap()
                .contains("NUL")
        );
        assert!(not_text(b"PK\x03\x04\x14\x00").unwrap().contains("xlsx"));
        assert!(not_text(b"\x1f\x8b\x08").unwrap().contains("gzip"));
        for json in [
            &b"[{\"email\": \"a@x.com\"}, {\"email\": \"b@x.com\"}]"[..],
            b"  [\n  \"a@x.com\",\n  \"b@x.com\"\n]\n",
            b"{\"EmailAddress\":\"a@x.com\",\"Reason\":\"BOUNCE\"}\n{\"EmailAddress\":\"b@x.com\"}\n",
        ] {
            assert!(not_delimited(json).unwrap().starts_with("JSON"));
        }
        for text in [&b"email\na@x.com\n"[..], b"{tag}@x.com\n", b"[x] a@x.com\n"] {
            assert_eq!(not_delimited(text), None);
        }
        assert!(not_text(b"a\x01b\x02c\x03").unwrap().contains("control"));
        assert_eq!(not_text(b"\x1b[1ma@x.com\x1b[0m\n"), None);
        let high: Vec<u8> = (0..4096u32).map(|i| 0x80 + (i * 37 % 128) as u8).collect();
        assert!(not_text(&high).unwrap().contains("ASCII"));
        // Windows-1252 names beside ASCII addresses, and UTF-8 Chinese, are text.
        let names: Vec<u8> = (0..200)
            .flat_map(|i| format!("jos\u{e9}{i}@x.com,Fran\u{e7}ois\n").into_bytes())
            .map(|b| if b == 0xC3 { b'a' } else { b })
            .collect();
        assert_eq!(not_text(&names), None);
        assert_eq!(not_text("邮箱,姓名\n".repeat(100).as_bytes()), None);
        // A sample cut inside a UTF-8 character is still UTF-8.
        let cjk = "邮箱邮箱邮箱,姓名\n".repeat(100);
        assert_eq!(not_text(&cjk.as_bytes()[..cjk.len() - 2]), None);
        // Russian in Windows-1251 beside ASCII addresses: a quarter ASCII is text.
        let cp1251: Vec<u8> = (0..100)
            .flat_map(|i| {
                let mut row = format!("u{i}@x.ru,").into_bytes();
                row.extend([0xC8u8, 0xE2, 0xE0, 0xED, 0xEE, 0xE2, 0x20].repeat(4));
                row.push(b'\n');
                row
            })
            .collect();
        assert_eq!(not_text(&cp1251), None);
    }
}
