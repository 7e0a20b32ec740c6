//! `clinicctl race registration|appointment`: the two races this system exists for (BRIEF §1),
//! reproduced against a running cluster. One barrier round of N actors on a fresh target, then an
//! outcome table — who won, what each loser was told, how many e-mails went out — and an exit code
//! that holds the rule: exactly one winner, exactly one e-mail.

pub(crate) mod accounts;
mod appointment;
mod mail;
mod registration;
mod report;

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::Ctx;
pub use report::{ActorOutcome, RaceReport};

#[derive(Debug, Subcommand)]
pub enum RaceCommand {
    /// Half the admins approve, half reject one fresh pending registration request, all at once.
    Registration(RegistrationRace),
    /// N active patients reserve one fresh predefined appointment, all at once.
    Appointment(AppointmentRace),
}

/// The clinic-center admin who submits, approves and reads deliveries.
#[derive(Debug, Clone, Args)]
pub struct CenterAdmin {
    /// Sign in as this clinic-center admin (default: the cached `clinicctl login` token).
    #[arg(long, env = "CLINIC_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of `--admin-email`.
    #[arg(long, env = "CLINIC_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
}

/// How long to wait for the e-mail, and for a late duplicate after it.
#[derive(Debug, Clone, Args)]
pub struct MailWait {
    /// Seconds to wait for the winner's e-mail to be SENT.
    #[arg(long, default_value_t = 30.0)]
    pub mail_timeout: f64,
    /// Seconds of quiet after it was sent, to catch a late duplicate.
    #[arg(long, default_value_t = 2.0)]
    pub quiet: f64,
}

#[derive(Debug, Args)]
pub struct RegistrationRace {
    /// Concurrent admins (half approve, half reject).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(2..=1000))]
    pub admins: u16,
    #[command(flatten)]
    pub admin: CenterAdmin,
    #[command(flatten)]
    pub mail: MailWait,
}

#[derive(Debug, Args)]
pub struct AppointmentRace {
    /// Concurrent patients, each its own account.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(2..=1000))]
    pub patients: u16,
    #[command(flatten)]
    pub admin: CenterAdmin,
    /// The clinic admin who publishes the raced appointment.
    #[arg(
        long,
        env = "CLINIC_CLINIC_ADMIN_EMAIL",
        default_value = "clinic.admin@clinic.local"
    )]
    pub clinic_admin_email: String,
    /// Password of `--clinic-admin-email` (default: `--admin-password`).
    #[arg(long, env = "CLINIC_CLINIC_ADMIN_PASSWORD", hide_env_values = true)]
    pub clinic_admin_password: Option<String>,
    /// Clinic of the raced appointment (default: the first clinic with a doctor, a room and an exam type).
    #[arg(long)]
    pub clinic_id: Option<String>,
    /// Race patients are `<prefix><n>@clinic.local`, n from 1; existing ones are reused.
    #[arg(long, default_value = "race-patient-")]
    pub patient_email_prefix: String,
    /// Password of the race patients (synthetic accounts only).
    #[arg(long, default_value = "race patient password 1")]
    pub patient_password: String,
    /// Where the notifier writes e-mail as .eml files (its EML_DIR): missing race patients are
    /// registered, approved and activated with the link from their approval e-mail.
    #[arg(long)]
    pub eml_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub mail: MailWait,
}

pub async fn run(ctx: &Ctx, cmd: RaceCommand) -> anyhow::Result<ExitCode> {
    let report = match cmd {
        RaceCommand::Registration(args) => registration::race(ctx, args).await?,
        RaceCommand::Appointment(args) => appointment::race(ctx, args).await?,
    };
    report.print(ctx.out.json)?;
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
