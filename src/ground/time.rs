//! RFC 3339 UTC formatting for JSON and details.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The last second RFC 3339 can write (9999-12-31T23:59:59Z).
const MAX_SECS: u64 = 253_402_300_799;

/// `2026-11-27T13:31:31Z`. Times before the epoch or past year 9999 (a
/// clock gone wrong, an absurd certificate) clamp rather than panic.
pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .min(MAX_SECS);
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// RFC 3339 of Unix seconds (negative or absurd values clamp to the epoch).
pub fn unix_rfc3339(secs: i64) -> String {
    let secs = u64::try_from(secs).unwrap_or(0).min(MAX_SECS);
    rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Unix seconds of an RFC 3339 timestamp with any offset
/// (`2027-03-04T05:06:07.5+01:00`); `None` when it is not one.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    Some(t.unix_timestamp())
}

/// Unix seconds of midnight UTC of a `YYYY-MM-DD` date (a WHOIS
/// `expire-date`), or of a full RFC 3339 timestamp; `None` otherwise.
pub fn parse_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    let day = s.get(..10)?;
    if s.len() > 10 && !s[10..].starts_with([' ', 'T']) {
        return None;
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day, &format).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// Unix seconds of a time (0 before the epoch).
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Unix seconds of a time (0 before the epoch, saturating far in the
/// future).
pub fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Unix milliseconds of a time, as the store keeps times (0 before the
/// epoch, saturating far in the future).
pub fn to_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The time of Unix milliseconds from the store (negative clamps to the
/// epoch).
pub fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// serde helper: `Option<SystemTime>` as an RFC 3339 string or null.
pub mod rfc3339_opt {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(
        t: &Option<SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&super::rfc3339(*t)),
            None => s.serialize_none(),
        }
    }
}

/// serde helper: `SystemTime` as an RFC 3339 string.
pub mod rfc3339 {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*t))
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn registry_dates() {
        assert_eq!(parse_rfc3339("1970-01-02T00:00:00Z"), Some(86400));
        assert_eq!(parse_rfc3339("1970-01-02T01:00:00.250+01:00"), Some(86400));
        assert_eq!(parse_date("1970-01-03"), Some(2 * 86400));
        assert_eq!(parse_date("1970-01-03 12:00:00"), Some(2 * 86400));
        for bad in [
            "",
            "tomorrow",
            "2026-13-01",
            "2026-02-30",
            "2026-01-01x",
            "é",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }
}
