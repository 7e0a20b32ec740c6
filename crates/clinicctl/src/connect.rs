//! Channels to the services and signing in.

use std::time::Duration;

use clinic_proto::pb::{
    appointment::v1::appointment_service_client::AppointmentServiceClient,
    registration::v1::{LoginRequest, registration_service_client::RegistrationServiceClient},
};
use tonic::transport::{Channel, Endpoint};

pub type Registration = RegistrationServiceClient<Channel>;
pub type Appointments = AppointmentServiceClient<Channel>;

/// One HTTP/2 connection to `url` (no Nagle delay; connect bounded).
pub async fn channel(url: &str) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(url.to_owned())?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    endpoint.connect().await.map_err(|e| {
        anyhow::Error::new(e).context(format!("connect to {url} (is the service running there?)"))
    })
}

/// Signs in; returns the access token.
pub async fn login(
    client: &mut Registration,
    email: &str,
    password: &str,
) -> anyhow::Result<String> {
    let resp = client
        .login(LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("login as {email}: {}", s.message()))?;
    Ok(resp.into_inner().access_token)
}

pub use clinic_common::auth::with_bearer;

/// A request with the bearer token.
pub fn bearer<T>(token: &str, msg: T) -> tonic::Request<T> {
    with_bearer(msg, token, Some(Duration::from_secs(30)))
}
