//! Integration-test support: a real PostgreSQL (the one `DATABASE_URL` names, or a throwaway cluster),
//! a fresh database per test, key pairs, assertions on `google.rpc` error details, a real SMTP server,
//! a TCP proxy that breaks links on demand, and grpcurl.

mod db_faults;
mod grpcurl;
mod healthcheck;
mod pg_cluster;
mod postgres;
mod proxy;
mod reflection;
mod running;
mod smtp;
mod status;

pub use db_faults::{allow_outbox_inserts, refuse_outbox_inserts, wait_for_lock_waiters};
pub use grpcurl::grpcurl;
pub use healthcheck::{
    assert_healthcheck_passes_then_fails_on_closed_port, closed_port, run_healthcheck,
    run_healthcheck_with,
};
pub use pg_cluster::{PgCluster, StopMode};
pub use postgres::{ServiceUrls, TestDb, with_login};
pub use proxy::TcpProxy;
pub use reflection::{expected_services, listed_services};
pub use running::Running;
pub use smtp::{Mail, SmtpServer};
pub use status::{assert_internal, error_info, field_violations, retry_delay};

use crate::auth::{KeyPair, TokenIssuer, TokenVerifier, generate_key_pair};

/// A fresh key pair and the issuer/verifier built from it.
pub struct TestKeys {
    pub pair: KeyPair,
    pub issuer: TokenIssuer,
    pub verifier: TokenVerifier,
    /// The notifier's activation-token opening key (registration-service seals with its public half).
    pub seal: crate::seal::OpeningKey,
}

impl TestKeys {
    /// A token as the system issues it: a service subject (`service:<name>`) gets the audience of
    /// that service's calls (none for a name the system does not know), anyone else a person's.
    pub fn token(
        &self,
        subject: &str,
        role: crate::auth::Role,
        clinic_id: Option<uuid::Uuid>,
        ttl: std::time::Duration,
    ) -> String {
        use crate::auth::{Role, audience};
        let aud = match role {
            Role::Service => subject
                .strip_prefix("service:")
                .and_then(audience::of_service)
                .unwrap_or(&[]),
            _ => audience::PEOPLE,
        };
        self.issuer
            .issue(subject, role, clinic_id, aud, ttl)
            .expect("issue a token")
            .0
    }

    pub fn generate() -> Self {
        let pair = generate_key_pair().expect("key pair");
        let issuer = TokenIssuer::from_pem(&pair.private_pem).expect("issuer");
        let verifier = TokenVerifier::from_pem(&pair.public_pem).expect("verifier");
        let seal = crate::seal::OpeningKey::from_text(&crate::seal::generate_pair().0)
            .expect("opening key");
        Self {
            pair,
            issuer,
            verifier,
            seal,
        }
    }
}

/// Puts `token` in the `authorization` metadata of `req`.
pub fn bearer<T>(token: &str, msg: T) -> tonic::Request<T> {
    crate::auth::with_bearer(msg, token, None)
}

/// Fails naming every RPC of `services` (as compiled into the descriptor set) that `policy`, merged
/// with the outbox feed's, has no entry for.
pub fn assert_every_rpc_has_a_policy(policy: crate::auth::Policy, services: &[&str]) {
    let served = policy.merge(crate::outbox::feed::policy());
    let missing: Vec<String> = services
        .iter()
        .flat_map(|s| served.missing_entries(clinic_proto::FILE_DESCRIPTOR_SET, s))
        .collect();
    assert!(
        missing.is_empty(),
        "RPCs without a policy entry: {missing:?}"
    );
}

/// Fails unless the file at `path` holds exactly `content`, a file generated from code (e.g. a pgbench
/// replay of a service's statement). With `BLESS=1` in the environment it writes the file first.
pub fn assert_generated_file(path: &str, content: &str) {
    if std::env::var_os("BLESS").is_some() {
        std::fs::write(path, content).unwrap_or_else(|e| panic!("write {path}: {e}"));
    }
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        on_disk == content,
        "{path} is not what the code generates; rerun this test with BLESS=1"
    );
}
