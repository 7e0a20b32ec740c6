//! The operator subcommands: one module per service, each RPC one subcommand whose flags mirror the
//! request's fields.

pub mod appointment;
pub mod login;
pub mod notifier;
pub mod race;
pub mod registration;
pub mod seed;

use clap::Args;
use clinic_proto::pb::notifier::v1::notifier_service_client::NotifierServiceClient;
use tonic::transport::Channel;

use crate::{
    cli::{Endpoints, Session},
    connect::{self, Appointments, Registration},
    output::Output,
    token_cache,
};

/// What every command gets: where the services are, who calls, how to print.
pub struct Ctx {
    pub endpoints: Endpoints,
    pub session: Session,
    pub out: Output,
}

impl Ctx {
    pub fn new(endpoints: Endpoints, session: Session) -> Self {
        let out = Output { json: session.json };
        Self {
            endpoints,
            session,
            out,
        }
    }

    pub async fn registration(&self) -> anyhow::Result<Registration> {
        Ok(Registration::new(
            connect::channel(
                &self.endpoints.registration,
                self.endpoints.ca_file.as_deref(),
            )
            .await?,
        ))
    }

    pub async fn appointments(&self) -> anyhow::Result<Appointments> {
        Ok(Appointments::new(
            connect::channel(
                &self.endpoints.appointment,
                self.endpoints.ca_file.as_deref(),
            )
            .await?,
        ))
    }

    pub async fn notifier(&self) -> anyhow::Result<NotifierServiceClient<Channel>> {
        Ok(NotifierServiceClient::new(
            connect::channel(&self.endpoints.notifier, self.endpoints.ca_file.as_deref()).await?,
        ))
    }

    /// `--token` / `CLINIC_TOKEN`, else the one `clinicctl login` cached.
    pub fn token(&self) -> anyhow::Result<String> {
        if let Some(token) = self.session.token.as_deref().filter(|t| !t.is_empty()) {
            return Ok(token.to_owned());
        }
        let path = token_cache::path()?;
        token_cache::load(&path)?.ok_or_else(|| {
            anyhow::anyhow!(
                "not signed in: run `clinicctl login --email …` (or pass --token / set CLINIC_TOKEN)"
            )
        })
    }

    /// `msg` with the caller's bearer token.
    pub fn signed<T>(&self, msg: T) -> anyhow::Result<tonic::Request<T>> {
        Ok(connect::bearer(&self.token()?, msg))
    }
}

/// Paging flags of every list command.
#[derive(Debug, Clone, Args)]
pub struct Page {
    /// Items per page, 1..=100.
    #[arg(long, default_value_t = 50)]
    pub page_size: i32,
    /// Continue where the previous page ended (the table prints it under the last row).
    #[arg(long, default_value = "")]
    pub page_token: String,
}
