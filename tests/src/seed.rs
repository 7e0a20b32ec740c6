//! What the run works on, created through the public API and the operator CLI: center admins, a
//! clinic with doctors, rooms and predefined appointments, and patients who registered, were
//! approved, activated their account from the e-mail link and signed in.

use std::time::Duration;

use clinic_proto::pb::{
    appointment::v1 as ap,
    registration::v1::{
        ActivateAccountRequest, ApproveRegistrationRequestRequest, LoginRequest,
        SubmitRegistrationRequest,
    },
};
use prost_types::Timestamp;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    clients::{Clients, call},
    cluster::{ACTIVATION_BASE_URL, Cluster, PASSWORD},
};

#[derive(Debug, Clone)]
pub struct Admin {
    pub id: Uuid,
    pub token: String,
}

#[derive(Debug, Clone)]
pub struct Patient {
    pub id: Uuid,
    pub token: String,
}

pub struct World {
    pub admins: Vec<Admin>,
    pub patients: Vec<Patient>,
    pub appointments: Vec<Uuid>,
}

pub struct SeedSize {
    pub admins: usize,
    pub patients: usize,
    pub doctors: usize,
    /// Per doctor; one an hour from two days ahead (cancellable: more than 24 h before start).
    pub appointments_per_doctor: usize,
}

/// A registration form for a unique person.
pub fn form(tag: &str) -> SubmitRegistrationRequest {
    let n = Uuid::new_v4().as_u128();
    SubmitRegistrationRequest {
        email: format!("{tag}-{:x}@mail.chaos.test", n as u64),
        password: PASSWORD.into(),
        first_name: "Ana".into(),
        last_name: "Anić".into(),
        address: "Bulevar 1".into(),
        city: "Novi Sad".into(),
        country: "Serbia".into(),
        phone: "+381 21 123456".into(),
        insurance_number: format!("{:012}", n % 1_000_000_000_000),
        request_id: None,
    }
}

/// Signs in; returns the account id (the token's subject) and the token.
pub async fn login(
    cluster: &Cluster,
    clients: &Clients,
    email: &str,
) -> anyhow::Result<(Uuid, String)> {
    let resp = clients
        .registration()
        .login(call(
            None,
            LoginRequest {
                email: email.to_owned(),
                password: PASSWORD.to_owned(),
            },
        ))
        .await?
        .into_inner();
    let claims = cluster.verifier()?.verify(&resp.access_token)?;
    Ok((claims.sub.parse()?, resp.access_token))
}

fn ts(at: OffsetDateTime) -> Timestamp {
    Timestamp {
        seconds: at.unix_timestamp(),
        nanos: 0,
    }
}

pub async fn seed(cluster: &Cluster, clients: &Clients, size: &SeedSize) -> anyhow::Result<World> {
    let mut admins = Vec::new();
    for i in 0..size.admins {
        let email = format!("admin-{i}@chaos.test");
        cluster
            .registration_cli(
                &[
                    "create-admin",
                    "--email",
                    &email,
                    "--first-name",
                    "Admin",
                    "--last-name",
                    &format!("No{i}"),
                ],
                Some(PASSWORD),
            )
            .await?;
        let (id, token) = login(cluster, clients, &email).await?;
        admins.push(Admin { id, token });
    }
    let center = admins[0].token.as_str();
    let mut appt = clients.appointment();
    let clinic = appt
        .create_clinic(call(
            Some(center),
            ap::CreateClinicRequest {
                name: "Chaos Clinic".into(),
                address: "Bulevar 1".into(),
                city: "Novi Sad".into(),
                time_zone: "Europe/Belgrade".into(),
            },
        ))
        .await?
        .into_inner()
        .id;
    cluster
        .registration_cli(
            &[
                "create-clinic-admin",
                "--clinic-id",
                &clinic,
                "--email",
                "clinic-admin@chaos.test",
                "--first-name",
                "Clinic",
                "--last-name",
                "Admin",
            ],
            Some(PASSWORD),
        )
        .await?;
    let (_, clinic_admin) = login(cluster, clients, "clinic-admin@chaos.test").await?;
    let ca = Some(clinic_admin.as_str());
    let exam = appt
        .create_exam_type(call(
            ca,
            ap::CreateExamTypeRequest {
                clinic_id: clinic.clone(),
                name: "Checkup".into(),
            },
        ))
        .await?
        .into_inner()
        .id;
    let start = (OffsetDateTime::now_utc() + time::Duration::days(2))
        .replace_nanosecond(0)?
        .replace_second(0)?
        .replace_minute(0)?;
    let mut appointments = Vec::new();
    for d in 0..size.doctors {
        let doctor = appt
            .create_doctor(call(
                ca,
                ap::CreateDoctorRequest {
                    clinic_id: clinic.clone(),
                    first_name: "Doc".into(),
                    last_name: format!("No{d}"),
                    specialization: "General".into(),
                },
            ))
            .await?
            .into_inner()
            .id;
        let room = appt
            .create_room(call(
                ca,
                ap::CreateRoomRequest {
                    clinic_id: clinic.clone(),
                    name: format!("Room {d}"),
                },
            ))
            .await?
            .into_inner()
            .id;
        for k in 0..size.appointments_per_doctor {
            // Doctors work the same hours: a patient holding one slot conflicts with the others'.
            let a = appt
                .create_predefined_appointment(call(
                    ca,
                    ap::CreatePredefinedAppointmentRequest {
                        clinic_id: clinic.clone(),
                        doctor_id: doctor.clone(),
                        room_id: room.clone(),
                        exam_type_id: exam.clone(),
                        starts_at: Some(ts(start + time::Duration::hours(k as i64))),
                        duration_minutes: 30,
                        price_minor: 5000,
                        currency: "EUR".into(),
                        discount_percent: 10,
                    },
                ))
                .await?
                .into_inner()
                .id;
            appointments.push(a.parse()?);
        }
    }
    let patients = patients(cluster, clients, &admins[0], size.patients).await?;
    Ok(World {
        admins,
        patients,
        appointments,
    })
}

/// Registers, approves and activates `n` patients (the activation token from the e-mail link).
async fn patients(
    cluster: &Cluster,
    clients: &Clients,
    admin: &Admin,
    n: usize,
) -> anyhow::Result<Vec<Patient>> {
    let mut forms = Vec::new();
    for _ in 0..n {
        let f = form("patient");
        let req = clients
            .registration()
            .submit_registration(call(None, f.clone()))
            .await?
            .into_inner();
        clients
            .registration()
            .approve_registration_request(call(
                Some(&admin.token),
                ApproveRegistrationRequestRequest {
                    id: req.id,
                    expected_version: Some(req.version),
                },
            ))
            .await?;
        forms.push(f);
    }
    let mut out = Vec::new();
    for f in forms {
        let token = activation_token(cluster, &f.email).await?;
        clients
            .registration()
            .activate_account(call(None, ActivateAccountRequest { token }))
            .await?;
        let (id, token) = login(cluster, clients, &f.email).await?;
        out.push(Patient { id, token });
    }
    Ok(out)
}

async fn activation_token(cluster: &Cluster, email: &str) -> anyhow::Result<String> {
    let prefix = format!("{ACTIVATION_BASE_URL}?token=");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = cluster
            .smtp
            .lock()
            .unwrap()
            .messages()
            .into_iter()
            .find(|m| m.to.contains(email));
        if let Some(m) = found
            && let Some(at) = m.text.find(&prefix)
        {
            let rest = &m.text[at + prefix.len()..];
            let token: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
            return Ok(token);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "no activation e-mail for {email}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
