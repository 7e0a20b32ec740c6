//! A development CA and one certificate per service, for cluster.sh, compose and the tests.
//! Production gets its certificates from its own CA (cert-manager in Kubernetes; deploy/README.md).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use rustls_pki_types::{CertificateDer, pem::PemObject};

use super::{Tls, TlsArgs};
use crate::config::write_private_file;

/// How long dev certificates are valid.
const VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);

/// What [`write_dev_certificates`] wrote.
#[derive(Debug, Clone)]
pub struct DevCertificates {
    pub dir: PathBuf,
    /// `ca.pem`: what every service and every person's client trusts.
    pub ca: PathBuf,
}

/// One service's certificate and key files.
#[derive(Debug, Clone)]
pub struct ServiceFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl DevCertificates {
    pub fn service(&self, name: &str) -> ServiceFiles {
        ServiceFiles {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}.key")),
        }
    }

    /// The TLS setting the service `name` loads from these files.
    pub fn tls_for(&self, name: &str) -> anyhow::Result<Tls> {
        let files = self.service(name);
        TlsArgs {
            tls_cert_file: Some(files.cert),
            tls_key_file: Some(files.key),
            tls_ca_file: Some(self.ca.clone()),
            plaintext: false,
        }
        .load()
    }

    /// The DER of service `name`'s certificate (as a peer presents it).
    pub fn certificate_der(&self, name: &str) -> anyhow::Result<CertificateDer<'static>> {
        let pem = crate::config::read_key_file(&self.service(name).cert)?;
        Ok(CertificateDer::from_pem_slice(pem.as_bytes())?)
    }

    pub fn ca_pem(&self) -> anyhow::Result<String> {
        crate::config::read_key_file(&self.ca)
    }
}

/// Writes a fresh CA certificate (`ca.pem`; its key is never written, so nothing more can be signed
/// with it) and, for each name in `services`, `<name>.pem` and `<name>.key` (mode 0600): a
/// certificate for server and client use whose names are the service's name, `localhost`,
/// 127.0.0.1 and ::1.
pub fn write_dev_certificates(dir: &Path, services: &[&str]) -> anyhow::Result<DevCertificates> {
    std::fs::create_dir_all(dir)?;
    let now = time::OffsetDateTime::now_utc();
    let until = now + VALIDITY;

    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "clinic-center development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = now - time::Duration::hours(1);
    ca_params.not_after = until;
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, ca_cert.pem())?;

    let certs = DevCertificates {
        dir: dir.to_owned(),
        ca,
    };
    for &name in services {
        let mut params = CertificateParams::new(vec![
            name.to_owned(),
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ])?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = now - time::Duration::hours(1);
        params.not_after = until;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &issuer)?;
        let files = certs.service(name);
        std::fs::write(&files.cert, cert.pem())?;
        write_private_file(&files.key, &key.serialize_pem(), true)?;
    }
    Ok(certs)
}
