//! `time::OffsetDateTime` ↔ `google.protobuf.Timestamp`.

use time::OffsetDateTime;

pub fn to_timestamp(t: OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.unix_timestamp(),
        nanos: t.nanosecond() as i32,
    }
}

pub fn opt_timestamp(t: Option<OffsetDateTime>) -> Option<prost_types::Timestamp> {
    t.map(to_timestamp)
}

/// `None` when the timestamp is out of range.
pub fn from_timestamp(ts: &prost_types::Timestamp) -> Option<OffsetDateTime> {
    let nanos = i128::from(ts.seconds) * 1_000_000_000 + i128::from(ts.nanos);
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}
