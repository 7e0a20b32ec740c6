//! `clinicctl appointment …`: clinic.appointment.v1.AppointmentService.

use clap::{Args, Subcommand};
use clinic_proto::pb::appointment::v1::{
    CancelReservationRequest, CreateClinicRequest, CreateDoctorRequest, CreateExamTypeRequest,
    CreatePredefinedAppointmentRequest, CreateRoomRequest, GetAppointmentRequest,
    ListAvailableAppointmentsRequest, ListClinicsRequest, ListDoctorsRequest, ListExamTypesRequest,
    ListMyAppointmentsRequest, ListRoomsRequest, ReserveAppointmentRequest,
};
use prost_types::Timestamp;

use super::{Ctx, Page};
use crate::timestamps;

pub const CLINIC_COLUMNS: &[&str] = &["id", "name", "city", "time_zone", "address"];
pub const DOCTOR_COLUMNS: &[&str] = &["id", "first_name", "last_name", "specialization"];
pub const ROOM_COLUMNS: &[&str] = &["id", "name"];
pub const EXAM_TYPE_COLUMNS: &[&str] = &["id", "name"];
pub const APPOINTMENT_COLUMNS: &[&str] = &[
    "id",
    "starts_at",
    "duration_minutes",
    "final_price_minor",
    "currency",
    "status",
    "doctor_id",
    "exam_type_id",
    "patient_id",
];

#[derive(Debug, Subcommand)]
pub enum AppointmentCommand {
    /// Any signed-in caller. The clinics.
    Clinics(Page),
    /// Clinic-center admin. A new clinic.
    CreateClinic {
        #[arg(long)]
        name: String,
        #[arg(long)]
        address: String,
        #[arg(long)]
        city: String,
        /// IANA time zone the clinic's times are shown in, e.g. Europe/Belgrade.
        #[arg(long)]
        time_zone: String,
    },
    /// Any signed-in caller. A clinic's doctors.
    Doctors(InClinic),
    /// That clinic's admin. A new doctor.
    CreateDoctor {
        #[arg(long)]
        clinic_id: String,
        #[arg(long)]
        first_name: String,
        #[arg(long)]
        last_name: String,
        #[arg(long)]
        specialization: String,
    },
    /// Any signed-in caller. A clinic's rooms.
    Rooms(InClinic),
    /// That clinic's admin. A new room.
    CreateRoom(NewNamed),
    /// Any signed-in caller. A clinic's exam types.
    ExamTypes(InClinic),
    /// That clinic's admin. A new exam type.
    CreateExamType(NewNamed),
    /// That clinic's admin. A predefined appointment patients reserve with one click. A doctor or
    /// a room never has two overlapping live appointments.
    CreateSlot(NewSlot),
    /// Any signed-in caller. Future AVAILABLE appointments by start time.
    Available {
        #[arg(long)]
        clinic_id: Option<String>,
        #[arg(long)]
        exam_type_id: Option<String>,
        /// Starting at or after this time (RFC 3339).
        #[arg(long, value_parser = timestamps::parse, value_name = "RFC3339")]
        from: Option<Timestamp>,
        /// Starting before this time (RFC 3339).
        #[arg(long, value_parser = timestamps::parse, value_name = "RFC3339")]
        to: Option<Timestamp>,
        #[command(flatten)]
        page: Page,
    },
    /// Patient (from the token). Reserves an available appointment; exactly one patient wins.
    Reserve {
        /// Appointment id.
        appointment_id: String,
        /// Idempotency key: a retry with the same key returns the reservation.
        #[arg(long)]
        request_id: Option<String>,
    },
    /// The patient holding it; only more than 24 h before the start.
    Cancel {
        /// Appointment id.
        appointment_id: String,
    },
    /// Patient. Your reserved ("pending") and, with --include-past, past appointments.
    Mine {
        #[arg(long)]
        include_past: bool,
    },
    /// Patients: available ones and their own. Clinic admins: their clinic's. Center admins: any.
    Get {
        /// Appointment id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct InClinic {
    #[arg(long)]
    pub clinic_id: String,
    #[command(flatten)]
    pub page: Page,
}

#[derive(Debug, Args)]
pub struct NewNamed {
    #[arg(long)]
    pub clinic_id: String,
    #[arg(long)]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct NewSlot {
    #[arg(long)]
    pub clinic_id: String,
    #[arg(long)]
    pub doctor_id: String,
    #[arg(long)]
    pub room_id: String,
    #[arg(long)]
    pub exam_type_id: String,
    /// Start (RFC 3339), e.g. 2026-12-01T09:30:00+01:00.
    #[arg(long, value_parser = timestamps::parse, value_name = "RFC3339")]
    pub starts_at: Timestamp,
    /// 5..=480.
    #[arg(long)]
    pub duration_minutes: i32,
    /// Price before discount, >= 0, in minor units of the currency (2500 = 25.00).
    #[arg(long)]
    pub price_minor: i64,
    /// ISO 4217, e.g. EUR.
    #[arg(long)]
    pub currency: String,
    /// 0..=100.
    #[arg(long, default_value_t = 0)]
    pub discount_percent: i32,
}

/// Builds the request first (a missing token fails before any connection), then connects and calls.
pub async fn run(ctx: &Ctx, command: AppointmentCommand) -> anyhow::Result<()> {
    let out = ctx.out;
    match command {
        AppointmentCommand::Clinics(page) => {
            let req = ctx.signed(ListClinicsRequest {
                page_size: page.page_size,
                page_token: page.page_token,
            })?;
            let resp = ctx
                .appointments()
                .await?
                .list_clinics(req)
                .await?
                .into_inner();
            out.list(&resp, "clinics", CLINIC_COLUMNS)?;
        }
        AppointmentCommand::CreateClinic {
            name,
            address,
            city,
            time_zone,
        } => {
            let req = ctx.signed(CreateClinicRequest {
                name,
                address,
                city,
                time_zone,
            })?;
            out.one(
                &ctx.appointments()
                    .await?
                    .create_clinic(req)
                    .await?
                    .into_inner(),
            )?;
        }
        AppointmentCommand::Doctors(c) => {
            let req = ctx.signed(ListDoctorsRequest {
                clinic_id: c.clinic_id,
                page_size: c.page.page_size,
                page_token: c.page.page_token,
            })?;
            let resp = ctx
                .appointments()
                .await?
                .list_doctors(req)
                .await?
                .into_inner();
            out.list(&resp, "doctors", DOCTOR_COLUMNS)?;
        }
        AppointmentCommand::CreateDoctor {
            clinic_id,
            first_name,
            last_name,
            specialization,
        } => {
            let req = ctx.signed(CreateDoctorRequest {
                clinic_id,
                first_name,
                last_name,
                specialization,
            })?;
            out.one(
                &ctx.appointments()
                    .await?
                    .create_doctor(req)
                    .await?
                    .into_inner(),
            )?;
        }
        AppointmentCommand::Rooms(c) => {
            let req = ctx.signed(ListRoomsRequest {
                clinic_id: c.clinic_id,
                page_size: c.page.page_size,
                page_token: c.page.page_token,
            })?;
            let resp = ctx
                .appointments()
                .await?
                .list_rooms(req)
                .await?
                .into_inner();
            out.list(&resp, "rooms", ROOM_COLUMNS)?;
        }
        AppointmentCommand::CreateRoom(n) => {
            let req = ctx.signed(CreateRoomRequest {
                clinic_id: n.clinic_id,
                name: n.name,
            })?;
            out.one(
                &ctx.appointments()
                    .await?
                    .create_room(req)
                    .await?
                    .into_inner(),
            )?;
        }
        AppointmentCommand::ExamTypes(c) => {
            let req = ctx.signed(ListExamTypesRequest {
                clinic_id: c.clinic_id,
                page_size: c.page.page_size,
                page_token: c.page.page_token,
            })?;
            let resp = ctx
                .appointments()
                .await?
                .list_exam_types(req)
                .await?
                .into_inner();
            out.list(&resp, "exam_types", EXAM_TYPE_COLUMNS)?;
        }
        AppointmentCommand::CreateExamType(n) => {
            let req = ctx.signed(CreateExamTypeRequest {
                clinic_id: n.clinic_id,
                name: n.name,
            })?;
            out.one(
                &ctx.appointments()
                    .await?
                    .create_exam_type(req)
                    .await?
                    .into_inner(),
            )?;
        }
        AppointmentCommand::CreateSlot(s) => {
            let req = ctx.signed(CreatePredefinedAppointmentRequest {
                clinic_id: s.clinic_id,
                doctor_id: s.doctor_id,
                room_id: s.room_id,
                exam_type_id: s.exam_type_id,
                starts_at: Some(s.starts_at),
                duration_minutes: s.duration_minutes,
                price_minor: s.price_minor,
                currency: s.currency,
                discount_percent: s.discount_percent,
            })?;
            out.one(
                &ctx.appointments()
                    .await?
                    .create_predefined_appointment(req)
                    .await?
                    .into_inner(),
            )?;
        }
        AppointmentCommand::Available {
            clinic_id,
            exam_type_id,
            from,
            to,
            page,
        } => {
            let req = ctx.signed(ListAvailableAppointmentsRequest {
                clinic_id,
                exam_type_id,
                from,
                to,
                page_size: page.page_size,
                page_token: page.page_token,
            })?;
            let resp = ctx
                .appointments()
                .await?
                .list_available_appointments(req)
                .await?
                .into_inner();
            out.list(&resp, "appointments", APPOINTMENT_COLUMNS)?;
        }
        AppointmentCommand::Reserve {
            appointment_id,
            request_id,
        } => {
            let req = ctx.signed(ReserveAppointmentRequest {
                appointment_id,
                request_id,
            })?;
            out.one(
                &ctx.appointments()
                    .await?
                    .reserve_appointment(req)
                    .await?
                    .into_inner(),
            )?;
        }
        AppointmentCommand::Cancel { appointment_id } => {
            let req = ctx.signed(CancelReservationRequest { appointment_id })?;
            out.one(
                &ctx.appointments()
                    .await?
                    .cancel_reservation(req)
                    .await?
                    .into_inner(),
            )?;
        }
        AppointmentCommand::Mine { include_past } => {
            let req = ctx.signed(ListMyAppointmentsRequest {
                include_past: Some(include_past),
            })?;
            let resp = ctx
                .appointments()
                .await?
                .list_my_appointments(req)
                .await?
                .into_inner();
            out.list(&resp, "appointments", APPOINTMENT_COLUMNS)?;
        }
        AppointmentCommand::Get { id } => {
            let req = ctx.signed(GetAppointmentRequest { id })?;
            out.one(
                &ctx.appointments()
                    .await?
                    .get_appointment(req)
                    .await?
                    .into_inner(),
            )?;
        }
    }
    Ok(())
}
