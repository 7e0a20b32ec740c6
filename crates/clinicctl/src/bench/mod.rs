//! The load generator. Every scenario runs at a fixed concurrency (closed loop: each worker sends its
//! next call when the previous one answered), discards a warm-up, then reports throughput, latency
//! percentiles from a histogram, and errors by `ErrorInfo.reason`. Race scenarios also check their
//! invariant (exactly one winner per raced appointment or request, confirmed by reading it back) and
//! the exit code fails when it breaks or when an unexpected error was seen.

mod cpu;
mod decide;
mod fixtures;
mod listing;
pub(crate) mod race;
mod recorder;
mod report;
mod reserve;

use std::{process::ExitCode, time::Duration};

use clap::{Args, ValueEnum};

pub use recorder::{Recorder, Timing};
pub use report::Report;

use crate::cli::Endpoints;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// Each worker is one patient reserving appointments nobody else wants.
    ReserveDistinct,
    /// Rounds: every worker (one patient each) reserves the same appointment at once; one wins.
    ReserveHot,
    /// Rounds: every worker (an admin) approves or rejects the same pending request at once.
    DecideRace,
    /// Each worker approves its own pending requests.
    ApproveThroughput,
    /// ListAvailableAppointments pages with random filters while reservations run.
    ListAvailable,
    /// 70 % listing, 30 % reserving, per worker.
    Mixed,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    #[arg(value_enum)]
    pub scenario: Scenario,
    /// Concurrent workers (for race scenarios: actors per round). Defaults: reserve-hot 64, others 16.
    #[arg(long, short = 'c')]
    pub concurrency: Option<usize>,
    /// Seconds run before measuring starts.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Seconds measured.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Race scenarios stop after this many rounds even if time is left.
    #[arg(long, default_value_t = 100_000)]
    pub max_rounds: usize,
    /// E-mail of the seeded clinic-center admin.
    #[arg(
        long,
        env = "BENCH_ADMIN_EMAIL",
        default_value = "bench-admin@bench.local"
    )]
    pub admin_email: String,
    /// Seeded patients are `bench-patient-<n>@bench.local`, n from 1.
    #[arg(
        long,
        env = "BENCH_PATIENT_EMAIL_PREFIX",
        default_value = "bench-patient-"
    )]
    pub patient_email_prefix: String,
    /// Password of every seeded bench account (synthetic accounts only).
    #[arg(long, env = "BENCH_PASSWORD", default_value = "bench password 1")]
    pub password: String,
    /// Background reservers while `list-available` runs.
    #[arg(long, default_value_t = 4)]
    pub background_reservers: usize,
    /// Also report the CPU time of these processes in the measured window (`name=pid`, repeatable).
    #[arg(long, value_name = "NAME=PID")]
    pub cpu_of: Vec<String>,
    /// The CPU watcher of the window `timing()` handed out.
    #[arg(skip)]
    cpu: std::sync::Arc<std::sync::Mutex<Option<tokio::task::JoinHandle<cpu::CpuUsage>>>>,
}

impl BenchArgs {
    pub fn concurrency(&self) -> usize {
        self.concurrency.unwrap_or(match self.scenario {
            Scenario::ReserveHot => 64,
            _ => 16,
        })
    }

    /// The scenario's window (call once setup is done); CPU is watched over its measured part.
    pub fn timing(&self) -> Timing {
        let timing = Timing::starting_now(
            Duration::from_secs_f64(self.warmup),
            Duration::from_secs_f64(self.duration),
        );
        let watcher = tokio::spawn(cpu::watch(timing, self.cpu_of.clone()));
        *self.cpu.lock().expect("cpu watcher slot") = Some(watcher);
        timing
    }

    pub fn patient_email(&self, n: usize) -> String {
        format!("{}{n}@bench.local", self.patient_email_prefix)
    }
}

/// `json`: print the report as JSON on stdout (the global `--json`).
pub async fn run(endpoints: &Endpoints, args: BenchArgs, json: bool) -> anyhow::Result<ExitCode> {
    let mut report = match args.scenario {
        Scenario::ReserveDistinct => reserve::distinct(endpoints, &args).await?,
        Scenario::ReserveHot => reserve::hot(endpoints, &args).await?,
        Scenario::DecideRace => decide::race(endpoints, &args).await?,
        Scenario::ApproveThroughput => decide::throughput(endpoints, &args).await?,
        Scenario::ListAvailable => listing::list_available(endpoints, &args).await?,
        Scenario::Mixed => listing::mixed(endpoints, &args).await?,
    };
    let watcher = args.cpu.lock().expect("cpu watcher slot").take();
    if let Some(w) = watcher {
        report.set_cpu(w.await?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
