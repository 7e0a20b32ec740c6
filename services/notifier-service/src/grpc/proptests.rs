//! Property tests of the operator requests: arbitrary bytes through prost decoding of every request
//! message, then the same parsing as their handlers; never a panic, always `INVALID_FIELD`
//! violations naming the fields or values within the rules.

use clinic_common::{
    error::{FieldViolation, Violations},
    pagination::{self, Cursor},
};
use clinic_proto::pb::notifier::v1 as pb;
use proptest::prelude::*;
use prost::Message;
use tonic::{Code, Status};

use super::id;
use crate::error::NotifierError;

fn refused(e: NotifierError) -> Result<(), TestCaseError> {
    let NotifierError::Invalid(violations) = &e else {
        return Err(TestCaseError::fail(format!(
            "not a validation error: {e:?}"
        )));
    };
    prop_assert!(!violations.is_empty());
    for v in violations {
        prop_assert!(
            ["id", "status", "page_size", "page_token"].contains(&v.field.as_str()),
            "field {}",
            v.field
        );
    }
    prop_assert_eq!(Status::from(e).code(), Code::InvalidArgument);
    Ok(())
}

/// `ListDeliveries`' parsing, as its handler does it.
fn check_list(r: &pb::ListDeliveriesRequest) -> Result<(), TestCaseError> {
    let mut v = Violations::default();
    if let Some(Err(_)) = r.status.map(pb::DeliveryStatus::try_from) {
        v.push(FieldViolation::new("status", "unknown status"));
    }
    let size = v.take(pagination::page_size(r.page_size));
    v.take(Cursor::decode(&r.page_token));
    if v.is_empty() {
        prop_assert!((1..=100).contains(&size.unwrap()));
        Ok(())
    } else {
        refused(NotifierError::Invalid(v.into_vec()))
    }
}

fn check_id(raw: &str) -> Result<(), TestCaseError> {
    match id(raw) {
        Ok(parsed) => {
            prop_assert!(matches!(id(&parsed.to_string()), Ok(again) if again == parsed));
            Ok(())
        }
        Err(e) => refused(e),
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_through_every_request_message(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let b = &bytes[..];
        if let Ok(r) = pb::ListDeliveriesRequest::decode(b) {
            check_list(&r)?;
        }
        if let Ok(r) = pb::GetDeliveryRequest::decode(b) {
            check_id(&r.id)?;
        }
        if let Ok(r) = pb::RetryDeliveryRequest::decode(b) {
            check_id(&r.id)?;
        }
    }

    #[test]
    fn encoded_requests_decode_to_themselves_and_parse(
        status in proptest::option::of(prop_oneof![any::<i32>(), 0..5i32]),
        page_size in prop_oneof![any::<i32>(), -1..=101i32],
        page_token in prop_oneof![any::<String>(), Just(String::new())],
        raw_id in prop_oneof![
            any::<String>(),
            any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
        ],
    ) {
        let list = pb::ListDeliveriesRequest { status, page_size, page_token };
        let decoded = pb::ListDeliveriesRequest::decode(&list.encode_to_vec()[..]).unwrap();
        prop_assert_eq!(&decoded, &list);
        check_list(&decoded)?;
        let get = pb::GetDeliveryRequest { id: raw_id };
        let decoded = pb::GetDeliveryRequest::decode(&get.encode_to_vec()[..]).unwrap();
        prop_assert_eq!(&decoded, &get);
        check_id(&decoded.id)?;
    }
}
