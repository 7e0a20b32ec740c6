//! The `healthcheck` subcommand (container healthchecks) against a real server and a closed port.

use clinic_common::testing::assert_healthcheck_passes_then_fails_on_closed_port;

use crate::helpers::spawn_cluster;

// The binary runs as a blocking child process; the server needs other worker threads meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_zero_on_serving_and_non_zero_on_a_closed_port() {
    let cluster = spawn_cluster().await;
    assert_healthcheck_passes_then_fails_on_closed_port(
        env!("CARGO_BIN_EXE_appointment-service"),
        cluster.appointment.addr,
    );
}
