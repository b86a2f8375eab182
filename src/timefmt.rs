//! RFC 3339 UTC formatting for JSON and details.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `2026-11-27T13:31:31Z`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// RFC 3339 of Unix seconds (negative or absurd values clamp to the epoch).
pub fn unix_rfc3339(secs: i64) -> String {
    let secs = u64::try_from(secs).unwrap_or(0).min(253_402_300_799);
    rfc3339(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Unix seconds of a time (0 before the epoch).
pub fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// serde helper: `SystemTime` as an RFC 3339 string.
pub mod rfc3339 {
    use std::time::SystemTime;

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*t))
    }
}
