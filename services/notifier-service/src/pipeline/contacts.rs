//! Patient contact details from registration-service, for events that carry only a patient id.

use std::time::Duration;

use clinic_common::auth::{ServiceToken, with_bearer};
use clinic_common::client::BalancedChannel;
use clinic_proto::pb::registration::v1::{
    GetPatientRequest, registration_service_client::RegistrationServiceClient,
};
use secrecy::ExposeSecret;
use tonic::Code;
use uuid::Uuid;

use crate::mail::Contact;

#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    /// Will not heal by retrying (the patient does not exist).
    #[error("patient {0} not found")]
    Unknown(Uuid),
    #[error("registration-service: {0}")]
    Unavailable(String),
}

#[derive(Clone)]
pub struct Contacts {
    client: RegistrationServiceClient<BalancedChannel>,
    token: ServiceToken,
    deadline: Duration,
}

impl Contacts {
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
        })
    }

    #[tracing::instrument(skip_all, fields(patient_id = %patient_id), err)]
    pub async fn patient(&self, patient_id: Uuid) -> Result<Contact, ContactError> {
        let req = with_bearer(
            GetPatientRequest {
                patient_id: patient_id.to_string(),
            },
            self.token.current().expose_secret(),
            Some(self.deadline),
        );
        match self.client.clone().get_patient(req).await {
            Ok(p) => {
                let p = p.into_inner();
                Ok(Contact {
                    email: p.email,
                    first_name: p.first_name,
                    last_name: p.last_name,
                })
            }
            Err(s) if s.code() == Code::NotFound => Err(ContactError::Unknown(patient_id)),
            Err(s) => Err(ContactError::Unavailable(format!(
                "{:?}: {}",
                s.code(),
                s.message()
            ))),
        }
    }
}
