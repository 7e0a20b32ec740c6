//! gRPC server bootstrap shared by every service: health, reflection (v1 and v1alpha), the RPC span and
//! auth layers, and graceful shutdown (cancel → NOT_SERVING → drain with a deadline → return).

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::{service::Routes, transport::server::TcpIncoming};
use tonic_health::ServingStatus;

use crate::{auth::AuthLayer, telemetry::RpcSpanLayer, tls::Tls};

/// What every server hosts besides its own services.
const INFRASTRUCTURE_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Largest request health and reflection accept (theirs are a service name or a file name).
pub const INFRASTRUCTURE_MAX_MESSAGE_BYTES: usize = 16 * 1024;
/// Longest any call may run: above the outbox feed's longest long-poll (30 s), far below "for ever".
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Calls one connection may have in flight; more wait for a free slot.
pub const CONCURRENCY_PER_CONNECTION: usize = 256;

/// Bounds every call and every connection.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// Longest any call may run; past it the call ends `CANCELLED` ("Timeout expired").
    pub request_timeout: Duration,
    /// Calls one connection may have in flight; more wait for a free slot.
    pub concurrency_per_connection: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            request_timeout: REQUEST_TIMEOUT,
            concurrency_per_connection: CONCURRENCY_PER_CONNECTION,
        }
    }
}

pub struct ServeOptions {
    /// Fully qualified names of the gRPC services this server hosts, reported by health.
    pub services: Vec<&'static str>,
    /// Longest wait for in-flight calls once shutdown starts.
    pub drain_deadline: Duration,
    /// TLS, or plaintext when explicitly asked for.
    pub tls: Tls,
    pub limits: ServerLimits,
}

/// Serves `routes` plus health and reflection on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    routes: Routes,
    auth: AuthLayer,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let (reporter, health) = tonic_health::server::health_reporter();
    for name in options.services.iter().copied().chain([""]) {
        reporter
            .set_service_status(name, ServingStatus::Serving)
            .await;
    }
    // Reflection lists what this server hosts, not every service in the descriptor set.
    let reflection = || {
        options
            .services
            .iter()
            .copied()
            .chain(INFRASTRUCTURE_SERVICES.iter().copied())
            .fold(
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(clinic_proto::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET),
                |builder, name| builder.with_service_name(name),
            )
    };
    let routes = routes
        .add_service(health.max_decoding_message_size(INFRASTRUCTURE_MAX_MESSAGE_BYTES))
        .add_service(
            reflection()
                .build_v1()?
                .max_decoding_message_size(INFRASTRUCTURE_MAX_MESSAGE_BYTES),
        )
        .add_service(
            reflection()
                .build_v1alpha()?
                .max_decoding_message_size(INFRASTRUCTURE_MAX_MESSAGE_BYTES),
        );

    let stop = {
        let shutdown = shutdown.clone();
        let services = options.services.clone();
        async move {
            shutdown.cancelled().await;
            // Tell load balancers first, then stop accepting and drain.
            for name in services.into_iter().chain([""]) {
                reporter
                    .set_service_status(name, ServingStatus::NotServing)
                    .await;
            }
            tracing::info!("shutting down: NOT_SERVING, draining in-flight calls");
        }
    };
    // `Server::tcp_nodelay` reaches only listeners tonic binds itself; ours is bound by the caller
    // (port 0 in tests), so the accepted sockets get TCP_NODELAY here. Without it every response
    // written in more than one segment waits on Nagle + delayed ACK (~40 ms).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let mut builder = tonic::transport::Server::builder();
    if let Some(config) = options.tls.server_config() {
        builder = builder.tls_config(config)?;
    }
    let auth = auth.bind_service_tokens_to_certificates(options.tls.is_on());
    let server = builder
        // The server pings too: a long-poll `Pull` answered into a silent link would otherwise hold
        // its leases until they expire; with keep-alive the connection is dropped and the call ends.
        .http2_keepalive_interval(Some(crate::client::KEEP_ALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(crate::client::KEEP_ALIVE_TIMEOUT))
        .timeout(options.limits.request_timeout)
        .concurrency_limit_per_connection(options.limits.concurrency_per_connection)
        .layer(tower::ServiceBuilder::new().layer(RpcSpanLayer).layer(auth))
        .add_routes(routes)
        .serve_with_incoming_shutdown(incoming, stop);
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(options.drain_deadline).await;
    };
    tokio::select! {
        res = server => res?,
        () = deadline => tracing::warn!("drain deadline passed; remaining calls dropped"),
    }
    Ok(())
}

/// Cancels `token` on SIGTERM or Ctrl-C.
pub fn cancel_on_signal(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutdown signal received");
        token.cancel();
    });
}
