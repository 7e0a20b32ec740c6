//! A failed call, told in full: the gRPC code and message, the `ErrorInfo` reason and metadata, the
//! `BadRequest` field violations and the `RetryInfo` delay the services attach (BRIEF §5).

use std::collections::BTreeMap;

use serde::Serialize;
use tonic::{Code, Status};
use tonic_types::StatusExt;

#[derive(Debug, Serialize)]
pub struct Failure {
    pub code: &'static str,
    pub message: String,
    pub reason: Option<String>,
    pub domain: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub field_violations: Vec<FieldViolation>,
    pub retry_delay_ms: Option<u128>,
}

#[derive(Debug, Serialize)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl Failure {
    pub fn from_status(status: &Status) -> Self {
        let details = status.get_error_details();
        let info = details.error_info();
        Self {
            code: code_name(status.code()),
            message: status.message().to_owned(),
            reason: info.map(|i| i.reason.clone()),
            domain: info.map(|i| i.domain.clone()),
            metadata: info
                .map(|i| i.metadata.clone().into_iter().collect())
                .unwrap_or_default(),
            field_violations: details
                .bad_request()
                .map(|b| {
                    b.field_violations
                        .iter()
                        .map(|v| FieldViolation {
                            field: v.field.clone(),
                            description: v.description.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            retry_delay_ms: details
                .retry_info()
                .and_then(|r| r.retry_delay)
                .map(|d| d.as_millis()),
        }
    }

    /// Lines for a person, on stderr.
    pub fn render(&self) -> String {
        let mut out = format!("clinicctl: {}: {}\n", self.code, self.message);
        if let Some(reason) = &self.reason {
            let domain = self.domain.as_deref().unwrap_or_default();
            out += &format!("  reason: {reason} ({domain})\n");
        }
        let width = self.metadata.keys().map(|k| k.len()).max().unwrap_or(0);
        for (k, v) in &self.metadata {
            out += &format!("  {k:<width$}  {v}\n");
        }
        for v in &self.field_violations {
            out += &format!("  field {}: {}\n", v.field, v.description);
        }
        if let Some(ms) = self.retry_delay_ms {
            out += &format!("  retry after {ms} ms\n");
        }
        if let Some(hint) = self.hint() {
            out += &format!("  hint: {hint}\n");
        }
        out
    }

    fn hint(&self) -> Option<&'static str> {
        match self.reason.as_deref() {
            Some("TOKEN_INVALID") => {
                Some("sign in again with `clinicctl login --email …` (or pass --token)")
            }
            Some("VERSION_MISMATCH") => Some(
                "the request changed since you read it: `registration get` it and decide again",
            ),
            None if self.code == "UNAVAILABLE" => Some(
                "is the service running at that address? (--registration/--appointment/--notifier)",
            ),
            _ => None,
        }
    }
}

/// The canonical upper-case name, as the gRPC spec and grpcurl print it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::HashMap, time::Duration};

    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;

    #[test]
    fn every_detail_is_told() {
        let mut details = ErrorDetails::with_error_info(
            "REGISTRATION_ALREADY_DECIDED",
            "registration-service",
            HashMap::from([
                ("status".to_owned(), "APPROVED".to_owned()),
                ("currentVersion".to_owned(), "2".to_owned()),
            ]),
        );
        details.add_bad_request_violation("expected_version", "required");
        details.set_retry_info(Some(Duration::from_millis(50)));
        let status =
            Status::with_error_details(Code::FailedPrecondition, "already decided", details);

        let text = Failure::from_status(&status).render();

        for part in [
            "FAILED_PRECONDITION: already decided",
            "reason: REGISTRATION_ALREADY_DECIDED (registration-service)",
            "status          APPROVED",
            "currentVersion  2",
            "field expected_version: required",
            "retry after 50 ms",
        ] {
            assert!(text.contains(part), "{part:?} missing from\n{text}");
        }
    }

    #[test]
    fn a_transport_failure_without_details_still_reads_well() {
        let text = Failure::from_status(&Status::unavailable("connection refused")).render();
        assert!(text.starts_with("clinicctl: UNAVAILABLE: connection refused\n"));
        assert!(text.contains("hint: is the service running"));
    }
}
