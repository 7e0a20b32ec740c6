//! TLS on the server, and service tokens bound to the services' client certificates.

use clinic_common::{
    auth::Role,
    testing::{bearer, error_info, run_healthcheck_with},
    tls::{DevCertificates, verify_server_with, write_dev_certificates},
};
use clinic_proto::pb::registration::v1::{
    self as pb, registration_service_client::RegistrationServiceClient,
};
use tonic::{
    Code,
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_with_tls};

struct Setup {
    app: TestApp,
    certs: DevCertificates,
    _dir: tempfile::TempDir,
}

async fn tls_server() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let certs = write_dev_certificates(
        dir.path(),
        &[
            "registration-service",
            "appointment-service",
            "notifier-service",
        ],
    )
    .unwrap();
    let app = spawn_with_tls(certs.tls_for("registration-service").unwrap()).await;
    Setup {
        app,
        certs,
        _dir: dir,
    }
}

impl Setup {
    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.app.addr)
    }

    /// A TLS client that verifies the server with our CA; presents `service`'s certificate if given.
    async fn client(
        &self,
        service: Option<&str>,
    ) -> Result<RegistrationServiceClient<tonic::transport::Channel>, tonic::transport::Error> {
        let mut config = verify_server_with(&self.certs.ca_pem().unwrap(), "registration-service");
        if let Some(name) = service {
            config = config.identity(identity(&self.certs, name));
        }
        let channel = Endpoint::from_shared(self.url("https"))
            .unwrap()
            .tls_config(config)
            .unwrap()
            .connect()
            .await?;
        Ok(RegistrationServiceClient::new(channel))
    }
}

fn identity(certs: &DevCertificates, name: &str) -> Identity {
    let files = certs.service(name);
    Identity::from_pem(
        std::fs::read(files.cert).unwrap(),
        std::fs::read(files.key).unwrap(),
    )
}

fn get_patient(token: &str) -> tonic::Request<pb::GetPatientRequest> {
    bearer(
        token,
        pb::GetPatientRequest {
            patient_id: Uuid::new_v4().to_string(),
        },
    )
}

#[tokio::test]
async fn a_plaintext_client_is_refused_and_a_tls_client_is_served() {
    let s = tls_server().await;

    // Plaintext HTTP/2 to a TLS port: no answer a gRPC client can read, never a served call.
    let plain = Endpoint::from_shared(s.url("http")).unwrap().connect_lazy();
    let err = HealthClient::new(plain)
        .check(HealthCheckRequest::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.code(),
            Code::Unavailable | Code::Unknown | Code::Internal
        ),
        "plaintext call got {err:?}"
    );

    // A person's client (no certificate) that trusts the CA is served.
    let mut client = s.client(None).await.expect("TLS connection");
    let refused = client
        .login(pb::LoginRequest {
            email: "nobody@clinic.example.com".into(),
            password: "wrong password 1".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Code::Unauthenticated,
        "the call reached the service"
    );
}

#[tokio::test]
async fn a_server_from_another_ca_and_a_client_certificate_from_another_ca_are_refused() {
    let s = tls_server().await;
    let other_dir = tempfile::tempdir().unwrap();
    let other = write_dev_certificates(other_dir.path(), &["appointment-service"]).unwrap();

    // The client does not trust the server's CA.
    let config = verify_server_with(&other.ca_pem().unwrap(), "registration-service");
    let untrusted = Endpoint::from_shared(s.url("https"))
        .unwrap()
        .tls_config(config)
        .unwrap()
        .connect()
        .await;
    assert!(untrusted.is_err(), "a server the client's CA did not sign");

    // The client presents a certificate the server's CA did not sign (same service name).
    let config = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(s.certs.ca_pem().unwrap()))
        .identity(identity(&other, "appointment-service"))
        .domain_name("registration-service");
    let forged = async {
        let channel = Endpoint::from_shared(s.url("https"))
            .unwrap()
            .tls_config(config)
            .unwrap()
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        let token = s
            .app
            .token_for("service:appointment-service", Role::Service);
        RegistrationServiceClient::new(channel)
            .get_patient(get_patient(&token))
            .await
            .map_err(|e| e.to_string())
    };
    assert!(
        forged.await.is_err(),
        "a client certificate from another CA"
    );
}

#[tokio::test]
async fn a_service_token_counts_only_with_that_services_certificate() {
    let s = tls_server().await;
    let token = s
        .app
        .token_for("service:appointment-service", Role::Service);

    // Its own certificate: through the auth layer (the patient does not exist).
    let err = s
        .client(Some("appointment-service"))
        .await
        .unwrap()
        .get_patient(get_patient(&token))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    // No certificate, or another service's: the token alone is not enough.
    for cert in [None, Some("notifier-service")] {
        let err = s
            .client(cert)
            .await
            .unwrap()
            .get_patient(get_patient(&token))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "with {cert:?}: {err:?}");
        assert_eq!(error_info(&err).0, "TOKEN_INVALID");
        assert_eq!(
            err.message(),
            "a service token is valid only with that service's client certificate"
        );
    }
}

// The subcommand blocks its thread while the server runs on another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_healthcheck_subcommand_speaks_tls_with_the_services_own_files() {
    let s = tls_server().await;
    let files = s.certs.service("registration-service");
    let (cert, key, ca) = (
        files.cert.display().to_string(),
        files.key.display().to_string(),
        s.certs.ca.display().to_string(),
    );
    let bin = env!("CARGO_BIN_EXE_registration-service");
    let tls = [
        ("TLS_CERT_FILE", cert.as_str()),
        ("TLS_KEY_FILE", key.as_str()),
        ("TLS_CA_FILE", ca.as_str()),
    ];
    let ok = run_healthcheck_with(bin, s.app.addr, &tls);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let plain = run_healthcheck_with(bin, s.app.addr, &[("PLAINTEXT", "true")]);
    assert!(
        !plain.status.success(),
        "a plaintext check of a TLS server passed"
    );
    let neither = run_healthcheck_with(bin, s.app.addr, &[]);
    let stderr = String::from_utf8_lossy(&neither.stderr);
    assert!(
        !neither.status.success() && stderr.contains("--plaintext"),
        "{stderr}"
    );
}
