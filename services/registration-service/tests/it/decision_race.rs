//! The approve-vs-reject race: many admins, one pending request, exactly one decision wins.

use std::{collections::HashMap, sync::Arc};

use clinic_common::testing::error_info;
use clinic_proto::pb::registration::v1 as pb;
use tokio::sync::Barrier;
use tonic::Code;
use uuid::Uuid;

use crate::helpers::{Admin, Client, TestApp, approve, form, reject, spawn_app};

const REQUESTS: usize = 20;
const CALLERS: usize = 16;

#[derive(Debug)]
struct Outcome {
    request_id: String,
    admin: Uuid,
    approved: bool,
    result: Result<pb::RegistrationRequest, tonic::Status>,
}

/// Every caller holds the version it read (1); half approve, half reject; a barrier releases each
/// request's callers together. Callers are spread round-robin over `clients` (one per server).
async fn race(apps: &[&TestApp], clients: &[Client]) {
    let mut admins: Vec<Admin> = Vec::new();
    for n in 0..CALLERS {
        admins.push(apps[0].admin(n).await);
    }
    let admins = Arc::new(admins);
    let mut requests = Vec::new();
    for _ in 0..REQUESTS {
        let r = apps[0].submit(form()).await;
        assert_eq!(r.version, 1);
        requests.push(r);
    }

    let mut tasks = Vec::new();
    for req in &requests {
        let barrier = Arc::new(Barrier::new(CALLERS));
        for caller in 0..CALLERS {
            let mut client = clients[caller % clients.len()].clone();
            let barrier = barrier.clone();
            let admins = admins.clone();
            let (id, version) = (req.id.clone(), req.version);
            tasks.push(tokio::spawn(async move {
                let admin = &admins[caller];
                let approved = caller % 2 == 0;
                barrier.wait().await;
                let result = if approved {
                    client
                        .approve_registration_request(approve(&id, version, &admin.token))
                        .await
                        .map(|r| r.into_inner().request.unwrap())
                } else {
                    client
                        .reject_registration_request(reject(&id, version, &admin.token))
                        .await
                        .map(|r| r.into_inner().request.unwrap())
                };
                Outcome {
                    request_id: id,
                    admin: admin.id,
                    approved,
                    result,
                }
            }));
        }
    }
    let mut by_request: HashMap<String, Vec<Outcome>> = HashMap::new();
    for t in tasks {
        let o = t.await.unwrap();
        by_request.entry(o.request_id.clone()).or_default().push(o);
    }

    for req in &requests {
        let outcomes = &by_request[&req.id];
        assert_eq!(outcomes.len(), CALLERS);
        let winners: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_ok()).collect();
        assert_eq!(
            winners.len(),
            1,
            "request {}: {} winners",
            req.id,
            winners.len()
        );
        let winner = winners[0];
        let decided = winner.result.as_ref().unwrap();
        let (want_status, want_pb) = if winner.approved {
            ("APPROVED", pb::RegistrationStatus::Approved)
        } else {
            ("REJECTED", pb::RegistrationStatus::Rejected)
        };
        assert_eq!(decided.status, want_pb as i32);
        assert_eq!(decided.version, 2);
        assert_eq!(decided.decided_by, winner.admin.to_string());

        for loser in outcomes.iter().filter(|o| o.result.is_err()) {
            let status = loser.result.as_ref().unwrap_err();
            assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
            let (reason, meta) = error_info(status);
            assert_eq!(reason, "REGISTRATION_ALREADY_DECIDED");
            assert_eq!(meta["status"], want_status);
            assert_eq!(meta["decidedBy"], winner.admin.to_string());
            assert_eq!(meta["currentVersion"], "2");
            assert!(!meta["decidedAt"].is_empty());
        }

        // Final database state: the winner's decision, one outbox row of the matching type.
        let (status, decided_by, version): (String, Uuid, i64) = sqlx::query_as(
            "SELECT status, decided_by, version FROM registration_requests WHERE id = $1::uuid",
        )
        .bind(&req.id)
        .fetch_one(&apps[0].pool)
        .await
        .unwrap();
        assert_eq!(
            (status.as_str(), decided_by, version),
            (want_status, winner.admin, 2)
        );
        let events = apps[0].outbox_rows(&req.id).await;
        assert_eq!(
            events.len(),
            1,
            "request {}: {} outbox rows",
            req.id,
            events.len()
        );
        let want_event = if winner.approved {
            "registration.approved"
        } else {
            "registration.rejected"
        };
        assert_eq!(events[0].0, want_event);
    }
    let approvals = by_request
        .values()
        .filter(|o| o.iter().any(|o| o.approved && o.result.is_ok()))
        .count() as i64;
    assert_eq!(apps[0].count("accounts").await, approvals + CALLERS as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_vs_reject_race_has_exactly_one_winner_per_request() {
    let app = spawn_app().await;
    let client = app.client().await;
    race(&[&app], &[client]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_vs_reject_race_across_two_servers_sharing_one_database() {
    let a = spawn_app().await;
    let b = a.replica().await;
    assert_ne!(a.addr, b.addr);
    let clients = [a.client().await, b.client().await];
    race(&[&a, &b], &clients).await;
}
