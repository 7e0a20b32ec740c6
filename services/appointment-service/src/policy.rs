//! Who may call which RPC of this service, in one place. Finer rules (a clinic admin acts only on
//! their own clinic; a patient only on their own reservations) live in the use cases.

use clinic_common::auth::{Access, Policy, Role};

/// The outbox feed this service also serves (policy: `clinic_common::outbox::feed::policy`).
pub use clinic_common::outbox::feed::SERVICE_NAME as FEED_SERVICE_NAME;

/// Full name of the gRPC service, as health and reflection report it.
pub const SERVICE_NAME: &str = "clinic.appointment.v1.AppointmentService";

const CENTER_ADMIN: &[Role] = &[Role::ClinicCenterAdmin];
const CLINIC_ADMIN: &[Role] = &[Role::ClinicAdmin];
const PATIENT: &[Role] = &[Role::Patient];
const ANYONE_SIGNED_IN: &[Role] = &[Role::Patient, Role::ClinicCenterAdmin, Role::ClinicAdmin];

macro_rules! rpc {
    ($name:literal) => {
        concat!("/clinic.appointment.v1.AppointmentService/", $name)
    };
}

pub fn policy() -> Policy {
    Policy::new(&[
        (rpc!("CreateClinic"), Access::Roles(CENTER_ADMIN)),
        (rpc!("ListClinics"), Access::Roles(ANYONE_SIGNED_IN)),
        (rpc!("CreateDoctor"), Access::Roles(CLINIC_ADMIN)),
        (rpc!("ListDoctors"), Access::Roles(ANYONE_SIGNED_IN)),
        (rpc!("CreateRoom"), Access::Roles(CLINIC_ADMIN)),
        (rpc!("ListRooms"), Access::Roles(ANYONE_SIGNED_IN)),
        (rpc!("CreateExamType"), Access::Roles(CLINIC_ADMIN)),
        (rpc!("ListExamTypes"), Access::Roles(ANYONE_SIGNED_IN)),
        (
            rpc!("CreatePredefinedAppointment"),
            Access::Roles(CLINIC_ADMIN),
        ),
        (
            rpc!("ListAvailableAppointments"),
            Access::Roles(ANYONE_SIGNED_IN),
        ),
        (rpc!("ReserveAppointment"), Access::Roles(PATIENT)),
        (rpc!("CancelReservation"), Access::Roles(PATIENT)),
        (rpc!("ListMyAppointments"), Access::Roles(PATIENT)),
        (rpc!("GetAppointment"), Access::Roles(ANYONE_SIGNED_IN)),
    ])
}
