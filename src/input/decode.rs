//! Turning an export's raw bytes into UTF-8 for the CSV reader: UTF-8 with or without a BOM passes through,
//! UTF-16 LE/BE (Excel "Unicode text", Exchange message traces), with or without a BOM, is transcoded.
//! Bytes that are not UTF-8 in an otherwise 8-bit file are decoded as Windows-1252 cell by cell
//! (see [`cell_text`]), which is what Excel on Windows writes.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Cursor, Read};

use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};
use encoding_rs_io::DecodeReaderBytesBuilder;

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

/// Looks at the first bytes of `raw` and returns a reader of UTF-8 (or 8-bit) bytes, without a BOM.
pub fn decode(mut raw: DynRead) -> io::Result<(DynRead, Encoding)> {
    let mut head = vec![0u8; 4096];
    let n = read_full(&mut raw, &mut head)?;
    head.truncate(n);
    let encoding = detect(&head);
    let skip = match encoding {
        Encoding::Utf8Bom => 3,
        _ => 0,
    };
    let rest: DynRead = Box::new(Cursor::new(head).chain(raw));
    let reader: DynRead = match encoding {
        Encoding::Utf8 => rest,
        Encoding::Utf8Bom => {
            let mut r = rest;
            io::copy(&mut (&mut r).take(skip), &mut io::sink())?;
            r
        }
        Encoding::Utf16Le | Encoding::Utf16Be => {
            let enc = if encoding == Encoding::Utf16Le {
                UTF_16LE
            } else {
                UTF_16BE
            };
            Box::new(
                DecodeReaderBytesBuilder::new()
                    .encoding(Some(enc))
                    .bom_override(true)
                    .build(rest),
            )
        }
    };
    Ok((reader, encoding))
}

fn detect(head: &[u8]) -> Encoding {
    if head.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Encoding::Utf8Bom;
    }
    if head.starts_with(&[0xFF, 0xFE]) {
        return Encoding::Utf16Le;
    }
    if head.starts_with(&[0xFE, 0xFF]) {
        return Encoding::Utf16Be;
    }
    // A zip, .xls or gzip file is refused as it is (see `not_text`), not read as UTF-16.
    if BINARY_SIGNATURES
        .iter()
        .any(|(sig, _)| head.starts_with(sig))
    {
        return Encoding::Utf8;
    }
    // No BOM: text in UTF-16 has zero bytes on one side of its pairs only (ASCII is 0x00XX), and the
    // addresses, digits and delimiters of an export are ASCII even when its names are Cyrillic or Greek; a
    // binary file has them on both sides.
    let pairs = head.len() / 2;
    if pairs >= 1 {
        let even_zero = head.iter().step_by(2).filter(|&&b| b == 0).count();
        let odd_zero = head.iter().skip(1).step_by(2).filter(|&&b| b == 0).count();
        if odd_zero * 10 >= pairs * 3 && even_zero * 20 < pairs {
            return Encoding::Utf16Le;
        }
        if even_zero * 10 >= pairs * 3 && odd_zero * 20 < pairs {
            return Encoding::Utf16Be;
        }
    }
    Encoding::Utf8
}

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
const BINARY_SIGNATURES: [(&[u8], &str); 3] = [
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

    fn decoded(bytes: Vec<u8>) -> (String, Encoding) {
        let (mut r, enc) = decode(Box::new(Cursor::new(bytes))).unwrap();
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        (String::from_utf8(out).unwrap(), enc)
    }

    fn utf16(s: &str, le: bool, bom: bool) -> Vec<u8> {
        let mut out = Vec::new();
        if bom {
            out.extend(if le { [0xFF, 0xFE] } else { [0xFE, 0xFF] });
        }
        for u in s.encode_utf16() {
            out.extend(if le { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        out
    }

    #[test]
    fn detects_every_supported_encoding() {
        let text = "email\r\njosé@example.com\r\n";
        assert_eq!(decoded(text.into()), (text.into(), Encoding::Utf8));
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend(text.as_bytes());
        assert_eq!(decoded(bom), (text.into(), Encoding::Utf8Bom));
        for (le, bom) in [(true, true), (true, false), (false, true), (false, false)] {
            let want = if le {
                Encoding::Utf16Le
            } else {
                Encoding::Utf16Be
            };
            assert_eq!(
                decoded(utf16(text, le, bom)),
                (text.into(), want),
                "{le} {bom}"
            );
        }
    }

    #[test]
    fn utf16_without_a_bom_whose_names_are_not_latin() {
        let text =
            "email\tимя\r\nivan@example.ru\tИван Петров\r\nolga@example.ru\tОльга Смирнова\r\n";
        for le in [true, false] {
            let want = if le {
                Encoding::Utf16Le
            } else {
                Encoding::Utf16Be
            };
            assert_eq!(decoded(utf16(text, le, false)), (text.into(), want));
        }
        // A binary file has zero bytes on both sides.
        assert_eq!(
            detect(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00"),
            Encoding::Utf8
        );
    }

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

    #[test]
    fn empty_and_tiny_inputs() {
        assert_eq!(decoded(Vec::new()), (String::new(), Encoding::Utf8));
        assert_eq!(decoded(b"a".to_vec()), ("a".into(), Encoding::Utf8));
    }
}
