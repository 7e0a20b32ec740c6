//! The one call appointment-service makes to registration-service: is this patient active?
//! Made before any row lock is taken, with a deadline and the service's own token.
//!
//! Positive answers are remembered for [`ACTIVE_FOR`]. Why that is safe: an account only ever goes
//! from awaiting activation to active (nothing deactivates one), and a patient token is only issued
//! by `Login` to an active account, so a remembered "active" cannot be wrong today; the bound limits
//! how stale it could be if deactivation is ever added. Negative answers and failures are never
//! remembered. Why remember at all: the hop was a network round trip on every reservation, for an
//! answer that does not change.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use clinic_common::auth::{ServiceToken, with_bearer};
use clinic_common::client::BalancedChannel;
use clinic_proto::pb::registration::v1::{
    self as pb, GetPatientRequest, registration_service_client::RegistrationServiceClient,
};
use secrecy::ExposeSecret;
use tonic::Code;
use uuid::Uuid;

use crate::error::AppointmentError;

/// How long a patient seen active is taken to still be active.
pub const ACTIVE_FOR: Duration = Duration::from_secs(300);
/// Patients remembered at most; when full, the memory starts over.
const MAX_REMEMBERED: usize = 100_000;

#[derive(Clone)]
pub struct RegistrationClient {
    client: RegistrationServiceClient<BalancedChannel>,
    token: ServiceToken,
    deadline: Duration,
    /// Patient id → when registration-service last said it is active.
    active: Arc<Mutex<HashMap<Uuid, Instant>>>,
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
    pub fn new(
        url: &str,
        token: ServiceToken,
        deadline: Duration,
        tls: &clinic_common::tls::Tls,
    ) -> anyhow::Result<Self> {
        let channel = clinic_common::client::internal_channel(url, deadline, tls)?;
        Ok(Self {
            client: RegistrationServiceClient::new(channel),
            token,
            deadline,
            active: Arc::default(),
        })
    }

    fn known_active(&self, patient_id: Uuid) -> bool {
        let active = self.active.lock().expect("active-patient memory poisoned");
        active
            .get(&patient_id)
            .is_some_and(|seen| seen.elapsed() < ACTIVE_FOR)
    }

    fn remember_active(&self, patient_id: Uuid) {
        let mut active = self.active.lock().expect("active-patient memory poisoned");
        if active.len() >= MAX_REMEMBERED {
            active.clear();
        }
        active.insert(patient_id, Instant::now());
    }

    /// Ok when the patient exists and is active; ACCOUNT_NOT_ACTIVE when inactive or unknown;
    /// UNAVAILABLE when registration-service cannot answer in time.
    pub async fn ensure_active(&self, patient_id: Uuid) -> Result<(), AppointmentError> {
        if self.known_active(patient_id) {
            return Ok(());
        }
        self.ask(patient_id).await?;
        self.remember_active(patient_id);
        Ok(())
    }

    /// Asks registration-service, every time.
    #[tracing::instrument(skip_all, fields(patient_id = %patient_id), err(level = "info"))]
    pub async fn ask(&self, patient_id: Uuid) -> Result<(), AppointmentError> {
        let req = with_bearer(
            GetPatientRequest {
                patient_id: patient_id.to_string(),
            },
            self.token.current().expose_secret(),
            Some(self.deadline),
        );
        match self.client.clone().get_patient(req).await {
            Ok(resp) if resp.get_ref().status == pb::AccountStatus::Active as i32 => Ok(()),
            Ok(_) => Err(AppointmentError::AccountNotActive),
            Err(s) if s.code() == Code::NotFound => Err(AppointmentError::AccountNotActive),
            Err(s) if clinic_common::client::is_unreachable(&s) => {
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
