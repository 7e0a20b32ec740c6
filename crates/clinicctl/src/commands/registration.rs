//! `clinicctl registration …`: clinic.registration.v1.RegistrationService.

use clap::{Args, Subcommand, ValueEnum};
use clinic_proto::pb::registration::v1::{
    ActivateAccountRequest, ApproveRegistrationRequestRequest, GetPatientRequest,
    GetRegistrationRequestRequest, ListRegistrationRequestsRequest, RegistrationStatus,
    RejectRegistrationRequestRequest, SubmitRegistrationRequest,
};

use super::{Ctx, Page, login::read_password};

pub const REQUEST_COLUMNS: &[&str] = &[
    "id",
    "email",
    "first_name",
    "last_name",
    "status",
    "version",
    "created_at",
    "decided_at",
];

#[derive(Debug, Subcommand)]
pub enum RegistrationCommand {
    /// Public. A patient asks to be registered; the request waits for a clinic-center admin.
    /// The password is prompted for (or read from stdin with --password-stdin).
    Submit(SubmitArgs),
    /// Clinic-center admin. One registration request.
    Get {
        /// Registration request id.
        id: String,
    },
    /// Clinic-center admin. Registration requests, oldest first.
    List {
        /// Only requests in this state.
        #[arg(long, value_enum)]
        status: Option<Status>,
        #[command(flatten)]
        page: Page,
    },
    /// Clinic-center admin. Approves if the request is still PENDING at the version you saw
    /// (compare-and-swap); the patient gets the activation e-mail.
    Approve {
        /// Registration request id.
        id: String,
        /// The version you saw (`registration get`); a newer one answers VERSION_MISMATCH.
        #[arg(long)]
        expected_version: i64,
    },
    /// Clinic-center admin. Rejects if the request is still PENDING at the version you saw.
    Reject {
        /// Registration request id.
        id: String,
        /// The version you saw (`registration get`).
        #[arg(long)]
        expected_version: i64,
        /// Why, 1..=1000 characters; kept for audit and sent to the patient.
        #[arg(long)]
        reason: String,
    },
    /// Public. Activates an account with the single-use token from the approval e-mail.
    Activate {
        /// The `token=` value of the link in the e-mail.
        #[arg(value_name = "ACTIVATION_TOKEN")]
        activation_token: String,
    },
    /// Service, admins, or the patient themself. A patient's account.
    Patient {
        /// Patient (account) id.
        patient_id: String,
    },
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub first_name: String,
    #[arg(long)]
    pub last_name: String,
    #[arg(long)]
    pub address: String,
    #[arg(long)]
    pub city: String,
    #[arg(long)]
    pub country: String,
    #[arg(long)]
    pub phone: String,
    #[arg(long)]
    pub insurance_number: String,
    /// Idempotency key: a retry with the same key and e-mail returns the first result.
    #[arg(long)]
    pub request_id: Option<String>,
    /// Read the password from the first line of stdin instead of prompting on the terminal.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    Pending,
    Approved,
    Rejected,
}

impl From<Status> for RegistrationStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Pending => RegistrationStatus::Pending,
            Status::Approved => RegistrationStatus::Approved,
            Status::Rejected => RegistrationStatus::Rejected,
        }
    }
}

/// Builds the request first (a missing token fails before any connection), then connects and calls.
pub async fn run(ctx: &Ctx, command: RegistrationCommand) -> anyhow::Result<()> {
    let out = ctx.out;
    match command {
        RegistrationCommand::Submit(a) => {
            let password = read_password(a.password_stdin, "Patient's password: ")?;
            let req = SubmitRegistrationRequest {
                email: a.email,
                password,
                first_name: a.first_name,
                last_name: a.last_name,
                address: a.address,
                city: a.city,
                country: a.country,
                phone: a.phone,
                insurance_number: a.insurance_number,
                request_id: a.request_id,
            };
            // Public: sent without a token, as the patient would.
            out.one(
                &ctx.registration()
                    .await?
                    .submit_registration(req)
                    .await?
                    .into_inner(),
            )?;
        }
        RegistrationCommand::Get { id } => {
            let req = ctx.signed(GetRegistrationRequestRequest { id })?;
            out.one(
                &ctx.registration()
                    .await?
                    .get_registration_request(req)
                    .await?
                    .into_inner(),
            )?;
        }
        RegistrationCommand::List { status, page } => {
            let req = ctx.signed(ListRegistrationRequestsRequest {
                status: status.map(|s| RegistrationStatus::from(s) as i32),
                page_size: page.page_size,
                page_token: page.page_token,
            })?;
            let resp = ctx
                .registration()
                .await?
                .list_registration_requests(req)
                .await?
                .into_inner();
            out.list(&resp, "requests", REQUEST_COLUMNS)?;
        }
        RegistrationCommand::Approve {
            id,
            expected_version,
        } => {
            let req = ctx.signed(ApproveRegistrationRequestRequest {
                id,
                expected_version: Some(expected_version),
            })?;
            out.one(
                &ctx.registration()
                    .await?
                    .approve_registration_request(req)
                    .await?
                    .into_inner(),
            )?;
        }
        RegistrationCommand::Reject {
            id,
            expected_version,
            reason,
        } => {
            let req = ctx.signed(RejectRegistrationRequestRequest {
                id,
                expected_version: Some(expected_version),
                reason,
            })?;
            out.one(
                &ctx.registration()
                    .await?
                    .reject_registration_request(req)
                    .await?
                    .into_inner(),
            )?;
        }
        RegistrationCommand::Activate { activation_token } => {
            let req = ActivateAccountRequest {
                token: activation_token,
            };
            out.one(
                &ctx.registration()
                    .await?
                    .activate_account(req)
                    .await?
                    .into_inner(),
            )?;
        }
        RegistrationCommand::Patient { patient_id } => {
            let req = ctx.signed(GetPatientRequest { patient_id })?;
            out.one(
                &ctx.registration()
                    .await?
                    .get_patient(req)
                    .await?
                    .into_inner(),
            )?;
        }
    }
    Ok(())
}
