//! Operator actions behind the CLI: first admin accounts and service tokens.

use std::time::Duration;

use clinic_common::auth::{Role, TokenIssuer, audience};
use clinic_common::error::{Violations, violated_constraint};
use sqlx::PgPool;
use uuid::Uuid;

use crate::{
    db::accounts,
    domain::{AccountStatus, Email, Password, bounded_text},
    error::RegistrationError,
    secrets::hash_password,
};

/// An admin account to create, active at once.
pub struct NewAdmin {
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    /// `Some` for a clinic admin, `None` for a clinic-center admin.
    pub clinic_id: Option<Uuid>,
}

impl std::fmt::Debug for NewAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAdmin")
            .field("email", &self.email)
            .finish_non_exhaustive()
    }
}

#[tracing::instrument(skip_all, err)]
pub async fn create_admin(pool: &PgPool, new: NewAdmin) -> Result<Uuid, RegistrationError> {
    let mut v = Violations::default();
    let email = v.take(Email::parse(&new.email));
    let password = v.take(Password::parse(&new.password));
    let first = v.take(bounded_text("first_name", &new.first_name, 100));
    let last = v.take(bounded_text("last_name", &new.last_name, 100));
    let (Some(email), Some(password), Some(first), Some(last)) = (email, password, first, last)
    else {
        return Err(RegistrationError::Invalid(v.into_vec()));
    };
    let hash = hash_password(password.expose().to_owned()).await?;
    let id = Uuid::now_v7();
    let role = if new.clinic_id.is_some() {
        Role::ClinicAdmin
    } else {
        Role::ClinicCenterAdmin
    };
    let account = accounts::NewAccount {
        id,
        email: email.as_str(),
        password_hash: &hash,
        role,
        clinic_id: new.clinic_id,
        first_name: &first,
        last_name: &last,
        insurance_number: None,
        registration_request_id: None,
        status: AccountStatus::Active,
    };
    let mut conn = pool.acquire().await?;
    accounts::insert(&mut conn, &account)
        .await
        .map_err(|e| match violated_constraint(&e) {
            Some(accounts::EMAIL_KEY) => RegistrationError::EmailTaken,
            _ => e.into(),
        })?;
    tracing::info!(account_id = %id, role = %role, "admin account created");
    Ok(id)
}

/// A token for one of the system's internal callers (`service:<name>`), for the services it calls
/// only ([`audience::of_service`]).
pub fn mint_service_token(
    issuer: &TokenIssuer,
    name: &str,
    ttl: Duration,
) -> anyhow::Result<String> {
    let Some(aud) = audience::of_service(name) else {
        anyhow::bail!(
            "no service `{name}` calls another service: mint tokens for {} or {}",
            audience::APPOINTMENT,
            audience::NOTIFIER
        );
    };
    let (token, _) = issuer.issue(
        &audience::service_subject(name),
        Role::Service,
        None,
        aud,
        ttl,
    )?;
    Ok(token)
}
