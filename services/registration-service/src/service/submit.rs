use clinic_common::{
    error::violated_constraint,
    outbox::{NewEvent, append},
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppState;
use crate::{
    db::{
        accounts, requests,
        submission_keys::{self, PriorAnswer},
    },
    domain::{NewRegistration, RegistrationRecord, RequestStatus},
    error::RegistrationError,
    secrets::hash_password,
};

/// Stores a pending registration request. A retry with the same `request_id` (and the same e-mail and
/// insurance number) gets the first answer again, whether the form was stored or taken.
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn submit(
    state: &AppState,
    new: NewRegistration,
) -> Result<RegistrationRecord, RegistrationError> {
    if let Some(key) = &new.client_request_id
        && let Some(prior) = submission_keys::find(&mut *state.pool.acquire().await?, key).await?
    {
        return replay(prior, key, &new);
    }
    // Hash before the transaction: no connection is held during the slow part.
    let password_hash = hash_password(new.password.expose().to_owned()).await?;

    let mut tx = state.pool.begin().await?;
    let record = match requests::insert(&mut tx, Uuid::now_v7(), &new, &password_hash).await {
        Ok(record) => record,
        Err(e) => {
            return match violated_constraint(&e) {
                Some(requests::PENDING_EMAIL_KEY | requests::PENDING_INSURANCE_KEY) => {
                    drop(tx);
                    already_registered(state, &new).await
                }
                Some(requests::CLIENT_REQUEST_ID_KEY) => {
                    // A concurrent retry with the same key won; answer with its result.
                    drop(tx);
                    replay_committed(state, &new).await
                }
                _ => Err(e.into()),
            };
        }
    };
    // Checked after the insert: if an approval of the same e-mail was committing, the insert waited
    // for it on the unique index and this statement's fresh snapshot sees the new account.
    let (email_taken, insurance_taken) =
        accounts::taken(&mut tx, new.email.as_str(), new.insurance_number.as_str()).await?;
    if email_taken || insurance_taken {
        drop(tx);
        return already_registered(state, &new).await;
    }
    tx.commit().await?;
    tracing::info!(request_id = %record.id, "registration submitted");
    Ok(record)
}

/// A retry with the same `request_id` gets the first answer's id, status (`PENDING`), version (1) and
/// `created_at` only: whoever replays a key learns nothing else of the stored request, neither whether
/// the form was stored or taken nor what became of it since.
fn replay(
    prior: PriorAnswer,
    key: &str,
    new: &NewRegistration,
) -> Result<RegistrationRecord, RegistrationError> {
    let same_form = match &prior.form_digest {
        Some(digest) => *digest == form_digest(key, new),
        None => {
            prior.email.as_deref() == Some(new.email.as_str())
                && prior.insurance_number.as_deref() == Some(new.insurance_number.as_str())
        }
    };
    if !same_form {
        return Err(RegistrationError::RequestIdReused);
    }
    Ok(RegistrationRecord {
        id: prior.id,
        email: String::new(),
        first_name: String::new(),
        last_name: String::new(),
        address: String::new(),
        city: String::new(),
        country: String::new(),
        phone: String::new(),
        insurance_number: String::new(),
        status: RequestStatus::Pending,
        version: 1,
        decided_by: None,
        decided_at: None,
        rejection_reason: None,
        created_at: prior.created_at,
    })
}

/// The answer already committed under `new`'s key, which a statement of ours just collided with.
async fn replay_committed(
    state: &AppState,
    new: &NewRegistration,
) -> Result<RegistrationRecord, RegistrationError> {
    let key = new.client_request_id.as_deref().unwrap_or_default();
    let mut conn = state.pool.acquire().await?;
    match submission_keys::find(&mut conn, key).await? {
        Some(prior) => replay(prior, key, new),
        None => Err(anyhow::anyhow!("request_id collided with no committed answer").into()),
    }
}

/// What a taken form's key keeps of it: enough to tell the same form from another, and no more.
fn form_digest(key: &str, new: &NewRegistration) -> Vec<u8> {
    let mut h = Sha256::new();
    for part in [key, new.email.as_str(), new.insurance_number.as_str()] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_vec()
}

/// The e-mail or insurance number is already registered or awaiting a decision. The caller — anyone,
/// unauthenticated — is answered exactly as if the request were accepted, so it cannot learn whether
/// an address or an insurance number (health data: that person is a patient) is known; the holder is
/// told by e-mail instead (`registration.already_registered`). Only the answer is stored, under the
/// `request_id` if there is one, so that a retry is answered as a stored request's retry is, and the
/// holder is not told again.
///
/// The answer is made as an accepted one is: its id after a transaction began, its `created_at` that
/// transaction's start by the database's clock (microseconds; a clock of this process would show
/// nanoseconds, and so which answer it is).
async fn already_registered(
    state: &AppState,
    new: &NewRegistration,
) -> Result<RegistrationRecord, RegistrationError> {
    let mut tx = state.pool.begin().await?;
    let id = Uuid::now_v7();
    let created_at = requests::transaction_start(&mut tx).await?;
    if let Some(key) = &new.client_request_id {
        let digest = form_digest(key, new);
        if !submission_keys::record_taken(&mut tx, key, id, created_at, &digest).await? {
            // A concurrent submission with this key committed first (this one waited for it).
            drop(tx);
            return replay_committed(state, new).await;
        }
    }
    let holder =
        requests::holder_of(&mut tx, new.email.as_str(), new.insurance_number.as_str()).await?;
    if let Some(h) = &holder {
        append(
            &mut tx,
            NewEvent {
                aggregate_type: "registration_attempt",
                aggregate_id: Uuid::now_v7().to_string(),
                event_type: "registration.already_registered",
                payload: serde_json::json!({
                    "email": h.email,
                    "first_name": h.first_name,
                    "last_name": h.last_name,
                    "matched": h.matched,
                }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    if let Some(h) = holder {
        state.signal.committed();
        tracing::info!(
            matched = h.matched,
            "registration of known details answered as accepted; holder told"
        );
    }
    Ok(answer(id, created_at, new))
}

/// An accepted answer: the form echoed (e-mail lower-cased), `PENDING`, version 1.
fn answer(id: Uuid, created_at: OffsetDateTime, new: &NewRegistration) -> RegistrationRecord {
    RegistrationRecord {
        id,
        email: new.email.as_str().to_owned(),
        first_name: new.first_name.clone(),
        last_name: new.last_name.clone(),
        address: new.address.clone(),
        city: new.city.clone(),
        country: new.country.clone(),
        phone: new.phone.as_str().to_owned(),
        insurance_number: new.insurance_number.as_str().to_owned(),
        status: RequestStatus::Pending,
        version: 1,
        decided_by: None,
        decided_at: None,
        rejection_reason: None,
        created_at,
    }
}
