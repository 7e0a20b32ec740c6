//! The `healthcheck` subcommand every service binary has: one `grpc.health.v1.Health/Check` against
//! the service's own port, for container healthchecks (compose) where no grpc probe exists. It
//! succeeds only on SERVING, within a short timeout, and prints no configuration (no secrets).

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use tonic::transport::Endpoint;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// What to check. The address defaults to the service's own `LISTEN_ADDR`, which each service
/// reads itself (its default port differs), so one environment drives `serve` and `healthcheck`.
#[derive(clap::Args, Debug, Clone)]
pub struct HealthcheckArgs {
    /// Address to check instead of LISTEN_ADDR (an unspecified IP such as 0.0.0.0 means loopback).
    #[arg(long)]
    pub addr: Option<SocketAddr>,
    /// Service to ask about; empty means the whole server.
    #[arg(long, default_value = "")]
    pub service: String,
    /// Longest the whole check may take.
    #[arg(long, default_value_t = 3000)]
    pub timeout_ms: u64,
    /// The server's TLS setting (the same environment as `serve`): the check speaks TLS when the
    /// server does, and expects the certificate to name the service.
    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

impl HealthcheckArgs {
    /// What the subcommand does: the check, one line on stderr when it fails (no backtrace), and the
    /// process's exit code (0 only on SERVING).
    pub async fn exit_code(&self, listen_addr: SocketAddr, server_name: &str) -> i32 {
        match self.run(listen_addr, server_name).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("unhealthy: {e:#}");
                1
            }
        }
    }

    /// Checks `--addr`, else `listen_addr`, whose certificate (with TLS on) must name
    /// `server_name`; Ok only when the server answers SERVING in time.
    pub async fn run(&self, listen_addr: SocketAddr, server_name: &str) -> anyhow::Result<()> {
        let addr = dialable(self.addr.unwrap_or(listen_addr));
        let timeout = Duration::from_millis(self.timeout_ms);
        let tls = self.tls.load()?;
        let endpoint =
            Endpoint::from_shared(format!("{}://{addr}", tls.scheme()))?.connect_timeout(timeout);
        let endpoint = match tls.client_config(server_name) {
            Some(config) => endpoint.tls_config(config)?,
            None => endpoint,
        };
        let status = tokio::time::timeout(timeout, check(endpoint, addr, &self.service))
            .await
            .map_err(|_| anyhow::anyhow!("{addr}: no answer within {timeout:?}"))??;
        anyhow::ensure!(
            status == ServingStatus::Serving,
            "{addr}: {}",
            status.as_str_name()
        );
        Ok(())
    }
}

/// A listener bound to 0.0.0.0 or [::] is reached on the loopback address of the same family.
fn dialable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}

async fn check(
    endpoint: Endpoint,
    addr: SocketAddr,
    service: &str,
) -> anyhow::Result<ServingStatus> {
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("{addr}: cannot connect")))?;
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .map_err(|s| anyhow::anyhow!("{addr}: {:?}: {}", s.code(), s.message()))?;
    Ok(response.into_inner().status())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_checked_on_loopback() {
        assert_eq!(
            dialable("0.0.0.0:50051".parse().unwrap()),
            "127.0.0.1:50051".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            dialable("[::]:50052".parse().unwrap()),
            "[::1]:50052".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(
            dialable("10.1.2.3:50053".parse().unwrap()),
            "10.1.2.3:50053".parse::<SocketAddr>().unwrap()
        );
    }
}
