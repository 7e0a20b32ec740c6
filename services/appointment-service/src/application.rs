//! Build, bind and run the server; tests bind port 0 and run it in-process.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use clinic_common::{
    auth::{ServiceToken, TokenVerifier},
    db,
    outbox::{CommitSignal, FeedSettings, feed::Producer},
};
use clinic_proto::pb::appointment::v1::appointment_service_server::AppointmentServiceServer;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::{
    db::{MIGRATOR, SCHEMA},
    error::DOMAIN,
    grpc::{AppointmentApi, MAX_MESSAGE_BYTES},
    policy::{SERVICE_NAME, policy},
    registration_client::RegistrationClient,
    service::AppState,
};

/// Everything the running service needs, already loaded and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen_addr: SocketAddr,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub verifier: TokenVerifier,
    /// e.g. `http://127.0.0.1:50051`.
    pub registration_url: String,
    /// This service's own `service` token for calls to registration-service.
    pub service_token: ServiceToken,
    pub registration_deadline: Duration,
    pub lock_timeout: Duration,
    pub drain_deadline: Duration,
    pub outbox: FeedSettings,
    /// TLS on the server and to registration-service (`registration_url` is then `https://`).
    pub tls: clinic_common::tls::Tls,
    /// Set: migrate first, connected with it (the migration role; dev and tests only, production runs
    /// the `migrate` subcommand). The server connects as `database_url`, the runtime role.
    pub migration_database_url: Option<SecretString>,
}

pub struct Application {
    listener: TcpListener,
    state: Arc<AppState>,
    verifier: TokenVerifier,
    drain_deadline: Duration,
    outbox: FeedSettings,
    tls: clinic_common::tls::Tls,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        if let Some(url) = &settings.migration_database_url {
            // Its own connection: migrations may wait for locks longer than requests should.
            db::migrate_url(url, SCHEMA, &MIGRATOR).await?;
        }
        // Every lock wait of every statement is bounded, set once per connection rather than per
        // transaction (one round trip less per reservation).
        let pool = db::pool_with_lock_timeout(
            &settings.database_url,
            SCHEMA,
            settings.database_max_connections,
            settings.lock_timeout,
        )?;
        let registration = RegistrationClient::new(
            &settings.registration_url,
            settings.service_token,
            settings.registration_deadline,
            &settings.tls,
        )?;
        let listener = TcpListener::bind(settings.listen_addr).await?;
        let state = Arc::new(AppState {
            pool,
            registration,
            lock_timeout: settings.lock_timeout,
            signal: CommitSignal::new(),
        });
        Ok(Self {
            listener,
            state,
            verifier: settings.verifier,
            drain_deadline: settings.drain_deadline,
            outbox: settings.outbox,
            tls: settings.tls,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        tracing::info!(addr = %self.local_addr(), "appointment-service listening");
        let api = AppointmentServiceServer::new(AppointmentApi::new(self.state.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let producer = Producer {
            domain: DOMAIN,
            schema: SCHEMA,
            service_name: SERVICE_NAME,
            policy: policy(),
            verifier: self.verifier,
            feed: self.outbox,
            signal: self.state.signal.clone(),
            drain_deadline: self.drain_deadline,
            tls: self.tls,
            limits: Default::default(),
        };
        producer
            .serve(
                self.listener,
                self.state.pool.clone(),
                Routes::new(api),
                shutdown,
            )
            .await?;
        self.state.pool.close().await;
        Ok(())
    }
}
