//! Approve and reject: optimistic concurrency. The decision is one `UPDATE … WHERE id AND version AND
//! PENDING`; when it matches nothing, the row is read to tell the loser exactly what happened.

use clinic_common::{
    error::violated_constraint,
    outbox::{self, NewEvent},
    telemetry,
};
use serde_json::json;
use sqlx::PgConnection;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use uuid::Uuid;

use super::AppState;
use crate::{
    db::{
        accounts,
        approval::{self, Approval},
        requests,
    },
    domain::{RegistrationRecord, RejectionReason, RequestStatus},
    error::RegistrationError,
    secrets::new_activation_token,
};

const AGGREGATE: &str = "registration_request";

/// Approves; the winner creates the patient account (awaiting activation), its activation token and
/// the `registration.approved` event, all in one statement (`db::approval`). Returns the request and
/// the patient id.
#[tracing::instrument(skip_all, fields(request_id = %id, expected_version, admin = %admin), err(level = "info"))]
pub async fn approve(
    state: &AppState,
    id: Uuid,
    expected_version: i64,
    admin: Uuid,
) -> Result<(RegistrationRecord, Uuid), RegistrationError> {
    let patient_id = Uuid::now_v7();
    let (token, token_hash) = new_activation_token();
    let sealed_token = state.activation_seal.seal(&token)?;
    drop(token);
    let approval = Approval {
        request_id: id,
        expected_version,
        admin,
        patient_id,
        sealed_token: &sealed_token,
        token_hash: &token_hash,
        token_expires_at: OffsetDateTime::now_utc() + state.activation_token_ttl,
        event_id: Uuid::now_v7(),
        traceparent: telemetry::current_traceparent(),
    };
    let mut conn = state.pool.acquire().await?;
    let approved = approval::approve(&mut conn, &approval).await.map_err(|e| {
        match violated_constraint(&e) {
            Some(accounts::EMAIL_KEY) => RegistrationError::EmailTaken,
            Some(accounts::INSURANCE_KEY) => RegistrationError::InsuranceNumberTaken,
            _ => e.into(),
        }
    })?;
    let Some(record) = approved else {
        return Err(explain_no_match(&mut conn, id).await?);
    };
    drop(conn);
    state.signal.committed();
    tracing::info!(patient_id = %patient_id, "registration approved");
    Ok((record, patient_id))
}

/// Rejects with a reason; frees the e-mail and insurance number; writes `registration.rejected`.
#[tracing::instrument(skip_all, fields(request_id = %id, expected_version, admin = %admin), err(level = "info"))]
pub async fn reject(
    state: &AppState,
    id: Uuid,
    expected_version: i64,
    admin: Uuid,
    reason: RejectionReason,
) -> Result<RegistrationRecord, RegistrationError> {
    let mut tx = state.pool.begin().await?;
    let Some(record) =
        requests::try_reject(&mut tx, id, expected_version, admin, reason.as_str()).await?
    else {
        return Err(explain_no_match(&mut tx, id).await?);
    };
    let event = NewEvent {
        aggregate_type: AGGREGATE,
        aggregate_id: id.to_string(),
        event_type: "registration.rejected",
        payload: json!({
            "request_id": id,
            "email": record.email,
            "first_name": record.first_name,
            "last_name": record.last_name,
            "reason": reason.as_str(),
            "decided_by": admin,
            "decided_at": record.decided_at.map(rfc3339),
        }),
    };
    outbox::append(&mut tx, event).await?;
    tx.commit().await?;
    state.signal.committed();
    tracing::info!("registration rejected");
    Ok(record)
}

/// Why a compare-and-swap matched nothing: unknown id, already decided, or a stale version.
async fn explain_no_match(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<RegistrationError, RegistrationError> {
    Ok(match requests::decided_state(conn, id).await? {
        None => RegistrationError::RequestNotFound,
        Some(s) if s.status != RequestStatus::Pending => RegistrationError::AlreadyDecided {
            status: s.status,
            decided_by: s.decided_by,
            decided_by_email: s.decided_by_email,
            decided_at: s.decided_at,
            current_version: s.version,
        },
        Some(s) => RegistrationError::VersionMismatch {
            current_version: s.version,
        },
    })
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}
