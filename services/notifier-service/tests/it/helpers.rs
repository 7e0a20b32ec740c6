use std::{sync::Arc, time::Duration};

use clinic_common::{
    auth::Role,
    outbox::FeedSettings,
    testing::{Running, SmtpServer, TestDb, TestKeys, bearer},
};
use clinic_proto::pb::{
    notifier::v1::notifier_service_client::NotifierServiceClient,
    registration::v1::{self as reg, registration_service_client::RegistrationServiceClient},
};
use notifier_service::Settings;
use secrecy::ExposeSecret;
use sqlx::PgPool;
use tonic::transport::Channel;
use uuid::Uuid;

pub use notifier_service::testing::ACTIVATION_URL;

/// The three services on one database, a real SMTP server, one key pair.
pub struct Pipeline {
    pub db: Arc<TestDb>,
    pub keys: Arc<TestKeys>,
    pub smtp: SmtpServer,
    pub registration: Running,
    pub appointment: Running,
    pub notifiers: Vec<Running>,
    /// `registration`, `appointment` and `notifier` schemas.
    pub reg_pool: PgPool,
    pub appt_pool: PgPool,
    pub pool: PgPool,
}

#[derive(Clone)]
pub struct Knobs {
    pub max_attempts: i32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub replicas: usize,
    /// How long a sender's claim on a delivery lasts.
    pub claim: Duration,
    /// The producers' outbox feeds.
    pub feed: FeedSettings,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(2),
            replicas: 1,
            claim: Duration::from_secs(30),
            feed: FeedSettings::default(),
        }
    }
}

/// `application_name` of the notifiers' database sessions, so a test can find (and kill) them.
pub const NOTIFIER_APPLICATION_NAME: &str = "notifier-it";

fn with_application_name(url: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}application_name={NOTIFIER_APPLICATION_NAME}")
}

pub fn service_token(keys: &TestKeys) -> String {
    keys.token(
        "service:notifier-service",
        Role::Service,
        None,
        Duration::from_secs(3600),
    )
}

/// The shared test settings (`notifier_service::testing`), with this suite's knobs and sessions
/// named so a test can find them.
pub async fn notifier_settings(p: &Pipeline, knobs: Knobs) -> Settings {
    let mut settings = notifier_service::testing::settings(
        &p.db,
        &p.keys,
        p.registration.addr,
        p.appointment.addr,
        p.smtp.port,
    )
    .await;
    settings.database_url = with_application_name(settings.database_url.expose_secret()).into();
    settings.sender.max_attempts = knobs.max_attempts;
    settings.sender.backoff_base = knobs.backoff_base;
    settings.sender.backoff_max = knobs.backoff_max;
    settings.sender.claim = knobs.claim;
    settings.sender.attempt_deadline = knobs.claim / 2;
    // Longer than a send and its SENT write may take, as the start-up check asks.
    settings.drain_deadline = settings.sender.longest_send() + Duration::from_secs(2);
    settings
}

pub use notifier_service::testing::start as start_notifier;

pub async fn spawn_pipeline(knobs: Knobs) -> Pipeline {
    let db = Arc::new(TestDb::create().await);
    let keys = Arc::new(TestKeys::generate());
    let smtp = SmtpServer::start();
    let registration = registration_service::testing::start(registration_service::Settings {
        outbox: knobs.feed.clone(),
        ..registration_service::testing::settings(&db, &keys).await
    })
    .await;
    let appointment = appointment_service::testing::start(appointment_service::Settings {
        outbox: knobs.feed.clone(),
        ..appointment_service::testing::settings(
            &db,
            &keys,
            registration.addr,
            Duration::from_secs(2),
        )
        .await
    })
    .await;
    let mut p = Pipeline {
        reg_pool: db.pool("registration").await,
        appt_pool: db.pool("appointment").await,
        pool: db.pool("notifier").await,
        db,
        keys,
        smtp,
        registration,
        appointment,
        notifiers: Vec::new(),
    };
    for _ in 0..knobs.replicas {
        let n = start_notifier(notifier_settings(&p, knobs.clone()).await).await;
        p.notifiers.push(n);
    }
    p
}

pub struct Admin {
    pub token: String,
}

impl Pipeline {
    /// A new admin approves one new registration request (one `registration.approved` e-mail).
    pub async fn approve_one(&self) {
        let admin = self.admin(0).await;
        let mut client = self.registration().await;
        let r = self.submit(&mut client).await;
        client
            .approve_registration_request(self.approve(&r.id, &admin.token))
            .await
            .unwrap();
    }

    pub fn token(&self, subject: &str, role: Role, clinic: Option<Uuid>) -> String {
        self.keys
            .token(subject, role, clinic, Duration::from_secs(900))
    }

    pub async fn registration(&self) -> RegistrationServiceClient<Channel> {
        RegistrationServiceClient::new(self.registration.channel().await)
    }

    pub async fn operator(&self) -> NotifierServiceClient<Channel> {
        NotifierServiceClient::new(self.notifiers[0].channel().await)
    }

    pub async fn admin(&self, n: usize) -> Admin {
        let id = registration_service::service::operators::create_admin(
            &self.reg_pool,
            registration_service::service::operators::NewAdmin {
                email: format!("admin{n}-{}@clinic.example.com", Uuid::new_v4().simple()),
                password: "admin password 1".into(),
                first_name: format!("Admin{n}"),
                last_name: "Center".into(),
                clinic_id: None,
            },
        )
        .await
        .unwrap();
        Admin {
            token: self.token(&id.to_string(), Role::ClinicCenterAdmin, None),
        }
    }

    /// Submits a registration with an ASCII name (easy to find in the e-mail).
    pub async fn submit(
        &self,
        client: &mut RegistrationServiceClient<Channel>,
    ) -> reg::RegistrationRequest {
        let n = Uuid::new_v4().as_u128();
        self.submit_as(client, &format!("p{:x}@mail.example.com", n as u64))
            .await
    }

    /// Submits a registration for `email`.
    pub async fn submit_as(
        &self,
        client: &mut RegistrationServiceClient<Channel>,
        email: &str,
    ) -> reg::RegistrationRequest {
        let n = Uuid::new_v4().as_u128();
        client
            .submit_registration(reg::SubmitRegistrationRequest {
                email: email.to_owned(),
                password: "patient password 1".into(),
                first_name: "Ana".into(),
                last_name: format!("Test{}", n % 100_000),
                address: "Street 1".into(),
                city: "Novi Sad".into(),
                country: "Serbia".into(),
                phone: "+381 21 123456".into(),
                insurance_number: format!("{:012}", n % 1_000_000_000_000),
                request_id: None,
            })
            .await
            .unwrap()
            .into_inner()
    }

    /// The outbox event ids of an aggregate (a registration request or an appointment).
    pub async fn event_ids(&self, pool: &PgPool, aggregate_id: &str) -> Vec<Uuid> {
        sqlx::query_scalar("SELECT id FROM outbox WHERE aggregate_id = $1")
            .bind(aggregate_id)
            .fetch_all(pool)
            .await
            .unwrap()
    }

    pub fn approve(
        &self,
        id: &str,
        token: &str,
    ) -> tonic::Request<reg::ApproveRegistrationRequestRequest> {
        bearer(
            token,
            reg::ApproveRegistrationRequestRequest {
                id: id.to_owned(),
                expected_version: Some(1),
            },
        )
    }

    pub fn reject(
        &self,
        id: &str,
        token: &str,
        reason: &str,
    ) -> tonic::Request<reg::RejectRegistrationRequestRequest> {
        bearer(
            token,
            reg::RejectRegistrationRequestRequest {
                id: id.to_owned(),
                expected_version: Some(1),
                reason: reason.to_owned(),
            },
        )
    }
}

/// The Message-ID the notifier gives the e-mail of `event_id`.
pub fn message_id(event_id: Uuid) -> String {
    notifier_service::mail::message_id(event_id, "notifier.test")
}

/// Submits and approves one registration for `email`: one `registration.approved` event, one e-mail.
pub async fn approve_one(p: &Pipeline, email: &str) {
    let admin = p.admin(0).await;
    let mut client = p.registration().await;
    let r = p.submit_as(&mut client, email).await;
    client
        .approve_registration_request(p.approve(&r.id, &admin.token))
        .await
        .unwrap();
}

/// (id, status, attempts) of the ledger's only delivery, once it exists.
pub async fn only_delivery(p: &Pipeline) -> (Uuid, String, i32) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows: Vec<(Uuid, String, i32)> =
            sqlx::query_as("SELECT id, status, attempts FROM deliveries")
                .fetch_all(&p.pool)
                .await
                .unwrap();
        assert!(rows.len() <= 1, "{rows:?}");
        if let Some(row) = rows.into_iter().next() {
            return row;
        }
        assert!(std::time::Instant::now() < deadline, "no delivery recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until delivery `id` has `status`.
pub async fn wait_for_status(p: &Pipeline, id: Uuid, status: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now: String = sqlx::query_scalar("SELECT status FROM deliveries WHERE id = $1")
            .bind(id)
            .fetch_one(&p.pool)
            .await
            .unwrap();
        if now == status {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "delivery {id} still {now}, never {status}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ends every database session of the notifiers (their pooled connections die under them); returns
/// how many.
pub async fn terminate_notifier_sessions(p: &Pipeline) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = $1) killed",
    )
    .bind(NOTIFIER_APPLICATION_NAME)
    .fetch_one(&p.pool)
    .await
    .unwrap()
}
