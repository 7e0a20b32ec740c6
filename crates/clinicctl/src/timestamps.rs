//! Times on the command line and in tables: RFC 3339.

use prost_types::Timestamp;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// A clap value parser: `2026-12-01T09:30:00Z`, `2026-12-01T10:30:00+01:00`.
pub fn parse(s: &str) -> Result<Timestamp, String> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(clinic_common::time_pb::to_timestamp)
        .map_err(|_| format!("expected an RFC 3339 time such as 2026-12-01T09:30:00Z, got {s:?}"))
}

/// In UTC, e.g. `2026-12-01T09:30:00Z`; `?` when out of range.
pub fn format(ts: &Timestamp) -> String {
    clinic_common::time_pb::from_timestamp(ts)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "?".to_owned())
}

/// `2026-12-01T09:30:00.123Z` → `2026-12-01T09:30:00Z` (for table cells); other text unchanged.
pub fn to_seconds(formatted: &str) -> String {
    match (formatted.find('.'), formatted.strip_suffix('Z')) {
        (Some(dot), Some(_)) => format!("{}Z", &formatted[..dot]),
        _ => formatted.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_honoured_and_shown_in_utc() {
        let ts = parse("2026-12-01T10:30:00+01:00").unwrap();
        assert_eq!(format(&ts), "2026-12-01T09:30:00Z");
    }

    #[test]
    fn a_bad_time_is_a_message_not_a_panic() {
        for bad in ["tomorrow", "", "2026-13-01T00:00:00Z", "2026-12-01 09:30"] {
            assert!(parse(bad).unwrap_err().contains("RFC 3339"), "{bad}");
        }
    }
}
