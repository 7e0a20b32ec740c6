//! The service's one error enum and its one table to gRPC codes and `ErrorInfo` reasons.

use std::time::Duration;

use clinic_common::error::{self, ApiError, FieldViolation};
use tonic::{Code, Status};
use uuid::Uuid;

/// `ErrorInfo.domain` of every error this service returns.
pub const DOMAIN: &str = "appointment-service";

#[derive(Debug, thiserror::Error)]
pub enum AppointmentError {
    #[error("invalid input")]
    Invalid(Vec<FieldViolation>),
    #[error("{reason}")]
    NotFound {
        reason: &'static str,
        what: &'static str,
    },
    #[error("name already used")]
    NameTaken { field: &'static str },
    #[error("request_id already used for another appointment")]
    RequestIdReused,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("schedule conflict")]
    ScheduleConflict { conflicting: Option<Uuid> },
    #[error("appointment already reserved")]
    AlreadyReserved { alternatives: Vec<Uuid> },
    #[error("appointment busy")]
    Busy { retry_after: Duration },
    #[error("patient already holds an overlapping appointment")]
    PatientScheduleConflict,
    #[error("appointment already started")]
    AppointmentInPast,
    #[error("cancellation window closed")]
    CancellationWindowClosed,
    #[error("appointment not reserved")]
    NotReserved,
    #[error("account not active")]
    AccountNotActive,
    #[error("{0} unavailable")]
    DependencyUnavailable(&'static str),
    #[error(transparent)]
    Auth(ApiError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppointmentError {
    pub fn not_found(what: &'static str) -> Self {
        let reason = match what {
            "clinic" => "CLINIC_NOT_FOUND",
            "doctor" => "DOCTOR_NOT_FOUND",
            "room" => "ROOM_NOT_FOUND",
            "exam type" => "EXAM_TYPE_NOT_FOUND",
            _ => "APPOINTMENT_NOT_FOUND",
        };
        Self::NotFound { reason, what }
    }

    pub fn to_api(&self) -> ApiError {
        use AppointmentError as E;
        match self {
            E::Invalid(v) => ApiError::invalid(v.clone()),
            E::NotFound { reason, what } => {
                ApiError::new(Code::NotFound, reason, format!("no such {what}"))
            }
            E::NameTaken { field } => ApiError::new(
                Code::AlreadyExists,
                "NAME_TAKEN",
                format!("{field} is already used"),
            )
            .with("field", *field),
            E::RequestIdReused => ApiError::new(
                Code::AlreadyExists,
                "REQUEST_ID_REUSED",
                "request_id was already used to reserve a different appointment",
            ),
            E::Forbidden(why) => ApiError::forbidden(*why),
            E::ScheduleConflict { conflicting } => {
                let mut e = ApiError::new(
                    Code::FailedPrecondition,
                    "SCHEDULE_CONFLICT",
                    "the doctor or the room already has an overlapping appointment",
                );
                if let Some(id) = conflicting {
                    e = e.with("conflictingAppointmentId", id.to_string());
                }
                e
            }
            E::AlreadyReserved { alternatives } => {
                let mut e = ApiError::new(
                    Code::FailedPrecondition,
                    "APPOINTMENT_ALREADY_RESERVED",
                    "this appointment is already reserved; choose another",
                );
                for (i, id) in alternatives.iter().enumerate().take(3) {
                    e = e.with(
                        ["alternative1", "alternative2", "alternative3"][i],
                        id.to_string(),
                    );
                }
                e
            }
            E::Busy { retry_after } => ApiError::new(
                Code::Aborted,
                "APPOINTMENT_BUSY",
                "someone else is reserving this appointment right now; try again",
            )
            .retry_after(*retry_after),
            E::PatientScheduleConflict => ApiError::new(
                Code::FailedPrecondition,
                "PATIENT_SCHEDULE_CONFLICT",
                "you already hold an appointment at an overlapping time",
            ),
            E::AppointmentInPast => ApiError::new(
                Code::FailedPrecondition,
                "APPOINTMENT_IN_PAST",
                "this appointment has already started",
            ),
            E::CancellationWindowClosed => ApiError::new(
                Code::FailedPrecondition,
                "CANCELLATION_WINDOW_CLOSED",
                "reservations can be cancelled only more than 24 hours before the start",
            ),
            E::NotReserved => ApiError::new(
                Code::FailedPrecondition,
                "APPOINTMENT_NOT_RESERVED",
                "this appointment is not reserved; there is nothing to cancel",
            ),
            E::AccountNotActive => ApiError::new(
                Code::FailedPrecondition,
                "ACCOUNT_NOT_ACTIVE",
                "the patient account is not active",
            ),
            E::DependencyUnavailable(what) => ApiError::dependency_unavailable(what),
            E::Auth(api) => api.clone(),
            E::Database(e) => error::from_db(e),
            E::Internal(e) => error::internal_from(e.as_ref()),
        }
    }
}

impl From<AppointmentError> for Status {
    fn from(e: AppointmentError) -> Status {
        e.to_api().into_status(DOMAIN)
    }
}
