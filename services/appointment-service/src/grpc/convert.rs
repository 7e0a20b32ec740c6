use clinic_common::{
    error::{FieldViolation, Violations},
    time_pb,
    validate::{bounded_text, uuid},
};
use clinic_proto::pb::appointment::v1 as pb;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    domain::{
        AppointmentRecord, AppointmentStatus, Clinic, Doctor, Named, NewAppointment, NewClinic,
        NewDoctor, NewNamed, currency, time_zone,
    },
    error::AppointmentError,
};

/// Finishes a parse: the value when every field was valid, else all violations.
pub fn finish<T>(v: Violations, value: Option<T>) -> Result<T, AppointmentError> {
    match value {
        Some(value) if v.is_empty() => Ok(value),
        _ => Err(AppointmentError::Invalid(v.into_vec())),
    }
}

pub fn id(field: &str, raw: &str) -> Result<Uuid, AppointmentError> {
    uuid(field, raw).map_err(|v| AppointmentError::Invalid(vec![v]))
}

pub fn opt_id(field: &str, raw: Option<&str>) -> Result<Option<Uuid>, FieldViolation> {
    raw.filter(|r| !r.is_empty())
        .map(|r| uuid(field, r))
        .transpose()
}

pub fn opt_time(
    field: &str,
    raw: Option<&prost_types::Timestamp>,
) -> Result<Option<OffsetDateTime>, FieldViolation> {
    raw.map(|t| {
        time_pb::from_timestamp(t).ok_or_else(|| FieldViolation::new(field, "is out of range"))
    })
    .transpose()
}

pub fn new_clinic(r: pb::CreateClinicRequest) -> Result<NewClinic, AppointmentError> {
    let mut v = Violations::default();
    let name = v.take(bounded_text("name", &r.name, 200));
    let address = v.take(bounded_text("address", &r.address, 200));
    let city = v.take(bounded_text("city", &r.city, 100));
    let tz = v.take(time_zone(&r.time_zone));
    let value = match (name, address, city, tz) {
        (Some(name), Some(address), Some(city), Some(time_zone)) => Some(NewClinic {
            name,
            address,
            city,
            time_zone,
        }),
        _ => None,
    };
    finish(v, value)
}

pub fn new_doctor(r: pb::CreateDoctorRequest) -> Result<NewDoctor, AppointmentError> {
    let mut v = Violations::default();
    let clinic_id = v.take(uuid("clinic_id", &r.clinic_id));
    let first = v.take(bounded_text("first_name", &r.first_name, 100));
    let last = v.take(bounded_text("last_name", &r.last_name, 100));
    let spec = v.take(bounded_text("specialization", &r.specialization, 100));
    let value = match (clinic_id, first, last, spec) {
        (Some(clinic_id), Some(first_name), Some(last_name), Some(specialization)) => {
            Some(NewDoctor {
                clinic_id,
                first_name,
                last_name,
                specialization,
            })
        }
        _ => None,
    };
    finish(v, value)
}

pub fn new_named(clinic_id: &str, name: &str) -> Result<NewNamed, AppointmentError> {
    let mut v = Violations::default();
    let clinic_id = v.take(uuid("clinic_id", clinic_id));
    let name = v.take(bounded_text("name", name, 100));
    let value = clinic_id
        .zip(name)
        .map(|(clinic_id, name)| NewNamed { clinic_id, name });
    finish(v, value)
}

pub fn new_appointment(
    r: pb::CreatePredefinedAppointmentRequest,
) -> Result<NewAppointment, AppointmentError> {
    let mut v = Violations::default();
    let now = OffsetDateTime::now_utc();
    let clinic_id = v.take(uuid("clinic_id", &r.clinic_id));
    let doctor_id = v.take(uuid("doctor_id", &r.doctor_id));
    let room_id = v.take(uuid("room_id", &r.room_id));
    let exam_type_id = v.take(uuid("exam_type_id", &r.exam_type_id));
    let starts_at = v
        .take(opt_time("starts_at", r.starts_at.as_ref()))
        .and_then(|t| v.take(NewAppointment::starts_at(t, now)));
    let duration_minutes = v.take(NewAppointment::duration(r.duration_minutes));
    let price_minor = v.take(NewAppointment::price(r.price_minor));
    let currency = v.take(currency(&r.currency));
    let discount_percent = v.take(NewAppointment::discount(r.discount_percent));
    let value = (|| {
        Some(NewAppointment {
            clinic_id: clinic_id?,
            doctor_id: doctor_id?,
            room_id: room_id?,
            exam_type_id: exam_type_id?,
            starts_at: starts_at?,
            duration_minutes: duration_minutes?,
            price_minor: price_minor?,
            currency: currency?,
            discount_percent: discount_percent?,
        })
    })();
    finish(v, value)
}

pub fn appointment_to_pb(a: AppointmentRecord) -> pb::Appointment {
    pb::Appointment {
        id: a.id.to_string(),
        clinic_id: a.clinic_id.to_string(),
        doctor_id: a.doctor_id.to_string(),
        room_id: a.room_id.to_string(),
        exam_type_id: a.exam_type_id.to_string(),
        starts_at: Some(time_pb::to_timestamp(a.starts_at)),
        duration_minutes: a.duration_minutes,
        price_minor: a.price_minor,
        currency: a.currency,
        discount_percent: a.discount_percent,
        final_price_minor: a.final_price_minor,
        status: match a.status {
            AppointmentStatus::Available => pb::AppointmentStatus::Available,
            AppointmentStatus::Reserved => pb::AppointmentStatus::Reserved,
        } as i32,
        patient_id: a.patient_id.map(|p| p.to_string()).unwrap_or_default(),
        version: a.version,
        reserved_at: time_pb::opt_timestamp(a.reserved_at),
        created_at: Some(time_pb::to_timestamp(a.created_at)),
    }
}

pub fn clinic_to_pb(c: Clinic) -> pb::Clinic {
    pb::Clinic {
        id: c.id.to_string(),
        name: c.name,
        address: c.address,
        city: c.city,
        time_zone: c.time_zone,
        created_at: Some(time_pb::to_timestamp(c.created_at)),
    }
}

pub fn doctor_to_pb(d: Doctor) -> pb::Doctor {
    pb::Doctor {
        id: d.id.to_string(),
        clinic_id: d.clinic_id.to_string(),
        first_name: d.first_name,
        last_name: d.last_name,
        specialization: d.specialization,
    }
}

pub fn room_to_pb(n: Named) -> pb::Room {
    pb::Room {
        id: n.id.to_string(),
        clinic_id: n.clinic_id.to_string(),
        name: n.name,
    }
}

pub fn exam_type_to_pb(n: Named) -> pb::ExamType {
    pb::ExamType {
        id: n.id.to_string(),
        clinic_id: n.clinic_id.to_string(),
        name: n.name,
    }
}
