use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use clinic_common::{
    outbox::{NewEvent, append},
    testing::{Mail, bearer},
};
use clinic_proto::pb::{notifier::v1 as pb, registration::v1 as reg};
use tokio::sync::Barrier;
use uuid::Uuid;

use crate::helpers::{ACTIVATION_URL, Knobs, Pipeline, message_id, spawn_pipeline};

const WAIT: Duration = Duration::from_secs(90);

/// Waits until every delivery in the ledger is settled (SENT or DEAD) and `n` exist.
async fn settled(p: &Pipeline, n: i64) {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let (total, open): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE status = 'QUEUED') FROM deliveries",
        )
        .fetch_one(&p.pool)
        .await
        .unwrap();
        if total >= n && open == 0 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{total} deliveries, {open} still queued"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn by_message_id(mails: &[Mail]) -> HashMap<String, Vec<Mail>> {
    let mut m: HashMap<String, Vec<Mail>> = HashMap::new();
    for mail in mails {
        m.entry(mail.message_id.clone())
            .or_default()
            .push(mail.clone());
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_approve_vs_reject_race_sends_exactly_one_right_email_per_request() {
    const REQUESTS: usize = 20;
    const CALLERS: usize = 16;
    let p = spawn_pipeline(Knobs::default()).await;
    let mut admins = Vec::new();
    for n in 0..CALLERS {
        admins.push(p.admin(n).await);
    }
    let admins = Arc::new(admins);
    let mut client = p.registration().await;
    let mut requests = Vec::new();
    for _ in 0..REQUESTS {
        requests.push(p.submit(&mut client).await);
    }

    let mut tasks = Vec::new();
    for r in &requests {
        let barrier = Arc::new(Barrier::new(CALLERS));
        for caller in 0..CALLERS {
            let (mut c, barrier, admins, id) = (
                client.clone(),
                barrier.clone(),
                admins.clone(),
                r.id.clone(),
            );
            let (approve, reject) = (
                p.approve(&id, &admins[caller].token),
                p.reject(&id, &admins[caller].token, "Insurance <expired> & unpaid"),
            );
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                if caller % 2 == 0 {
                    c.approve_registration_request(approve).await.is_ok()
                } else {
                    c.reject_registration_request(reject).await.is_ok()
                }
            }));
        }
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, REQUESTS);

    settled(&p, REQUESTS as i64).await;
    let mails = p.smtp.wait_for(REQUESTS, WAIT).await;
    assert_eq!(mails.len(), REQUESTS, "exactly one e-mail per request");
    let by_id = by_message_id(&mails);
    for r in &requests {
        let ids = p.event_ids(&p.reg_pool, &r.id).await;
        assert_eq!(ids.len(), 1);
        let mail = &by_id[&message_id(ids[0])];
        assert_eq!(mail.len(), 1);
        let mail = &mail[0];
        assert!(mail.to.contains(&r.email), "{} vs {}", mail.to, r.email);
        let status: String =
            sqlx::query_scalar("SELECT status FROM registration_requests WHERE id = $1::uuid")
                .bind(&r.id)
                .fetch_one(&p.reg_pool)
                .await
                .unwrap();
        if status == "APPROVED" {
            assert!(mail.subject.contains("approved"), "{}", mail.subject);
            // The link in the e-mail activates the account.
            let link = mail
                .text
                .lines()
                .find(|l| l.starts_with(ACTIVATION_URL))
                .expect("activation link");
            let token = link.split("token=").nth(1).unwrap().trim();
            client
                .activate_account(reg::ActivateAccountRequest {
                    token: token.to_owned(),
                })
                .await
                .unwrap();
        } else {
            assert_eq!(status, "REJECTED");
            assert!(mail.subject.contains("not approved"), "{}", mail.subject);
            assert!(
                mail.text.contains("Insurance <expired> & unpaid"),
                "{}",
                mail.text
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_committed_after_later_ones_is_still_mailed() {
    let p = spawn_pipeline(Knobs::default()).await;
    let admin = p.admin(0).await;
    let mut client = p.registration().await;

    let mut slow = p.reg_pool.begin().await.unwrap();
    let late = append(
        &mut slow,
        NewEvent {
            aggregate_type: "registration_request",
            aggregate_id: Uuid::new_v4().to_string(),
            event_type: "registration.rejected",
            payload: serde_json::json!({"email": "late@mail.example.com", "first_name": "Late", "last_name": "Commit",
                                        "reason": "committed last"}),
        },
    )
    .await
    .unwrap();
    let r = p.submit(&mut client).await;
    client
        .approve_registration_request(p.approve(&r.id, &admin.token))
        .await
        .unwrap();
    let before = p.smtp.wait_for(1, WAIT).await;
    assert_eq!(before.len(), 1, "the uncommitted event is not mailed");

    slow.commit().await.unwrap();

    let mails = p.smtp.wait_for(2, WAIT).await;
    assert_eq!(mails.len(), 2, "each event mailed once");
    let late_mail = mails
        .iter()
        .find(|m| m.message_id == message_id(late))
        .expect("late event mailed");
    assert!(late_mail.text.contains("committed last"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_notifier_replicas_send_no_duplicates() {
    let p = spawn_pipeline(Knobs {
        replicas: 2,
        ..Knobs::default()
    })
    .await;
    let admin = p.admin(0).await;
    let mut client = p.registration().await;
    let mut ids = Vec::new();
    for _ in 0..30 {
        let r = p.submit(&mut client).await;
        client
            .approve_registration_request(p.approve(&r.id, &admin.token))
            .await
            .unwrap();
        ids.push(r.id);
    }
    settled(&p, 30).await;
    let mails = p.smtp.messages();
    let unique: HashSet<&String> = mails.iter().map(|m| &m.message_id).collect();
    assert_eq!(mails.len(), 30);
    assert_eq!(unique.len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_smtp_down_mail_waits_retries_and_arrives_and_exhausted_deliveries_can_be_retried() {
    let mut p = spawn_pipeline(Knobs {
        max_attempts: 3,
        backoff_base: Duration::from_millis(100),
        ..Knobs::default()
    })
    .await;
    let admin = p.admin(0).await;
    let mut client = p.registration().await;
    p.smtp.stop();
    let r = p.submit(&mut client).await;
    client
        .approve_registration_request(p.approve(&r.id, &admin.token))
        .await
        .unwrap();

    // Attempts are made and fail while the server is down, until the delivery is DEAD.
    let deadline = std::time::Instant::now() + WAIT;
    let dead_id: Uuid = loop {
        let row: Option<(Uuid, String, i32)> =
            sqlx::query_as("SELECT id, status, attempts FROM deliveries")
                .fetch_optional(&p.pool)
                .await
                .unwrap();
        if let Some((id, status, attempts)) = row.clone()
            && status == "DEAD"
        {
            assert_eq!(attempts, 3);
            break id;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never became DEAD: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let admin_token = admin.token.clone();
    let mut operator = p.operator().await;
    let dead = operator
        .list_deliveries(bearer(
            &admin_token,
            pb::ListDeliveriesRequest {
                status: Some(pb::DeliveryStatus::Dead as i32),
                page_size: 10,
                page_token: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(dead.deliveries.len(), 1);
    assert!(
        dead.deliveries[0].last_error.contains("smtp"),
        "{:?}",
        dead.deliveries[0]
    );

    // A second e-mail while the server is still down keeps retrying…
    let r2 = p.submit(&mut client).await;
    client
        .approve_registration_request(p.approve(&r2.id, &admin.token))
        .await
        .unwrap();
    // …and arrives once it is back; the DEAD one needs an operator.
    p.smtp.restart();
    let mails = p.smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1);
    let retried = operator
        .retry_delivery(bearer(
            &admin_token,
            pb::RetryDeliveryRequest {
                id: dead_id.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retried.status, pb::DeliveryStatus::Queued as i32);
    let mails = p.smtp.wait_for(2, WAIT).await;
    assert_eq!(mails.len(), 2);
    let sent = operator
        .get_delivery(bearer(
            &admin_token,
            pb::GetDeliveryRequest {
                id: dead_id.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(sent.status, pb::DeliveryStatus::Sent as i32);
    // A sent delivery cannot be retried.
    let err = operator
        .retry_delivery(bearer(
            &admin_token,
            pb::RetryDeliveryRequest {
                id: dead_id.to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
}

/// The activation token is at rest in clear nowhere: the outbox carries it sealed for the notifier,
/// the notifier's ledger keeps that sealed payload, and only the e-mail holds the working link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activation_token_is_in_the_email_and_in_clear_in_neither_table() {
    let p = spawn_pipeline(Knobs::default()).await;
    p.approve_one().await;
    let mut client = p.registration().await;
    let mails = p.smtp.wait_for(1, WAIT).await;
    let link = mails[0]
        .text
        .lines()
        .find(|l| l.starts_with(ACTIVATION_URL))
        .expect("activation link");
    let token = link.split("token=").nth(1).unwrap().trim().to_owned();
    settled(&p, 1).await;

    let outbox: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE strpos(payload::text, $1) > 0")
            .bind(&token)
            .fetch_one(&p.reg_pool)
            .await
            .unwrap();
    assert_eq!(outbox, 0, "outbox in clear");
    let ledger: i64 =
        sqlx::query_scalar("SELECT count(*) FROM deliveries WHERE strpos(payload::text, $1) > 0")
            .bind(&token)
            .fetch_one(&p.pool)
            .await
            .unwrap();
    assert_eq!(ledger, 0, "ledger in clear");
    let sealed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM deliveries WHERE payload ? 'activation_token_sealed' \
         AND NOT payload ? 'activation_token'",
    )
    .fetch_one(&p.pool)
    .await
    .unwrap();
    assert_eq!(sealed, 1);
    client
        .activate_account(reg::ActivateAccountRequest { token })
        .await
        .expect("the e-mailed link works");
}

#[tokio::test]
async fn operator_rpcs_need_an_admin_token_and_refuse_bad_input() {
    let p = spawn_pipeline(Knobs::default()).await;
    let patient = p.token(
        &Uuid::new_v4().to_string(),
        clinic_common::auth::Role::Patient,
        None,
    );
    let mut operator = p.operator().await;
    let list = |token: &str| {
        bearer(
            token,
            pb::ListDeliveriesRequest {
                status: None,
                page_size: 10,
                page_token: String::new(),
            },
        )
    };
    let err = operator.list_deliveries(list(&patient)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::PermissionDenied);
    // No service reads the ledger: no service token is even for this server.
    let service = p.token(
        "service:notifier-service",
        clinic_common::auth::Role::Service,
        None,
    );
    let err = operator.list_deliveries(list(&service)).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // Bad input is typed and changes nothing.
    let admin = p.admin(0).await.token;
    let err = operator
        .retry_delivery(bearer(
            &admin,
            pb::RetryDeliveryRequest {
                id: "1; DROP TABLE deliveries".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let err = operator
        .get_delivery(bearer(
            &admin,
            pb::GetDeliveryRequest {
                id: Uuid::new_v4().to_string(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    for size in [0, 101] {
        let err = operator
            .list_deliveries(bearer(
                &admin,
                pb::ListDeliveriesRequest {
                    status: None,
                    page_size: size,
                    page_token: String::new(),
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument);
    }
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM deliveries")
        .fetch_one(&p.pool)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    clinic_common::testing::assert_every_rpc_has_a_policy(
        notifier_service::policy::policy(),
        &[notifier_service::policy::SERVICE_NAME],
    );
}
