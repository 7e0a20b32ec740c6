use std::{net::SocketAddr, sync::Arc, time::Duration};

use appointment_service::db::SCHEMA;
use clinic_common::{
    auth::Role,
    testing::{Running, TestDb, TestKeys, bearer},
};
use clinic_proto::pb::{
    appointment::v1::{self as pb, appointment_service_client::AppointmentServiceClient},
    registration::v1::{self as reg, registration_service_client::RegistrationServiceClient},
};
use prost_types::Timestamp;
use sqlx::PgPool;
use time::OffsetDateTime;
use tonic::transport::Channel;
use uuid::Uuid;

pub type Client = AppointmentServiceClient<Channel>;

/// registration-service and appointment-service on one fresh database, one key pair.
pub struct Cluster {
    pub db: Arc<TestDb>,
    pub keys: Arc<TestKeys>,
    pub registration: Running,
    pub appointment: Running,
    /// On the `appointment` schema.
    pub pool: PgPool,
    /// On the `registration` schema.
    pub reg_pool: PgPool,
    lock_timeout: Duration,
}

pub const LOCK_TIMEOUT: Duration = Duration::from_millis(2000);

pub async fn spawn_cluster() -> Cluster {
    spawn_cluster_with(LOCK_TIMEOUT).await
}

pub async fn spawn_cluster_with(lock_timeout: Duration) -> Cluster {
    let db = Arc::new(TestDb::create().await);
    let keys = Arc::new(TestKeys::generate());
    let registration = start_registration(&db, &keys).await;
    let appointment = start_appointment(&db, &keys, registration.addr, lock_timeout).await;
    Cluster {
        pool: db.pool(SCHEMA).await,
        reg_pool: db.pool(registration_service::db::SCHEMA).await,
        db,
        keys,
        registration,
        appointment,
        lock_timeout,
    }
}

async fn start_registration(db: &TestDb, keys: &TestKeys) -> Running {
    registration_service::testing::start(registration_service::testing::settings(db, keys).await)
        .await
}

async fn start_appointment(
    db: &TestDb,
    keys: &TestKeys,
    registration: SocketAddr,
    lock_timeout: Duration,
) -> Running {
    appointment_service::testing::start(
        appointment_service::testing::settings(db, keys, registration, lock_timeout).await,
    )
    .await
}

/// A clinic with its admin, two doctors, two rooms and one exam type.
#[derive(Clone)]
pub struct ClinicFixture {
    pub clinic_id: String,
    pub admin: String,
    pub doctors: Vec<String>,
    pub rooms: Vec<String>,
    pub exam_type: String,
}

#[derive(Clone)]
pub struct Patient {
    pub id: Uuid,
    pub token: String,
}

/// A future start on a whole minute, `hours` from now.
pub fn in_hours(hours: i64) -> Timestamp {
    let t = OffsetDateTime::now_utc() + time::Duration::hours(hours);
    Timestamp {
        seconds: t.unix_timestamp() - t.unix_timestamp().rem_euclid(60),
        nanos: 0,
    }
}

impl Cluster {
    /// A second appointment-service on the same database: the two-replica setup.
    pub async fn appointment_replica(&self) -> Running {
        start_appointment(
            &self.db,
            &self.keys,
            self.registration.addr,
            self.lock_timeout,
        )
        .await
    }

    /// A replica whose registration-service is at `registration` (e.g. something that is not one).
    pub async fn appointment_replica_with_registration(&self, registration: SocketAddr) -> Running {
        start_appointment(&self.db, &self.keys, registration, self.lock_timeout).await
    }

    pub async fn client(&self) -> Client {
        AppointmentServiceClient::new(self.appointment.channel().await)
    }

    pub async fn client_of(&self, server: &Running) -> Client {
        AppointmentServiceClient::new(server.channel().await)
    }

    pub fn token(&self, subject: &str, role: Role, clinic: Option<Uuid>) -> String {
        self.keys
            .token(subject, role, clinic, Duration::from_secs(900))
    }

    pub fn center_admin(&self) -> String {
        self.token(&Uuid::new_v4().to_string(), Role::ClinicCenterAdmin, None)
    }

    pub async fn clinic(&self) -> ClinicFixture {
        let mut c = self.client().await;
        let clinic = c
            .create_clinic(bearer(
                &self.center_admin(),
                pb::CreateClinicRequest {
                    name: format!("Clinic {}", Uuid::new_v4().simple()),
                    address: "Bulevar 1".into(),
                    city: "Novi Sad".into(),
                    time_zone: "Europe/Belgrade".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let admin = self.token(
            &Uuid::new_v4().to_string(),
            Role::ClinicAdmin,
            Some(clinic.id.parse().unwrap()),
        );
        let mut doctors = Vec::new();
        let mut rooms = Vec::new();
        for i in 0..2 {
            doctors.push(
                c.create_doctor(bearer(
                    &admin,
                    pb::CreateDoctorRequest {
                        clinic_id: clinic.id.clone(),
                        first_name: format!("Doc{i}"),
                        last_name: "Tor".into(),
                        specialization: "cardiology".into(),
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .id,
            );
            rooms.push(
                c.create_room(bearer(
                    &admin,
                    pb::CreateRoomRequest {
                        clinic_id: clinic.id.clone(),
                        name: format!("Room {i}"),
                    },
                ))
                .await
                .unwrap()
                .into_inner()
                .id,
            );
        }
        let exam_type = c
            .create_exam_type(bearer(
                &admin,
                pb::CreateExamTypeRequest {
                    clinic_id: clinic.id.clone(),
                    name: "ECG".into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .id;
        ClinicFixture {
            clinic_id: clinic.id,
            admin,
            doctors,
            rooms,
            exam_type,
        }
    }

    pub fn new_appointment(
        &self,
        f: &ClinicFixture,
        starts_at: Timestamp,
        doctor: usize,
        room: usize,
    ) -> pb::CreatePredefinedAppointmentRequest {
        pb::CreatePredefinedAppointmentRequest {
            clinic_id: f.clinic_id.clone(),
            doctor_id: f.doctors[doctor].clone(),
            room_id: f.rooms[room].clone(),
            exam_type_id: f.exam_type.clone(),
            starts_at: Some(starts_at),
            duration_minutes: 30,
            price_minor: 10_000,
            currency: "EUR".into(),
            discount_percent: 15,
        }
    }

    /// Creates one appointment `hours` from now with doctor/room `slot`.
    pub async fn appointment(&self, f: &ClinicFixture, hours: i64, slot: usize) -> pb::Appointment {
        self.client()
            .await
            .create_predefined_appointment(bearer(
                &f.admin,
                self.new_appointment(f, in_hours(hours), slot, slot),
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// `n` active patients, registered, approved and activated through registration-service.
    pub async fn patients(&self, n: usize) -> Vec<Patient> {
        let admin = registration_service::service::operators::create_admin(
            &self.reg_pool,
            registration_service::service::operators::NewAdmin {
                email: format!("center-{}@clinic.example.com", Uuid::new_v4().simple()),
                password: "center admin pw 1".into(),
                first_name: "Center".into(),
                last_name: "Admin".into(),
                clinic_id: None,
            },
        )
        .await
        .unwrap();
        let admin_token = self.token(&admin.to_string(), Role::ClinicCenterAdmin, None);
        let mut reg_client = RegistrationServiceClient::new(self.registration.channel().await);
        let mut out = Vec::new();
        for _ in 0..n {
            let (id, activation) = self.approved(&mut reg_client, &admin_token).await;
            reg_client
                .activate_account(reg::ActivateAccountRequest { token: activation })
                .await
                .unwrap();
            out.push(Patient {
                id,
                token: self.token(&id.to_string(), Role::Patient, None),
            });
        }
        out
    }

    /// A patient approved but not yet activated: (id, activation token).
    pub async fn approved_patient(&self) -> (Uuid, String) {
        let admin_token = self.token(&Uuid::new_v4().to_string(), Role::ClinicCenterAdmin, None);
        let mut reg_client = RegistrationServiceClient::new(self.registration.channel().await);
        self.approved(&mut reg_client, &admin_token).await
    }

    async fn approved(
        &self,
        reg_client: &mut RegistrationServiceClient<Channel>,
        admin_token: &str,
    ) -> (Uuid, String) {
        let n = Uuid::new_v4().as_u128();
        let req = reg_client
            .submit_registration(reg::SubmitRegistrationRequest {
                email: format!("p{:x}@mail.example.com", n as u64),
                password: "patient password 1".into(),
                first_name: "Pat".into(),
                last_name: "Ient".into(),
                address: "Street 1".into(),
                city: "Novi Sad".into(),
                country: "Serbia".into(),
                phone: "+381 21 123456".into(),
                insurance_number: format!("{:012}", n % 1_000_000_000_000),
                request_id: None,
            })
            .await
            .unwrap()
            .into_inner();
        let approved = reg_client
            .approve_registration_request(bearer(
                admin_token,
                reg::ApproveRegistrationRequestRequest {
                    id: req.id.clone(),
                    expected_version: Some(1),
                },
            ))
            .await
            .unwrap()
            .into_inner();
        let sealed: String = sqlx::query_scalar(
            "SELECT payload->>'activation_token_sealed' FROM outbox WHERE aggregate_id = $1",
        )
        .bind(&req.id)
        .fetch_one(&self.reg_pool)
        .await
        .unwrap();
        let token = self
            .keys
            .seal
            .open(&sealed)
            .expect("the notifier's key opens it");
        (approved.patient_id.parse().unwrap(), token)
    }

    pub async fn reserve(
        &self,
        client: &mut Client,
        p: &Patient,
        appointment_id: &str,
    ) -> Result<pb::Appointment, tonic::Status> {
        client
            .reserve_appointment(bearer(
                &p.token,
                pb::ReserveAppointmentRequest {
                    appointment_id: appointment_id.to_owned(),
                    request_id: None,
                },
            ))
            .await
            .map(|r| r.into_inner())
    }

    /// (status, patient_id, version) straight from the database.
    pub async fn row(&self, appointment_id: &str) -> (String, Option<Uuid>, i64) {
        sqlx::query_as("SELECT status, patient_id, version FROM appointments WHERE id = $1::uuid")
            .bind(appointment_id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Event types of the appointment's outbox rows, oldest first.
    pub async fn events(&self, appointment_id: &str) -> Vec<String> {
        sqlx::query_scalar(
            "SELECT event_type FROM outbox WHERE aggregate_id = $1 ORDER BY created_at, id",
        )
        .bind(appointment_id)
        .fetch_all(&self.pool)
        .await
        .unwrap()
    }

    /// Waits (bounded) until `n` sessions of this database wait for a lock of `locktype`.
    pub async fn wait_for_lock_waiters(&self, locktype: &str, n: i64) {
        clinic_common::testing::wait_for_lock_waiters(&self.pool, locktype, n).await;
    }

    /// How many sessions of this database wait for a lock of `locktype` right now.
    pub async fn lock_waiters(&self, locktype: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid \
             WHERE s.datname = current_database() AND l.locktype = $1 AND NOT l.granted",
        )
        .bind(locktype)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    /// Waits (bounded) until `call` has answered or `n` sessions wait for a lock of `locktype`: for
    /// a call that parks on a lock with the code as it was and answers at once with the code as it is.
    pub async fn wait_until_answered_or_waiting<T>(
        &self,
        call: &tokio::task::JoinHandle<T>,
        locktype: &str,
        n: i64,
    ) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !call.is_finished() && self.lock_waiters(locktype).await < n {
            assert!(
                std::time::Instant::now() < deadline,
                "neither answered nor {n} sessions waiting for a {locktype} lock after 10 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn count_appointments(&self) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM appointments")
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}
