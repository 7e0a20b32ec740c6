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

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any timestamp a client sends: out of range is `None`, never a panic; an accepted one
        /// comes back as the same instant.
        #[test]
        fn any_timestamp_is_none_or_an_instant_that_round_trips(seconds in any::<i64>(), nanos in any::<i32>()) {
            let ts = prost_types::Timestamp { seconds, nanos };
            if let Some(t) = from_timestamp(&ts) {
                let back = to_timestamp(t);
                prop_assert!((0..1_000_000_000).contains(&back.nanos));
                prop_assert_eq!(from_timestamp(&back), Some(t));
            }
        }
    }
}
