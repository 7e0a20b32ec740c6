//! The one call appointment-service makes to registration-service: is this patient active?
//! Made before any row lock is taken, with a deadline and the service's own token.

use std::time::Duration;

use clinic_common::auth::with_bearer;
use clinic_proto::pb::registration::v1::{
    self as pb, GetPatientRequest, registration_service_client::RegistrationServiceClient,
};
use secrecy::{ExposeSecret, SecretString};
use tonic::{Code, transport::Channel};
use uuid::Uuid;

use crate::error::AppointmentError;

#[derive(Clone)]
pub struct RegistrationClient {
    client: RegistrationServiceClient<Channel>,
    token: SecretString,
    deadline: Duration,
}

impl std::fmt::Debug for RegistrationClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrationClient")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl RegistrationClient {
    /// Connects lazily: appointment-service starts even while registration-service is down.
    pub fn new(url: &str, token: SecretString, deadline: Duration) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(url.to_owned())?
            .connect_timeout(deadline)
            .timeout(deadline)
            .tcp_nodelay(true)
            .connect_lazy();
        Ok(Self {
            client: RegistrationServiceClient::new(channel),
            token,
            deadline,
        })
    }

    /// Ok when the patient exists and is active; ACCOUNT_NOT_ACTIVE when inactive or unknown;
    /// UNAVAILABLE when registration-service cannot answer in time.
    #[tracing::instrument(skip_all, fields(patient_id = %patient_id), err(level = "info"))]
    pub async fn ensure_active(&self, patient_id: Uuid) -> Result<(), AppointmentError> {
        let req = with_bearer(
            GetPatientRequest {
                patient_id: patient_id.to_string(),
            },
            self.token.expose_secret(),
            Some(self.deadline),
        );
        match self.client.clone().get_patient(req).await {
            Ok(resp) if resp.get_ref().status == pb::AccountStatus::Active as i32 => Ok(()),
            Ok(_) => Err(AppointmentError::AccountNotActive),
            Err(s) if s.code() == Code::NotFound => Err(AppointmentError::AccountNotActive),
            Err(s)
                if matches!(
                    s.code(),
                    Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled
                ) =>
            {
                tracing::warn!(code = ?s.code(), "registration-service unavailable");
                Err(AppointmentError::DependencyUnavailable(
                    "registration-service",
                ))
            }
            Err(s) => Err(anyhow::anyhow!(
                "registration-service GetPatient: {:?} {}",
                s.code(),
                s.message()
            )
            .into()),
        }
    }
}
