//! Settings for an in-process registration-service in integration tests (this and other crates).

use std::{num::NonZeroU32, time::Duration};

use clinic_common::{
    outbox::FeedSettings,
    testing::{Running, TestDb, TestKeys},
};

use crate::{
    Application, Settings,
    db::{EXTENSIONS, SCHEMA},
    limits::LimitSettings,
};

/// Serves as this service's runtime role and migrates as its migration role, as deployed.
pub async fn settings(db: &TestDb, keys: &TestKeys) -> Settings {
    let urls = db.service_urls(SCHEMA, EXTENSIONS).await;
    Settings {
        listen_addr: "127.0.0.1:0".parse().expect("loopback"),
        database_url: urls.runtime,
        database_max_connections: 10,
        // Long: suites park calls on row locks on purpose; the timeout has its own test.
        lock_timeout: Duration::from_secs(30),
        issuer: keys.issuer.clone(),
        verifier: keys.verifier.clone(),
        access_token_ttl: Duration::from_secs(900),
        activation_token_ttl: Duration::from_secs(72 * 3600),
        drain_deadline: Duration::from_secs(5),
        outbox: FeedSettings::default(),
        // Suites make many calls from one address; the limits have their own tests.
        limits: LimitSettings {
            per_address_per_minute: NonZeroU32::new(1_000_000).expect("non-zero"),
            logins_per_account_per_minute: NonZeroU32::new(1_000_000).expect("non-zero"),
        },
        activation_seal: keys.seal.sealing_key(),
        tls: clinic_common::tls::Tls::Plaintext,
        server_limits: Default::default(),
        migration_database_url: Some(urls.migration),
    }
}

/// Builds and starts one instance on a loopback port.
pub async fn start(settings: Settings) -> Running {
    let app = Application::build(settings)
        .await
        .expect("build registration-service");
    let addr = app.local_addr();
    Running::spawn(addr, |s| app.run_until_stopped(s))
}
