use clap::{Args, Parser, Subcommand};

use crate::commands::{appointment, login, notifier, race, registration};

#[derive(Debug, Parser)]
#[command(
    name = "clinicctl",
    version,
    about = "Operate and measure the clinic services over gRPC",
    after_help = "Sign in once with `clinicctl login --email E`; the token is cached (mode 0600) for the \
                  other commands. Times are RFC 3339, e.g. 2026-12-01T09:30:00Z."
)]
pub struct Cli {
    #[command(flatten)]
    pub endpoints: Endpoints,
    #[command(flatten)]
    pub session: Session,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the services listen (the ports `deploy/local/cluster.sh` uses).
#[derive(Debug, Clone, Args)]
pub struct Endpoints {
    #[arg(
        long,
        env = "CLINIC_REGISTRATION_URL",
        default_value = "https://127.0.0.1:50051",
        global = true,
        help_heading = "Global options"
    )]
    pub registration: String,
    #[arg(
        long,
        env = "CLINIC_APPOINTMENT_URL",
        default_value = "https://127.0.0.1:50052",
        global = true,
        help_heading = "Global options"
    )]
    pub appointment: String,
    #[arg(
        long,
        env = "CLINIC_NOTIFIER_URL",
        default_value = "https://127.0.0.1:50053",
        global = true,
        help_heading = "Global options"
    )]
    pub notifier: String,
    /// PEM certificate of the CA that signs the services' certificates (deploy/local/cluster.sh
    /// prints where its dev CA is). Needed for https:// URLs; http:// ones are plaintext.
    #[arg(
        long,
        env = "CLINIC_CA_FILE",
        global = true,
        help_heading = "Global options"
    )]
    pub ca_file: Option<std::path::PathBuf>,
}

/// Who calls and how answers are shown.
#[derive(Debug, Clone, Args)]
pub struct Session {
    /// Access token to send instead of the cached one from `clinicctl login`.
    #[arg(
        long,
        env = "CLINIC_TOKEN",
        hide_env_values = true,
        global = true,
        help_heading = "Global options"
    )]
    pub token: Option<String>,
    /// Print responses (and errors, on stderr) as JSON instead of tables.
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in and cache the access token (file mode 0600).
    Login(login::LoginArgs),
    /// Delete the cached access token.
    Logout,
    /// Registration requests, decisions, activation and patients (registration-service).
    #[command(subcommand)]
    Registration(registration::RegistrationCommand),
    /// Clinic catalog, predefined appointments and reservations (appointment-service).
    #[command(subcommand)]
    Appointment(appointment::AppointmentCommand),
    /// E-mail deliveries (notifier-service).
    #[command(subcommand)]
    Notifier(notifier::NotifierCommand),
    /// Demo data, idempotent: a clinic with its admin, doctors, rooms, exam types, a week of
    /// appointments and active patients; prints what was created or already there.
    Seed(crate::commands::seed::SeedArgs),
    /// Reproduce a race against the running cluster: one round of N concurrent actors on a fresh
    /// target, who won, what each loser was told, how many e-mails went out. Exit code 0 only for
    /// exactly one winner and exactly one e-mail.
    #[command(subcommand)]
    Race(race::RaceCommand),
    /// Load generator: one scenario at fixed concurrency, warm-up, then throughput, latency
    /// percentiles and errors by `ErrorInfo.reason`. Expects the data `bench/seed.sql` loads.
    Bench(crate::bench::BenchArgs),
}
