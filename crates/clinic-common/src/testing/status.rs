use std::{collections::HashMap, time::Duration};

use tonic::Status;
use tonic_types::StatusExt;

/// (reason, metadata) of the status's `ErrorInfo`; panics when it has none, since every error must.
pub fn error_info(status: &Status) -> (String, HashMap<String, String>) {
    let details = status.get_error_details();
    let info = details
        .error_info()
        .unwrap_or_else(|| panic!("status without ErrorInfo: {status:?}"));
    (info.reason.clone(), info.metadata.clone())
}

/// Field names of the status's `BadRequest` violations.
pub fn field_violations(status: &Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| v.field.clone()).collect())
        .unwrap_or_default()
}

pub fn retry_delay(status: &Status) -> Option<Duration> {
    status
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay)
}

/// Fails unless `answer` is INTERNAL with reason `INTERNAL` (what a change that could not commit
/// answers).
pub fn assert_internal<T: std::fmt::Debug>(answer: Result<T, Status>) {
    let err = answer.expect_err("the change cannot commit");
    assert_eq!(err.code(), tonic::Code::Internal, "{err:?}");
    assert_eq!(error_info(&err).0, "INTERNAL");
}
