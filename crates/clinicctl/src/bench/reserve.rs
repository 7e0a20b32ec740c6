//! reserve-distinct and reserve-hot.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use super::{BenchArgs, Recorder, Report, Scenario, fixtures, race};
use crate::{
    cli::Endpoints,
    connect::{Appointments, bearer},
};
use clinic_proto::pb::appointment::v1::{
    AppointmentStatus, GetAppointmentRequest, ReserveAppointmentRequest,
};

/// What a loser of a reservation race may be told.
pub const RACE_LOSS: &[&str] = &["APPOINTMENT_ALREADY_RESERVED", "APPOINTMENT_BUSY"];

pub fn reserve_request(token: &str, id: &str) -> tonic::Request<ReserveAppointmentRequest> {
    bearer(
        token,
        ReserveAppointmentRequest {
            appointment_id: id.to_owned(),
            request_id: None,
        },
    )
}

/// Appointments handed out one at a time to whoever asks next.
#[derive(Clone)]
pub struct Slots {
    ids: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
}

impl Slots {
    pub fn new(ids: Vec<String>) -> Self {
        Self {
            ids: Arc::new(ids),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn take(&self) -> Option<&str> {
        self.ids
            .get(self.next.fetch_add(1, Ordering::Relaxed))
            .map(String::as_str)
    }

    pub fn exhausted(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.ids.len()
    }
}

/// Reserves slots until time is up (or they run out); returns the worker's recorder.
pub async fn reserve_loop(
    mut client: Appointments,
    token: String,
    slots: Slots,
    mut rec: Recorder,
) -> anyhow::Result<Recorder> {
    while rec.timing().running() {
        let Some(id) = slots.take() else { break };
        let _ = rec
            .time(client.reserve_appointment(reserve_request(&token, id)))
            .await;
    }
    Ok(rec)
}

pub async fn distinct(endpoints: &Endpoints, args: &BenchArgs) -> anyhow::Result<Report> {
    let n = args.concurrency();
    let tokens = fixtures::patient_tokens(endpoints, args, n).await?;
    let lister = fixtures::appointments(endpoints).await?;
    let want = fixtures::budget(args, 4000.0, 200_000);
    let ids = fixtures::available(&lister, &tokens[0], want).await?;
    let found = ids.len();
    let slots = Slots::new(ids);
    let clients = fixtures::appointment_clients(endpoints, n).await?;

    let timing = args.timing();
    let rec = fixtures::workers(n, timing, |i, rec| {
        reserve_loop(clients[i].clone(), tokens[i].clone(), slots.clone(), rec)
    })
    .await?;
    let mut report = Report::new(Scenario::ReserveDistinct, n, &rec, &[]);
    if slots.exhausted() {
        report.violations.push(format!(
            "ran out of the {found} available appointments listed (of {want} wanted) before the time was up"
        ));
    }
    Ok(report)
}

pub async fn hot(endpoints: &Endpoints, args: &BenchArgs) -> anyhow::Result<Report> {
    let n = args.concurrency();
    let tokens = fixtures::patient_tokens(endpoints, args, n).await?;
    let admin = fixtures::admin_token(endpoints, args).await?;
    let mut checker = fixtures::appointments(endpoints).await?;
    let want = fixtures::budget(args, 400.0, args.max_rounds);
    let ids = fixtures::available(&checker, &tokens[0], want).await?;
    let clients = fixtures::appointment_clients(endpoints, n).await?;

    let timing = args.timing();
    let mut rec = Recorder::new(timing);
    let mut violations = Vec::new();
    let mut winners = Vec::new();
    let mut rounds = 0u64;
    for id in &ids {
        if !timing.running() {
            break;
        }
        rounds += 1;
        let outcomes = race::round(n, |i| {
            let (mut client, token, id) = (clients[i].clone(), tokens[i].clone(), id.clone());
            async move {
                let a = client
                    .reserve_appointment(reserve_request(&token, &id))
                    .await?;
                Ok(a.into_inner().patient_id)
            }
        })
        .await?;
        if let Some(patient) = race::judge(id, outcomes, RACE_LOSS, &mut rec, &mut violations) {
            winners.push((id.clone(), patient));
        }
    }
    // Read every raced appointment back: held by the one winner.
    for (id, patient) in &winners {
        let a = checker
            .get_appointment(bearer(&admin, GetAppointmentRequest { id: id.clone() }))
            .await?
            .into_inner();
        if a.status != AppointmentStatus::Reserved as i32 || &a.patient_id != patient {
            violations.push(format!(
                "{id}: stored holder {} is not the winner {patient}",
                a.patient_id
            ));
        }
    }
    let mut report = Report::new(Scenario::ReserveHot, n, &rec, RACE_LOSS);
    report.rounds = Some(rounds);
    report.violations = violations;
    Ok(report)
}
