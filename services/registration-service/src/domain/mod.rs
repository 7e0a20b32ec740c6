//! Pure rules: parsed, typed values and records. No gRPC types, no SQL.

mod fields;
mod records;
mod registration;

pub use fields::{
    Email, InsuranceNumber, Password, Phone, RejectionReason, bounded_text, client_request_id,
};
pub use records::{AccountStatus, DecidedState, Patient, RegistrationRecord, RequestStatus};
pub use registration::NewRegistration;
