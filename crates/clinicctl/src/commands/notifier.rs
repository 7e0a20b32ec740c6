//! `clinicctl notifier …`: clinic.notifier.v1.NotifierService, the operators' view of e-mail delivery
//! (one delivery per outbox event).

use clap::{Subcommand, ValueEnum};
use clinic_proto::pb::notifier::v1::{
    DeliveryStatus, GetDeliveryRequest, ListDeliveriesRequest, RetryDeliveryRequest,
};

use super::{Ctx, Page};

pub const DELIVERY_COLUMNS: &[&str] = &[
    "id",
    "source",
    "event_type",
    "status",
    "attempts",
    "recipient",
    "created_at",
    "sent_at",
    "last_error",
];

#[derive(Debug, Subcommand)]
pub enum NotifierCommand {
    /// Clinic-center admin. E-mail deliveries.
    Deliveries {
        /// Only deliveries in this state.
        #[arg(long, value_enum)]
        status: Option<Status>,
        #[command(flatten)]
        page: Page,
    },
    /// Clinic-center admin. One delivery.
    Delivery {
        /// Delivery id.
        id: String,
    },
    /// Clinic-center admin. Puts a DEAD (or failing) delivery back in the queue with a fresh attempt
    /// budget; a SENT one answers DELIVERY_ALREADY_SENT.
    Retry {
        /// Delivery id.
        id: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    /// Waiting to be sent, possibly after failed attempts.
    Queued,
    /// Accepted by the SMTP server.
    Sent,
    /// Attempts exhausted; an operator may retry it.
    Dead,
}

impl From<Status> for DeliveryStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Queued => DeliveryStatus::Queued,
            Status::Sent => DeliveryStatus::Sent,
            Status::Dead => DeliveryStatus::Dead,
        }
    }
}

/// Builds the request first (a missing token fails before any connection), then connects and calls.
pub async fn run(ctx: &Ctx, command: NotifierCommand) -> anyhow::Result<()> {
    let out = ctx.out;
    match command {
        NotifierCommand::Deliveries { status, page } => {
            let req = ctx.signed(ListDeliveriesRequest {
                status: status.map(|s| DeliveryStatus::from(s) as i32),
                page_size: page.page_size,
                page_token: page.page_token,
            })?;
            let resp = ctx
                .notifier()
                .await?
                .list_deliveries(req)
                .await?
                .into_inner();
            out.list(&resp, "deliveries", DELIVERY_COLUMNS)?;
        }
        NotifierCommand::Delivery { id } => {
            let req = ctx.signed(GetDeliveryRequest { id })?;
            out.one(&ctx.notifier().await?.get_delivery(req).await?.into_inner())?;
        }
        NotifierCommand::Retry { id } => {
            let req = ctx.signed(RetryDeliveryRequest { id })?;
            out.one(
                &ctx.notifier()
                    .await?
                    .retry_delivery(req)
                    .await?
                    .into_inner(),
            )?;
        }
    }
    Ok(())
}
