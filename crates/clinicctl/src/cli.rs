use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "clinicctl",
    version,
    about = "Operate and measure the clinic services over gRPC"
)]
pub struct Cli {
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the services listen.
#[derive(Debug, Clone, Args)]
pub struct Endpoints {
    #[arg(
        long,
        env = "CLINIC_REGISTRATION_URL",
        default_value = "http://127.0.0.1:50051",
        global = true
    )]
    pub registration: String,
    #[arg(
        long,
        env = "CLINIC_APPOINTMENT_URL",
        default_value = "http://127.0.0.1:50052",
        global = true
    )]
    pub appointment: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load generator: one scenario at fixed concurrency, warm-up, then throughput, latency
    /// percentiles and errors by `ErrorInfo.reason`. Expects the data `bench/seed.sql` loads.
    Bench(crate::bench::BenchArgs),
}
