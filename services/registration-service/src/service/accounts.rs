use std::net::IpAddr;

use clinic_common::auth::{Identity, Role, audience};
use time::OffsetDateTime;
use uuid::Uuid;

use super::AppState;
use crate::{
    db::{accounts, activation_tokens, login_failures},
    domain::{AccountStatus, Email, Patient},
    error::RegistrationError,
    limits::login_client,
    secrets::{hash_token, verify_password},
};

/// Spends a single-use activation token and activates its account.
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn activate(state: &AppState, token: &str) -> Result<Uuid, RegistrationError> {
    let hash = hash_token(token);
    let mut tx = state.pool.begin().await?;
    if let Some(account_id) = activation_tokens::consume(&mut tx, &hash).await? {
        accounts::activate(&mut tx, account_id).await?;
        tx.commit().await?;
        tracing::info!(account_id = %account_id, "account activated");
        return Ok(account_id);
    }
    Err(match activation_tokens::state(&mut tx, &hash).await? {
        None => RegistrationError::ActivationTokenNotFound,
        Some((false, true)) => RegistrationError::ActivationTokenExpired,
        // Used, or used by a concurrent activation between the two statements.
        Some(_) => RegistrationError::ActivationTokenUsed,
    })
}

/// Checks the password and issues an access token. Unknown e-mail and wrong password look the same;
/// ACCOUNT_NOT_ACTIVE is revealed only to someone who knows the password.
///
/// Attempts are refused before any hashing while the failed-login delay of this client, or the
/// account's ceiling, runs (`db::login_failures`); only attempts that are checked count against the
/// account's per-minute limit, so a stranger's refused attempts cannot use it up for the owner.
#[tracing::instrument(skip_all, err(level = "info"))]
pub async fn login(
    state: &AppState,
    email: &Email,
    client: Option<IpAddr>,
    password: String,
) -> Result<(String, OffsetDateTime, Role), RegistrationError> {
    let client = login_client(client);
    let (creds, failing) = {
        let mut conn = state.pool.acquire().await?;
        let delays = login_failures::delays(&mut conn, email.as_str(), &client).await?;
        if let Some(wait) = delays.wait() {
            return Err(RegistrationError::LoginDelayed {
                // At least a tenth of a second, so a client always waits.
                retry_after: wait.max(std::time::Duration::from_millis(100)),
            });
        }
        state.limits.login(email)?;
        let creds = accounts::credentials(&mut conn, email.as_str()).await?;
        (creds, delays.failing())
    };
    let matched =
        verify_password(password, creds.as_ref().map(|c| c.password_hash.clone())).await?;
    let mut conn = state.pool.acquire().await?;
    let Some(creds) = creds.filter(|_| matched) else {
        login_failures::failed(&mut conn, email.as_str(), &client).await?;
        return Err(RegistrationError::InvalidCredentials);
    };
    // Most logins have no run of failures to end: no write for them.
    if failing {
        login_failures::succeeded(&mut conn, email.as_str(), &client).await?;
    }
    if creds.status != AccountStatus::Active {
        return Err(RegistrationError::AccountNotActive);
    }
    let role: Role = creds.role.parse().map_err(anyhow::Error::msg)?;
    let (token, expires_at) = state
        .issuer
        .issue(
            &creds.id.to_string(),
            role,
            creds.clinic_id,
            audience::PEOPLE,
            state.access_token_ttl,
        )
        .map_err(anyhow::Error::from)?;
    tracing::info!(account_id = %creds.id, role = %role, "login");
    Ok((token, expires_at, role))
}

/// A patient's contact record: for services, admins, or that patient.
#[tracing::instrument(skip_all, fields(patient_id = %id), err(level = "info"))]
pub async fn get_patient(
    state: &AppState,
    caller: &Identity,
    id: Uuid,
) -> Result<Patient, RegistrationError> {
    // Refuse before looking, so a patient cannot probe which ids exist.
    if caller.role == Role::Patient && caller.account_id() != Some(id) {
        return Err(RegistrationError::Forbidden(
            "patients may read only their own record",
        ));
    }
    let mut conn = state.pool.acquire().await?;
    accounts::patient(&mut conn, id)
        .await?
        .ok_or(RegistrationError::PatientNotFound)
}
