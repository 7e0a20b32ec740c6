//! Who may call which RPC of this service: operators, who sign in as clinic-center admins.

use clinic_common::auth::{Access, Policy, Role};

pub const SERVICE_NAME: &str = "clinic.notifier.v1.NotifierService";

const OPERATORS: &[Role] = &[Role::ClinicCenterAdmin];

pub fn policy() -> Policy {
    Policy::new(&[
        (
            "/clinic.notifier.v1.NotifierService/ListDeliveries",
            Access::Roles(OPERATORS),
        ),
        (
            "/clinic.notifier.v1.NotifierService/GetDelivery",
            Access::Roles(OPERATORS),
        ),
        (
            "/clinic.notifier.v1.NotifierService/RetryDelivery",
            Access::Roles(OPERATORS),
        ),
    ])
}
