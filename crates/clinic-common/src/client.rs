//! Channels for calls between services.

mod balanced;

use std::time::Duration;

use tonic::transport::Endpoint;

use crate::tls::Tls;

pub use balanced::{BalancedChannel, DOWN_FOR, REFRESH_EVERY, Resolver};

/// HTTP/2 PING interval on internal channels; a peer that does not answer within
/// [`KEEP_ALIVE_TIMEOUT`] is dropped and the next call connects afresh, so a half-open connection
/// (peer gone without a FIN, a black-holing middlebox) heals by itself.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// A lazily connected channel to another service, balanced per call over every address its name
/// resolves to (a headless Service's pods; see [`BalancedChannel`]): no Nagle delay, bounded connect,
/// HTTP/2 keep-alive also while idle, and `deadline` on every call.
pub fn internal_channel(
    url: &str,
    deadline: Duration,
    tls: &Tls,
) -> anyhow::Result<BalancedChannel> {
    internal_channel_with(url, tls, move |endpoint| {
        endpoint.connect_timeout(deadline).timeout(deadline)
    })
}

/// [`internal_channel`] with the settings `configure` makes on top of the defaults (a long-poll
/// channel has no per-call deadline of its own, and its own keep-alive).
pub fn internal_channel_with(
    url: &str,
    tls: &Tls,
    configure: impl Fn(Endpoint) -> Endpoint + Send + Sync + 'static,
) -> anyhow::Result<BalancedChannel> {
    tls.check_url(url)?;
    let uri: http::Uri = url.parse()?;
    let host = uri
        .host()
        .ok_or_else(|| anyhow::anyhow!("{url}: no host"))?
        .trim_matches(['[', ']']);
    // The certificate must name the host in the URL, whichever of its addresses a call goes to.
    let tls_config = tls.client_config(host);
    BalancedChannel::new(url, move |endpoint| {
        let endpoint = configure(
            endpoint
                .tcp_nodelay(true)
                .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
                .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
                .keep_alive_while_idle(true),
        );
        match &tls_config {
            Some(config) => endpoint
                .tls_config(config.clone())
                .expect("TLS config validated when loaded (TlsArgs::load)"),
            None => endpoint,
        }
    })
}

/// Whether a failed call's status means "the other service could not be reached or did not
/// answer in time", as opposed to an answer. A transport failure surfaces as `Unknown`; an HTTP/2
/// stream or connection error (a stream reset, or caught by the GOAWAY of a replica shutting down)
/// as `INTERNAL` "h2 protocol error", which tonic's client makes itself — no service sent it.
pub fn is_unreachable(status: &tonic::Status) -> bool {
    match status.code() {
        tonic::Code::Unavailable
        | tonic::Code::DeadlineExceeded
        | tonic::Code::Cancelled
        | tonic::Code::Unknown => true,
        tonic::Code::Internal => status.message().starts_with(H2_ERROR_PREFIX),
        _ => false,
    }
}

/// How tonic's client words a status it made from an HTTP/2 error.
pub const H2_ERROR_PREFIX: &str = "h2 protocol error";
