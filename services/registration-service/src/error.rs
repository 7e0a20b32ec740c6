//! The service's one error enum and its one table to gRPC codes and `ErrorInfo` reasons.

use clinic_common::error::{self, ApiError, FieldViolation};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use tonic::{Code, Status};
use uuid::Uuid;

use crate::domain::RequestStatus;

/// `ErrorInfo.domain` of every error this service returns.
pub const DOMAIN: &str = "registration-service";

/// SQLSTATEs after which the transaction was rolled back and a retry may well succeed: a lock not
/// obtained within `lock_timeout`, a deadlock, a serialization failure.
const BUSY_SQLSTATES: [&str; 3] = ["55P03", "40P01", "40001"];
/// The `RetryInfo` delay of `REGISTRATION_BUSY`.
pub const BUSY_RETRY_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("invalid input")]
    Invalid(Vec<FieldViolation>),
    #[error("e-mail already used")]
    EmailTaken,
    #[error("insurance number already used")]
    InsuranceNumberTaken,
    #[error("request_id already used for another registration")]
    RequestIdReused,
    #[error("registration request not found")]
    RequestNotFound,
    #[error("registration request already decided")]
    AlreadyDecided {
        status: RequestStatus,
        decided_by: Option<Uuid>,
        decided_by_email: Option<String>,
        decided_at: Option<OffsetDateTime>,
        current_version: i64,
    },
    #[error("expected version is stale")]
    VersionMismatch { current_version: i64 },
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account not active")]
    AccountNotActive,
    #[error("activation token not found")]
    ActivationTokenNotFound,
    #[error("activation token already used")]
    ActivationTokenUsed,
    #[error("activation token expired")]
    ActivationTokenExpired,
    #[error("patient not found")]
    PatientNotFound,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error(transparent)]
    Auth(ApiError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("rate limited")]
    RateLimited { retry_after: std::time::Duration },
    #[error("password hashing is saturated")]
    Busy,
    #[error("login delayed after repeated failures")]
    LoginDelayed { retry_after: std::time::Duration },
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<anyhow::Error> for RegistrationError {
    fn from(e: anyhow::Error) -> Self {
        if e.is::<crate::hashing::Busy>() {
            return Self::Busy;
        }
        Self::Internal(e)
    }
}

impl RegistrationError {
    pub fn invalid(field: &str, why: &str) -> Self {
        Self::Invalid(vec![FieldViolation::new(field, why)])
    }

    pub fn to_api(&self) -> ApiError {
        use RegistrationError as E;
        match self {
            E::Invalid(v) => ApiError::invalid(v.clone()),
            E::EmailTaken => ApiError::new(
                Code::AlreadyExists,
                "EMAIL_TAKEN",
                "this e-mail is already registered or pending",
            ),
            E::InsuranceNumberTaken => ApiError::new(
                Code::AlreadyExists,
                "INSURANCE_NUMBER_TAKEN",
                "this insurance number is already registered or pending",
            ),
            E::RequestIdReused => ApiError::new(
                Code::AlreadyExists,
                "REQUEST_ID_REUSED",
                "request_id was already used for a different registration",
            ),
            E::RequestNotFound => ApiError::new(
                Code::NotFound,
                "REGISTRATION_REQUEST_NOT_FOUND",
                "no such registration request",
            ),
            E::AlreadyDecided {
                status,
                decided_by,
                decided_by_email,
                decided_at,
                current_version,
            } => {
                let at = decided_at
                    .and_then(|t| t.format(&Rfc3339).ok())
                    .unwrap_or_default();
                let by = decided_by.map(|u| u.to_string()).unwrap_or_default();
                let mut e = ApiError::new(
                    Code::FailedPrecondition,
                    "REGISTRATION_ALREADY_DECIDED",
                    format!(
                        "registration request was already {} by {by} at {at}",
                        status.as_str().to_lowercase()
                    ),
                )
                .with("status", status.as_str())
                .with("decidedBy", by)
                .with("decidedAt", at)
                .with("currentVersion", current_version.to_string());
                if let Some(email) = decided_by_email {
                    e = e.with("decidedByEmail", email.clone());
                }
                e
            }
            E::VersionMismatch { current_version } => ApiError::new(
                Code::Aborted,
                "VERSION_MISMATCH",
                format!(
                    "the request changed since you read it; current version is {current_version}"
                ),
            )
            .with("currentVersion", current_version.to_string()),
            E::InvalidCredentials => ApiError::new(
                Code::Unauthenticated,
                "INVALID_CREDENTIALS",
                "wrong e-mail or password",
            ),
            E::AccountNotActive => ApiError::new(
                Code::FailedPrecondition,
                "ACCOUNT_NOT_ACTIVE",
                "the account is not activated yet; use the link from the approval e-mail",
            ),
            E::ActivationTokenNotFound => ApiError::new(
                Code::NotFound,
                "ACTIVATION_TOKEN_NOT_FOUND",
                "unknown activation token",
            ),
            E::ActivationTokenUsed => ApiError::new(
                Code::FailedPrecondition,
                "ACTIVATION_TOKEN_USED",
                "this activation token was already used",
            ),
            E::ActivationTokenExpired => ApiError::new(
                Code::FailedPrecondition,
                "ACTIVATION_TOKEN_EXPIRED",
                "this activation token has expired",
            ),
            E::PatientNotFound => {
                ApiError::new(Code::NotFound, "PATIENT_NOT_FOUND", "no such patient")
            }
            E::Forbidden(why) => ApiError::forbidden(*why),
            E::Auth(api) => api.clone(),
            E::Database(e)
                if error::sqlstate(e).is_some_and(|c| BUSY_SQLSTATES.contains(&c.as_str())) =>
            {
                tracing::info!(error = %e, "database busy; caller told to retry");
                ApiError::new(
                    Code::Aborted,
                    "REGISTRATION_BUSY",
                    "the registration request is being changed by another call; try again after the retry delay",
                )
                .retry_after(BUSY_RETRY_AFTER)
            }
            E::Database(e) => error::from_db(e),
            E::RateLimited { retry_after } => ApiError::new(
                Code::ResourceExhausted,
                "RATE_LIMITED",
                "too many calls; try again after the retry delay",
            )
            .retry_after(*retry_after),
            E::LoginDelayed { retry_after } => ApiError::new(
                Code::ResourceExhausted,
                "LOGIN_DELAYED",
                "too many failed logins for this e-mail; try again after the retry delay",
            )
            .retry_after(*retry_after),
            E::Busy => ApiError::new(
                Code::ResourceExhausted,
                "SERVER_BUSY",
                "too many password checks in progress; try again shortly",
            )
            .retry_after(std::time::Duration::from_secs(1)),
            E::Internal(e) => error::internal_from(e.as_ref()),
        }
    }
}

impl From<RegistrationError> for Status {
    fn from(e: RegistrationError) -> Status {
        e.to_api().into_status(DOMAIN)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A database error with just a SQLSTATE.
    #[derive(Debug)]
    struct Sqlstate(&'static str);

    impl std::fmt::Display for Sqlstate {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Sqlstate {}

    impl sqlx::error::DatabaseError for Sqlstate {
        fn message(&self) -> &str {
            "test"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn status(code: &'static str) -> Status {
        RegistrationError::Database(sqlx::Error::Database(Box::new(Sqlstate(code)))).into()
    }

    #[test]
    fn lock_timeouts_deadlocks_and_serialization_failures_are_busy_with_a_retry_delay() {
        for code in ["55P03", "40P01", "40001"] {
            let s = status(code);
            assert_eq!(s.code(), Code::Aborted, "{code}");
            assert_eq!(
                clinic_common::testing::error_info(&s).0,
                "REGISTRATION_BUSY"
            );
            assert_eq!(
                clinic_common::testing::retry_delay(&s),
                Some(BUSY_RETRY_AFTER)
            );
        }
        assert_eq!(status("23505").code(), Code::Internal);
    }
}
