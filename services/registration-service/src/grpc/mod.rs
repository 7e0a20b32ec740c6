//! The transport: pb → domain, call the use case, domain → pb. No SQL here.

mod convert;
#[cfg(test)]
mod proptests;

use std::sync::Arc;

use clinic_common::{
    auth::identity,
    error::{FieldViolation, Violations},
    pagination,
};
use clinic_proto::pb::registration::v1 as pb;
use pb::registration_service_server::RegistrationService;
use tonic::{Request, Response, Status};

use crate::{
    domain::{Email, RejectionReason},
    error::RegistrationError,
    service::{self, AppState},
};
use convert::{expected_version, parse_id, record_to_pb, status_filter};

/// Largest request this service decodes; registration forms are tiny.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

pub struct RegistrationApi {
    state: Arc<AppState>,
}

impl RegistrationApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

fn admin_id<T>(req: &Request<T>) -> Result<uuid::Uuid, RegistrationError> {
    let who = identity(req).map_err(RegistrationError::Auth)?;
    who.account_id().ok_or(RegistrationError::Forbidden(
        "decisions are made by admin accounts",
    ))
}

#[tonic::async_trait]
impl RegistrationService for RegistrationApi {
    async fn submit_registration(
        &self,
        request: Request<pb::SubmitRegistrationRequest>,
    ) -> Result<Response<pb::RegistrationRequest>, Status> {
        self.state.limits.address(request.remote_addr())?;
        let new = convert::new_registration(request.into_inner())?;
        let record = service::submit::submit(&self.state, new).await?;
        Ok(Response::new(record_to_pb(record)))
    }

    async fn get_registration_request(
        &self,
        request: Request<pb::GetRegistrationRequestRequest>,
    ) -> Result<Response<pb::RegistrationRequest>, Status> {
        let id = parse_id("id", &request.get_ref().id)?;
        let record = service::requests::get(&self.state, id).await?;
        Ok(Response::new(record_to_pb(record)))
    }

    async fn list_registration_requests(
        &self,
        request: Request<pb::ListRegistrationRequestsRequest>,
    ) -> Result<Response<pb::ListRegistrationRequestsResponse>, Status> {
        let req = request.into_inner();
        let mut v = Violations::default();
        let status = v.take(status_filter(req.status)).flatten();
        let size = v.take(pagination::page_size(req.page_size));
        let after = v
            .take(pagination::Cursor::decode(&req.page_token))
            .flatten();
        let Some(size) = size.filter(|_| v.is_empty()) else {
            return Err(RegistrationError::Invalid(v.into_vec()).into());
        };
        let (rows, next) = service::requests::list(&self.state, status, after, size).await?;
        Ok(Response::new(pb::ListRegistrationRequestsResponse {
            requests: rows.into_iter().map(record_to_pb).collect(),
            next_page_token: next.map(|c| c.encode()).unwrap_or_default(),
        }))
    }

    async fn approve_registration_request(
        &self,
        request: Request<pb::ApproveRegistrationRequestRequest>,
    ) -> Result<Response<pb::ApproveRegistrationRequestResponse>, Status> {
        let admin = admin_id(&request)?;
        let req = request.into_inner();
        let id = parse_id("id", &req.id);
        let version = expected_version(req.expected_version);
        let (id, version) = convert::both(id, version)?;
        let (record, patient_id) =
            service::decide::approve(&self.state, id, version, admin).await?;
        Ok(Response::new(pb::ApproveRegistrationRequestResponse {
            request: Some(record_to_pb(record)),
            patient_id: patient_id.to_string(),
        }))
    }

    async fn reject_registration_request(
        &self,
        request: Request<pb::RejectRegistrationRequestRequest>,
    ) -> Result<Response<pb::RejectRegistrationRequestResponse>, Status> {
        let admin = admin_id(&request)?;
        let req = request.into_inner();
        let id = parse_id("id", &req.id);
        let version = expected_version(req.expected_version);
        let reason =
            RejectionReason::parse(&req.reason).map_err(|v| RegistrationError::Invalid(vec![v]));
        let ((id, version), reason) = convert::both(convert::both(id, version), reason)?;
        let record = service::decide::reject(&self.state, id, version, admin, reason).await?;
        Ok(Response::new(pb::RejectRegistrationRequestResponse {
            request: Some(record_to_pb(record)),
        }))
    }

    async fn activate_account(
        &self,
        request: Request<pb::ActivateAccountRequest>,
    ) -> Result<Response<pb::ActivateAccountResponse>, Status> {
        self.state.limits.address(request.remote_addr())?;
        let token = request.into_inner().token;
        if token.is_empty() || token.len() > 256 {
            return Err(RegistrationError::invalid(
                "token",
                "is required and at most 256 characters",
            )
            .into());
        }
        let patient_id = service::accounts::activate(&self.state, &token).await?;
        Ok(Response::new(pb::ActivateAccountResponse {
            patient_id: patient_id.to_string(),
        }))
    }

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let peer = request.remote_addr();
        self.state.limits.address(peer)?;
        let req = request.into_inner();
        let mut v = Violations::default();
        // The one canonical form the limit, the look-up and the failure count all use. A malformed
        // address is no account's (every account's was parsed so), so refusing it says nothing.
        let email = v.take(Email::parse(&req.email));
        if req.password.is_empty() || req.password.len() > 1024 {
            v.push(FieldViolation::new(
                "password",
                "is required and at most 1024 bytes",
            ));
        }
        let Some(email) = email.filter(|_| v.is_empty()) else {
            return Err(RegistrationError::Invalid(v.into_vec()).into());
        };
        let client = peer.map(|p| p.ip());
        let (token, expires_at, role) =
            service::accounts::login(&self.state, &email, client, req.password).await?;
        Ok(Response::new(pb::LoginResponse {
            access_token: token,
            expires_at: Some(clinic_common::time_pb::to_timestamp(expires_at)),
            role: convert::role_to_pb(role) as i32,
        }))
    }

    async fn get_patient(
        &self,
        request: Request<pb::GetPatientRequest>,
    ) -> Result<Response<pb::Patient>, Status> {
        let caller = identity(&request).map_err(RegistrationError::Auth)?.clone();
        let id = parse_id("patient_id", &request.get_ref().patient_id)?;
        let patient = service::accounts::get_patient(&self.state, &caller, id).await?;
        Ok(Response::new(convert::patient_to_pb(patient)))
    }
}
