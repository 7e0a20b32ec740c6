//! The transport: pb → domain, call the use case, domain → pb. No SQL here.

mod convert;
#[cfg(test)]
mod proptests;

use std::sync::Arc;

use clinic_common::{
    auth::{Identity, identity},
    error::Violations,
    pagination::{self, Cursor},
    validate,
};
use clinic_proto::pb::appointment::v1 as pb;
use pb::appointment_service_server::AppointmentService;
use tonic::{Request, Response, Status};

use crate::{
    db::{appointments::AvailableFilter, catalog::NamedTable},
    error::AppointmentError,
    service::{self, AppState},
};
use convert::*;

/// Largest request this service decodes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

pub struct AppointmentApi {
    state: Arc<AppState>,
}

impl AppointmentApi {
    pub fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

fn caller<T>(req: &Request<T>) -> Result<Identity, AppointmentError> {
    identity(req).cloned().map_err(AppointmentError::Auth)
}

/// (page size, cursor) from a list request, or every violation.
fn paging(v: &mut Violations, size: i32, token: &str) -> (Option<i64>, Option<Cursor>) {
    (
        v.take(pagination::page_size(size)),
        v.take(Cursor::decode(token)).flatten(),
    )
}

fn token(next: Option<Cursor>) -> String {
    next.map(|c| c.encode()).unwrap_or_default()
}

/// Parses (clinic_id, page) of the catalog list RPCs.
fn clinic_page(
    clinic_id: &str,
    size: i32,
    page_token: &str,
) -> Result<(uuid::Uuid, i64, Option<Cursor>), AppointmentError> {
    let mut v = Violations::default();
    let clinic = v.take(validate::uuid("clinic_id", clinic_id));
    let (size, after) = paging(&mut v, size, page_token);
    let value = clinic.zip(size).map(|(c, s)| (c, s, after));
    finish(v, value)
}

#[tonic::async_trait]
impl AppointmentService for AppointmentApi {
    async fn create_clinic(
        &self,
        request: Request<pb::CreateClinicRequest>,
    ) -> Result<Response<pb::Clinic>, Status> {
        let new = new_clinic(request.into_inner())?;
        let clinic = service::catalog::create_clinic(&self.state, new).await?;
        Ok(Response::new(clinic_to_pb(clinic)))
    }

    async fn list_clinics(
        &self,
        request: Request<pb::ListClinicsRequest>,
    ) -> Result<Response<pb::ListClinicsResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let (size, after) = paging(&mut v, r.page_size, &r.page_token);
        let size = finish(v, size)?;
        let (rows, next) = service::catalog::list_clinics(&self.state, after, size).await?;
        Ok(Response::new(pb::ListClinicsResponse {
            clinics: rows.into_iter().map(clinic_to_pb).collect(),
            next_page_token: token(next),
        }))
    }

    async fn create_doctor(
        &self,
        request: Request<pb::CreateDoctorRequest>,
    ) -> Result<Response<pb::Doctor>, Status> {
        let who = caller(&request)?;
        let new = new_doctor(request.into_inner())?;
        let doctor = service::catalog::create_doctor(&self.state, &who, new).await?;
        Ok(Response::new(doctor_to_pb(doctor)))
    }

    async fn list_doctors(
        &self,
        request: Request<pb::ListDoctorsRequest>,
    ) -> Result<Response<pb::ListDoctorsResponse>, Status> {
        let r = request.into_inner();
        let (clinic, size, after) = clinic_page(&r.clinic_id, r.page_size, &r.page_token)?;
        let (rows, next) = service::catalog::list_doctors(&self.state, clinic, after, size).await?;
        Ok(Response::new(pb::ListDoctorsResponse {
            doctors: rows.into_iter().map(doctor_to_pb).collect(),
            next_page_token: token(next),
        }))
    }

    async fn create_room(
        &self,
        request: Request<pb::CreateRoomRequest>,
    ) -> Result<Response<pb::Room>, Status> {
        let who = caller(&request)?;
        let r = request.into_inner();
        let new = new_named(&r.clinic_id, &r.name)?;
        let room =
            service::catalog::create_named(&self.state, &who, NamedTable::Rooms, new).await?;
        Ok(Response::new(room_to_pb(room)))
    }

    async fn list_rooms(
        &self,
        request: Request<pb::ListRoomsRequest>,
    ) -> Result<Response<pb::ListRoomsResponse>, Status> {
        let r = request.into_inner();
        let (clinic, size, after) = clinic_page(&r.clinic_id, r.page_size, &r.page_token)?;
        let (rows, next) =
            service::catalog::list_named(&self.state, NamedTable::Rooms, clinic, after, size)
                .await?;
        Ok(Response::new(pb::ListRoomsResponse {
            rooms: rows.into_iter().map(room_to_pb).collect(),
            next_page_token: token(next),
        }))
    }

    async fn create_exam_type(
        &self,
        request: Request<pb::CreateExamTypeRequest>,
    ) -> Result<Response<pb::ExamType>, Status> {
        let who = caller(&request)?;
        let r = request.into_inner();
        let new = new_named(&r.clinic_id, &r.name)?;
        let exam =
            service::catalog::create_named(&self.state, &who, NamedTable::ExamTypes, new).await?;
        Ok(Response::new(exam_type_to_pb(exam)))
    }

    async fn list_exam_types(
        &self,
        request: Request<pb::ListExamTypesRequest>,
    ) -> Result<Response<pb::ListExamTypesResponse>, Status> {
        let r = request.into_inner();
        let (clinic, size, after) = clinic_page(&r.clinic_id, r.page_size, &r.page_token)?;
        let (rows, next) =
            service::catalog::list_named(&self.state, NamedTable::ExamTypes, clinic, after, size)
                .await?;
        Ok(Response::new(pb::ListExamTypesResponse {
            exam_types: rows.into_iter().map(exam_type_to_pb).collect(),
            next_page_token: token(next),
        }))
    }

    async fn create_predefined_appointment(
        &self,
        request: Request<pb::CreatePredefinedAppointmentRequest>,
    ) -> Result<Response<pb::Appointment>, Status> {
        let who = caller(&request)?;
        let new = new_appointment(request.into_inner())?;
        let created = service::schedule::create(&self.state, &who, new).await?;
        Ok(Response::new(appointment_to_pb(created)))
    }

    async fn list_available_appointments(
        &self,
        request: Request<pb::ListAvailableAppointmentsRequest>,
    ) -> Result<Response<pb::ListAvailableAppointmentsResponse>, Status> {
        let r = request.into_inner();
        let mut v = Violations::default();
        let clinic_id = v
            .take(opt_id("clinic_id", r.clinic_id.as_deref()))
            .flatten();
        let exam_type_id = v
            .take(opt_id("exam_type_id", r.exam_type_id.as_deref()))
            .flatten();
        let from = v.take(opt_time("from", r.from.as_ref())).flatten();
        let to = v.take(opt_time("to", r.to.as_ref())).flatten();
        if let (Some(f), Some(t)) = (from, to)
            && t <= f
        {
            v.push(clinic_common::error::FieldViolation::new(
                "to",
                "must be after from",
            ));
        }
        let (size, after) = paging(&mut v, r.page_size, &r.page_token);
        let size = finish(v, size)?;
        let filter = AvailableFilter {
            clinic_id,
            exam_type_id,
            from,
            to,
        };
        let (rows, next) =
            service::schedule::list_available(&self.state, filter, after, size).await?;
        Ok(Response::new(pb::ListAvailableAppointmentsResponse {
            appointments: rows.into_iter().map(appointment_to_pb).collect(),
            next_page_token: token(next),
        }))
    }

    async fn reserve_appointment(
        &self,
        request: Request<pb::ReserveAppointmentRequest>,
    ) -> Result<Response<pb::Appointment>, Status> {
        let who = caller(&request)?;
        let r = request.into_inner();
        let mut v = Violations::default();
        let appointment = v.take(validate::uuid("appointment_id", &r.appointment_id));
        let request_id = v.take(validate::request_id(r.request_id.as_deref()));
        let (appointment, request_id) = finish(v, appointment.zip(request_id))?;
        let reserved =
            service::reserve::reserve(&self.state, &who, appointment, request_id).await?;
        Ok(Response::new(appointment_to_pb(reserved)))
    }

    async fn cancel_reservation(
        &self,
        request: Request<pb::CancelReservationRequest>,
    ) -> Result<Response<pb::Appointment>, Status> {
        let who = caller(&request)?;
        let appointment = id("appointment_id", &request.get_ref().appointment_id)?;
        let released = service::cancel::cancel(&self.state, &who, appointment).await?;
        Ok(Response::new(appointment_to_pb(released)))
    }

    async fn list_my_appointments(
        &self,
        request: Request<pb::ListMyAppointmentsRequest>,
    ) -> Result<Response<pb::ListMyAppointmentsResponse>, Status> {
        let who = caller(&request)?;
        let include_past = request.get_ref().include_past.unwrap_or(false);
        let rows = service::queries::list_mine(&self.state, &who, include_past).await?;
        Ok(Response::new(pb::ListMyAppointmentsResponse {
            appointments: rows.into_iter().map(appointment_to_pb).collect(),
        }))
    }

    async fn get_appointment(
        &self,
        request: Request<pb::GetAppointmentRequest>,
    ) -> Result<Response<pb::Appointment>, Status> {
        let who = caller(&request)?;
        let appointment = id("id", &request.get_ref().id)?;
        let found = service::queries::get(&self.state, &who, appointment).await?;
        Ok(Response::new(appointment_to_pb(found)))
    }
}
