//! TLS on every gRPC server, mutual TLS between services.
//!
//! Every server presents a certificate signed by the cluster CA and asks callers for one. A caller
//! that presents one (a service) is verified against the same CA; a caller that presents none (a
//! person: clinicctl, grpcurl) still gets an encrypted, server-authenticated connection. A service
//! token is honoured only over a connection whose client certificate names that service (see
//! [`certificate_names`] and the auth layer), so a copied service token is worth nothing without the
//! service's private key. Plaintext only with the explicit `--plaintext` flag.

mod dev_ca;

use std::{path::PathBuf, sync::Arc};

use rustls_pki_types::{CertificateDer, ServerName};
use secrecy::{ExposeSecret, SecretString};
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

use crate::config::{read_key_file, read_private_key_file};

pub use dev_ca::{DevCertificates, write_dev_certificates};

/// How a service serves and calls: `--plaintext`, or all three TLS files.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TlsArgs {
    /// PEM certificate (chain) this service presents, as a server and as a client of other services.
    /// Its DNS names must include the service's name (e.g. registration-service).
    #[arg(long, env = "TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of that certificate (not readable by other users).
    #[arg(long, env = "TLS_KEY_FILE")]
    pub tls_key_file: Option<PathBuf>,
    /// PEM certificate of the CA that signs every service's certificate: servers are verified
    /// against it, and so are the client certificates services present.
    #[arg(long, env = "TLS_CA_FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// Serve and call without TLS. Passwords, tokens and personal data then cross the network in
    /// clear, and service tokens are not bound to certificates: only where nobody else sees the
    /// network (a test, a laptop).
    #[arg(long, env = "PLAINTEXT", default_value_t = false)]
    pub plaintext: bool,
}

impl TlsArgs {
    pub fn load(&self) -> anyhow::Result<Tls> {
        let files = [&self.tls_cert_file, &self.tls_key_file, &self.tls_ca_file];
        match (self.plaintext, files.iter().filter(|f| f.is_some()).count()) {
            (true, 0) => Ok(Tls::Plaintext),
            (true, _) => anyhow::bail!(
                "--plaintext and TLS files given together: choose one (TLS is the default)"
            ),
            (false, 3) => {
                let [cert, key, ca] = files.map(|f| f.as_ref().expect("counted"));
                let tls = Tls::Mutual(Arc::new(TlsMaterial {
                    cert: read_key_file(cert)?,
                    key: SecretString::from(read_private_key_file(key)?),
                    ca: read_key_file(ca)?,
                }));
                tls.validate().map_err(|e| {
                    anyhow::anyhow!(
                        "TLS files {}, {}, {}: {e}",
                        cert.display(),
                        key.display(),
                        ca.display()
                    )
                })?;
                Ok(tls)
            }
            (false, _) => anyhow::bail!(
                "TLS needs TLS_CERT_FILE, TLS_KEY_FILE and TLS_CA_FILE (--tls-cert-file, \
                 --tls-key-file, --tls-ca-file); registration-service gen-dev-certs writes a dev set. \
                 To run without TLS say so: --plaintext"
            ),
        }
    }
}

/// The loaded TLS setting of a service.
#[derive(Clone, Debug)]
pub enum Tls {
    /// `--plaintext`: no TLS at all.
    Plaintext,
    /// Serve with this certificate, require TLS from every caller, verify services' client
    /// certificates; call other services over TLS presenting the same certificate.
    Mutual(Arc<TlsMaterial>),
}

/// A certificate, its key and the CA, as PEM.
pub struct TlsMaterial {
    pub cert: String,
    pub key: SecretString,
    pub ca: String,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial").finish_non_exhaustive()
    }
}

impl Tls {
    pub fn is_on(&self) -> bool {
        matches!(self, Tls::Mutual(_))
    }

    /// The URL scheme other services are reached with.
    pub fn scheme(&self) -> &'static str {
        match self {
            Tls::Plaintext => "http",
            Tls::Mutual(_) => "https",
        }
    }

    /// The server side: our certificate, and the CA that client certificates must chain to. A
    /// client certificate is optional at the handshake (people have none); the auth layer requires
    /// one of every service caller.
    pub fn server_config(&self) -> Option<ServerTlsConfig> {
        let Tls::Mutual(m) = self else { return None };
        Some(
            ServerTlsConfig::new()
                .identity(Identity::from_pem(&m.cert, m.key.expose_secret()))
                .client_ca_root(Certificate::from_pem(&m.ca))
                .client_auth_optional(true),
        )
    }

    /// The client side of a call to the service named `server_name` (the name its certificate must
    /// carry: the host of its URL), presenting our own certificate.
    pub fn client_config(&self, server_name: &str) -> Option<ClientTlsConfig> {
        let Tls::Mutual(m) = self else { return None };
        Some(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(&m.ca))
                .identity(Identity::from_pem(&m.cert, m.key.expose_secret()))
                .domain_name(server_name),
        )
    }

    /// Builds the server and client configurations at load, so that a certificate, key or CA that
    /// does not parse stops the service at start-up rather than failing its first connection (or,
    /// for a client, a channel's address refresh later).
    fn validate(&self) -> anyhow::Result<()> {
        if let Some(config) = self.server_config() {
            tonic::transport::Server::builder().tls_config(config)?;
        }
        if let Some(config) = self.client_config("localhost") {
            tonic::transport::Endpoint::from_static("https://localhost").tls_config(config)?;
        }
        Ok(())
    }

    /// Checks that `url`'s scheme matches this setting: no silent plaintext when TLS is on, and no
    /// `https` without the files to speak it.
    pub fn check_url(&self, url: &str) -> anyhow::Result<()> {
        let scheme = url.split_once("://").map(|(s, _)| s);
        anyhow::ensure!(
            scheme == Some(self.scheme()),
            "{url}: {} here, so the URL must start with {}://",
            match self {
                Tls::Plaintext => "--plaintext is set",
                Tls::Mutual(_) => "TLS is on",
            },
            self.scheme()
        );
        Ok(())
    }
}

/// A client TLS setting for people's tools (clinicctl, the tests' clients): verify the server
/// against `ca_pem`, present no certificate.
pub fn verify_server_with(ca_pem: &str, server_name: &str) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name(server_name)
}

/// Whether the (already chain-verified) client certificate `leaf` names `service` among its DNS
/// names.
pub fn certificate_names(leaf: &CertificateDer<'_>, service: &str) -> bool {
    let Ok(name) = ServerName::try_from(service) else {
        return false;
    };
    webpki::EndEntityCert::try_from(leaf)
        .and_then(|cert| cert.verify_is_valid_for_subject_name(&name))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plaintext_only_when_asked_and_tls_only_with_all_three_files() {
        let dir = tempfile::tempdir().unwrap();
        let certs = write_dev_certificates(dir.path(), &["registration-service"]).unwrap();
        let files = certs.service("registration-service");
        let full = TlsArgs {
            tls_cert_file: Some(files.cert.clone()),
            tls_key_file: Some(files.key.clone()),
            tls_ca_file: Some(certs.ca.clone()),
            plaintext: false,
        };
        assert!(full.load().unwrap().is_on());
        assert!(
            !TlsArgs {
                plaintext: true,
                ..Default::default()
            }
            .load()
            .unwrap()
            .is_on()
        );
        let none = TlsArgs::default().load().unwrap_err().to_string();
        assert!(none.contains("--plaintext"), "{none}");
        assert!(
            TlsArgs {
                plaintext: true,
                ..full.clone()
            }
            .load()
            .is_err()
        );
        assert!(
            TlsArgs {
                tls_ca_file: None,
                ..full
            }
            .load()
            .is_err()
        );
    }

    #[test]
    fn files_that_do_not_parse_stop_the_load() {
        let dir = tempfile::tempdir().unwrap();
        let certs = write_dev_certificates(dir.path(), &["registration-service"]).unwrap();
        let files = certs.service("registration-service");
        std::fs::write(&files.cert, "not a certificate").unwrap();
        let err = certs
            .tls_for("registration-service")
            .unwrap_err()
            .to_string();
        assert!(err.contains("registration-service.pem"), "{err}");
    }

    #[test]
    fn a_url_must_match_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let certs = write_dev_certificates(dir.path(), &["registration-service"]).unwrap();
        let tls = certs.tls_for("registration-service").unwrap();
        assert!(tls.check_url("https://registration-service:50051").is_ok());
        assert!(tls.check_url("http://registration-service:50051").is_err());
        assert!(Tls::Plaintext.check_url("http://127.0.0.1:1").is_ok());
        assert!(Tls::Plaintext.check_url("https://127.0.0.1:1").is_err());
    }

    #[test]
    fn a_certificate_names_its_service_only() {
        let dir = tempfile::tempdir().unwrap();
        let certs =
            write_dev_certificates(dir.path(), &["appointment-service", "notifier-service"])
                .unwrap();
        let der = certs.certificate_der("appointment-service").unwrap();
        assert!(certificate_names(&der, "appointment-service"));
        assert!(!certificate_names(&der, "notifier-service"));
        assert!(!certificate_names(&der, "registration-service"));
        assert!(!certificate_names(&der, "not a name"));
    }
}
