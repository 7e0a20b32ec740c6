//! Property tests of every request this service parses: arbitrary text, numbers and bytes never
//! panic; they give `INVALID_FIELD` violations naming the fields, or values the same rules accept
//! unchanged. Arbitrary bytes go through prost decoding of every request message first.

use clinic_common::{
    error::Violations,
    pagination::{self, Cursor},
};
use clinic_proto::pb::registration::v1 as pb;
use proptest::prelude::*;
use prost::Message;
use tonic::{Code, Status};

use super::convert::{both, expected_version, new_registration, parse_id, status_filter};
use crate::{
    domain::{Email, InsuranceNumber, NewRegistration, Password, Phone, RejectionReason},
    error::RegistrationError,
};

/// Free text of every kind: any Unicode, printable text with padding, lossy-decoded bytes.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ \t\n]{0,2}[\\PC]{0,120}[ \t\n]{0,2}",
        proptest::collection::vec(any::<u8>(), 0..200)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

// Each field: mostly near-valid input (so whole requests pass often enough to check the parsed
// values too), sometimes anything at all.
fn email() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => text(),
        6 => "[ ]{0,2}[A-Za-z0-9][A-Za-z0-9._%+-]{0,29}@[A-Za-z0-9]{1,20}(\\.[A-Za-z]{2,6}){1,2}[ ]{0,2}",
        1 => "[A-Za-z0-9<>\\[\\] @.\"]{0,40}",
        1 => "[a-z]{1,250}@example\\.com",
    ]
}

fn password() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => text(),
        1 => "[a-zA-Z0-9 ]{0,140}",
        6 => "[a-z][\\PC]{8,12}[0-9]",
    ]
}

fn phone() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => text(),
        2 => "[ ]?\\+?[0-9 ()-]{0,30}[ ]?",
        6 => "\\+?[0-9]{2,3}( ?[0-9]{2,4}){2,3}",
    ]
}

fn insurance_number() -> impl Strategy<Value = String> {
    prop_oneof![1 => text(), 2 => "[ ]?[0-9]{0,25}[ ]?", 6 => "[0-9]{6,20}"]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![1 => text(), 1 => "[A-Za-z ]{0,120}", 8 => "[ ]?[\\p{L}][\\p{L} '-]{0,60}[ ]?"]
}

fn submit_request() -> impl Strategy<Value = pb::SubmitRegistrationRequest> {
    (
        (email(), password(), name(), name(), name()),
        (name(), name(), phone(), insurance_number()),
        proptest::option::of(text()),
    )
        .prop_map(
            |(
                (email, password, first_name, last_name, address),
                (city, country, phone, insurance_number),
                request_id,
            )| pb::SubmitRegistrationRequest {
                email,
                password,
                first_name,
                last_name,
                address,
                city,
                country,
                phone,
                insurance_number,
                request_id,
            },
        )
}

const FIELDS: &[&str] = &[
    "email",
    "password",
    "first_name",
    "last_name",
    "address",
    "city",
    "country",
    "phone",
    "insurance_number",
    "request_id",
    "id",
    "expected_version",
    "reason",
    "status",
    "page_size",
    "page_token",
    "patient_id",
];

/// A refusal is `INVALID_ARGUMENT` with at least one violation, each naming a request field.
fn refused(e: RegistrationError) -> Result<(), TestCaseError> {
    let RegistrationError::Invalid(violations) = &e else {
        return Err(TestCaseError::fail(format!(
            "not a validation error: {e:?}"
        )));
    };
    prop_assert!(!violations.is_empty());
    for v in violations {
        prop_assert!(FIELDS.contains(&v.field.as_str()), "field {}", v.field);
    }
    prop_assert_eq!(Status::from(e).code(), Code::InvalidArgument);
    Ok(())
}

fn violations(v: Vec<clinic_common::error::FieldViolation>) -> Result<(), TestCaseError> {
    refused(RegistrationError::Invalid(v))
}

/// What `SubmitRegistration` does with a request, checked.
fn check_submit(r: pb::SubmitRegistrationRequest) -> Result<(), TestCaseError> {
    match new_registration(r.clone()) {
        Ok(new) => {
            // Each parsed value is what its rule makes of the input, and the rule keeps it as is.
            prop_assert_eq!(Email::parse(new.email.as_str()), Ok(new.email.clone()));
            prop_assert_eq!(new.password.expose(), r.password.as_str());
            prop_assert_eq!(Phone::parse(new.phone.as_str()), Ok(new.phone.clone()));
            prop_assert_eq!(
                InsuranceNumber::parse(new.insurance_number.as_str()),
                Ok(new.insurance_number.clone())
            );
            prop_assert_eq!(new.first_name.trim(), new.first_name.as_str());
            prop_assert!(new.first_name.chars().count() <= NewRegistration::NAME_MAX);
            prop_assert!(new.address.chars().count() <= NewRegistration::ADDRESS_MAX);
            prop_assert!(new.city.chars().count() <= NewRegistration::PLACE_MAX);
            prop_assert_eq!(new.client_request_id.is_some(), r.request_id.is_some());
        }
        Err(e) => refused(e)?,
    }
    Ok(())
}

/// `ListRegistrationRequests`' parsing, as the handler does it.
fn check_list(r: &pb::ListRegistrationRequestsRequest) -> Result<(), TestCaseError> {
    let mut v = Violations::default();
    v.take(status_filter(r.status));
    let size = v.take(pagination::page_size(r.page_size));
    v.take(Cursor::decode(&r.page_token));
    if v.is_empty() {
        prop_assert!((1..=100).contains(&size.unwrap()));
    } else {
        violations(v.into_vec())?;
    }
    Ok(())
}

fn check_decision(
    id: &str,
    version: Option<i64>,
    reason: Option<&str>,
) -> Result<(), TestCaseError> {
    let parsed = both(parse_id("id", id), expected_version(version));
    let parsed = match reason {
        Some(reason) => both(
            parsed,
            RejectionReason::parse(reason).map_err(|v| RegistrationError::Invalid(vec![v])),
        )
        .map(|(p, _)| p),
        None => parsed,
    };
    match parsed {
        Ok((parsed_id, v)) => {
            // The id round-trips through its canonical spelling.
            prop_assert!(
                matches!(parse_id("id", &parsed_id.to_string()), Ok(again) if again == parsed_id)
            );
            prop_assert!(v >= 1 && Some(v) == version);
        }
        Err(e) => refused(e)?,
    }
    Ok(())
}

fn check_id(field: &str, raw: &str) -> Result<(), TestCaseError> {
    match parse_id(field, raw) {
        Ok(id) => {
            prop_assert!(matches!(parse_id(field, &id.to_string()), Ok(again) if again == id));
            Ok(())
        }
        Err(e) => refused(e),
    }
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..512)
}

proptest! {
    #[test]
    fn email_is_a_violation_or_a_lower_case_fixed_point(raw in email()) {
        match Email::parse(&raw) {
            Ok(e) => {
                prop_assert_eq!(e.as_str(), e.as_str().to_lowercase());
                prop_assert!(e.as_str().len() <= Email::MAX_LEN);
                prop_assert_eq!(Email::parse(e.as_str()), Ok(e.clone()));
            }
            Err(v) => prop_assert_eq!(v.field, "email"),
        }
    }

    #[test]
    fn password_is_a_violation_or_kept_verbatim(raw in password()) {
        match Password::parse(&raw) {
            Ok(p) => {
                prop_assert_eq!(p.expose(), raw.as_str());
                prop_assert!((10..=128).contains(&raw.chars().count()));
            }
            Err(v) => prop_assert_eq!(v.field, "password"),
        }
    }

    #[test]
    fn phone_is_a_violation_or_a_fixed_point(raw in phone()) {
        match Phone::parse(&raw) {
            Ok(p) => {
                let digits = p.as_str().chars().filter(char::is_ascii_digit).count();
                prop_assert!((6..=15).contains(&digits));
                prop_assert_eq!(Phone::parse(p.as_str()), Ok(p.clone()));
            }
            Err(v) => prop_assert_eq!(v.field, "phone"),
        }
    }

    #[test]
    fn insurance_number_is_a_violation_or_6_to_20_digits(raw in insurance_number()) {
        match InsuranceNumber::parse(&raw) {
            Ok(n) => {
                prop_assert!((6..=20).contains(&n.as_str().len()));
                prop_assert!(n.as_str().bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(InsuranceNumber::parse(n.as_str()), Ok(n.clone()));
            }
            Err(v) => prop_assert_eq!(v.field, "insurance_number"),
        }
    }

    #[test]
    fn rejection_reason_is_a_violation_or_a_fixed_point(raw in text()) {
        match RejectionReason::parse(&raw) {
            Ok(r) => {
                prop_assert!(!r.as_str().is_empty() && r.as_str().chars().count() <= 1000);
                prop_assert_eq!(RejectionReason::parse(r.as_str()), Ok(r.clone()));
            }
            Err(v) => prop_assert_eq!(v.field, "reason"),
        }
    }

    #[test]
    fn expected_version_is_required_and_positive(raw in proptest::option::of(any::<i64>())) {
        match expected_version(raw) {
            Ok(v) => prop_assert!(v >= 1 && raw == Some(v)),
            Err(e) => refused(e)?,
        }
    }

    #[test]
    fn status_filter_knows_every_status_and_refuses_the_rest(raw in proptest::option::of(any::<i32>())) {
        match status_filter(raw) {
            Ok(s) => prop_assert_eq!(s.is_some(), matches!(raw, Some(1..=3))),
            Err(v) => {
                prop_assert!(pb::RegistrationStatus::try_from(raw.unwrap()).is_err());
                prop_assert_eq!(v.field, "status");
            }
        }
    }

    #[test]
    fn any_submission_is_refused_field_by_field_or_parsed(r in submit_request()) {
        check_submit(r)?;
    }

    #[test]
    fn any_decision_is_refused_or_parsed(
        id in prop_oneof![text(), any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string())],
        version in proptest::option::of(any::<i64>()),
        reason in proptest::option::of(text()),
    ) {
        check_decision(&id, version, reason.as_deref())?;
    }

    /// Every request message of the service from arbitrary bytes: decoding fails cleanly or the
    /// decoded request goes through the same parsing as in its handler.
    #[test]
    fn arbitrary_bytes_through_every_request_message(bytes in bytes()) {
        let b = &bytes[..];
        if let Ok(r) = pb::SubmitRegistrationRequest::decode(b) {
            check_submit(r)?;
        }
        if let Ok(r) = pb::GetRegistrationRequestRequest::decode(b) {
            check_id("id", &r.id)?;
        }
        if let Ok(r) = pb::ListRegistrationRequestsRequest::decode(b) {
            check_list(&r)?;
        }
        if let Ok(r) = pb::ApproveRegistrationRequestRequest::decode(b) {
            check_decision(&r.id, r.expected_version, None)?;
        }
        if let Ok(r) = pb::RejectRegistrationRequestRequest::decode(b) {
            check_decision(&r.id, r.expected_version, Some(&r.reason))?;
        }
        // ActivateAccount and Login check only lengths, in their handlers; decoding is what
        // can fail here.
        let _ = pb::ActivateAccountRequest::decode(b);
        let _ = pb::LoginRequest::decode(b);
        if let Ok(r) = pb::GetPatientRequest::decode(b) {
            check_id("patient_id", &r.patient_id)?;
        }
    }

    /// Well-formed messages with arbitrary field values survive the wire and the same parsing.
    #[test]
    fn encoded_submissions_decode_to_themselves_and_parse_the_same(r in submit_request()) {
        let decoded = pb::SubmitRegistrationRequest::decode(&r.encode_to_vec()[..]).unwrap();
        prop_assert_eq!(&decoded, &r);
        check_submit(decoded)?;
    }

    #[test]
    fn encoded_list_requests_decode_to_themselves_and_parse(
        status in proptest::option::of(prop_oneof![any::<i32>(), 0..5i32]),
        page_size in prop_oneof![any::<i32>(), -1..=101i32],
        page_token in prop_oneof![text(), Just(String::new())],
    ) {
        let r = pb::ListRegistrationRequestsRequest { status, page_size, page_token };
        let decoded = pb::ListRegistrationRequestsRequest::decode(&r.encode_to_vec()[..]).unwrap();
        prop_assert_eq!(&decoded, &r);
        check_list(&decoded)?;
    }
}
