//! Pure rules: parsed, typed values and records. No gRPC types, no SQL.

mod appointment;
mod catalog;
mod currency;
mod records;

pub use appointment::{NewAppointment, final_price_minor};
pub use catalog::{NewClinic, NewDoctor, NewNamed, time_zone};
pub use currency::currency;
pub use records::{AppointmentRecord, AppointmentStatus, Clinic, Doctor, Named};
