//! list-available (with reservations running beside it) and mixed.

use clinic_proto::pb::appointment::v1::{ListAvailableAppointmentsRequest, ListClinicsRequest};
use rand::{Rng, seq::IndexedRandom};

use super::{
    BenchArgs, Recorder, Report, Scenario, fixtures,
    reserve::{Slots, reserve_loop, reserve_request},
};
use crate::{
    cli::Endpoints,
    connect::{Appointments, bearer},
};

/// How far ahead listing filters reach.
const HORIZON_DAYS: f64 = 365.0;

/// One page of available appointments from a random start, half the time for one clinic.
fn random_page(rng: &mut impl Rng, clinics: &[String]) -> ListAvailableAppointmentsRequest {
    ListAvailableAppointmentsRequest {
        clinic_id: clinics
            .choose(rng)
            .filter(|_| rng.random_bool(0.5))
            .cloned(),
        from: Some(fixtures::days_from_now(rng.random_range(0.0..HORIZON_DAYS))),
        page_size: 20,
        ..Default::default()
    }
}

async fn clinic_ids(client: &mut Appointments, token: &str) -> anyhow::Result<Vec<String>> {
    let page = client
        .list_clinics(bearer(
            token,
            ListClinicsRequest {
                page_size: 100,
                page_token: String::new(),
            },
        ))
        .await?
        .into_inner();
    Ok(page.clinics.into_iter().map(|c| c.id).collect())
}

pub async fn list_available(endpoints: &Endpoints, args: &BenchArgs) -> anyhow::Result<Report> {
    let n = args.concurrency();
    let bg = args.background_reservers;
    let tokens = fixtures::patient_tokens(endpoints, args, n.max(bg).max(1)).await?;
    let mut lister = fixtures::appointments(endpoints).await?;
    let clinics = clinic_ids(&mut lister, &tokens[0]).await?;
    let slots = Slots::new(
        fixtures::available(&lister, &tokens[0], fixtures::budget(args, 1000.0, 50_000)).await?,
    );
    let clients = fixtures::appointment_clients(endpoints, n + bg).await?;

    let timing = args.timing();
    let background: Vec<_> = (0..bg)
        .map(|i| {
            let (client, token) = (clients[n + i].clone(), tokens[i].clone());
            tokio::spawn(reserve_loop(
                client,
                token,
                slots.clone(),
                Recorder::new(timing),
            ))
        })
        .collect();
    let rec = fixtures::workers(n, timing, |i, mut rec| {
        let (mut client, token, clinics) = (clients[i].clone(), tokens[i].clone(), clinics.clone());
        async move {
            while rec.timing().running() {
                let req = random_page(&mut rand::rng(), &clinics);
                let _ = rec
                    .time(client.list_available_appointments(bearer(&token, req)))
                    .await;
            }
            Ok(rec)
        }
    })
    .await?;
    let mut report = Report::new(Scenario::ListAvailable, n, &rec, &[]);
    for h in background {
        let r = h.await??;
        if !r.errors.is_empty() {
            report
                .violations
                .push(format!("background reservations failed: {:?}", r.errors));
        }
    }
    Ok(report)
}

pub async fn mixed(endpoints: &Endpoints, args: &BenchArgs) -> anyhow::Result<Report> {
    let n = args.concurrency();
    let tokens = fixtures::patient_tokens(endpoints, args, n).await?;
    let mut lister = fixtures::appointments(endpoints).await?;
    let clinics = clinic_ids(&mut lister, &tokens[0]).await?;
    let want = fixtures::budget(args, 1500.0, 100_000);
    let listed = fixtures::available(&lister, &tokens[0], want).await?;
    let found = listed.len();
    let slots = Slots::new(listed);
    let clients = fixtures::appointment_clients(endpoints, n).await?;

    let timing = args.timing();
    let rec = fixtures::workers(n, timing, |i, mut rec| {
        let (mut client, token) = (clients[i].clone(), tokens[i].clone());
        let (clinics, slots) = (clinics.clone(), slots.clone());
        async move {
            while rec.timing().running() {
                if rand::rng().random_bool(0.7) {
                    let req = random_page(&mut rand::rng(), &clinics);
                    let _ = rec
                        .time(client.list_available_appointments(bearer(&token, req)))
                        .await;
                } else {
                    let Some(id) = slots.take() else { break };
                    let _ = rec
                        .time(client.reserve_appointment(reserve_request(&token, id)))
                        .await;
                }
            }
            Ok(rec)
        }
    })
    .await?;
    let mut report = Report::new(Scenario::Mixed, n, &rec, &[]);
    if slots.exhausted() {
        report.violations.push(format!(
            "ran out of the {found} available appointments listed (of {want} wanted) before the time was up"
        ));
    }
    Ok(report)
}
