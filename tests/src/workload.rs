//! The clients of the chaos run: applicants submitting registrations, admins racing to decide them
//! (a barrier starts every round, all admins on the same request), patients reserving, cancelling and
//! retrying with the same `request_id` — also after a cancel. Every attempt is logged with its time
//! window and outcome for the checker.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use clinic_proto::pb::{
    appointment::v1::{CancelReservationRequest, ReserveAppointmentRequest},
    registration::v1::{
        ApproveRegistrationRequestRequest, ListRegistrationRequestsRequest, RegistrationStatus,
        RejectRegistrationRequestRequest,
    },
};
use rand::Rng;
use time::OffsetDateTime;
use tokio::{sync::Barrier, time::Instant};
use tonic::Code;
use uuid::Uuid;

use crate::{
    clients::{Clients, call},
    seed::{Admin, Patient, form},
};

#[derive(Debug, Clone)]
pub enum Op {
    Submit {
        email: String,
        request_id: String,
    },
    Approve {
        request: Uuid,
        admin: Uuid,
        expected_version: i64,
    },
    Reject {
        request: Uuid,
        admin: Uuid,
        expected_version: i64,
    },
    Reserve {
        appointment: Uuid,
        patient: Uuid,
        request_id: String,
    },
    Cancel {
        appointment: Uuid,
        patient: Uuid,
    },
}

#[derive(Debug, Clone)]
pub enum Outcome {
    /// The call succeeded: the returned row's id, version and (for appointments) holder.
    Ok {
        id: Uuid,
        version: i64,
        holder: Option<Uuid>,
    },
    /// A definite answer: the service handled the call and said no.
    Refused { code: Code, reason: String },
    /// The client cannot know whether it took effect (connection lost, deadline, crash).
    Unknown { code: Code, message: String },
}

impl Outcome {
    fn from_status(s: &tonic::Status) -> Outcome {
        match s.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal => Outcome::Unknown {
                code: s.code(),
                message: s.message().to_owned(),
            },
            code => Outcome::Refused {
                code,
                reason: clinic_common::testing::error_info(s).0,
            },
        }
    }

    fn is_unknown(&self) -> bool {
        matches!(self, Outcome::Unknown { .. })
    }
}

#[derive(Debug, Clone)]
pub struct Attempt {
    /// Attempts of one logical operation (a retry keeps it) share this.
    pub op_id: u64,
    pub op: Op,
    pub started: OffsetDateTime,
    pub ended: OffsetDateTime,
    pub outcome: Outcome,
}

#[derive(Default, Clone)]
pub struct Log(Arc<Mutex<Vec<Attempt>>>);

impl Log {
    pub fn attempts(&self) -> Vec<Attempt> {
        self.0.lock().unwrap().clone()
    }

    fn next_op(&self) -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `attempt` (a fresh call each time) until it gives a definite answer, at most `tries` times.
    async fn run<F, Fut>(&self, op: Op, tries: u32, mut attempt: F) -> Outcome
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(Uuid, i64, Option<Uuid>), tonic::Status>>,
    {
        let op_id = self.next_op();
        let mut outcome = Outcome::Unknown {
            code: Code::Unknown,
            message: "not tried".into(),
        };
        for _ in 0..tries {
            let started = OffsetDateTime::now_utc();
            outcome = match attempt().await {
                Ok((id, version, holder)) => Outcome::Ok {
                    id,
                    version,
                    holder,
                },
                Err(s) => Outcome::from_status(&s),
            };
            let ended = OffsetDateTime::now_utc();
            self.0.lock().unwrap().push(Attempt {
                op_id,
                op: op.clone(),
                started,
                ended,
                outcome: outcome.clone(),
            });
            if !outcome.is_unknown() {
                break;
            }
        }
        outcome
    }
}

/// How many times an operation with an unknown outcome is retried (same request id / version).
const TRIES: u32 = 3;

/// Who holds the appointment as returned (none when it is available).
fn holder(a: &clinic_proto::pb::appointment::v1::Appointment) -> Option<Uuid> {
    a.patient_id.parse().ok()
}

fn uuid(s: &str) -> Uuid {
    s.parse().unwrap_or_default()
}

pub async fn applicant(clients: Clients, log: Log, until: Instant) {
    while Instant::now() < until {
        let mut f = form("applicant");
        let request_id = Uuid::new_v4().to_string();
        f.request_id = Some(request_id.clone());
        let op = Op::Submit {
            email: f.email.clone(),
            request_id,
        };
        log.run(op, TRIES, || {
            let f = f.clone();
            let mut c = clients.registration();
            async move {
                let r = c.submit_registration(call(None, f)).await?.into_inner();
                Ok((uuid(&r.id), r.version, None))
            }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// What the round's leader chose: the request every admin decides this round.
type Choice = Arc<Mutex<Option<(Uuid, i64)>>>;

pub async fn admin(
    clients: Clients,
    log: Log,
    me: Admin,
    barrier: Arc<Barrier>,
    choice: Choice,
    until: Instant,
) {
    loop {
        // Everyone stops at the same round: the deadline is judged by the leader.
        if barrier.wait().await.is_leader() {
            let picked = if Instant::now() < until {
                pick_pending(&clients, &me).await
            } else {
                Some((Uuid::nil(), -1))
            };
            *choice.lock().unwrap() = picked;
        }
        barrier.wait().await;
        let picked = *choice.lock().unwrap();
        let Some((request, version)) = picked else {
            // Nothing pending (or the list failed): next round.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        if version < 0 {
            return;
        }
        let approve = rand::rng().random_bool(0.5);
        let token = me.token.clone();
        if approve {
            let op = Op::Approve {
                request,
                admin: me.id,
                expected_version: version,
            };
            log.run(op, TRIES, || {
                let mut c = clients.registration();
                let req = call(
                    Some(&token),
                    ApproveRegistrationRequestRequest {
                        id: request.to_string(),
                        expected_version: Some(version),
                    },
                );
                async move {
                    let r = c.approve_registration_request(req).await?.into_inner();
                    let r = r.request.unwrap_or_default();
                    Ok((uuid(&r.id), r.version, None))
                }
            })
            .await;
        } else {
            let op = Op::Reject {
                request,
                admin: me.id,
                expected_version: version,
            };
            log.run(op, TRIES, || {
                let mut c = clients.registration();
                let req = call(
                    Some(&token),
                    RejectRegistrationRequestRequest {
                        id: request.to_string(),
                        expected_version: Some(version),
                        reason: "documents incomplete".into(),
                    },
                );
                async move {
                    let r = c.reject_registration_request(req).await?.into_inner();
                    let r = r.request.unwrap_or_default();
                    Ok((uuid(&r.id), r.version, None))
                }
            })
            .await;
        }
    }
}

async fn pick_pending(clients: &Clients, me: &Admin) -> Option<(Uuid, i64)> {
    let listed = clients
        .registration()
        .list_registration_requests(call(
            Some(&me.token),
            ListRegistrationRequestsRequest {
                status: Some(RegistrationStatus::Pending as i32),
                page_size: 10,
                page_token: String::new(),
            },
        ))
        .await
        .ok()?
        .into_inner();
    let applicants: Vec<_> = listed
        .requests
        .into_iter()
        .filter(|r| r.email.starts_with("applicant-"))
        .collect();
    let r = applicants.get(rand::rng().random_range(0..applicants.len().max(1)))?;
    Some((uuid(&r.id), r.version))
}

pub async fn patient(
    clients: Clients,
    log: Log,
    me: Patient,
    appointments: Vec<Uuid>,
    until: Instant,
) {
    let mut held: Vec<Uuid> = Vec::new();
    let mut last_reserve: Option<(Uuid, String)> = None;
    while Instant::now() < until {
        let roll: f64 = rand::rng().random();
        if roll < 0.15 && last_reserve.is_some() {
            // A late retry of the last reservation, perhaps after it was cancelled: must not reserve again.
            let (a, rid) = last_reserve.clone().expect("checked");
            if let Outcome::Ok {
                holder: Some(p), ..
            } = reserve(&clients, &log, &me, a, rid).await
                && p == me.id
                && !held.contains(&a)
            {
                held.push(a);
            }
        } else if roll < 0.55 && !held.is_empty() {
            let a = held.swap_remove(rand::rng().random_range(0..held.len()));
            let token = me.token.clone();
            let op = Op::Cancel {
                appointment: a,
                patient: me.id,
            };
            let outcome = log
                .run(op, TRIES, || {
                    let mut c = clients.appointment();
                    let req = call(
                        Some(&token),
                        CancelReservationRequest {
                            appointment_id: a.to_string(),
                        },
                    );
                    async move {
                        let r = c.cancel_reservation(req).await?.into_inner();
                        Ok((uuid(&r.id), r.version, holder(&r)))
                    }
                })
                .await;
            if outcome.is_unknown() {
                held.push(a);
            }
        } else {
            let a = appointments[rand::rng().random_range(0..appointments.len())];
            let rid = Uuid::new_v4().to_string();
            last_reserve = Some((a, rid.clone()));
            if let Outcome::Ok {
                holder: Some(p), ..
            } = reserve(&clients, &log, &me, a, rid).await
                && p == me.id
                && !held.contains(&a)
            {
                held.push(a);
            }
        }
        let pause = Duration::from_millis(rand::rng().random_range(20..120));
        tokio::time::sleep(pause).await;
    }
}

async fn reserve(clients: &Clients, log: &Log, me: &Patient, a: Uuid, rid: String) -> Outcome {
    let token = me.token.clone();
    let op = Op::Reserve {
        appointment: a,
        patient: me.id,
        request_id: rid.clone(),
    };
    log.run(op, TRIES, || {
        let mut c = clients.appointment();
        let req = call(
            Some(&token),
            ReserveAppointmentRequest {
                appointment_id: a.to_string(),
                request_id: Some(rid.clone()),
            },
        );
        async move {
            let r = c.reserve_appointment(req).await?.into_inner();
            Ok((uuid(&r.id), r.version, holder(&r)))
        }
    })
    .await
}
