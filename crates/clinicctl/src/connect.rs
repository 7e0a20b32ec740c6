//! Channels to the services and signing in.

use std::{path::Path, time::Duration};

use clinic_proto::pb::{
    appointment::v1::appointment_service_client::AppointmentServiceClient,
    registration::v1::{LoginRequest, registration_service_client::RegistrationServiceClient},
};
use tonic::transport::{Channel, Endpoint};

pub type Registration = RegistrationServiceClient<Channel>;
pub type Appointments = AppointmentServiceClient<Channel>;

/// One HTTP/2 connection to `url` (no Nagle delay; connect bounded); for an `https://` URL, TLS
/// with the server verified against the CA in `ca_file`.
pub async fn channel(url: &str, ca_file: Option<&Path>) -> anyhow::Result<Channel> {
    let mut endpoint = Endpoint::from_shared(url.to_owned())?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5));
    if endpoint.uri().scheme_str() == Some("https") {
        let ca_file = ca_file.ok_or_else(|| {
            anyhow::anyhow!(
                "{url} is TLS: give the CA certificate that signed it with --ca-file or \
                 CLINIC_CA_FILE (deploy/local/cluster.sh prints it)"
            )
        })?;
        let ca = std::fs::read_to_string(ca_file)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", ca_file.display()))?;
        let host = endpoint
            .uri()
            .host()
            .unwrap_or_default()
            .trim_matches(['[', ']']);
        let config = clinic_common::tls::verify_server_with(&ca, host);
        endpoint = endpoint.tls_config(config)?;
    }
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
