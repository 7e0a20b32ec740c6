use clinic_common::error::violated_constraint;
use uuid::Uuid;

use super::AppState;
use crate::{
    db::{accounts, requests},
    domain::{NewRegistration, RegistrationRecord},
    error::RegistrationError,
    secrets::hash_password,
};

/// Stores a pending registration request. A retry with the same `request_id` (and the same e-mail and
/// insurance number) returns the first result.
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn submit(
    state: &AppState,
    new: NewRegistration,
) -> Result<RegistrationRecord, RegistrationError> {
    if let Some(key) = &new.client_request_id
        && let Some(existing) =
            requests::find_by_client_request_id(&mut *state.pool.acquire().await?, key).await?
    {
        return replay(existing, &new);
    }
    // Hash before the transaction: no connection is held during the slow part.
    let password_hash = hash_password(new.password.expose().to_owned()).await?;

    let mut tx = state.pool.begin().await?;
    let record = match requests::insert(&mut tx, Uuid::now_v7(), &new, &password_hash).await {
        Ok(record) => record,
        Err(e) => {
            return match violated_constraint(&e) {
                Some(requests::PENDING_EMAIL_KEY) => Err(RegistrationError::EmailTaken),
                Some(requests::PENDING_INSURANCE_KEY) => {
                    Err(RegistrationError::InsuranceNumberTaken)
                }
                Some(requests::CLIENT_REQUEST_ID_KEY) => {
                    // A concurrent retry with the same key won; answer with its result.
                    drop(tx);
                    let key = new.client_request_id.as_deref().unwrap_or_default();
                    let mut conn = state.pool.acquire().await?;
                    match requests::find_by_client_request_id(&mut conn, key).await? {
                        Some(existing) => replay(existing, &new),
                        None => Err(e.into()),
                    }
                }
                _ => Err(e.into()),
            };
        }
    };
    // Checked after the insert: if an approval of the same e-mail was committing, the insert waited
    // for it on the unique index and this statement's fresh snapshot sees the new account.
    let (email_taken, insurance_taken) =
        accounts::taken(&mut tx, new.email.as_str(), new.insurance_number.as_str()).await?;
    if email_taken {
        return Err(RegistrationError::EmailTaken);
    }
    if insurance_taken {
        return Err(RegistrationError::InsuranceNumberTaken);
    }
    tx.commit().await?;
    tracing::info!(request_id = %record.id, "registration submitted");
    Ok(record)
}

fn replay(
    existing: RegistrationRecord,
    new: &NewRegistration,
) -> Result<RegistrationRecord, RegistrationError> {
    if existing.email == new.email.as_str()
        && existing.insurance_number == new.insurance_number.as_str()
    {
        Ok(existing)
    } else {
        Err(RegistrationError::RequestIdReused)
    }
}
