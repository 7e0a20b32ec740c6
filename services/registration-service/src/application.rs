//! Build, bind and run the server; tests bind port 0 and run it in-process.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use clinic_common::{
    auth::{TokenIssuer, TokenVerifier},
    db,
    outbox::{CommitSignal, FeedSettings, feed::Producer},
};
use clinic_proto::pb::registration::v1::registration_service_server::RegistrationServiceServer;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;

use crate::{
    db::{MIGRATOR, SCHEMA},
    error::DOMAIN,
    grpc::{MAX_MESSAGE_BYTES, RegistrationApi},
    limits::{LimitSettings, Limits},
    policy::{SERVICE_NAME, policy},
    service::AppState,
};

/// Everything the running service needs, already loaded and checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen_addr: SocketAddr,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    /// Longest wait for a row lock (a decision on a request another transaction holds) before the
    /// call is answered ABORTED `REGISTRATION_BUSY`.
    pub lock_timeout: Duration,
    pub issuer: TokenIssuer,
    pub verifier: TokenVerifier,
    pub access_token_ttl: Duration,
    pub activation_token_ttl: Duration,
    pub drain_deadline: Duration,
    pub outbox: FeedSettings,
    pub limits: LimitSettings,
    /// The notifier's sealing key: activation tokens leave this service sealed with it.
    pub activation_seal: clinic_common::seal::SealingKey,
    /// TLS on the server (and which client certificates name a service), or plaintext.
    pub tls: clinic_common::tls::Tls,
    /// Per-call timeout and per-connection concurrency (the defaults; tests shorten them).
    pub server_limits: clinic_common::server::ServerLimits,
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
    server_limits: clinic_common::server::ServerLimits,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        if let Some(url) = &settings.migration_database_url {
            db::migrate_url(url, SCHEMA, &MIGRATOR).await?;
        }
        let pool = db::pool_with_lock_timeout(
            &settings.database_url,
            SCHEMA,
            settings.database_max_connections,
            settings.lock_timeout,
        )?;
        let listener = TcpListener::bind(settings.listen_addr).await?;
        let state = Arc::new(AppState {
            pool,
            issuer: settings.issuer,
            access_token_ttl: settings.access_token_ttl,
            activation_token_ttl: settings.activation_token_ttl,
            signal: CommitSignal::new(),
            limits: Limits::new(settings.limits),
            activation_seal: settings.activation_seal,
        });
        Ok(Self {
            listener,
            state,
            verifier: settings.verifier,
            drain_deadline: settings.drain_deadline,
            outbox: settings.outbox,
            tls: settings.tls,
            server_limits: settings.server_limits,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let api = RegistrationServiceServer::new(RegistrationApi::new(self.state.clone()))
            .max_decoding_message_size(MAX_MESSAGE_BYTES);
        tracing::info!(addr = %self.local_addr(), "registration-service listening");
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
            limits: self.server_limits,
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
