//! The feed's requests, parsed: every field checked, every violation reported at once.

use std::time::Duration;

use clinic_proto::pb::outbox::v1 as pb;
use uuid::Uuid;

use crate::{
    error::{FieldViolation, Violations},
    validate,
};

pub const MAX_EVENTS: i32 = 500;
pub const MAX_WAIT_MS: i32 = 30_000;

/// A valid `Pull`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub consumer: String,
    pub max_events: i64,
    pub wait: Duration,
}

pub fn pull(r: &pb::PullRequest) -> Result<Pull, Vec<FieldViolation>> {
    let mut v = Violations::default();
    let consumer = v.take(consumer(&r.consumer));
    if !(1..=MAX_EVENTS).contains(&r.max_events) {
        v.push(FieldViolation::new(
            "max_events",
            format!("must be between 1 and {MAX_EVENTS}"),
        ));
    }
    if !(0..=MAX_WAIT_MS).contains(&r.wait_ms) {
        v.push(FieldViolation::new(
            "wait_ms",
            format!("must be between 0 and {MAX_WAIT_MS}"),
        ));
    }
    match consumer {
        Some(consumer) if v.is_empty() => Ok(Pull {
            consumer,
            max_events: i64::from(r.max_events),
            wait: Duration::from_millis(r.wait_ms as u64),
        }),
        _ => Err(v.into_vec()),
    }
}

/// The event ids of a valid `Ack`.
pub fn ack(r: &pb::AckRequest) -> Result<Vec<Uuid>, Vec<FieldViolation>> {
    let mut v = Violations::default();
    v.take(consumer(&r.consumer));
    if r.event_ids.len() > MAX_EVENTS as usize {
        v.push(FieldViolation::new(
            "event_ids",
            format!("at most {MAX_EVENTS} per call"),
        ));
    }
    let ids: Vec<Uuid> = r
        .event_ids
        .iter()
        .filter_map(|id| v.take(validate::uuid("event_ids", id)))
        .collect();
    if v.is_empty() {
        Ok(ids)
    } else {
        Err(v.into_vec())
    }
}

fn consumer(raw: &str) -> Result<String, FieldViolation> {
    validate::bounded_text("consumer", raw, 100)
}

/// Any bytes a caller sends as a `Pull` or an `Ack`: decoding never panics, and what decodes is
/// either refused naming its fields or parsed into bounded values.
#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use prost::Message;

    use super::*;

    const FIELDS: &[&str] = &["consumer", "max_events", "wait_ms", "event_ids"];

    fn pull_request() -> impl Strategy<Value = pb::PullRequest> {
        (
            prop_oneof![any::<String>(), "[a-z]{1,20}"],
            prop_oneof![any::<i32>(), 0..=600i32],
            prop_oneof![any::<i32>(), -5..=40_000i32],
        )
            .prop_map(|(consumer, max_events, wait_ms)| pb::PullRequest {
                consumer,
                max_events,
                wait_ms,
            })
    }

    fn ack_request() -> impl Strategy<Value = pb::AckRequest> {
        let id = prop_oneof![
            any::<String>(),
            any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
        ];
        (
            prop_oneof![any::<String>(), "[a-z]{1,20}"],
            proptest::collection::vec(id, 0..8),
        )
            .prop_map(|(consumer, event_ids)| pb::AckRequest {
                consumer,
                event_ids,
            })
    }

    fn check_pull(r: &pb::PullRequest) -> Result<(), TestCaseError> {
        match pull(r) {
            Ok(p) => {
                prop_assert!((1..=i64::from(MAX_EVENTS)).contains(&p.max_events));
                prop_assert!(p.wait <= Duration::from_millis(MAX_WAIT_MS as u64));
                prop_assert_eq!(p.consumer.trim(), p.consumer.as_str());
            }
            Err(v) => {
                prop_assert!(!v.is_empty());
                prop_assert!(v.iter().all(|f| FIELDS.contains(&f.field.as_str())));
            }
        }
        Ok(())
    }

    fn check_ack(r: &pb::AckRequest) -> Result<(), TestCaseError> {
        match ack(r) {
            Ok(ids) => prop_assert_eq!(ids.len(), r.event_ids.len()),
            Err(v) => {
                prop_assert!(!v.is_empty());
                prop_assert!(v.iter().all(|f| FIELDS.contains(&f.field.as_str())));
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_decode_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(r) = pb::PullRequest::decode(&bytes[..]) {
                check_pull(&r)?;
            }
            if let Ok(r) = pb::AckRequest::decode(&bytes[..]) {
                check_ack(&r)?;
            }
        }

        #[test]
        fn any_pull_survives_the_wire_and_is_parsed_or_refused(r in pull_request()) {
            let decoded = pb::PullRequest::decode(&r.encode_to_vec()[..]).unwrap();
            prop_assert_eq!(&decoded, &r);
            check_pull(&decoded)?;
        }

        #[test]
        fn any_ack_survives_the_wire_and_is_parsed_or_refused(r in ack_request()) {
            let decoded = pb::AckRequest::decode(&r.encode_to_vec()[..]).unwrap();
            prop_assert_eq!(&decoded, &r);
            check_ack(&decoded)?;
        }
    }
}
