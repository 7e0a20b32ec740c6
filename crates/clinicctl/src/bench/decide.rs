//! decide-race and approve-throughput.

use super::{BenchArgs, Recorder, Report, Scenario, fixtures, race, reserve::Slots};
use crate::{
    cli::Endpoints,
    connect::{Registration, bearer},
};
use clinic_proto::pb::registration::v1::{
    ApproveRegistrationRequestRequest, GetRegistrationRequestRequest, RegistrationStatus,
    RejectRegistrationRequestRequest,
};

/// What a loser of a decision race may be told.
pub const RACE_LOSS: &[&str] = &["REGISTRATION_ALREADY_DECIDED", "VERSION_MISMATCH"];

/// Approves (`approve`) or rejects request `id` seen at version 1; Ok carries the resulting status.
async fn decide(
    client: &mut Registration,
    token: &str,
    id: &str,
    approve: bool,
) -> Result<RegistrationStatus, tonic::Status> {
    if approve {
        let req = ApproveRegistrationRequestRequest {
            id: id.to_owned(),
            expected_version: Some(1),
        };
        client
            .approve_registration_request(bearer(token, req))
            .await?;
        Ok(RegistrationStatus::Approved)
    } else {
        let req = RejectRegistrationRequestRequest {
            id: id.to_owned(),
            expected_version: Some(1),
            reason: "Rejected by the decision race benchmark".into(),
        };
        client
            .reject_registration_request(bearer(token, req))
            .await?;
        Ok(RegistrationStatus::Rejected)
    }
}

pub async fn race(endpoints: &Endpoints, args: &BenchArgs) -> anyhow::Result<Report> {
    let n = args.concurrency();
    let admin = fixtures::admin_token(endpoints, args).await?;
    let mut checker = fixtures::registration(endpoints).await?;
    let want = fixtures::budget(args, 400.0, args.max_rounds);
    let ids = fixtures::pending(&checker, &admin, want).await?;
    let clients = fixtures::registration_clients(endpoints, n).await?;

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
            let (mut client, token, id) = (clients[i].clone(), admin.clone(), id.clone());
            // Half the admins approve, half reject.
            async move { decide(&mut client, &token, &id, i % 2 == 0).await }
        })
        .await?;
        if let Some(status) = race::judge(id, outcomes, RACE_LOSS, &mut rec, &mut violations) {
            winners.push((id.clone(), status));
        }
    }
    for (id, status) in &winners {
        let r = checker
            .get_registration_request(bearer(
                &admin,
                GetRegistrationRequestRequest { id: id.clone() },
            ))
            .await?
            .into_inner();
        if r.status != *status as i32 || r.version != 2 {
            violations.push(format!(
                "{id}: stored status {} version {}, winner decided {status:?}",
                r.status, r.version
            ));
        }
    }
    let mut report = Report::new(Scenario::DecideRace, n, &rec, RACE_LOSS);
    report.rounds = Some(rounds);
    report.violations = violations;
    Ok(report)
}

pub async fn throughput(endpoints: &Endpoints, args: &BenchArgs) -> anyhow::Result<Report> {
    let n = args.concurrency();
    let admin = fixtures::admin_token(endpoints, args).await?;
    let lister = fixtures::registration(endpoints).await?;
    let want = fixtures::budget(args, 8000.0, 200_000);
    let requests = Slots::new(fixtures::pending(&lister, &admin, want).await?);
    let clients = fixtures::registration_clients(endpoints, n).await?;

    let timing = args.timing();
    let rec = fixtures::workers(n, timing, |i, mut rec| {
        let (mut client, admin, requests) = (clients[i].clone(), admin.clone(), requests.clone());
        async move {
            while rec.timing().running() {
                let Some(id) = requests.take() else { break };
                let _ = rec.time(decide(&mut client, &admin, id, true)).await;
            }
            Ok(rec)
        }
    })
    .await?;
    let mut report = Report::new(Scenario::ApproveThroughput, n, &rec, &[]);
    if requests.exhausted() {
        report.violations.push(format!(
            "ran out of the {want} pending requests before the time was up"
        ));
    }
    Ok(report)
}
