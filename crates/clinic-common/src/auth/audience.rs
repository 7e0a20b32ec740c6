//! Who a token is for. Every server accepts only tokens whose `aud` names it; a person's token names
//! every service that serves people, a service's token only the services that service calls. Which
//! RPCs a caller may then use is each server's [`Policy`](super::Policy).

pub const REGISTRATION: &str = "registration-service";
pub const APPOINTMENT: &str = "appointment-service";
pub const NOTIFIER: &str = "notifier-service";

/// A person's token (patients, admins): every service; each RPC's policy still decides.
pub const PEOPLE: &[&str] = &[REGISTRATION, APPOINTMENT, NOTIFIER];

/// The services an internal caller calls — its token is for those only. `None`: not a service of
/// this system, so no token is minted for it.
pub fn of_service(name: &str) -> Option<&'static [&'static str]> {
    match name {
        // GetPatient before a reservation.
        APPOINTMENT => Some(&[REGISTRATION]),
        // Both outbox feeds, and GetPatient for an appointment e-mail's recipient.
        NOTIFIER => Some(&[REGISTRATION, APPOINTMENT]),
        _ => None,
    }
}

/// The subject of a service's token: `service:<name>`.
pub fn service_subject(name: &str) -> String {
    format!("service:{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_token_is_for_exactly_the_services_it_calls() {
        assert_eq!(of_service(APPOINTMENT), Some(&[REGISTRATION][..]));
        assert_eq!(of_service(NOTIFIER), Some(&[REGISTRATION, APPOINTMENT][..]));
        assert_eq!(of_service(REGISTRATION), None, "it calls no one");
        assert_eq!(of_service("operator"), None);
    }
}
