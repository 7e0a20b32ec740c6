//! What a scenario needs before it starts: connections, signed-in actors, and the seeded
//! appointments and pending requests to work on.

use futures::{StreamExt, TryStreamExt, stream};
use prost_types::Timestamp;

use super::{BenchArgs, Recorder, Timing};
use crate::{
    cli::Endpoints,
    connect::{self, Appointments, Registration, bearer},
};
use clinic_proto::pb::{
    appointment::v1::ListAvailableAppointmentsRequest,
    registration::v1::{ListRegistrationRequestsRequest, RegistrationStatus},
};

/// Largest page the list RPCs accept.
const PAGE: i32 = 100;

pub async fn registration(endpoints: &Endpoints) -> anyhow::Result<Registration> {
    Ok(Registration::new(
        connect::channel(&endpoints.registration, endpoints.ca_file.as_deref()).await?,
    ))
}

pub async fn appointments(endpoints: &Endpoints) -> anyhow::Result<Appointments> {
    Ok(Appointments::new(
        connect::channel(&endpoints.appointment, endpoints.ca_file.as_deref()).await?,
    ))
}

/// One connection per worker, as pgbench has one per client.
pub async fn appointment_clients(
    endpoints: &Endpoints,
    n: usize,
) -> anyhow::Result<Vec<Appointments>> {
    stream::iter(0..n)
        .then(|_| appointments(endpoints))
        .try_collect()
        .await
}

pub async fn registration_clients(
    endpoints: &Endpoints,
    n: usize,
) -> anyhow::Result<Vec<Registration>> {
    stream::iter(0..n)
        .then(|_| registration(endpoints))
        .try_collect()
        .await
}

pub async fn admin_token(endpoints: &Endpoints, args: &BenchArgs) -> anyhow::Result<String> {
    let mut reg = registration(endpoints).await?;
    connect::login(&mut reg, &args.admin_email, &args.password).await
}

/// Tokens of seeded patients 1..=n (a few logins at a time: each is an argon2 verification).
pub async fn patient_tokens(
    endpoints: &Endpoints,
    args: &BenchArgs,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let reg = registration(endpoints).await?;
    stream::iter(1..=n)
        .map(|i| {
            let mut reg = reg.clone();
            let email = args.patient_email(i);
            async move { connect::login(&mut reg, &email, &args.password).await }
        })
        .buffered(4)
        .try_collect()
        .await
}

/// Up to `want` ids, page by page: `page(token)` answers one page's ids and the next page's token.
async fn collect_pages<Fut>(
    want: usize,
    page: impl Fn(String) -> Fut,
) -> anyhow::Result<Vec<String>>
where
    Fut: Future<Output = Result<(Vec<String>, String), tonic::Status>>,
{
    let mut ids = Vec::with_capacity(want);
    let mut page_token = String::new();
    while ids.len() < want {
        let (more, next) = page(page_token).await?;
        ids.extend(more);
        if next.is_empty() {
            break;
        }
        page_token = next;
    }
    ids.truncate(want);
    Ok(ids)
}

/// Ids of up to `want` future available appointments, earliest first.
pub async fn available(
    client: &Appointments,
    token: &str,
    want: usize,
) -> anyhow::Result<Vec<String>> {
    collect_pages(want, |page_token| {
        let mut client = client.clone();
        let req = bearer(
            token,
            ListAvailableAppointmentsRequest {
                page_size: PAGE,
                page_token,
                ..Default::default()
            },
        );
        async move {
            let page = client.list_available_appointments(req).await?.into_inner();
            let ids = page.appointments.into_iter().map(|a| a.id).collect();
            Ok((ids, page.next_page_token))
        }
    })
    .await
}

/// Ids of up to `want` pending registration requests, oldest first.
pub async fn pending(
    client: &Registration,
    token: &str,
    want: usize,
) -> anyhow::Result<Vec<String>> {
    collect_pages(want, |page_token| {
        let mut client = client.clone();
        let req = bearer(
            token,
            ListRegistrationRequestsRequest {
                status: Some(RegistrationStatus::Pending as i32),
                page_size: PAGE,
                page_token,
            },
        );
        async move {
            let page = client.list_registration_requests(req).await?.into_inner();
            let ids = page.requests.into_iter().map(|r| r.id).collect();
            Ok((ids, page.next_page_token))
        }
    })
    .await
}

/// How many items a closed-loop scenario may consume: generous for this machine's rate.
pub fn budget(args: &BenchArgs, per_second: f64, cap: usize) -> usize {
    (((args.warmup + args.duration) * per_second) as usize).clamp(100, cap)
}

/// Runs `n` workers until the timing ends; each gets its index and a recorder; merges them.
pub async fn workers<F, Fut>(n: usize, timing: Timing, work: F) -> anyhow::Result<Recorder>
where
    F: Fn(usize, Recorder) -> Fut,
    Fut: Future<Output = anyhow::Result<Recorder>> + Send + 'static,
{
    let handles: Vec<_> = (0..n)
        .map(|i| tokio::spawn(work(i, Recorder::new(timing))))
        .collect();
    let mut total = Recorder::new(timing);
    for h in handles {
        total.merge(&h.await??);
    }
    Ok(total)
}

/// `now + days`, as a protobuf timestamp.
pub fn days_from_now(days: f64) -> Timestamp {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds_f64(days * 86_400.0);
    Timestamp {
        seconds: t.unix_timestamp(),
        nanos: 0,
    }
}
