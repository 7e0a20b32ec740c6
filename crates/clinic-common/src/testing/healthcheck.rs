//! Runs a service binary's `healthcheck` subcommand the way a container runtime does.

use std::{
    net::{SocketAddr, TcpListener},
    process::{Command, Output},
};

/// `<bin> healthcheck --addr <addr> --plaintext` (the in-process test servers speak plaintext), with
/// a LISTEN_ADDR that must lose to `--addr`.
pub fn run_healthcheck(bin: &str, addr: SocketAddr) -> Output {
    run_healthcheck_with(bin, addr, &[("PLAINTEXT", "true")])
}

/// `<bin> healthcheck --addr <addr>` with `env` (e.g. the service's TLS files) added.
pub fn run_healthcheck_with(bin: &str, addr: SocketAddr, env: &[(&str, &str)]) -> Output {
    Command::new(bin)
        .args([
            "healthcheck",
            "--addr",
            &addr.to_string(),
            "--timeout-ms",
            "3000",
        ])
        .env("LISTEN_ADDR", "127.0.0.1:9")
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the healthcheck subcommand")
}

/// A loopback address nothing listens on (bound, then released).
pub fn closed_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free loopback port")
}

/// The check passes against `addr`, and fails against a closed port, saying which address.
pub fn assert_healthcheck_passes_then_fails_on_closed_port(bin: &str, addr: SocketAddr) {
    let ok = run_healthcheck(bin, addr);
    assert!(
        ok.status.success(),
        "healthcheck against a serving server failed: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let closed = closed_port();
    let failed = run_healthcheck(bin, closed);
    assert!(
        !failed.status.success(),
        "healthcheck of a closed port passed"
    );
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains(&closed.to_string()), "{stderr}");
}
