use super::{Email, InsuranceNumber, Password, Phone};

/// A validated registration form, ready to store (after the password is hashed).
#[derive(Debug)]
pub struct NewRegistration {
    pub email: Email,
    pub password: Password,
    pub first_name: String,
    pub last_name: String,
    pub address: String,
    pub city: String,
    pub country: String,
    pub phone: Phone,
    pub insurance_number: InsuranceNumber,
    pub client_request_id: Option<String>,
}

impl NewRegistration {
    pub const NAME_MAX: usize = 100;
    pub const ADDRESS_MAX: usize = 200;
    pub const PLACE_MAX: usize = 100;
}
