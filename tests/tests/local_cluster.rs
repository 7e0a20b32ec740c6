//! The README's first command, `deploy/local/cluster.sh`, as a newcomer meets it: it comes up on a
//! machine with only PostgreSQL's binaries (a throwaway cluster of its own), prints the two
//! `clinicctl race …` lines, each of which — pasted as printed — shows exactly one winner and exactly
//! one e-mail; the e-mail shows up in its output; Ctrl-C leaves no process and no port behind.

use std::time::Duration;

use serde_json::Value;
use system_tests::local_cluster::LocalCluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_cluster_shows_both_races_and_ctrl_c_leaves_nothing_running() {
    // Arrange: the cluster as the README starts it.
    let mut cluster = LocalCluster::start(Duration::from_secs(240))
        .await
        .expect("cluster.sh comes up");
    let races = cluster.printed_starting(&format!(
        "{}/clinicctl race ",
        system_tests::cluster::bin_dir().display()
    ));
    assert_eq!(races.len(), 2, "two race lines; {}", cluster.describe());

    // Act: each race line as printed (with --json, to read the outcome).
    for race in &races {
        let (status, out) = cluster
            .run_printed(&format!("{race} --json"))
            .await
            .expect("race runs");

        // Assert: exit 0, one winner, one e-mail.
        let report: Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("{race}: not a JSON report ({e}): {out}"));
        assert!(status.success(), "{race}: {status}; {report:#}");
        assert_eq!(report["passed"], true, "{race}: {report:#}");
        assert_eq!(
            report["winners"].as_array().map(Vec::len),
            Some(1),
            "{report:#}"
        );
        assert_eq!(
            report["emails"].as_array().map(Vec::len),
            Some(1),
            "{report:#}"
        );
    }
    // The appointment race's confirmation is printed by the script's e-mail watcher.
    cluster
        .read_until(
            |l| l.starts_with("e-mail") && l.contains("Appointment confirmed"),
            Duration::from_secs(10),
        )
        .await
        .expect("the reservation e-mail is printed");

    // Act: Ctrl-C.
    let status = cluster
        .interrupt(Duration::from_secs(60))
        .await
        .expect("cluster.sh stops");

    // Assert: it stopped everything it started before it exited.
    assert!(
        status.code().is_some(),
        "cluster.sh was killed rather than exiting: {status}"
    );
    assert_eq!(
        cluster.leftovers(),
        Vec::<String>::new(),
        "{}",
        cluster.describe()
    );
    assert_eq!(
        cluster.ports_in_use().await,
        Vec::new(),
        "{}",
        cluster.describe()
    );
}
