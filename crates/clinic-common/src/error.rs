//! One shape for every non-OK answer: a `tonic::Code`, an UPPER_SNAKE_CASE reason, dynamic values as
//! metadata, field violations for bad input, optional retry advice. Each service maps its own error enum
//! into an [`ApiError`] in one table; this module turns it into a `Status` with `google.rpc` details.

use std::{collections::HashMap, time::Duration};

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// A client-facing failure. Build one per error variant; never put internal details in `message`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub reason: &'static str,
    pub message: String,
    pub metadata: Vec<(&'static str, String)>,
    pub violations: Vec<FieldViolation>,
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?}): {}", self.reason, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Collects every bad field of a request, so the client learns all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// The value when `r` is valid; otherwise records the violation and returns `None`.
    pub fn take<T>(&mut self, r: Result<T, FieldViolation>) -> Option<T> {
        r.map_err(|v| self.0.push(v)).ok()
    }

    pub fn push(&mut self, v: FieldViolation) {
        self.0.push(v);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }
}

impl ApiError {
    pub fn new(code: Code, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            metadata: Vec::new(),
            violations: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.metadata.push((key, value.into()));
        self
    }

    pub fn retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// INVALID_ARGUMENT / `INVALID_FIELD` with one BadRequest violation per bad field.
    pub fn invalid(violations: Vec<FieldViolation>) -> Self {
        let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        let message = format!("invalid fields: {}", fields.join(", "));
        Self {
            violations,
            ..Self::new(Code::InvalidArgument, "INVALID_FIELD", message)
        }
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            Code::Unauthenticated,
            "TOKEN_INVALID",
            "a valid bearer token is required",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::PermissionDenied, "FORBIDDEN", message)
    }

    pub fn dependency_unavailable(what: &str) -> Self {
        Self::new(
            Code::Unavailable,
            "DEPENDENCY_UNAVAILABLE",
            format!("{what} is unavailable, try again later"),
        )
        .with("dependency", what)
    }

    /// The catch-all. The cause is logged by the caller; the client learns nothing about it.
    pub fn internal() -> Self {
        Self::new(Code::Internal, "INTERNAL", "internal error")
    }

    /// The wire form. `domain` is the service name (`registration-service`).
    pub fn into_status(self, domain: &str) -> Status {
        let mut details = ErrorDetails::new();
        let metadata: HashMap<String, String> = self
            .metadata
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        details.set_error_info(self.reason, domain, metadata);
        for v in self.violations {
            details.add_bad_request_violation(v.field, v.description);
        }
        if let Some(after) = self.retry_after {
            details.set_retry_info(Some(after));
        }
        Status::with_error_details(self.code, self.message, details)
    }
}

/// Logs an unexpected error with its whole cause chain and returns the opaque INTERNAL answer.
pub fn internal_from(err: &(dyn std::error::Error + 'static)) -> ApiError {
    let mut chain = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    tracing::error!(error.chain = %chain, "internal error");
    ApiError::internal()
}

/// True when a database error means "the database is not reachable" rather than "the query is wrong".
/// Besides transport failures that is SQLSTATE class 08 (connection exception) and 57P (the server
/// is shutting down, crashed, or not yet accepting connections: 57P01 is what a backend terminated by
/// a restart or `pg_terminate_backend` reports).
pub fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// Maps a database error that no typed rule claimed: unreachable → UNAVAILABLE, else INTERNAL.
pub fn from_db(err: &sqlx::Error) -> ApiError {
    if is_unavailable(err) {
        tracing::warn!(error = %err, "database unavailable");
        ApiError::dependency_unavailable("database")
    } else {
        internal_from(err)
    }
}

/// The name of the constraint a unique/exclusion/check violation broke, if any.
pub fn violated_constraint(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

/// The SQLSTATE of a database error, if any (`55P03` is a lock timeout).
pub fn sqlstate(err: &sqlx::Error) -> Option<String> {
    match err {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}
