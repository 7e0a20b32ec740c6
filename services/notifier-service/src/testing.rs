//! Settings for an in-process notifier-service in integration tests (this and other crates): it
//! drains both producers' feeds and sends through a test SMTP server on loopback.

use std::{net::SocketAddr, time::Duration};

use clinic_common::{
    auth::Role,
    testing::{Running, TestDb, TestKeys},
};
use lettre::message::Mailbox;

use crate::{
    Application, Settings,
    db::{EXTENSIONS, SCHEMA},
    mail::{Mailer, SmtpSettings, TlsMode},
    pipeline::{
        consumer::{ConsumerSettings, Source},
        purge::PurgeSettings,
        sender::SenderSettings,
    },
};

/// Where activation links in the e-mails point; the token follows `?token=`.
pub const ACTIVATION_URL: &str = "https://clinic.example/activate";

/// One notifier reading registration- and appointment-service at those addresses, mailing to
/// `127.0.0.1:smtp_port` without TLS. Serves as this service's runtime role and migrates as its
/// migration role, as deployed.
pub async fn settings(
    db: &TestDb,
    keys: &TestKeys,
    registration: SocketAddr,
    appointment: SocketAddr,
    smtp_port: u16,
) -> Settings {
    let token: clinic_common::auth::ServiceToken = keys
        .token(
            "service:notifier-service",
            Role::Service,
            None,
            Duration::from_secs(3600),
        )
        .into();
    let urls = db.service_urls(SCHEMA, EXTENSIONS).await;
    Settings {
        listen_addr: "127.0.0.1:0".parse().expect("loopback"),
        database_url: urls.runtime,
        database_max_connections: 10,
        verifier: keys.verifier.clone(),
        sources: vec![
            Source {
                name: "registration",
                url: format!("http://{registration}"),
            },
            Source {
                name: "appointment",
                url: format!("http://{appointment}"),
            },
        ],
        registration_url: format!("http://{registration}"),
        service_token: token.clone(),
        mailer: Mailer::smtp(&SmtpSettings {
            host: "127.0.0.1".into(),
            port: smtp_port,
            tls: TlsMode::None,
            username: None,
            password: None,
            timeout: Duration::from_secs(5),
            ca_pem: None,
        })
        .expect("smtp mailer"),
        consumer: ConsumerSettings {
            consumer: format!("notifier-{}", uuid::Uuid::now_v7().simple()),
            token,
            batch: 100,
            wait: Duration::from_secs(5),
            call_deadline: Duration::from_secs(5),
            keep_alive_interval: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(5),
            message_id_domain: "notifier.test".into(),
        },
        sender: SenderSettings {
            from: "Clinic Center <no-reply@clinic.test>"
                .parse::<Mailbox>()
                .expect("sender mailbox"),
            activation_base_url: ACTIVATION_URL.into(),
            activation_open: keys.seal.clone(),
            max_attempts: 8,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(2),
            claim: Duration::from_secs(30),
            attempt_deadline: Duration::from_secs(15),
            batch: 6,
            poll_fallback: Duration::from_millis(500),
        },
        purge: PurgeSettings::default(),
        // Longer than a send and its SENT write may take (2 × the claim + 1 s).
        drain_deadline: Duration::from_secs(65),
        tls: clinic_common::tls::Tls::Plaintext,
        migration_database_url: Some(urls.migration),
    }
}

/// Builds and starts one instance on a loopback port.
pub async fn start(settings: Settings) -> Running {
    let app = Application::build(settings)
        .await
        .expect("build notifier-service");
    let addr = app.local_addr();
    Running::spawn(addr, |s| app.run_until_stopped(s))
}
