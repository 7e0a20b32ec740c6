//! Property tests of every request this service parses: arbitrary text, numbers, timestamps and
//! bytes never panic; they give `INVALID_FIELD` violations naming the fields, or values within the
//! rules that the same rules accept unchanged. Arbitrary bytes go through prost decoding of every
//! request message first.

use clinic_common::{error::Violations, validate};
use clinic_proto::pb::appointment::v1 as pb;
use proptest::prelude::*;
use prost::Message;
use time::OffsetDateTime;
use tonic::{Code, Status};

use super::{clinic_page, convert::*, paging};
use crate::{
    domain::{NewAppointment, currency, final_price_minor, time_zone},
    error::AppointmentError,
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
fn name() -> impl Strategy<Value = String> {
    prop_oneof![1 => text(), 6 => "[ ]?[\\p{L}][\\p{L}0-9 '-]{0,60}[ ]?"]
}

fn uuid_text() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => text(),
        12 => any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string()),
    ]
}

fn zone() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => text(),
        1 => Just("UTC".to_owned()),
        4 => "[ ]?[A-Z][A-Za-z_+-]{0,12}(/[A-Z][A-Za-z0-9_+-]{0,12}){1,2}[ ]?",
        1 => "[A-Za-z/_+-]{0,40}",
    ]
}

fn currency_code() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => text(),
        4 => "[ ]?[A-Za-z]{3}[ ]?",
        8 => prop_oneof![Just("EUR"), Just("rsd"), Just(" USD "), Just("XCG")].prop_map(str::to_owned),
    ]
}

/// Any timestamp, or one on a whole minute within the next three years.
fn timestamp() -> impl Strategy<Value = prost_types::Timestamp> {
    let next_minute = (OffsetDateTime::now_utc().unix_timestamp() / 60 + 2) * 60;
    prop_oneof![
        1 => (any::<i64>(), any::<i32>())
            .prop_map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos }),
        4 => (0i64..3 * 364 * 24 * 60).prop_map(move |m| prost_types::Timestamp {
            seconds: next_minute + m * 60,
            nanos: 0,
        }),
    ]
}

fn page_token() -> impl Strategy<Value = String> {
    prop_oneof![1 => text(), 2 => Just(String::new())]
}

fn page_size() -> impl Strategy<Value = i32> {
    prop_oneof![1 => any::<i32>(), 4 => -1..=101i32]
}

fn appointment_request() -> impl Strategy<Value = pb::CreatePredefinedAppointmentRequest> {
    (
        (uuid_text(), uuid_text(), uuid_text(), uuid_text()),
        prop_oneof![1 => Just(None), 8 => timestamp().prop_map(Some)],
        prop_oneof![1 => any::<i32>(), 8 => 0..=500i32],
        prop_oneof![1 => any::<i64>(), 8 => -1..=2_000_000i64],
        currency_code(),
        prop_oneof![1 => any::<i32>(), 8 => -1..=101i32],
    )
        .prop_map(
            |(
                (clinic_id, doctor_id, room_id, exam_type_id),
                starts_at,
                duration_minutes,
                price_minor,
                currency,
                discount_percent,
            )| pb::CreatePredefinedAppointmentRequest {
                clinic_id,
                doctor_id,
                room_id,
                exam_type_id,
                starts_at,
                duration_minutes,
                price_minor,
                currency,
                discount_percent,
            },
        )
}

fn available_request() -> impl Strategy<Value = pb::ListAvailableAppointmentsRequest> {
    (
        proptest::option::of(uuid_text()),
        proptest::option::of(uuid_text()),
        proptest::option::of(timestamp()),
        proptest::option::of(timestamp()),
        page_size(),
        page_token(),
    )
        .prop_map(
            |(clinic_id, exam_type_id, from, to, page_size, page_token)| {
                pb::ListAvailableAppointmentsRequest {
                    clinic_id,
                    exam_type_id,
                    from,
                    to,
                    page_size,
                    page_token,
                }
            },
        )
}

const FIELDS: &[&str] = &[
    "name",
    "address",
    "city",
    "time_zone",
    "clinic_id",
    "first_name",
    "last_name",
    "specialization",
    "doctor_id",
    "room_id",
    "exam_type_id",
    "starts_at",
    "duration_minutes",
    "price_minor",
    "currency",
    "discount_percent",
    "from",
    "to",
    "page_size",
    "page_token",
    "appointment_id",
    "request_id",
    "id",
];

/// A refusal is `INVALID_ARGUMENT` with at least one violation, each naming a request field.
fn refused(e: AppointmentError) -> Result<(), TestCaseError> {
    let AppointmentError::Invalid(violations) = &e else {
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

fn check<T>(
    parsed: Result<T, AppointmentError>,
    ok: impl FnOnce(T) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    match parsed {
        Ok(value) => ok(value),
        Err(e) => refused(e),
    }
}

fn bounded(s: &str, max: usize) -> Result<(), TestCaseError> {
    prop_assert!(!s.is_empty() && s.chars().count() <= max && s.trim() == s);
    Ok(())
}

fn check_clinic(r: pb::CreateClinicRequest) -> Result<(), TestCaseError> {
    check(new_clinic(r), |c| {
        bounded(&c.name, 200)?;
        bounded(&c.address, 200)?;
        bounded(&c.city, 100)?;
        prop_assert_eq!(time_zone(&c.time_zone), Ok(c.time_zone.clone()));
        Ok(())
    })
}

fn check_doctor(r: pb::CreateDoctorRequest) -> Result<(), TestCaseError> {
    check(new_doctor(r), |d| {
        bounded(&d.first_name, 100)?;
        bounded(&d.last_name, 100)?;
        bounded(&d.specialization, 100)
    })
}

fn check_named(clinic_id: &str, name: &str) -> Result<(), TestCaseError> {
    check(new_named(clinic_id, name), |n| bounded(&n.name, 100))
}

fn check_appointment(r: pb::CreatePredefinedAppointmentRequest) -> Result<(), TestCaseError> {
    check(new_appointment(r), |a| {
        prop_assert!(a.starts_at > OffsetDateTime::now_utc() - time::Duration::minutes(1));
        prop_assert_eq!((a.starts_at.second(), a.starts_at.nanosecond()), (0, 0));
        prop_assert!(a.ends_at() > a.starts_at);
        prop_assert!((5..=480).contains(&a.duration_minutes));
        prop_assert_eq!(currency(&a.currency), Ok(a.currency.clone()));
        let final_price = final_price_minor(a.price_minor, a.discount_percent);
        prop_assert!((0..=a.price_minor).contains(&final_price));
        Ok(())
    })
}

fn check_clinic_page(clinic_id: &str, size: i32, token: &str) -> Result<(), TestCaseError> {
    check(clinic_page(clinic_id, size, token), |(_, size, _)| {
        prop_assert!((1..=100).contains(&size));
        Ok(())
    })
}

fn check_page(size: i32, token: &str) -> Result<(), TestCaseError> {
    let mut v = Violations::default();
    let (size, _) = paging(&mut v, size, token);
    check(finish(v, size), |size| {
        prop_assert!((1..=100).contains(&size));
        Ok(())
    })
}

/// `ListAvailableAppointments`' parsing, as its handler does it.
fn check_available(r: &pb::ListAvailableAppointmentsRequest) -> Result<(), TestCaseError> {
    let mut v = Violations::default();
    v.take(opt_id("clinic_id", r.clinic_id.as_deref()));
    v.take(opt_id("exam_type_id", r.exam_type_id.as_deref()));
    let from = v.take(opt_time("from", r.from.as_ref())).flatten();
    let to = v.take(opt_time("to", r.to.as_ref())).flatten();
    if let (Some(f), Some(t)) = (from, to)
        && t <= f
    {
        v.push(clinic_common::error::FieldViolation::new(
            "to",
            "must be after from",
        ));
    }
    let (size, _) = paging(&mut v, r.page_size, &r.page_token);
    check(finish(v, size), |size| {
        prop_assert!((1..=100).contains(&size));
        Ok(())
    })
}

fn check_reserve(r: &pb::ReserveAppointmentRequest) -> Result<(), TestCaseError> {
    let mut v = Violations::default();
    let appointment = v.take(validate::uuid("appointment_id", &r.appointment_id));
    let request_id = v.take(validate::request_id(r.request_id.as_deref()));
    check(finish(v, appointment.zip(request_id)), |(_, key)| {
        prop_assert_eq!(key.is_some(), r.request_id.is_some());
        Ok(())
    })
}

fn check_id(field: &str, raw: &str) -> Result<(), TestCaseError> {
    check(id(field, raw), |_| Ok(()))
}

proptest! {
    #[test]
    fn time_zone_is_a_violation_or_a_fixed_point(raw in zone()) {
        match time_zone(&raw) {
            Ok(tz) => prop_assert_eq!(time_zone(&tz), Ok(tz.clone())),
            Err(v) => prop_assert_eq!(v.field, "time_zone"),
        }
    }

    #[test]
    fn currency_is_a_violation_or_an_upper_case_fixed_point(raw in currency_code()) {
        match currency(&raw) {
            Ok(code) => {
                prop_assert!(code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()));
                prop_assert_eq!(currency(&code), Ok(code.clone()));
            }
            Err(v) => prop_assert_eq!(v.field, "currency"),
        }
    }

    #[test]
    fn numbers_are_accepted_exactly_within_their_bounds(
        duration in any::<i32>(),
        price in any::<i64>(),
        discount in any::<i32>(),
    ) {
        prop_assert_eq!(NewAppointment::duration(duration).is_ok(), (5..=480).contains(&duration));
        prop_assert_eq!(NewAppointment::price(price).is_ok(), (0..=1_000_000_000_000).contains(&price));
        prop_assert_eq!(NewAppointment::discount(discount).is_ok(), (0..=100).contains(&discount));
    }

    #[test]
    fn the_final_price_of_any_valid_price_is_between_zero_and_the_price(
        price in 0i64..=1_000_000_000_000,
        discount in 0i32..=100,
    ) {
        let final_price = final_price_minor(price, discount);
        prop_assert!((0..=price).contains(&final_price));
    }

    #[test]
    fn any_start_is_none_a_violation_or_a_future_whole_minute(ts in proptest::option::of(timestamp())) {
        let now = OffsetDateTime::now_utc();
        match opt_time("starts_at", ts.as_ref()) {
            Ok(t) => match NewAppointment::starts_at(t, now) {
                Ok(t) => prop_assert!(t > now && t.second() == 0 && t.nanosecond() == 0),
                Err(v) => prop_assert_eq!(v.field, "starts_at"),
            },
            Err(v) => prop_assert_eq!(v.field, "starts_at"),
        }
    }

    #[test]
    fn any_catalog_creation_is_refused_or_parsed(
        name in name(),
        address in name(),
        city in name(),
        tz in zone(),
        clinic_id in uuid_text(),
        specialization in name(),
    ) {
        check_clinic(pb::CreateClinicRequest {
            name: name.clone(),
            address,
            city: city.clone(),
            time_zone: tz,
        })?;
        check_doctor(pb::CreateDoctorRequest {
            clinic_id: clinic_id.clone(),
            first_name: name.clone(),
            last_name: city,
            specialization,
        })?;
        check_named(&clinic_id, &name)?;
    }

    #[test]
    fn any_predefined_appointment_is_refused_or_parsed(r in appointment_request()) {
        check_appointment(r)?;
    }

    #[test]
    fn any_listing_is_refused_or_parsed(
        r in available_request(),
        clinic_id in uuid_text(),
        size in page_size(),
        token in page_token(),
    ) {
        check_available(&r)?;
        check_clinic_page(&clinic_id, size, &token)?;
        check_page(size, &token)?;
    }

    #[test]
    fn any_reservation_request_is_refused_or_parsed(
        appointment_id in uuid_text(),
        request_id in proptest::option::of(text()),
    ) {
        check_reserve(&pb::ReserveAppointmentRequest { appointment_id, request_id })?;
    }

    /// Every request message of the service from arbitrary bytes: decoding fails cleanly or the
    /// decoded request goes through the same parsing as in its handler.
    #[test]
    fn arbitrary_bytes_through_every_request_message(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let b = &bytes[..];
        if let Ok(r) = pb::CreateClinicRequest::decode(b) {
            check_clinic(r)?;
        }
        if let Ok(r) = pb::ListClinicsRequest::decode(b) {
            check_page(r.page_size, &r.page_token)?;
        }
        if let Ok(r) = pb::CreateDoctorRequest::decode(b) {
            check_doctor(r)?;
        }
        if let Ok(r) = pb::ListDoctorsRequest::decode(b) {
            check_clinic_page(&r.clinic_id, r.page_size, &r.page_token)?;
        }
        if let Ok(r) = pb::CreateRoomRequest::decode(b) {
            check_named(&r.clinic_id, &r.name)?;
        }
        if let Ok(r) = pb::ListRoomsRequest::decode(b) {
            check_clinic_page(&r.clinic_id, r.page_size, &r.page_token)?;
        }
        if let Ok(r) = pb::CreateExamTypeRequest::decode(b) {
            check_named(&r.clinic_id, &r.name)?;
        }
        if let Ok(r) = pb::ListExamTypesRequest::decode(b) {
            check_clinic_page(&r.clinic_id, r.page_size, &r.page_token)?;
        }
        if let Ok(r) = pb::CreatePredefinedAppointmentRequest::decode(b) {
            check_appointment(r)?;
        }
        if let Ok(r) = pb::ListAvailableAppointmentsRequest::decode(b) {
            check_available(&r)?;
        }
        if let Ok(r) = pb::ReserveAppointmentRequest::decode(b) {
            check_reserve(&r)?;
        }
        if let Ok(r) = pb::CancelReservationRequest::decode(b) {
            check_id("appointment_id", &r.appointment_id)?;
        }
        // ListMyAppointments has one optional flag and nothing to validate.
        let _ = pb::ListMyAppointmentsRequest::decode(b);
        if let Ok(r) = pb::GetAppointmentRequest::decode(b) {
            check_id("id", &r.id)?;
        }
    }

    /// Well-formed messages with arbitrary field values survive the wire and the same parsing.
    #[test]
    fn encoded_requests_decode_to_themselves_and_parse_the_same(
        appointment in appointment_request(),
        available in available_request(),
    ) {
        let decoded =
            pb::CreatePredefinedAppointmentRequest::decode(&appointment.encode_to_vec()[..]).unwrap();
        prop_assert_eq!(&decoded, &appointment);
        check_appointment(decoded)?;
        let decoded =
            pb::ListAvailableAppointmentsRequest::decode(&available.encode_to_vec()[..]).unwrap();
        prop_assert_eq!(&decoded, &available);
        check_available(&decoded)?;
    }
}
