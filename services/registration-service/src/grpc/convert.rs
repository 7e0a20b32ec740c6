use clinic_common::{
    auth::Role,
    error::{FieldViolation, Violations},
    time_pb,
};
use clinic_proto::pb::registration::v1 as pb;
use uuid::Uuid;

use crate::{
    domain::{
        AccountStatus, Email, InsuranceNumber, NewRegistration, Password, Patient, Phone,
        RegistrationRecord, RequestStatus, bounded_text, client_request_id,
    },
    error::RegistrationError,
};

/// Parses every field and reports every bad one at once.
pub fn new_registration(
    req: pb::SubmitRegistrationRequest,
) -> Result<NewRegistration, RegistrationError> {
    let mut v = Violations::default();
    let email = v.take(Email::parse(&req.email));
    let password = v.take(Password::parse(&req.password));
    let first_name = v.take(bounded_text(
        "first_name",
        &req.first_name,
        NewRegistration::NAME_MAX,
    ));
    let last_name = v.take(bounded_text(
        "last_name",
        &req.last_name,
        NewRegistration::NAME_MAX,
    ));
    let address = v.take(bounded_text(
        "address",
        &req.address,
        NewRegistration::ADDRESS_MAX,
    ));
    let city = v.take(bounded_text("city", &req.city, NewRegistration::PLACE_MAX));
    let country = v.take(bounded_text(
        "country",
        &req.country,
        NewRegistration::PLACE_MAX,
    ));
    let phone = v.take(Phone::parse(&req.phone));
    let insurance_number = v.take(InsuranceNumber::parse(&req.insurance_number));
    let client_request_id = v.take(client_request_id(req.request_id.as_deref()));
    match (
        email,
        password,
        first_name,
        last_name,
        address,
        city,
        country,
        phone,
        insurance_number,
        client_request_id,
    ) {
        (
            Some(email),
            Some(password),
            Some(first_name),
            Some(last_name),
            Some(address),
            Some(city),
            Some(country),
            Some(phone),
            Some(insurance_number),
            Some(client_request_id),
        ) => Ok(NewRegistration {
            email,
            password,
            first_name,
            last_name,
            address,
            city,
            country,
            phone,
            insurance_number,
            client_request_id,
        }),
        _ => Err(RegistrationError::Invalid(v.into_vec())),
    }
}

pub fn parse_id(field: &str, raw: &str) -> Result<Uuid, RegistrationError> {
    Uuid::parse_str(raw).map_err(|_| RegistrationError::invalid(field, "must be a UUID"))
}

pub fn expected_version(raw: Option<i64>) -> Result<i64, RegistrationError> {
    match raw {
        None => Err(RegistrationError::invalid(
            "expected_version",
            "is required: send the version you read",
        )),
        Some(v) if v < 1 => Err(RegistrationError::invalid(
            "expected_version",
            "must be at least 1",
        )),
        Some(v) => Ok(v),
    }
}

/// Combines two parse results, keeping the violations of both.
pub fn both<A, B>(
    a: Result<A, RegistrationError>,
    b: Result<B, RegistrationError>,
) -> Result<(A, B), RegistrationError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(RegistrationError::Invalid(mut va)), Err(RegistrationError::Invalid(vb))) => {
            va.extend(vb);
            Err(RegistrationError::Invalid(va))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
    }
}

pub fn status_filter(raw: Option<i32>) -> Result<Option<RequestStatus>, FieldViolation> {
    let Some(raw) = raw else { return Ok(None) };
    match pb::RegistrationStatus::try_from(raw) {
        Ok(pb::RegistrationStatus::Unspecified) => Ok(None),
        Ok(pb::RegistrationStatus::Pending) => Ok(Some(RequestStatus::Pending)),
        Ok(pb::RegistrationStatus::Approved) => Ok(Some(RequestStatus::Approved)),
        Ok(pb::RegistrationStatus::Rejected) => Ok(Some(RequestStatus::Rejected)),
        Err(_) => Err(FieldViolation::new("status", "unknown status")),
    }
}

fn status_to_pb(s: RequestStatus) -> pb::RegistrationStatus {
    match s {
        RequestStatus::Pending => pb::RegistrationStatus::Pending,
        RequestStatus::Approved => pb::RegistrationStatus::Approved,
        RequestStatus::Rejected => pb::RegistrationStatus::Rejected,
    }
}

pub fn role_to_pb(r: Role) -> pb::Role {
    match r {
        Role::Patient => pb::Role::Patient,
        Role::ClinicCenterAdmin => pb::Role::ClinicCenterAdmin,
        Role::ClinicAdmin => pb::Role::ClinicAdmin,
        Role::Service => pb::Role::Service,
    }
}

pub fn record_to_pb(r: RegistrationRecord) -> pb::RegistrationRequest {
    pb::RegistrationRequest {
        id: r.id.to_string(),
        email: r.email,
        first_name: r.first_name,
        last_name: r.last_name,
        address: r.address,
        city: r.city,
        country: r.country,
        phone: r.phone,
        insurance_number: r.insurance_number,
        status: status_to_pb(r.status) as i32,
        version: r.version,
        decided_by: r.decided_by.map(|u| u.to_string()).unwrap_or_default(),
        decided_at: time_pb::opt_timestamp(r.decided_at),
        rejection_reason: r.rejection_reason.unwrap_or_default(),
        created_at: Some(time_pb::to_timestamp(r.created_at)),
    }
}

pub fn patient_to_pb(p: Patient) -> pb::Patient {
    pb::Patient {
        patient_id: p.id.to_string(),
        email: p.email,
        first_name: p.first_name,
        last_name: p.last_name,
        status: match p.status {
            AccountStatus::AwaitingActivation => pb::AccountStatus::AwaitingActivation,
            AccountStatus::Active => pb::AccountStatus::Active,
        } as i32,
    }
}
