//! The chaos run: two replicas of every service as real processes, many clients approving,
//! rejecting, reserving, cancelling and retrying with the same request id, while processes are
//! SIGKILLed and SIGTERMed, PostgreSQL restarts, and the SMTP server goes down and slows. Then the
//! checker reads the database, both outboxes, the ledger and the SMTP log and lists broken guarantees.
//!
//! Bounded by default (part of `cargo test --workspace`); `CHAOS_SECS=1200` for the long run.

use std::{sync::Arc, time::Duration};

use system_tests::{
    checker::{State, check},
    clients::Clients,
    cluster::{Cluster, Kind},
    faults, seed,
    settle::settle,
    workload::{self, Log},
};
use tokio::{sync::Barrier, time::Instant};

const ADMINS: usize = 8;
const PATIENTS: usize = 12;
const APPLICANTS: usize = 2;
const CLAIM: Duration = Duration::from_secs(system_tests::cluster::CLAIM_SECONDS);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chaos_run_keeps_every_guarantee() {
    let secs: u64 = std::env::var("CHAOS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let mut cluster = Cluster::start("chaos", 2).await.expect("cluster");
    let clients = Clients::new(
        &cluster.ca_pem,
        &cluster.urls(Kind::Registration),
        &cluster.urls(Kind::Appointment),
    );
    let size = seed::SeedSize {
        admins: ADMINS,
        patients: PATIENTS,
        doctors: 2,
        appointments_per_doctor: 8,
    };
    let world = seed::seed(&cluster, &clients, &size).await.expect("seed");
    eprintln!(
        "chaos: seeded; running {secs} s of faults ({})",
        cluster.describe()
    );

    let log = Log::default();
    let until = Instant::now() + Duration::from_secs(secs);
    let mut actors = tokio::task::JoinSet::new();
    for _ in 0..APPLICANTS {
        actors.spawn(workload::applicant(
            Clients::new(&cluster.ca_pem, &cluster.urls(Kind::Registration), &[]),
            log.clone(),
            until,
        ));
    }
    let barrier = Arc::new(Barrier::new(ADMINS));
    let choice = Arc::default();
    for a in &world.admins {
        let c = Clients::new(
            &cluster.ca_pem,
            &cluster.urls(Kind::Registration),
            &cluster.urls(Kind::Appointment),
        );
        actors.spawn(workload::admin(
            c,
            log.clone(),
            a.clone(),
            barrier.clone(),
            Arc::clone(&choice),
            until,
        ));
    }
    for p in &world.patients {
        let c = Clients::new(
            &cluster.ca_pem,
            &cluster.urls(Kind::Registration),
            &cluster.urls(Kind::Appointment),
        );
        actors.spawn(workload::patient(
            c,
            log.clone(),
            p.clone(),
            world.appointments.clone(),
            until,
        ));
    }
    let faults = faults::inject(&mut cluster, until).await.expect("faults");
    let joined = tokio::time::timeout(Duration::from_secs(120), actors.join_all()).await;
    assert!(
        joined.is_ok(),
        "clients did not stop within 120 s of the deadline"
    );

    cluster
        .smtp
        .lock()
        .unwrap()
        .set_accept_delay(Duration::ZERO);
    cluster
        .restart_stopped()
        .await
        .expect("every service running again");
    let db = cluster.db().await.expect("database");
    let settling = Instant::now();
    settle(&cluster, &db, CLAIM + Duration::from_secs(120))
        .await
        .unwrap_or_else(|e| panic!("{e}; {}", cluster.describe()));

    eprintln!("chaos: settled {:.0?} after the faults", settling.elapsed());
    let state = State::read(&db).await.expect("read state");
    let mails = cluster.smtp.lock().unwrap().messages();
    let report = check(
        &state,
        &log.attempts(),
        &faults,
        &mails,
        time::Duration::try_from(CLAIM).expect("claim"),
    );
    eprintln!(
        "chaos: {} attempts, {} faults {:?}, {} events, {} e-mails, {} duplicates {:?}\noutcomes: {:#?}",
        report.attempts,
        faults.len(),
        report.faults,
        report.events,
        report.emails,
        report.duplicates,
        report.duplicates_by_fault,
        report.outcomes
    );
    for f in &faults {
        eprintln!(
            "fault {:?} {} {} .. {}",
            f.kind,
            f.target,
            f.from.time(),
            f.to.time()
        );
    }
    assert!(
        report.violations.is_empty(),
        "{} violations ({}):\n{}",
        report.violations.len(),
        cluster.describe(),
        report.violations.join("\n")
    );
}
