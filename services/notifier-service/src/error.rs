//! The service's one error enum and its table to gRPC codes and `ErrorInfo` reasons.

use clinic_common::error::{self, ApiError, FieldViolation};
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
            NotifierError::Database(e) => error::from_db(e),
        }
    }
}

impl From<NotifierError> for Status {
    fn from(e: NotifierError) -> Status {
        e.to_api().into_status(DOMAIN)
    }
}
