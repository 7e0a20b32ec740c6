//! Operators' RPCs over the delivery ledger.

use clinic_common::{
    error::{FieldViolation, Violations},
    pagination::{self, Cursor},
    time_pb, validate,
};
use clinic_proto::pb::notifier::v1::{self as pb, notifier_service_server::NotifierService};
use sqlx::PgPool;
use time::OffsetDateTime;
use tonic::{Request, Response, Status};

use crate::{
    db::deliveries::{self, Delivery},
    error::NotifierError,
};

pub struct NotifierApi {
    pub pool: PgPool,
}

fn status_to_pb(s: &str) -> pb::DeliveryStatus {
    match s {
        "QUEUED" => pb::DeliveryStatus::Queued,
        "SENT" => pb::DeliveryStatus::Sent,
        "DEAD" => pb::DeliveryStatus::Dead,
        _ => pb::DeliveryStatus::Unspecified,
    }
}

fn to_pb(d: Delivery) -> pb::Delivery {
    pb::Delivery {
        id: d.id.to_string(),
        source: d.source,
        event_id: d.event_id.to_string(),
        event_type: d.event_type,
        status: status_to_pb(&d.status) as i32,
        attempts: d.attempts,
        last_error: d.last_error.unwrap_or_default(),
        recipient: d.recipient.unwrap_or_default(),
        message_id: d.message_id,
        created_at: Some(time_pb::to_timestamp(d.created_at)),
        next_attempt_at: Some(time_pb::to_timestamp(d.next_attempt_at)),
        sent_at: time_pb::opt_timestamp(d.sent_at),
    }
}

fn id(raw: &str) -> Result<uuid::Uuid, NotifierError> {
    validate::uuid("id", raw).map_err(|v| NotifierError::Invalid(vec![v]))
}

#[tonic::async_trait]
impl NotifierService for NotifierApi {
    async fn list_deliveries(
        &self,
        request: Request<pb::ListDeliveriesRequest>,
    ) -> Result<Response<pb::ListDeliveriesResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let status = match r.status.map(pb::DeliveryStatus::try_from) {
            None | Some(Ok(pb::DeliveryStatus::Unspecified)) => None,
            Some(Ok(pb::DeliveryStatus::Queued)) => Some("QUEUED"),
            Some(Ok(pb::DeliveryStatus::Sent)) => Some("SENT"),
            Some(Ok(pb::DeliveryStatus::Dead)) => Some("DEAD"),
            Some(Err(_)) => {
                v.push(FieldViolation::new("status", "unknown status"));
                None
            }
        };
        let size = v.take(pagination::page_size(r.page_size));
        let after = v.take(Cursor::decode(&r.page_token)).flatten();
        let Some(size) = size.filter(|_| v.is_empty()) else {
            return Err(NotifierError::Invalid(v.into_vec()).into());
        };
        let mut conn = self.pool.acquire().await.map_err(NotifierError::from)?;
        let rows = deliveries::list(&mut conn, status, after, size + 1)
            .await
            .map_err(NotifierError::from)?;
        let (rows, next) = pagination::page(rows, size, |d| Cursor {
            at: d.created_at,
            id: d.id,
        });
        Ok(Response::new(pb::ListDeliveriesResponse {
            deliveries: rows.into_iter().map(to_pb).collect(),
            next_page_token: next.map(|c| c.encode()).unwrap_or_default(),
        }))
    }

    async fn get_delivery(
        &self,
        request: Request<pb::GetDeliveryRequest>,
    ) -> Result<Response<pb::Delivery>, Status> {
        let id = id(&request.get_ref().id)?;
        let mut conn = self.pool.acquire().await.map_err(NotifierError::from)?;
        let d = deliveries::get(&mut conn, id)
            .await
            .map_err(NotifierError::from)?
            .ok_or(NotifierError::NotFound)?;
        Ok(Response::new(to_pb(d)))
    }

    async fn retry_delivery(
        &self,
        request: Request<pb::RetryDeliveryRequest>,
    ) -> Result<Response<pb::Delivery>, Status> {
        let id = id(&request.get_ref().id)?;
        let mut conn = self.pool.acquire().await.map_err(NotifierError::from)?;
        match deliveries::requeue(&mut conn, id)
            .await
            .map_err(NotifierError::from)?
        {
            Some(d) => {
                // Wake the senders (autocommit: the notification goes out at once).
                deliveries::notify_queued(&mut conn)
                    .await
                    .map_err(NotifierError::from)?;
                tracing::info!(delivery_id = %id, "delivery requeued by an operator");
                Ok(Response::new(to_pb(d)))
            }
            None => match deliveries::get(&mut conn, id)
                .await
                .map_err(NotifierError::from)?
            {
                None => Err(NotifierError::NotFound.into()),
                Some(d) if d.status == "SENT" => Err(NotifierError::AlreadySent.into()),
                // QUEUED and held by a sender (DEAD ones are always requeued).
                Some(d) => Err(NotifierError::InProgress {
                    claimed_until: d.claimed_until.unwrap_or_else(OffsetDateTime::now_utc),
                }
                .into()),
            },
        }
    }
}

#[cfg(test)]
mod proptests;
