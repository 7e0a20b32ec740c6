//! Build, bind and run: the operator gRPC server, one consumer per source, and the sender.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use clinic_common::{
    auth::{AuthLayer, TokenVerifier},
    db,
    server::{self, ServeOptions},
};
use clinic_proto::pb::notifier::v1::notifier_service_server::NotifierServiceServer;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    db::{MIGRATOR, SCHEMA},
    error::DOMAIN,
    grpc::NotifierApi,
    mail::Mailer,
    pipeline::{
        consumer::{self, ConsumerSettings, Source},
        contacts::Contacts,
        sender::{self, Sender, SenderSettings},
    },
    policy::{SERVICE_NAME, policy},
};

#[derive(Clone)]
pub struct Settings {
    pub listen_addr: SocketAddr,
    pub database_url: SecretString,
    pub database_max_connections: u32,
    pub verifier: TokenVerifier,
    pub sources: Vec<Source>,
    /// registration-service, for patients' contact details.
    pub registration_url: String,
    pub service_token: SecretString,
    pub mailer: Mailer,
    pub consumer: ConsumerSettings,
    pub sender: SenderSettings,
    pub drain_deadline: Duration,
    pub migrate_on_start: bool,
}

pub struct Application {
    listener: TcpListener,
    settings: Settings,
    pool: sqlx::PgPool,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let pool = db::pool(
            &settings.database_url,
            SCHEMA,
            settings.database_max_connections,
        )?;
        if settings.migrate_on_start {
            db::migrate(&pool, SCHEMA, &MIGRATOR).await?;
        }
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
        let workers = shutdown.child_token();
        for source in s.sources.clone() {
            tokio::spawn(consumer::run(
                source,
                self.pool.clone(),
                s.consumer.clone(),
                workers.clone(),
            ));
        }
        let contacts = Contacts::new(
            &s.registration_url,
            s.service_token.clone(),
            Duration::from_secs(5),
        )?;
        let sender = Arc::new(Sender {
            pool: self.pool.clone(),
            mailer: s.mailer.clone(),
            contacts,
            settings: s.sender.clone(),
        });
        tokio::spawn(sender::run(sender, workers.clone()));

        tracing::info!(addr = %self.listener.local_addr()?, "notifier-service listening");
        let api = NotifierServiceServer::new(NotifierApi {
            pool: self.pool.clone(),
        });
        let auth = AuthLayer::new(s.verifier, policy(), DOMAIN);
        server::serve(
            self.listener,
            tonic::service::Routes::new(api),
            auth,
            ServeOptions {
                services: vec![SERVICE_NAME],
                drain_deadline: s.drain_deadline,
            },
            shutdown,
        )
        .await?;
        workers.cancel();
        self.pool.close().await;
        Ok(())
    }
}
