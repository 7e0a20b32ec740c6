//! Settings for an in-process appointment-service in integration tests (this and other crates).

use std::{net::SocketAddr, time::Duration};

use clinic_common::{
    auth::Role,
    outbox::FeedSettings,
    testing::{Running, TestDb, TestKeys},
};

use crate::{
    Application, Settings,
    db::{EXTENSIONS, SCHEMA},
};

/// Serves as this service's runtime role and migrates as its migration role, as deployed.
pub async fn settings(
    db: &TestDb,
    keys: &TestKeys,
    registration: SocketAddr,
    lock_timeout: Duration,
) -> Settings {
    let service_token = keys.token(
        "service:appointment-service",
        Role::Service,
        None,
        Duration::from_secs(3600),
    );
    let urls = db.service_urls(SCHEMA, EXTENSIONS).await;
    Settings {
        listen_addr: "127.0.0.1:0".parse().expect("loopback"),
        database_url: urls.runtime,
        database_max_connections: 10,
        verifier: keys.verifier.clone(),
        registration_url: format!("http://{registration}"),
        service_token: service_token.into(),
        // Generous: a whole test suite shares two cores; the deadline itself is tested by stopping
        // registration-service.
        registration_deadline: Duration::from_secs(5),
        lock_timeout,
        drain_deadline: Duration::from_secs(5),
        outbox: FeedSettings::default(),
        tls: clinic_common::tls::Tls::Plaintext,
        migration_database_url: Some(urls.migration),
    }
}

/// Builds and starts one instance on a loopback port.
pub async fn start(settings: Settings) -> Running {
    let app = Application::build(settings)
        .await
        .expect("build appointment-service");
    let addr = app.local_addr();
    Running::spawn(addr, |s| app.run_until_stopped(s))
}
