//! Who may call which RPC of this service, in one place. Finer rules (a patient reads only their own
//! record) live in the use case; the auth layer refuses anything not listed here.

use clinic_common::auth::{Access, Policy, Role, audience};

/// The outbox feed this service also serves (policy: `clinic_common::outbox::feed::policy`).
pub use clinic_common::outbox::feed::SERVICE_NAME as FEED_SERVICE_NAME;

/// Full name of the gRPC service, as health and reflection report it.
pub const SERVICE_NAME: &str = "clinic.registration.v1.RegistrationService";

const CENTER_ADMIN: &[Role] = &[Role::ClinicCenterAdmin];
/// A clinic admin is not among them: registration-service cannot tell which patients a clinic serves,
/// and a clinic admin sees its reservations' patients through appointment-service.
const PATIENT_READERS: &[Role] = &[Role::ClinicCenterAdmin, Role::Patient];
/// GetPatient's internal callers: a reservation's patient check, an appointment e-mail's recipient.
const PATIENT_READING_SERVICES: &[&str] = &[audience::APPOINTMENT, audience::NOTIFIER];

macro_rules! rpc {
    ($name:literal) => {
        concat!("/clinic.registration.v1.RegistrationService/", $name)
    };
}

pub fn policy() -> Policy {
    Policy::new(&[
        (rpc!("SubmitRegistration"), Access::Public),
        (rpc!("ActivateAccount"), Access::Public),
        (rpc!("Login"), Access::Public),
        (rpc!("GetRegistrationRequest"), Access::Roles(CENTER_ADMIN)),
        (
            rpc!("ListRegistrationRequests"),
            Access::Roles(CENTER_ADMIN),
        ),
        (
            rpc!("ApproveRegistrationRequest"),
            Access::Roles(CENTER_ADMIN),
        ),
        (
            rpc!("RejectRegistrationRequest"),
            Access::Roles(CENTER_ADMIN),
        ),
        (
            rpc!("GetPatient"),
            Access::Callers(PATIENT_READERS, PATIENT_READING_SERVICES),
        ),
    ])
}
