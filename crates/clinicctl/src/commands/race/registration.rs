//! The approve-vs-reject race: one fresh pending request, N admin connections, half approve and
//! half reject at version 1 at the same moment. Optimistic locking lets one decision through; the
//! rest are told REGISTRATION_ALREADY_DECIDED with who decided and when.

use std::time::{SystemTime, UNIX_EPOCH};

use clinic_proto::pb::registration::v1::{
    ApproveRegistrationRequestRequest, GetRegistrationRequestRequest,
    RejectRegistrationRequestRequest,
};
use futures::{StreamExt, TryStreamExt, stream};

use super::{RaceReport, RegistrationRace, accounts, mail, report};
use crate::{
    bench::race::round,
    commands::Ctx,
    connect::{Registration, bearer},
};

/// What a loser may be told.
pub const LOSSES: &[&str] = &["REGISTRATION_ALREADY_DECIDED", "VERSION_MISMATCH"];

pub async fn race(ctx: &Ctx, args: RegistrationRace) -> anyhow::Result<RaceReport> {
    let admin = accounts::center_admin(ctx, &args.admin).await?;
    let who = args
        .admin
        .admin_email
        .clone()
        .unwrap_or_else(|| "signed-in admin".into());
    let n = usize::from(args.admins);

    // Arrange: a fresh pending request, one connection per admin.
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let email = format!("race-{nanos}@clinic.local");
    let mut reg = ctx.registration().await?;
    let request = reg
        .submit_registration(accounts::person(
            &email,
            "race patient password 1",
            nanos as u64,
        ))
        .await?
        .into_inner();
    let clients: Vec<Registration> = stream::iter(0..n)
        .then(|_| ctx.registration())
        .try_collect()
        .await?;

    // Act: everyone at once; even actors approve, odd ones reject.
    let outcomes = round(n, |i| {
        let (mut client, token) = (clients[i].clone(), admin.clone());
        let (id, version) = (request.id.clone(), request.version);
        async move {
            if i % 2 == 0 {
                let req = ApproveRegistrationRequestRequest {
                    id,
                    expected_version: Some(version),
                };
                client
                    .approve_registration_request(bearer(&token, req))
                    .await
                    .map(drop)
            } else {
                let req = RejectRegistrationRequestRequest {
                    id,
                    expected_version: Some(version),
                    reason: "Rejected in the clinicctl race".into(),
                };
                client
                    .reject_registration_request(bearer(&token, req))
                    .await
                    .map(drop)
            }
        }
    })
    .await?;
    let actors = report::actors(
        outcomes,
        |_| who.clone(),
        |i| if i % 2 == 0 { "approve" } else { "reject" },
    );

    // What it looks like now, and what the patient was sent.
    let stored = reg
        .get_registration_request(bearer(
            &admin,
            GetRegistrationRequestRequest {
                id: request.id.clone(),
            },
        ))
        .await?
        .into_inner();
    let mut after = report::after(&stored, &["status", "version", "decided_by", "decided_at"]);
    after["email"] = email.clone().into();
    let emails = mail::emails(ctx, &admin, &args.mail, |d| d.recipient == email).await?;

    Ok(RaceReport::judged(
        "registration",
        request.id,
        actors,
        after,
        emails,
        LOSSES,
    ))
}
