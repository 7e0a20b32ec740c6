use std::{net::SocketAddr, sync::Arc, time::Duration};

use clinic_common::{
    auth::Role,
    outbox::FeedSettings,
    testing::{Running, TestDb, TestKeys, bearer},
};
use clinic_proto::pb::registration::v1::{
    self as pb, registration_service_client::RegistrationServiceClient,
};
use registration_service::{
    db::SCHEMA,
    service::operators::{NewAdmin, create_admin},
};
use sqlx::PgPool;
use tonic::transport::Channel;
use uuid::Uuid;

pub type Client = RegistrationServiceClient<Channel>;

/// One running registration-service on its own port; replicas share the database and keys.
pub struct TestApp {
    pub addr: SocketAddr,
    pub db: Arc<TestDb>,
    pub pool: PgPool,
    pub keys: Arc<TestKeys>,
    server: Running,
}

/// An approval in flight in the service, parked on its request's row lock, which `holder` keeps
/// (an open transaction) until [`ParkedApproval::release`] or until its session ends.
pub struct ParkedApproval {
    pub request: pb::RegistrationRequest,
    pub admin: Admin,
    pub holder: sqlx::PgConnection,
    pub call: tokio::task::JoinHandle<
        Result<tonic::Response<pb::ApproveRegistrationRequestResponse>, tonic::Status>,
    >,
}

impl ParkedApproval {
    pub async fn release(mut self) -> Self {
        sqlx::query("ROLLBACK")
            .execute(&mut self.holder)
            .await
            .unwrap();
        self
    }
}

pub struct Admin {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

pub async fn spawn_app() -> TestApp {
    let db = Arc::new(TestDb::create().await);
    let keys = Arc::new(TestKeys::generate());
    spawn_on(db, keys).await
}

/// Two replicas on one database whose outbox feeds use `feed`.
pub async fn spawn_replicas_with_feed(feed: FeedSettings) -> (TestApp, TestApp) {
    let db = Arc::new(TestDb::create().await);
    let keys = Arc::new(TestKeys::generate());
    let a = spawn_on_with(db.clone(), keys.clone(), feed.clone()).await;
    let b = spawn_on_with(db, keys, feed).await;
    (a, b)
}

/// A server on a database the test has already prepared.
pub async fn spawn_on(db: Arc<TestDb>, keys: Arc<TestKeys>) -> TestApp {
    spawn_on_with(db, keys, FeedSettings::default()).await
}

async fn spawn_on_with(db: Arc<TestDb>, keys: Arc<TestKeys>, feed: FeedSettings) -> TestApp {
    let mut settings = registration_service::testing::settings(&db, &keys).await;
    settings.outbox = feed;
    spawn_settings(db, keys, settings).await
}

/// A server on a fresh database whose settings `adjust` changes first.
async fn spawn_adjusted(adjust: impl FnOnce(&mut registration_service::Settings)) -> TestApp {
    let db = Arc::new(TestDb::create().await);
    let keys = Arc::new(TestKeys::generate());
    let mut settings = registration_service::testing::settings(&db, &keys).await;
    adjust(&mut settings);
    spawn_settings(db, keys, settings).await
}

/// A server with these rate limits (the suites otherwise run without any).
pub async fn spawn_with_limits(limits: registration_service::limits::LimitSettings) -> TestApp {
    spawn_adjusted(|s| s.limits = limits).await
}

/// A server whose row-lock waits end after `lock_timeout`.
pub async fn spawn_with_lock_timeout(lock_timeout: Duration) -> TestApp {
    spawn_adjusted(|s| s.lock_timeout = lock_timeout).await
}

/// A server with these per-call and per-connection limits.
pub async fn spawn_with_server_limits(limits: clinic_common::server::ServerLimits) -> TestApp {
    spawn_adjusted(|s| s.server_limits = limits).await
}

/// A server speaking TLS with `tls` (mutual: services present their certificates).
pub async fn spawn_with_tls(tls: clinic_common::tls::Tls) -> TestApp {
    spawn_adjusted(|s| s.tls = tls).await
}

async fn spawn_settings(
    db: Arc<TestDb>,
    keys: Arc<TestKeys>,
    settings: registration_service::Settings,
) -> TestApp {
    let server = registration_service::testing::start(settings).await;
    let pool = db.pool(SCHEMA).await;
    TestApp {
        addr: server.addr,
        db,
        pool,
        keys,
        server,
    }
}

impl TestApp {
    /// Submits a request, locks its row, and sends its approval on `client`: the call waits in the
    /// service for the lock when this returns.
    pub async fn park_approval(&self, mut client: Client) -> ParkedApproval {
        use sqlx::Connection;
        let admin = self.admin(0).await;
        let request = self.submit(form()).await;
        let mut holder = sqlx::PgConnection::connect(&self.db.url).await.unwrap();
        sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
        sqlx::query(
            "SELECT 1 FROM registration.registration_requests WHERE id = $1::uuid FOR UPDATE",
        )
        .bind(&request.id)
        .execute(&mut holder)
        .await
        .unwrap();
        let req = approve(&request.id, request.version, &admin.token);
        let call = tokio::spawn(async move { client.approve_registration_request(req).await });
        self.wait_for_lock_waiters("transactionid", 1).await;
        ParkedApproval {
            request,
            admin,
            holder,
            call,
        }
    }

    /// A second server on the same database and keys: the two-replica setup.
    pub async fn replica(&self) -> TestApp {
        spawn_on(self.db.clone(), self.keys.clone()).await
    }

    pub async fn client(&self) -> Client {
        RegistrationServiceClient::new(self.server.channel().await)
    }

    /// A client whose calls come from `ip`, a loopback address such as 127.0.0.2 (Linux routes all
    /// of 127.0.0.0/8 to this host): another client address, as the server sees it.
    pub async fn client_from(&self, ip: &str) -> Client {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("valid uri")
            .local_address(Some(ip.parse().expect("an IP address")))
            .connect()
            .await
            .expect("connect to test server");
        RegistrationServiceClient::new(channel)
    }

    pub async fn admin(&self, n: usize) -> Admin {
        let email = format!("admin{n}-{}@clinic.example.com", Uuid::new_v4().simple());
        let id = create_admin(
            &self.pool,
            NewAdmin {
                email: email.clone(),
                password: "admin password 1".into(),
                first_name: format!("Admin{n}"),
                last_name: "Center".into(),
                clinic_id: None,
            },
        )
        .await
        .expect("create admin");
        Admin {
            id,
            email,
            token: self.token_for(&id.to_string(), Role::ClinicCenterAdmin),
        }
    }

    pub fn token_for(&self, subject: &str, role: Role) -> String {
        self.keys
            .token(subject, role, None, Duration::from_secs(600))
    }

    pub async fn submit(&self, form: pb::SubmitRegistrationRequest) -> pb::RegistrationRequest {
        self.client()
            .await
            .submit_registration(form)
            .await
            .expect("submit registration")
            .into_inner()
    }

    pub async fn outbox_rows(&self, aggregate_id: &str) -> Vec<(String, serde_json::Value)> {
        sqlx::query_as("SELECT event_type, payload FROM outbox WHERE aggregate_id = $1")
            .bind(aggregate_id)
            .fetch_all(&self.pool)
            .await
            .unwrap()
    }

    /// Waits (bounded) until `n` sessions of this database wait for a lock of `locktype`.
    pub async fn wait_for_lock_waiters(&self, locktype: &str, n: i64) {
        clinic_common::testing::wait_for_lock_waiters(&self.pool, locktype, n).await;
    }

    pub async fn count(&self, table: &'static str) -> i64 {
        let sql = match table {
            "registration_requests" => "SELECT count(*) FROM registration_requests",
            "accounts" => "SELECT count(*) FROM accounts",
            "outbox" => "SELECT count(*) FROM outbox",
            other => panic!("no count for {other}"),
        };
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }
}

impl TestApp {
    /// What SIGTERM does in the binary.
    pub fn begin_shutdown(&self) {
        self.server.begin_shutdown();
    }
}

/// A valid registration form with a unique e-mail and insurance number.
pub fn form() -> pb::SubmitRegistrationRequest {
    let n = Uuid::new_v4().as_u128();
    pb::SubmitRegistrationRequest {
        email: format!("patient-{:x}@mail.example.com", n as u64),
        password: "patient password 1".into(),
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

pub fn approve(
    id: &str,
    version: i64,
    token: &str,
) -> tonic::Request<pb::ApproveRegistrationRequestRequest> {
    bearer(
        token,
        pb::ApproveRegistrationRequestRequest {
            id: id.to_owned(),
            expected_version: Some(version),
        },
    )
}

pub fn reject(
    id: &str,
    version: i64,
    token: &str,
) -> tonic::Request<pb::RejectRegistrationRequestRequest> {
    bearer(
        token,
        pb::RejectRegistrationRequestRequest {
            id: id.to_owned(),
            expected_version: Some(version),
            reason: "insurance number does not match our records".into(),
        },
    )
}
