use clinic_common::{
    error::violated_constraint,
    outbox::{NewEvent, append},
};
use uuid::Uuid;

use super::AppState;
use crate::{
    db::{accounts, requests},
    domain::{NewRegistration, RegistrationRecord, RequestStatus},
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
                Some(requests::PENDING_EMAIL_KEY | requests::PENDING_INSURANCE_KEY) => {
                    drop(tx);
                    already_registered(state, &new).await
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
    if email_taken || insurance_taken {
        drop(tx);
        return already_registered(state, &new).await;
    }
    tx.commit().await?;
    tracing::info!(request_id = %record.id, "registration submitted");
    Ok(record)
}

/// A retry with the same `request_id` gets the first answer's id, status and version only: whoever
/// replays a key learns nothing else of the stored request.
fn replay(
    existing: RegistrationRecord,
    new: &NewRegistration,
) -> Result<RegistrationRecord, RegistrationError> {
    if existing.email == new.email.as_str()
        && existing.insurance_number == new.insurance_number.as_str()
    {
        Ok(RegistrationRecord {
            id: existing.id,
            email: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            address: String::new(),
            city: String::new(),
            country: String::new(),
            phone: String::new(),
            insurance_number: String::new(),
            status: existing.status,
            version: existing.version,
            decided_by: None,
            decided_at: None,
            rejection_reason: None,
            created_at: existing.created_at,
        })
    } else {
        Err(RegistrationError::RequestIdReused)
    }
}

/// The e-mail or insurance number is already registered or awaiting a decision. The caller — anyone,
/// unauthenticated — is answered exactly as if the request were accepted, so it cannot learn whether
/// an address or an insurance number (health data: that person is a patient) is known; the holder is
/// told by e-mail instead (`registration.already_registered`). Nothing else is stored.
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
    let holder =
        requests::holder_of(&mut tx, new.email.as_str(), new.insurance_number.as_str()).await?;
    if let Some(h) = holder {
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
        tx.commit().await?;
        state.signal.committed();
        tracing::info!(
            matched = h.matched,
            "registration of known details answered as accepted; holder told"
        );
    }
    Ok(RegistrationRecord {
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
    })
}
