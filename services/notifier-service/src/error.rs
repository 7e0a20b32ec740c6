//! The service's one error enum and its table to gRPC codes and `ErrorInfo` reasons.

use clinic_common::error::{self, ApiError, FieldViolation};
use time::format_description::well_known::Rfc3339;
use tonic::{Code, Status};

pub const DOMAIN: &str = "notifier-service";

#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    #[error("invalid input")]
    Invalid(Vec<FieldViolation>),
    #[error("delivery not found")]
    NotFound,
    #[error("delivery already sent")]
    AlreadySent,
    /// A sender holds it right now; requeueing would let a second sender send it too.
    #[error("delivery being sent")]
    InProgress { claimed_until: time::OffsetDateTime },
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl NotifierError {
    pub fn to_api(&self) -> ApiError {
        match self {
            NotifierError::Invalid(v) => ApiError::invalid(v.clone()),
            NotifierError::NotFound => {
                ApiError::new(Code::NotFound, "DELIVERY_NOT_FOUND", "no such delivery")
            }
            NotifierError::AlreadySent => ApiError::new(
                Code::FailedPrecondition,
                "DELIVERY_ALREADY_SENT",
                "this e-mail was already sent",
            ),
            NotifierError::InProgress { claimed_until } => {
                let left = (*claimed_until - time::OffsetDateTime::now_utc())
                    .try_into()
                    .unwrap_or_default();
                ApiError::new(
                    Code::FailedPrecondition,
                    "DELIVERY_IN_PROGRESS",
                    "this e-mail is being sent right now; retry once its attempt has ended",
                )
                .with(
                    "claimedUntil",
                    claimed_until.format(&Rfc3339).unwrap_or_default(),
                )
                .retry_after(left)
            }
            NotifierError::Database(e) => error::from_db(e),
        }
    }
}

impl From<NotifierError> for Status {
    fn from(e: NotifierError) -> Status {
        e.to_api().into_status(DOMAIN)
    }
}
