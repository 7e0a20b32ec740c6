//! `clinicctl seed`: demo data through the public API, idempotent — a clinic with its admin, two
//! doctors, two rooms, two exam types, a week of predefined appointments and two active patients.
//! What exists is found and left alone; the summary says which rows were created and which were
//! already there.

use std::{path::PathBuf, process::Stdio};

use clap::Args;
use clinic_proto::pb::appointment::v1::{
    CreateClinicRequest, CreateDoctorRequest, CreateExamTypeRequest,
    CreatePredefinedAppointmentRequest, CreateRoomRequest, ListClinicsRequest, ListDoctorsRequest,
    ListExamTypesRequest, ListRoomsRequest,
};
use prost_types::Timestamp;
use serde::Serialize;
use tokio::io::AsyncWriteExt;

use super::{
    Ctx,
    race::{CenterAdmin, accounts},
};
use crate::{
    connect::{self, Appointments, bearer},
    failure::Failure,
    output, table,
};

#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub admin: CenterAdmin,
    /// Name of the demo clinic (found by name when it exists).
    #[arg(long, default_value = "Demo Clinic")]
    pub clinic_name: String,
    /// The demo clinic's admin.
    #[arg(
        long,
        env = "CLINIC_CLINIC_ADMIN_EMAIL",
        default_value = "clinic.admin@clinic.local"
    )]
    pub clinic_admin_email: String,
    /// Its password (default: `--admin-password`).
    #[arg(long, env = "CLINIC_CLINIC_ADMIN_PASSWORD", hide_env_values = true)]
    pub clinic_admin_password: Option<String>,
    /// The registration-service binary: when the clinic admin cannot sign in, seed runs its
    /// operator command `create-clinic-admin` (which needs the database: DATABASE_URL, the
    /// registration-service runtime role's). Clinic admins have no public API, by design.
    #[arg(long, value_name = "PATH")]
    pub registration_service_bin: Option<PathBuf>,
    /// Active demo patients `<prefix><n>@clinic.local`, n from 1.
    #[arg(long, default_value_t = 2)]
    pub patients: usize,
    #[arg(long, default_value = "patient-")]
    pub patient_email_prefix: String,
    /// Password of the demo patients (demo accounts only).
    #[arg(long, default_value = "demo patient password 1")]
    pub patient_password: String,
    /// Where the notifier writes e-mail as .eml files (its EML_DIR): new patients are activated
    /// with the link from their approval e-mail.
    #[arg(long)]
    pub eml_dir: Option<PathBuf>,
}

/// One line of the summary.
#[derive(Debug, Serialize)]
struct Row {
    what: &'static str,
    name: String,
    id: String,
    created: bool,
}

/// Doctors (first, last, specialization), rooms and exam types of the demo clinic.
const DOCTORS: [(&str, &str, &str); 2] = [
    ("Mira", "Jović", "cardiology"),
    ("Petar", "Nikolić", "radiology"),
];
const ROOMS: [&str; 2] = ["Room 1", "Room 2"];
const EXAM_TYPES: [&str; 2] = ["ECG", "Ultrasound"];
/// Appointment starts, UTC hour and minute: working hours in Novi Sad (UTC+1/+2).
const STARTS: [(i64, i64); 4] = [(8, 0), (9, 0), (10, 30), (12, 0)];

pub async fn seed(ctx: &Ctx, args: SeedArgs) -> anyhow::Result<()> {
    let admin = accounts::center_admin(ctx, &args.admin).await?;
    let mut appts = ctx.appointments().await?;
    let mut rows = Vec::new();

    let clinic_id = clinic(&mut appts, &admin, &args.clinic_name, &mut rows).await?;
    let password =
        accounts::clinic_admin_password(args.clinic_admin_password.as_deref(), &args.admin)?;
    let manager = clinic_admin(ctx, &args, &clinic_id, &password, &mut rows).await?;

    let mut doctors = Vec::new();
    for (first, last, specialization) in DOCTORS {
        doctors.push(
            doctor(
                &mut appts,
                &manager,
                &clinic_id,
                (first, last, specialization),
                &mut rows,
            )
            .await?,
        );
    }
    let mut rooms = Vec::new();
    for name in ROOMS {
        rooms.push(
            named(
                &mut appts,
                &manager,
                &clinic_id,
                Kind::Room,
                name,
                &mut rows,
            )
            .await?,
        );
    }
    let mut exams = Vec::new();
    for name in EXAM_TYPES {
        exams.push(
            named(
                &mut appts,
                &manager,
                &clinic_id,
                Kind::ExamType,
                name,
                &mut rows,
            )
            .await?,
        );
    }

    // A week of appointments from tomorrow: doctor i in room i, exam type i.
    let today = time::OffsetDateTime::now_utc().unix_timestamp() / 86_400 * 86_400;
    let (mut created, mut existing) = (0, 0);
    for day in 1..=7 {
        for i in 0..2 {
            for (hour, minute) in STARTS {
                let req = CreatePredefinedAppointmentRequest {
                    clinic_id: clinic_id.clone(),
                    doctor_id: doctors[i].clone(),
                    room_id: rooms[i].clone(),
                    exam_type_id: exams[i].clone(),
                    starts_at: Some(Timestamp {
                        seconds: today + day * 86_400 + hour * 3600 + minute * 60,
                        nanos: 0,
                    }),
                    duration_minutes: 30,
                    price_minor: 4000 + 1000 * i as i64,
                    currency: "EUR".into(),
                    discount_percent: 10 * i as i32,
                };
                match appts
                    .create_predefined_appointment(bearer(&manager, req))
                    .await
                {
                    Ok(_) => created += 1,
                    Err(s) if reason(&s) == "SCHEDULE_CONFLICT" => existing += 1,
                    Err(s) => return Err(s.into()),
                }
            }
        }
    }
    rows.push(Row {
        what: "appointments",
        name: format!(
            "{} over the next 7 days ({existing} already there)",
            created + existing
        ),
        id: String::new(),
        created: created > 0,
    });

    let patients = accounts::patients(
        ctx,
        &admin,
        &args.patient_email_prefix,
        &args.patient_password,
        args.patients,
        args.eml_dir.as_deref(),
    )
    .await?;
    for (email, _, created) in &patients {
        rows.push(Row {
            what: "patient",
            name: email.clone(),
            id: String::new(),
            created: *created,
        });
    }

    if ctx.out.json {
        let json = serde_json::json!({
            "clinic_id": clinic_id,
            "rows": rows,
            "credentials": {
                "clinic_admin": args.clinic_admin_email,
                "patients": patients.iter().map(|(e, _, _)| e).collect::<Vec<_>>(),
                "patient_password": args.patient_password,
            },
        });
        return Ok(output::emit(&format!("{json:#}\n"))?);
    }
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let state = if r.created {
                "created"
            } else {
                "already there"
            };
            vec![
                r.what.to_owned(),
                r.name.clone(),
                r.id.clone(),
                state.to_owned(),
            ]
        })
        .collect();
    let mut text = table::render(&["what", "name", "id", "state"], &cells);
    text += &format!(
        "\nclinic admin  {} (password: the one given)\npatients      {} / {}\n",
        args.clinic_admin_email,
        patients
            .iter()
            .map(|(e, _, _)| e.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        args.patient_password
    );
    Ok(output::emit(&text)?)
}

fn reason(s: &tonic::Status) -> String {
    Failure::from_status(s).reason.unwrap_or_default()
}

async fn clinic(
    appts: &mut Appointments,
    admin: &str,
    name: &str,
    rows: &mut Vec<Row>,
) -> anyhow::Result<String> {
    let list = appts
        .list_clinics(bearer(
            admin,
            ListClinicsRequest {
                page_size: 100,
                page_token: String::new(),
            },
        ))
        .await?
        .into_inner();
    let (id, created) = match list.clinics.into_iter().find(|c| c.name == name) {
        Some(c) => (c.id, false),
        None => {
            let req = CreateClinicRequest {
                name: name.to_owned(),
                address: "Bulevar oslobođenja 1".into(),
                city: "Novi Sad".into(),
                time_zone: "Europe/Belgrade".into(),
            };
            (
                appts
                    .create_clinic(bearer(admin, req))
                    .await?
                    .into_inner()
                    .id,
                true,
            )
        }
    };
    rows.push(Row {
        what: "clinic",
        name: name.to_owned(),
        id: id.clone(),
        created,
    });
    Ok(id)
}

/// The clinic admin's token; created with the operator command when it cannot sign in.
async fn clinic_admin(
    ctx: &Ctx,
    args: &SeedArgs,
    clinic_id: &str,
    password: &str,
    rows: &mut Vec<Row>,
) -> anyhow::Result<String> {
    let email = &args.clinic_admin_email;
    let mut reg = ctx.registration().await?;
    let mut created = false;
    if let Err(first) = connect::login(&mut reg, email, password).await {
        let Some(bin) = &args.registration_service_bin else {
            anyhow::bail!(
                "{first:#}\nclinic admins are made by an operator: `registration-service create-clinic-admin \
                 --clinic-id {clinic_id} --email {email} --first-name Demo --last-name ClinicAdmin` \
                 (password on stdin), or pass --registration-service-bin"
            );
        };
        let mut child = tokio::process::Command::new(bin)
            .args([
                "create-clinic-admin",
                "--clinic-id",
                clinic_id,
                "--email",
                email,
            ])
            .args(["--first-name", "Demo", "--last-name", "ClinicAdmin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(format!("{password}\n").as_bytes()).await?;
        drop(stdin);
        anyhow::ensure!(
            child.wait().await?.success(),
            "{} create-clinic-admin failed",
            bin.display()
        );
        created = true;
    }
    let token = connect::login(&mut reg, email, password).await?;
    rows.push(Row {
        what: "clinic admin",
        name: email.clone(),
        id: String::new(),
        created,
    });
    Ok(token)
}

async fn doctor(
    appts: &mut Appointments,
    token: &str,
    clinic_id: &str,
    (first, last, specialization): (&str, &str, &str),
    rows: &mut Vec<Row>,
) -> anyhow::Result<String> {
    let list = appts
        .list_doctors(bearer(
            token,
            ListDoctorsRequest {
                clinic_id: clinic_id.to_owned(),
                page_size: 100,
                page_token: String::new(),
            },
        ))
        .await?
        .into_inner();
    let (id, created) = match list
        .doctors
        .into_iter()
        .find(|d| d.first_name == first && d.last_name == last)
    {
        Some(d) => (d.id, false),
        None => {
            let req = CreateDoctorRequest {
                clinic_id: clinic_id.to_owned(),
                first_name: first.into(),
                last_name: last.into(),
                specialization: specialization.into(),
            };
            (
                appts
                    .create_doctor(bearer(token, req))
                    .await?
                    .into_inner()
                    .id,
                true,
            )
        }
    };
    rows.push(Row {
        what: "doctor",
        name: format!("{first} {last}, {specialization}"),
        id: id.clone(),
        created,
    });
    Ok(id)
}

#[derive(Clone, Copy)]
enum Kind {
    Room,
    ExamType,
}

/// A room or exam type by name.
async fn named(
    appts: &mut Appointments,
    token: &str,
    clinic_id: &str,
    kind: Kind,
    name: &str,
    rows: &mut Vec<Row>,
) -> anyhow::Result<String> {
    let (clinic_id, page_token) = (clinic_id.to_owned(), String::new());
    let found = match kind {
        Kind::Room => appts
            .list_rooms(bearer(
                token,
                ListRoomsRequest {
                    clinic_id: clinic_id.clone(),
                    page_size: 100,
                    page_token,
                },
            ))
            .await?
            .into_inner()
            .rooms
            .into_iter()
            .find(|r| r.name == name)
            .map(|r| r.id),
        Kind::ExamType => appts
            .list_exam_types(bearer(
                token,
                ListExamTypesRequest {
                    clinic_id: clinic_id.clone(),
                    page_size: 100,
                    page_token,
                },
            ))
            .await?
            .into_inner()
            .exam_types
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.id),
    };
    let (id, created) = match found {
        Some(id) => (id, false),
        None => {
            let name = name.to_owned();
            let id = match kind {
                Kind::Room => {
                    appts
                        .create_room(bearer(token, CreateRoomRequest { clinic_id, name }))
                        .await?
                        .into_inner()
                        .id
                }
                Kind::ExamType => {
                    appts
                        .create_exam_type(bearer(token, CreateExamTypeRequest { clinic_id, name }))
                        .await?
                        .into_inner()
                        .id
                }
            };
            (id, true)
        }
    };
    let what = match kind {
        Kind::Room => "room",
        Kind::ExamType => "exam type",
    };
    rows.push(Row {
        what,
        name: name.to_owned(),
        id: id.clone(),
        created,
    });
    Ok(id)
}
