use std::time::Duration;

use tonic::metadata::MetadataValue;

/// A request carrying `token` in the `authorization` metadata, and a deadline when given: what every
/// internal call (and test) sends. A token that is not valid ASCII is left out, so the callee answers
/// UNAUTHENTICATED rather than this side failing silently.
pub fn with_bearer<T>(msg: T, token: &str, deadline: Option<Duration>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    match MetadataValue::try_from(format!("Bearer {token}")) {
        Ok(v) => {
            req.metadata_mut().insert("authorization", v);
        }
        Err(_) => tracing::error!("token is not valid ASCII; sending the call without it"),
    }
    if let Some(d) = deadline {
        req.set_timeout(d);
    }
    req
}
