//! Build, bind and run: the operator gRPC server, one consumer per source, the sender and the ledger's
//! purge. Shutdown stops them all through one token, lets a send in flight record its outcome, and
//! only then closes the pool.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use clinic_common::{
    auth::{AuthLayer, ServiceToken, TokenVerifier},
    db,
    server::{self, ServeOptions},
    tls::Tls,
};
use clinic_proto::pb::notifier::v1::notifier_service_server::NotifierServiceServer;
use secrecy::SecretString;
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    db::{MIGRATOR, SCHEMA},
    error::DOMAIN,
    grpc::NotifierApi,
    mail::Mailer,
    pipeline::{
        consumer::{self, ConsumerSettings, Source},
        contacts::Contacts,
        purge::{self, PurgeSettings},
        sender::{self, Sender, SenderSettings},
    },
    policy::{SERVICE_NAME, policy},
};

/// Largest request the notifier's own API accepts (an id, a page token, a status filter).
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

#[derive(Clone)]
pub struct Settings {
    pub listen_addr: SocketAddr,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub verifier: TokenVerifier,
    pub sources: Vec<Source>,
    /// registration-service, for patients' contact details.
    pub registration_url: String,
    pub service_token: ServiceToken,
    pub mailer: Mailer,
    pub consumer: ConsumerSettings,
    pub sender: SenderSettings,
    pub purge: PurgeSettings,
    /// After shutdown begins: how long in-flight calls and sends may take to finish. Longer than a send
    /// and its `SENT` write may take (`SenderSettings::check_drain`, checked at start-up).
    pub drain_deadline: Duration,
    /// TLS on the notifier's server and to both producers (their URLs are then `https://`).
    pub tls: Tls,
    /// Set: migrate first, connected with it (the migration role; dev and tests only, production runs
    /// the `migrate` subcommand). The server connects as `database_url`, the runtime role.
    pub migration_database_url: Option<SecretString>,
}

impl Settings {
    /// Database connections needed besides the parallel sends: the sender's LISTEN, one per consumer
    /// (its ledger transaction), and one shared by operator calls, claims and the purge.
    pub fn reserved_connections(&self) -> u32 {
        2 + self.sources.len() as u32
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.sender.validate()?;
        self.sender.check_drain(self.drain_deadline)?;
        for url in self
            .sources
            .iter()
            .map(|s| &s.url)
            .chain([&self.registration_url])
        {
            self.tls.check_url(url)?;
        }
        self.purge.validate()?;
        // Every send in flight can record its outcome at once: none waits for a connection while its
        // claim runs out.
        let budget = self.sender.batch + i64::from(self.reserved_connections());
        anyhow::ensure!(
            budget <= i64::from(self.database_max_connections),
            "{} parallel sends need {budget} database connections with the {} others the notifier \
             holds; the pool has {} (raise DATABASE_MAX_CONNECTIONS or lower SEND_PARALLELISM)",
            self.sender.batch,
            self.reserved_connections(),
            self.database_max_connections
        );
        Ok(())
    }
}

pub struct Application {
    listener: TcpListener,
    settings: Settings,
    pool: sqlx::PgPool,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        settings.validate()?;
        if let Some(url) = &settings.migration_database_url {
            db::migrate_url(url, SCHEMA, &MIGRATOR).await?;
        }
        let pool = db::pool(
            &settings.database_url,
            SCHEMA,
            settings.database_max_connections,
        )?;
        let listener = TcpListener::bind(settings.listen_addr).await?;
        Ok(Self {
            listener,
            settings,
            pool,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let s = self.settings;
        // Cancelled with `shutdown`, or when the server fails.
        let workers = shutdown.child_token();
        let mut tasks = JoinSet::new();
        for source in s.sources.clone() {
            tasks.spawn(consumer::run(
                source,
                self.pool.clone(),
                s.consumer.clone(),
                s.tls.clone(),
                workers.clone(),
            ));
        }
        let contacts = Contacts::new(
            &s.registration_url,
            s.service_token.clone(),
            Duration::from_secs(5),
            &s.tls,
        )?;
        let sender = Arc::new(Sender {
            pool: self.pool.clone(),
            mailer: s.mailer.clone(),
            contacts,
            settings: s.sender.clone(),
        });
        tasks.spawn(sender::run(sender, workers.clone()));
        tasks.spawn(purge::run(
            self.pool.clone(),
            s.purge.clone(),
            workers.clone(),
        ));

        tracing::info!(addr = %self.listener.local_addr()?, "notifier-service listening");
        let api = NotifierServiceServer::new(NotifierApi {
            pool: self.pool.clone(),
        })
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
        let auth = AuthLayer::new(s.verifier, policy(), DOMAIN);
        let serving = async {
            let served = server::serve(
                self.listener,
                tonic::service::Routes::new(api),
                auth,
                ServeOptions {
                    services: vec![SERVICE_NAME],
                    drain_deadline: s.drain_deadline,
                    tls: s.tls.clone(),
                    limits: Default::default(),
                },
                shutdown,
            )
            .await;
            workers.cancel();
            served
        };
        // The gRPC calls and the background tasks drain side by side, within the one deadline.
        let (served, ()) = tokio::join!(serving, drain(tasks, &workers, s.drain_deadline));
        // Only now: a send that was in flight has recorded its outcome.
        self.pool.close().await;
        served
    }
}

/// Once `stop` is cancelled, waits up to `deadline` for every task to finish, then aborts the rest.
async fn drain(mut tasks: JoinSet<()>, stop: &CancellationToken, deadline: Duration) {
    stop.cancelled().await;
    let all_done = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(deadline, all_done).await.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "drain deadline passed; aborting background tasks"
        );
        tasks.shutdown().await;
    }
}
