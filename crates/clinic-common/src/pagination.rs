//! Keyset pagination: page sizes 1–100 and opaque page tokens carrying the last row's sort key.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::FieldViolation;

pub const MAX_PAGE_SIZE: i32 = 100;

pub fn page_size(raw: i32) -> Result<i64, FieldViolation> {
    if (1..=MAX_PAGE_SIZE).contains(&raw) {
        Ok(i64::from(raw))
    } else {
        Err(FieldViolation::new(
            "page_size",
            format!("must be between 1 and {MAX_PAGE_SIZE}"),
        ))
    }
}

/// The position after which the next page starts: (timestamp, id) of the last row served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: OffsetDateTime,
    pub id: Uuid,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let raw = format!("{}:{}", self.at.unix_timestamp_nanos(), self.id);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Empty token → first page.
    pub fn decode(token: &str) -> Result<Option<Cursor>, FieldViolation> {
        if token.is_empty() {
            return Ok(None);
        }
        let bad = || FieldViolation::new("page_token", "is not a token this service issued");
        let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let (nanos, id) = text.split_once(':').ok_or_else(bad)?;
        let nanos: i128 = nanos.parse().map_err(|_| bad())?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| bad())?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Some(Cursor { at, id }))
    }
}

/// Trims a fetch of `size + 1` rows to one page and gives the cursor of the next page, if any.
pub fn page<T>(
    mut rows: Vec<T>,
    size: i64,
    key: impl Fn(&T) -> Cursor,
) -> (Vec<T>, Option<Cursor>) {
    if rows.len() as i64 > size {
        rows.truncate(size as usize);
        let next = rows.last().map(key);
        (rows, next)
    } else {
        (rows, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_bounds() {
        assert!(page_size(0).is_err());
        assert!(page_size(101).is_err());
        assert_eq!(page_size(1).unwrap(), 1);
        assert_eq!(page_size(100).unwrap(), 100);
    }

    #[test]
    fn page_trims_the_extra_row_into_a_cursor() {
        let at = OffsetDateTime::UNIX_EPOCH;
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        let key = |id: &Uuid| Cursor { at, id: *id };
        let (rows, next) = page(ids.clone(), 2, key);
        assert_eq!(rows, ids[..2].to_vec());
        assert_eq!(next, Some(Cursor { at, id: ids[1] }));
        assert_eq!(page(ids.clone(), 3, key), (ids, None));
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor {
            at: OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), Some(c));
        assert_eq!(Cursor::decode("").unwrap(), None);
        assert!(Cursor::decode("not-a-token").is_err());
    }
}

/// Page sizes and page tokens from any client: a violation naming the field, or a value that
/// round-trips.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    /// Unix nanoseconds `OffsetDateTime` can hold (years -9999..=9999).
    const NANOS: std::ops::Range<i128> = -377_705_116_800_000_000_000..253_402_300_800_000_000_000;

    fn cursor() -> impl Strategy<Value = Cursor> {
        (NANOS, any::<u128>()).prop_map(|(nanos, id)| Cursor {
            at: OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap(),
            id: Uuid::from_u128(id),
        })
    }

    /// Tokens of every kind: any text, base64 of any bytes, and near-misses of real tokens.
    fn token() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            proptest::collection::vec(any::<u8>(), 0..80).prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
            (any::<i128>(), ".{0,40}")
                .prop_map(|(n, rest)| URL_SAFE_NO_PAD.encode(format!("{n}:{rest}"))),
            (any::<i128>(), any::<u128>())
                .prop_map(|(n, id)| URL_SAFE_NO_PAD.encode(format!("{n}:{}", Uuid::from_u128(id)))),
            cursor().prop_map(|c| {
                let mut t = c.encode();
                t.push('=');
                t
            }),
        ]
    }

    proptest! {
        #[test]
        fn page_size_accepts_exactly_1_to_100(raw in any::<i32>()) {
            match page_size(raw) {
                Ok(n) => prop_assert!((1..=100).contains(&raw) && n == i64::from(raw)),
                Err(v) => {
                    prop_assert!(!(1..=MAX_PAGE_SIZE).contains(&raw));
                    prop_assert_eq!(v.field, "page_size");
                }
            }
        }

        #[test]
        fn every_cursor_round_trips_through_its_token(c in cursor()) {
            let token = c.encode();
            prop_assert!(!token.is_empty());
            prop_assert_eq!(Cursor::decode(&token), Ok(Some(c)));
        }

        #[test]
        fn any_token_is_a_violation_or_a_cursor_that_round_trips(t in token()) {
            match Cursor::decode(&t) {
                Ok(None) => prop_assert!(t.is_empty()),
                Ok(Some(c)) => prop_assert_eq!(Cursor::decode(&c.encode()), Ok(Some(c))),
                Err(v) => prop_assert_eq!(v.field, "page_token"),
            }
        }

        #[test]
        fn a_page_holds_at_most_size_rows_and_a_cursor_only_when_more_exist(
            n in 0usize..250,
            size in 1i64..=100,
        ) {
            let at = OffsetDateTime::UNIX_EPOCH;
            let rows: Vec<Uuid> = (0..n as u128).map(Uuid::from_u128).collect();
            let (kept, next) = page(rows.clone(), size, |id| Cursor { at, id: *id });
            prop_assert_eq!(kept.len(), n.min(size as usize));
            prop_assert_eq!(&kept[..], &rows[..kept.len()]);
            prop_assert_eq!(next, (n as i64 > size).then(|| Cursor { at, id: rows[size as usize - 1] }));
        }
    }
}
