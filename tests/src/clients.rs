//! gRPC clients to every replica; each call picks a replica at random and carries a deadline, so a
//! killed process or a restarting database shows up as an error, never as a hang.

use std::time::Duration;

use clinic_proto::pb::{
    appointment::v1::appointment_service_client::AppointmentServiceClient,
    registration::v1::registration_service_client::RegistrationServiceClient,
};
use rand::seq::IndexedRandom;
use tonic::transport::{Channel, Endpoint};

pub type Registration = RegistrationServiceClient<Channel>;
pub type Appointments = AppointmentServiceClient<Channel>;

/// Deadline of one call.
pub const CALL_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Clients {
    registration: Vec<Registration>,
    appointment: Vec<Appointments>,
}

/// A TLS channel to `url`, the server verified against `ca_pem`.
fn channel(ca_pem: &str, url: &str) -> Channel {
    Endpoint::from_shared(url.to_owned())
        .expect("service url")
        .tls_config(clinic_common::tls::verify_server_with(ca_pem, "localhost"))
        .expect("https url")
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(2))
        // A frozen (half-open) connection is noticed and replaced.
        .http2_keep_alive_interval(Duration::from_secs(2))
        .keep_alive_timeout(Duration::from_secs(2))
        .keep_alive_while_idle(true)
        .connect_lazy()
}

impl Clients {
    /// Own connections (one per replica), as separate client processes would have.
    pub fn new(ca_pem: &str, registration_urls: &[String], appointment_urls: &[String]) -> Self {
        Self {
            registration: registration_urls
                .iter()
                .map(|u| RegistrationServiceClient::new(channel(ca_pem, u)))
                .collect(),
            appointment: appointment_urls
                .iter()
                .map(|u| AppointmentServiceClient::new(channel(ca_pem, u)))
                .collect(),
        }
    }

    pub fn registration(&self) -> Registration {
        self.registration
            .choose(&mut rand::rng())
            .expect("a registration replica")
            .clone()
    }

    pub fn appointment(&self) -> Appointments {
        self.appointment
            .choose(&mut rand::rng())
            .expect("an appointment replica")
            .clone()
    }
}

/// `msg` with the caller's token and the call deadline.
pub fn call<T>(token: Option<&str>, msg: T) -> tonic::Request<T> {
    match token {
        Some(t) => clinic_common::auth::with_bearer(msg, t, Some(CALL_DEADLINE)),
        None => {
            let mut req = tonic::Request::new(msg);
            req.set_timeout(CALL_DEADLINE);
            req
        }
    }
}
