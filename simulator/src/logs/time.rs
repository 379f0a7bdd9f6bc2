//! ISO 8601 date-times as the System Log takes them (`since`, `until`) and writes them (`published`):
//! a full date and time, seconds optional fraction, and `Z`, an offset or nothing (UTC). Written here
//! rather than taken from a date crate so the simulator decides for itself what it accepts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, the simulator's one clock unit for events.
pub(crate) type Millis = i64;

pub(crate) const DAY_MS: Millis = 86_400_000;

pub(crate) fn now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// `2026-11-21T06:00:00.000Z`, as `published` is written.
pub(crate) fn format(ms: Millis) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(s: &[u8], at: usize, n: usize) -> Option<i64> {
    let part = s.get(at..at + n)?;
    part.iter().try_fold(0i64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
    })
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM|±HHMM]` (also `HH:MM` without seconds); a missing zone
/// is UTC. `None` for anything else, including dates without a time.
pub(crate) fn parse(text: &str) -> Option<Millis> {
    let s = text.trim().as_bytes();
    let year = digits(s, 0, 4)?;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') || !matches!(s.get(10), Some(b'T' | b't'))
    {
        return None;
    }
    let (month, day) = (digits(s, 5, 2)?, digits(s, 8, 2)?);
    let hour = digits(s, 11, 2)?;
    if s.get(13) != Some(&b':') {
        return None;
    }
    let minute = digits(s, 14, 2)?;
    let mut at = 16;
    let mut second = 0;
    let mut millis = 0;
    if s.get(at) == Some(&b':') {
        second = digits(s, at + 1, 2)?;
        at += 3;
        if matches!(s.get(at), Some(b'.' | b',')) {
            at += 1;
            let start = at;
            while s.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if at == start {
                return None;
            }
            // Milliseconds from the first three digits; finer digits are dropped, not rounded.
            let mut frac = s[start..at.min(start + 3)].to_vec();
            frac.resize(3, b'0');
            millis = digits(&frac, 0, 3)?;
        }
    }
    let offset_minutes = match s.get(at) {
        None => 0,
        Some(b'Z' | b'z') if at + 1 == s.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let h = digits(s, at + 1, 2)?;
            let m = match s.len() - at {
                6 if s[at + 3] == b':' => digits(s, at + 4, 2)?,
                5 => digits(s, at + 3, 2)?,
                3 => 0,
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let total = h * 60 + m;
            if sign == b'+' { total } else { -total }
        }
        _ => return None,
    };
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour <= 23
        && minute <= 59
        && second <= 59;
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::{format, parse};

    #[test]
    fn forms_okta_takes() {
        let base = parse("2026-11-21T06:00:00.000Z").unwrap();
        assert_eq!(format(base), "2026-11-21T06:00:00.000Z");
        assert_eq!(parse("2026-11-21T06:00:00Z"), Some(base));
        assert_eq!(parse("2026-11-21T06:00:00"), Some(base));
        assert_eq!(parse("2026-11-21T06:00Z"), Some(base));
        assert_eq!(parse("2026-11-21T07:00:00+01:00"), Some(base));
        assert_eq!(parse("2026-11-21T01:30:00-0430"), Some(base));
        assert_eq!(parse("2026-11-21T08:00:00.000+02"), Some(base));
        assert_eq!(parse("2026-11-21T06:00:00.123456Z"), Some(base + 123));
        assert_eq!(parse("2026-11-21T06:00:00.5Z"), Some(base + 500));
        assert_eq!(parse("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            format(parse("2024-02-29T23:59:59.999Z").unwrap()),
            "2024-02-29T23:59:59.999Z"
        );
    }

    #[test]
    fn what_it_refuses() {
        for bad in [
            "",
            "yesterday",
            "2026-11-21",
            "2026-11-21 06:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-21T24:00:00Z",
            "2026-11-21T06:00:00.Z",
            "2026-11-21T06:00:00ZZ",
            "2026-11-21T06:00:00+1:00",
            "1732170000000",
            "2026-11-21T06:00:00.000Z trailing",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
