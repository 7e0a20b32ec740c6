//! Two (or 64) patients, one predefined appointment: a fresh slot, N active patients, everyone
//! reserves at the same moment. The row lock lets one through; the rest are told
//! APPOINTMENT_ALREADY_RESERVED (with alternatives) or APPOINTMENT_BUSY (with RetryInfo).

use std::time::SystemTime;

use clinic_proto::pb::appointment::v1::{
    Appointment, CreatePredefinedAppointmentRequest, GetAppointmentRequest, ListClinicsRequest,
    ListDoctorsRequest, ListExamTypesRequest, ListRoomsRequest, ReserveAppointmentRequest,
};
use futures::{StreamExt, TryStreamExt, stream};
use prost_types::Timestamp;

use super::{AppointmentRace, RaceReport, accounts, mail, report};
use crate::{
    bench::race::round,
    commands::Ctx,
    connect::{self, Appointments, bearer},
    failure::Failure,
};

/// What a loser may be told.
pub const LOSSES: &[&str] = &["APPOINTMENT_ALREADY_RESERVED", "APPOINTMENT_BUSY"];

pub async fn race(ctx: &Ctx, args: AppointmentRace) -> anyhow::Result<RaceReport> {
    let admin = accounts::center_admin(ctx, &args.admin).await?;
    let password =
        accounts::clinic_admin_password(args.clinic_admin_password.as_deref(), &args.admin)?;
    let clinic_admin = connect::login(
        &mut ctx.registration().await?,
        &args.clinic_admin_email,
        &password,
    )
    .await?;
    let n = usize::from(args.patients);

    // Arrange: N active patients, a fresh slot, one connection per patient.
    let patients: Vec<_> = accounts::patients(
        ctx,
        &admin,
        &args.patient_email_prefix,
        &args.patient_password,
        n,
        args.eml_dir.as_deref(),
    )
    .await?
    .into_iter()
    .map(|(email, token, _)| (email, token))
    .collect();
    let mut appts = ctx.appointments().await?;
    let slot = fresh_slot(&mut appts, &clinic_admin, args.clinic_id.as_deref()).await?;
    let clients: Vec<Appointments> = stream::iter(0..n)
        .then(|_| ctx.appointments())
        .try_collect()
        .await?;
    let started = SystemTime::now();

    // Act: everyone at once.
    let outcomes = round(n, |i| {
        let (mut client, token) = (clients[i].clone(), patients[i].1.clone());
        let req = ReserveAppointmentRequest {
            appointment_id: slot.id.clone(),
            request_id: None,
        };
        async move {
            client
                .reserve_appointment(bearer(&token, req))
                .await
                .map(drop)
        }
    })
    .await?;
    let actors = report::actors(outcomes, |i| patients[i].0.clone(), |_| "reserve");
    let stored = appts
        .get_appointment(bearer(
            &admin,
            GetAppointmentRequest {
                id: slot.id.clone(),
            },
        ))
        .await?
        .into_inner();
    let after = report::after(&stored, &["starts_at", "status", "version", "patient_id"]);
    let since = Timestamp::from(started);
    let emails = mail::emails(ctx, &admin, &args.mail, |d| {
        d.event_type == "appointment.reserved"
            && patients.iter().any(|(email, _)| *email == d.recipient)
            && d.created_at
                .as_ref()
                .is_some_and(|t| (t.seconds, t.nanos) >= (since.seconds, since.nanos))
    })
    .await?;

    Ok(RaceReport::judged(
        "appointment",
        slot.id,
        actors,
        after,
        emails,
        LOSSES,
    ))
}

/// A new available appointment two weeks ahead, at the first time its doctor and room are free.
async fn fresh_slot(
    appts: &mut Appointments,
    clinic_admin: &str,
    clinic_id: Option<&str>,
) -> anyhow::Result<Appointment> {
    let (clinic_id, doctor_id, room_id, exam_type_id) =
        catalog(appts, clinic_admin, clinic_id).await?;
    let today = time::OffsetDateTime::now_utc().unix_timestamp() / 86_400 * 86_400;
    for attempt in 0..200 {
        // Two weeks ahead (past the week `clinicctl seed` fills), in the afternoon (13:00–16:00
        // UTC, working hours in Europe), 20 minutes apart, then the next day.
        let starts = today + (14 + attempt / 9) * 86_400 + 13 * 3600 + (attempt % 9) * 20 * 60;
        let req = CreatePredefinedAppointmentRequest {
            clinic_id: clinic_id.clone(),
            doctor_id: doctor_id.clone(),
            room_id: room_id.clone(),
            exam_type_id: exam_type_id.clone(),
            starts_at: Some(Timestamp {
                seconds: starts,
                nanos: 0,
            }),
            duration_minutes: 20,
            price_minor: 5000,
            currency: "EUR".into(),
            discount_percent: 10,
        };
        match appts
            .create_predefined_appointment(bearer(clinic_admin, req))
            .await
        {
            Ok(a) => return Ok(a.into_inner()),
            Err(s) if Failure::from_status(&s).reason.as_deref() == Some("SCHEDULE_CONFLICT") => {}
            Err(s) => return Err(s.into()),
        }
    }
    anyhow::bail!("no free 20-minute time for the doctor and room in 200 tries")
}

/// (clinic, doctor, room, exam type) ids: in `clinic_id`, else the first clinic that has all three.
async fn catalog(
    appts: &mut Appointments,
    token: &str,
    clinic_id: Option<&str>,
) -> anyhow::Result<(String, String, String, String)> {
    let clinics = match clinic_id {
        Some(id) => vec![id.to_owned()],
        None => appts
            .list_clinics(bearer(
                token,
                ListClinicsRequest {
                    page_size: 100,
                    page_token: String::new(),
                },
            ))
            .await?
            .into_inner()
            .clinics
            .into_iter()
            .map(|c| c.id)
            .collect(),
    };
    for clinic_id in clinics {
        let (page_size, page_token) = (1, String::new());
        let doctor = appts
            .list_doctors(bearer(
                token,
                ListDoctorsRequest {
                    clinic_id: clinic_id.clone(),
                    page_size,
                    page_token: page_token.clone(),
                },
            ))
            .await?
            .into_inner()
            .doctors
            .pop();
        let room = appts
            .list_rooms(bearer(
                token,
                ListRoomsRequest {
                    clinic_id: clinic_id.clone(),
                    page_size,
                    page_token: page_token.clone(),
                },
            ))
            .await?
            .into_inner()
            .rooms
            .pop();
        let exam = appts
            .list_exam_types(bearer(
                token,
                ListExamTypesRequest {
                    clinic_id: clinic_id.clone(),
                    page_size,
                    page_token,
                },
            ))
            .await?
            .into_inner()
            .exam_types
            .pop();
        if let (Some(d), Some(r), Some(e)) = (doctor, room, exam) {
            return Ok((clinic_id, d.id, r.id, e.id));
        }
    }
    anyhow::bail!(
        "no clinic with a doctor, a room and an exam type: run `clinicctl seed` first (or pass --clinic-id)"
    )
}
