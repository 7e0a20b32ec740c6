use std::time::Duration;

use tonic::metadata::MetadataValue;

/// A request carrying `token` in the `authorization` metadata, the current span's W3C `traceparent`
/// (so the callee's spans join the caller's trace), and a deadline when given: what every internal
/// call (and test) sends. A token that is not valid ASCII is left out, so the callee answers
/// UNAUTHENTICATED rather than this side failing silently.
pub fn with_bearer<T>(msg: T, token: &str, deadline: Option<Duration>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(v) =
        crate::telemetry::current_traceparent().and_then(|tp| MetadataValue::try_from(tp).ok())
    {
        req.metadata_mut().insert("traceparent", v);
    }
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

#[cfg(test)]
mod tests {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn an_internal_call_carries_the_current_trace_and_none_outside_one() {
        let untraced = with_bearer((), "t", None);
        assert!(untraced.metadata().get("traceparent").is_none());

        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let _guard = tracing::subscriber::set_default(subscriber);
        let span = tracing::info_span!("caller");
        let _entered = span.enter();

        let req = with_bearer((), "t", None);

        let sent = req.metadata().get("traceparent").expect("a traceparent");
        assert_eq!(
            sent.to_str().unwrap(),
            crate::telemetry::current_traceparent().unwrap()
        );
        assert_eq!(req.metadata().get("authorization").unwrap(), "Bearer t");
    }
}
