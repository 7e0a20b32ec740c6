//! After the run: reads the database (final state and both outboxes, which are each aggregate's
//! history), the notifier's ledger, the SMTP server's log and the clients' attempt log, and lists
//! every broken guarantee.

use std::collections::{BTreeMap, HashMap, HashSet};

use clinic_common::testing::Mail;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    cluster::MESSAGE_ID_DOMAIN,
    faults::{Fault, FaultKind},
    workload::{Attempt, Op, Outcome},
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    pub id: Uuid,
    pub aggregate_id: String,
    pub event_type: String,
    pub payload: serde_json::Value,
    pub created_at: OffsetDateTime,
}

impl Event {
    fn uuid(&self, key: &str) -> Option<Uuid> {
        self.payload.get(key)?.as_str()?.parse().ok()
    }
}

pub struct State {
    pub registration_events: Vec<Event>,
    pub appointment_events: Vec<Event>,
    /// id → (status, version, decided_by, email)
    pub requests: HashMap<Uuid, (String, i64, Option<Uuid>, String)>,
    /// id → (status, version, patient)
    pub appointments: HashMap<Uuid, (String, i64, Option<Uuid>)>,
    /// delivery statuses in the notifier's ledger → count
    pub deliveries: BTreeMap<String, i64>,
    /// Outbox events the feeds gave up on (handed out too often without an ack).
    pub parked: i64,
}

impl State {
    pub async fn read(db: &PgPool) -> anyhow::Result<State> {
        let events = |schema: &str| {
            format!(
                "SELECT id, aggregate_id, event_type, payload, created_at FROM {schema}.outbox ORDER BY created_at"
            )
        };
        let registration_events = sqlx::query_as(sqlx::AssertSqlSafe(events("registration")))
            .fetch_all(db)
            .await?;
        let appointment_events = sqlx::query_as(sqlx::AssertSqlSafe(events("appointment")))
            .fetch_all(db)
            .await?;
        let requests = sqlx::query_as::<_, (Uuid, String, i64, Option<Uuid>, String)>(
            "SELECT id, status, version, decided_by, email FROM registration.registration_requests",
        )
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|(id, s, v, d, e)| (id, (s, v, d, e)))
        .collect();
        let appointments = sqlx::query_as::<_, (Uuid, String, i64, Option<Uuid>)>(
            "SELECT id, status, version, patient_id FROM appointment.appointments",
        )
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|(id, s, v, p)| (id, (s, v, p)))
        .collect();
        let deliveries = sqlx::query_as::<_, (String, i64)>(
            "SELECT status, count(*) FROM notifier.deliveries GROUP BY status",
        )
        .fetch_all(db)
        .await?
        .into_iter()
        .collect();
        let parked = sqlx::query_scalar(
            "SELECT (SELECT count(*) FROM registration.outbox WHERE parked_at IS NOT NULL) \
                  + (SELECT count(*) FROM appointment.outbox WHERE parked_at IS NOT NULL)",
        )
        .fetch_one(db)
        .await?;
        Ok(State {
            parked,
            registration_events,
            appointment_events,
            requests,
            appointments,
            deliveries,
        })
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub violations: Vec<String>,
    pub attempts: usize,
    pub outcomes: BTreeMap<String, usize>,
    pub events: usize,
    pub emails: usize,
    /// Duplicate e-mails (same Message-ID), each explained by a fault around its first copy.
    pub duplicates: usize,
    pub duplicates_by_fault: BTreeMap<String, usize>,
    pub faults: BTreeMap<String, usize>,
}

pub fn check(
    state: &State,
    attempts: &[Attempt],
    faults: &[Fault],
    mails: &[Mail],
    claim: time::Duration,
) -> Report {
    let mut r = Report {
        attempts: attempts.len(),
        ..Report::default()
    };
    for a in attempts {
        let key = match &a.outcome {
            Outcome::Ok { .. } => format!("{} OK", op_name(&a.op)),
            Outcome::Refused { reason, .. } => format!("{} {reason}", op_name(&a.op)),
            Outcome::Unknown { message, .. } if is_client_h2_error(message) => {
                format!("{} unknown h2 transport error", op_name(&a.op))
            }
            Outcome::Unknown { code, .. } => format!("{} unknown {code:?}", op_name(&a.op)),
        };
        // Faults make dependencies unreachable (UNAVAILABLE); INTERNAL from a service means one was
        // mis-mapped.
        if let Outcome::Unknown {
            code: tonic::Code::Internal,
            message,
        } = &a.outcome
            && !is_client_h2_error(message)
        {
            r.violations.push(format!(
                "{} answered INTERNAL ({message}) at {}",
                op_name(&a.op),
                a.started.time()
            ));
        }
        *r.outcomes.entry(key).or_default() += 1;
    }
    for f in faults {
        *r.faults.entry(format!("{:?}", f.kind)).or_default() += 1;
    }
    appointment_histories(state, &mut r);
    decisions(state, &mut r);
    client_view(state, attempts, &mut r);
    emails(state, faults, mails, claim, &mut r);
    r
}

/// The tonic client's own status for an HTTP/2 failure of the connection (it maps PROTOCOL_ERROR
/// and NO_ERROR to INTERNAL, as the gRPC HTTP/2 spec says), e.g. a stream caught by a server's
/// GOAWAY while that server shuts down. No service sent it: the call's outcome is unknown.
fn is_client_h2_error(message: &str) -> bool {
    message.starts_with(clinic_common::client::H2_ERROR_PREFIX)
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::Submit { .. } => "submit",
        Op::Approve { .. } => "approve",
        Op::Reject { .. } => "reject",
        Op::Reserve { .. } => "reserve",
        Op::Cancel { .. } => "cancel",
    }
}

/// Replays each appointment's events in version order: never reserved while held, cancelled only by
/// its holder, one event per version step, and the final row is where the history ends.
fn appointment_histories(state: &State, r: &mut Report) {
    let mut by_appointment: HashMap<Uuid, Vec<&Event>> = HashMap::new();
    for e in &state.appointment_events {
        if let Ok(id) = e.aggregate_id.parse() {
            by_appointment.entry(id).or_default().push(e);
        }
    }
    for (id, (status, version, patient)) in &state.appointments {
        let mut events = by_appointment.remove(id).unwrap_or_default();
        events.sort_by_key(|e| e.payload["version"].as_i64());
        let mut holder: Option<Uuid> = None;
        let mut at = 1;
        for e in &events {
            let v = e.payload["version"].as_i64().unwrap_or(-1);
            let p = e.uuid("patient_id");
            if v != at + 1 {
                r.violations.push(format!(
                    "appointment {id}: event {} has version {v} after {at}",
                    e.id
                ));
            }
            at = v;
            match e.event_type.as_str() {
                "appointment.reserved" if holder.is_none() => holder = p,
                "appointment.reserved" => r.violations.push(format!(
                    "appointment {id}: reserved by {p:?} at version {v} while held by {holder:?} (double booking)"
                )),
                "appointment.cancelled" if holder.is_some() && holder == p => holder = None,
                other => r.violations.push(format!("appointment {id}: {other} by {p:?} at version {v} while held by {holder:?}")),
            }
        }
        if *version != at || *patient != holder || (status == "RESERVED") != holder.is_some() {
            r.violations.push(format!(
                "appointment {id}: final row {status} v{version} {patient:?}, history ends v{at} held by {holder:?}"
            ));
        }
    }
    for id in by_appointment.keys() {
        r.violations
            .push(format!("events for unknown appointment {id}"));
    }
}

/// At most one decision per request, and the final row is that decision.
fn decisions(state: &State, r: &mut Report) {
    let mut by_request: HashMap<Uuid, Vec<&Event>> = HashMap::new();
    for e in &state.registration_events {
        if let Ok(id) = e.aggregate_id.parse() {
            by_request.entry(id).or_default().push(e);
        }
    }
    for (id, (status, version, decided_by, _)) in &state.requests {
        let events = by_request.remove(id).unwrap_or_default();
        match events.as_slice() {
            [] if status == "PENDING" && *version == 1 => {}
            [e] => {
                let expected = match e.event_type.as_str() {
                    "registration.approved" => "APPROVED",
                    "registration.rejected" => "REJECTED",
                    other => other,
                };
                if status != expected || *decided_by != e.uuid("decided_by") || *version != 2 {
                    r.violations.push(format!(
                        "request {id}: event {} by {:?}, row {status} v{version} by {decided_by:?}",
                        e.event_type,
                        e.uuid("decided_by")
                    ));
                }
            }
            many => r.violations.push(format!(
                "request {id} ({status} v{version}) has {} decision events: decided more than once",
                many.len()
            )),
        }
    }
    for id in by_request.keys() {
        r.violations
            .push(format!("events for unknown request {id}"));
    }
}

fn within(at: OffsetDateTime, a: &Attempt) -> bool {
    a.started <= at && at <= a.ended
}

/// What each client was told holds in the database: successes are there, definite refusals left
/// nothing behind, and a request id never reserves twice.
fn client_view(state: &State, attempts: &[Attempt], r: &mut Report) {
    // Indexed once: a long run has hundreds of thousands of attempts and tens of thousands of events.
    let mut by_key: HashMap<(&str, Uuid, Uuid), Vec<&Event>> = HashMap::new();
    for e in &state.appointment_events {
        if let (Ok(a), Some(p)) = (e.aggregate_id.parse::<Uuid>(), e.uuid("patient_id")) {
            by_key
                .entry((e.event_type.as_str(), a, p))
                .or_default()
                .push(e);
        }
    }
    let mut decisions: HashMap<&str, &Event> = HashMap::new();
    for e in &state.registration_events {
        decisions.entry(e.aggregate_id.as_str()).or_insert(e);
    }
    let emails: HashSet<&str> = state
        .requests
        .values()
        .map(|(_, _, _, e)| e.as_str())
        .collect();
    let appointment_events = |kind: &'static str, a: Uuid, p: Uuid| -> &[&Event] {
        by_key.get(&(kind, a, p)).map_or(&[], Vec::as_slice)
    };
    let written_during = |kind: &'static str, a: Uuid, p: Uuid, attempt: &Attempt| {
        appointment_events(kind, a, p)
            .iter()
            .any(|e| within(e.created_at, attempt))
    };
    let decision = |req: Uuid| decisions.get(req.to_string().as_str()).copied();
    // Operations whose every attempt was refused (the first definite answer ends an operation).
    let mut op_unknown: HashSet<u64> = HashSet::new();
    for a in attempts {
        if matches!(a.outcome, Outcome::Unknown { .. }) {
            op_unknown.insert(a.op_id);
        }
    }
    let mut submitted: HashMap<&str, Uuid> = HashMap::new();
    let mut rids: HashMap<(Uuid, Uuid), HashSet<&str>> = HashMap::new();
    for a in attempts {
        let refused_clean =
            matches!(a.outcome, Outcome::Refused { .. }) && !op_unknown.contains(&a.op_id);
        match (&a.op, &a.outcome) {
            (Op::Submit { email, request_id }, Outcome::Ok { id, .. }) => {
                match state.requests.get(id) {
                    Some((_, _, _, e)) if e == email => {}
                    other => r.violations.push(format!(
                        "submit {email} answered {id}, database has {other:?}"
                    )),
                }
                if let Some(first) = submitted.insert(request_id, *id)
                    && first != *id
                {
                    r.violations.push(format!(
                        "request id {request_id} answered {first} then {id}"
                    ));
                }
            }
            (Op::Submit { email, .. }, Outcome::Refused { reason, .. })
                if refused_clean && emails.contains(email.as_str()) =>
            {
                r.violations.push(format!(
                    "submit {email} refused ({reason}) but the request exists"
                ));
            }
            (
                Op::Approve { request, admin, .. } | Op::Reject { request, admin, .. },
                Outcome::Ok { version, .. },
            ) => {
                let want = if matches!(a.op, Op::Approve { .. }) {
                    "APPROVED"
                } else {
                    "REJECTED"
                };
                match state.requests.get(request) {
                    Some((s, v, d, _)) if s == want && v == version && *d == Some(*admin) => {}
                    other => r.violations.push(format!(
                        "{} of {request} by {admin} answered OK v{version}, database has {other:?}",
                        op_name(&a.op)
                    )),
                }
            }
            (
                Op::Approve { request, admin, .. } | Op::Reject { request, admin, .. },
                Outcome::Refused { reason, .. },
            ) if refused_clean => {
                if let Some(e) = decision(*request)
                    && e.uuid("decided_by") == Some(*admin)
                    && within(e.created_at, a)
                {
                    r.violations.push(format!(
                        "{} of {request} by {admin} refused ({reason}) but its decision was written",
                        op_name(&a.op)
                    ));
                }
            }
            (
                Op::Reserve {
                    appointment,
                    patient,
                    request_id,
                },
                outcome,
            ) => {
                if !matches!(outcome, Outcome::Refused { .. }) {
                    rids.entry((*appointment, *patient))
                        .or_default()
                        .insert(request_id);
                }
                match outcome {
                    Outcome::Ok {
                        version,
                        holder: Some(h),
                        ..
                    } if h == patient => {
                        let found =
                            appointment_events("appointment.reserved", *appointment, *patient)
                                .iter()
                                .any(|e| e.payload["version"].as_i64() == Some(*version));
                        if !found {
                            r.violations.push(format!(
                                "reserve of {appointment} by {patient} answered OK v{version}: no such reservation in its history"
                            ));
                        }
                    }
                    Outcome::Refused { reason, .. }
                        if refused_clean
                            && written_during(
                                "appointment.reserved",
                                *appointment,
                                *patient,
                                a,
                            ) =>
                    {
                        r.violations.push(format!(
                            "reserve of {appointment} by {patient} refused ({reason}) but reserved meanwhile"
                        ));
                    }
                    _ => {}
                }
            }
            (
                Op::Cancel {
                    appointment,
                    patient,
                },
                Outcome::Ok { version, .. },
            ) => {
                let found = appointment_events("appointment.cancelled", *appointment, *patient)
                    .iter()
                    .any(|e| e.payload["version"].as_i64() == Some(*version));
                if !found {
                    r.violations.push(format!(
                        "cancel of {appointment} by {patient} answered OK v{version}: no such cancellation in its history"
                    ));
                }
            }
            (
                Op::Cancel {
                    appointment,
                    patient,
                },
                Outcome::Refused { reason, .. },
            ) if refused_clean
                && written_during("appointment.cancelled", *appointment, *patient, a) =>
            {
                r.violations.push(format!(
                    "cancel of {appointment} by {patient} refused ({reason}) but cancelled meanwhile"
                ));
            }
            _ => {}
        }
    }
    // A request id reserves at most once, also when retried after a cancel.
    for ((appointment, patient), ids) in rids {
        let n = appointment_events("appointment.reserved", appointment, patient).len();
        if n > ids.len() {
            r.violations.push(format!(
                "{patient} reserved {appointment} {n} times with {} request id(s): a retry reserved again",
                ids.len()
            ));
        }
    }
}

/// How long PostgreSQL must stay up for a sender to reconnect and record a send: the write's
/// backoff (at most 1 s) plus the pool's reconnect (seen up to 2.6 s while the server restarts).
const RECORD_GAP: time::Duration = time::Duration::seconds(4);

/// Whether restarts kept PostgreSQL out of reach from `accepted` until the claim lapsed: no stretch
/// of `RECORD_GAP` up in between. Then the sender cannot record the send before another may claim
/// it, and a second copy is the documented window, not a fault of the notifier.
fn database_out_of_reach(
    faults: &[Fault],
    accepted: OffsetDateTime,
    claim: time::Duration,
) -> bool {
    let until = accepted + claim;
    let mut downs: Vec<(OffsetDateTime, OffsetDateTime)> = faults
        .iter()
        .filter(|f| f.kind == FaultKind::PostgresRestart && f.to > accepted && f.from < until)
        .map(|f| (f.from.max(accepted), f.to.min(until)))
        .collect();
    downs.sort();
    let mut up_since = accepted;
    for (from, to) in downs {
        if from - up_since >= RECORD_GAP {
            return false;
        }
        up_since = up_since.max(to);
    }
    until - up_since < RECORD_GAP
}

/// One e-mail per committed event, by Message-ID; a duplicate only next to a fault that can cut
/// between the SMTP server accepting and the ledger recording it.
fn emails(state: &State, faults: &[Fault], mails: &[Mail], claim: time::Duration, r: &mut Report) {
    let expected: HashSet<String> = state
        .registration_events
        .iter()
        .chain(&state.appointment_events)
        .map(|e| format!("<{}@{MESSAGE_ID_DOMAIN}>", e.id))
        .collect();
    r.events = expected.len();
    r.emails = mails.len();
    let mut got: HashMap<&str, Vec<&Mail>> = HashMap::new();
    for m in mails {
        got.entry(m.message_id.as_str()).or_default().push(m);
    }
    for id in &expected {
        if !got.contains_key(id.as_str()) {
            r.violations
                .push(format!("no e-mail for committed event {id} (lost)"));
        }
    }
    for (id, copies) in &got {
        if !expected.contains(*id) {
            r.violations
                .push(format!("e-mail {id} matches no committed event"));
        }
        if copies.len() < 2 {
            continue;
        }
        r.duplicates += copies.len() - 1;
        let first = OffsetDateTime::from(copies[0].accepted_at);
        let cause = crash_window(faults, first, claim);
        let cause = cause
            .map(|f| format!("{:?} {}", f.kind, f.target))
            .or_else(|| {
                database_out_of_reach(faults, first, claim)
                    .then(|| "PostgreSQL out of reach until the claim lapsed".to_owned())
            });
        match cause {
            Some(cause) => *r.duplicates_by_fault.entry(cause).or_default() += copies.len() - 1,
            None => r.violations.push(format!(
                "{} copies of {id}, the first at {first}, with no crash-window fault near it",
                copies.len()
            )),
        }
    }
    if state.parked > 0 {
        r.violations
            .push(format!("{} outbox events parked", state.parked));
    }
    for (status, n) in &state.deliveries {
        if status != "SENT" {
            r.violations.push(format!("{n} deliveries end {status}"));
        }
    }
}

/// The fault that explains a second copy of a message first stored at `first`: the crash window
/// between the SMTP server storing a message and the notifier recording it. A notifier killed, or the
/// SMTP server going down, inside it; or a slow server that stored the message after holding its
/// reply past the sender's attempt deadline (the sender gave up and tried again later; the server,
/// like a real one that had queued it, kept it) — so the first copy is stored while the server is
/// slow. A database restart, a SIGTERM or a cut client connection must not duplicate anything.
fn crash_window(faults: &[Fault], first: OffsetDateTime, claim: time::Duration) -> Option<&Fault> {
    let grace = time::Duration::seconds(1);
    faults.iter().find(|f| match f.kind {
        FaultKind::Kill if f.target.starts_with("notifier") => {
            f.from <= first + claim && first <= f.to + grace
        }
        FaultKind::SmtpDown => f.from <= first + claim && first <= f.to + grace,
        FaultKind::SmtpSlow => f.from <= first && first <= f.to + grace,
        FaultKind::Kill
        | FaultKind::PostgresRestart
        | FaultKind::Terminate
        | FaultKind::Cut
        | FaultKind::Freeze => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restart(from: f64, to: f64) -> Fault {
        let t0 = OffsetDateTime::UNIX_EPOCH;
        Fault {
            kind: FaultKind::PostgresRestart,
            target: "postgres".into(),
            from: t0 + time::Duration::seconds_f64(from),
            to: t0 + time::Duration::seconds_f64(to),
        }
    }

    fn out_of_reach(faults: &[Fault], accepted: f64) -> bool {
        let at = OffsetDateTime::UNIX_EPOCH + time::Duration::seconds_f64(accepted);
        database_out_of_reach(faults, at, time::Duration::seconds(10))
    }

    #[test]
    fn a_copy_stored_while_the_server_was_slow_is_explained_and_one_stored_later_is_not() {
        let slow = Fault {
            kind: FaultKind::SmtpSlow,
            target: "smtp".into(),
            ..restart(10.0, 12.0)
        };
        let at = |s: f64| OffsetDateTime::UNIX_EPOCH + time::Duration::seconds_f64(s);
        let claim = time::Duration::seconds(10);
        let faults = [slow, restart(0.0, 3.0)];
        assert!(crash_window(&faults, at(12.3), claim).is_some());
        assert!(
            crash_window(&faults, at(9.0), claim).is_none(),
            "before it slowed"
        );
        assert!(
            crash_window(&faults, at(14.0), claim).is_none(),
            "long after"
        );
        assert!(
            crash_window(&faults[1..], at(1.0), claim).is_none(),
            "a restart alone"
        );
    }

    #[test]
    fn restarts_back_to_back_across_the_claim_explain_a_second_copy() {
        // The run that found it: three restarts with gaps of about 1.3 s.
        let faults = [restart(0.0, 3.1), restart(4.4, 7.4), restart(8.7, 9.6)];
        assert!(out_of_reach(&faults, 0.1));
    }

    #[test]
    fn a_single_restart_or_a_long_enough_gap_does_not() {
        assert!(!out_of_reach(&[restart(0.0, 3.0)], 0.1));
        assert!(!out_of_reach(&[restart(0.0, 3.0), restart(7.5, 12.0)], 0.1));
        assert!(
            !out_of_reach(&[restart(5.0, 12.0)], 0.1),
            "up for 5 s first"
        );
        assert!(!out_of_reach(&[], 0.1));
        let other = Fault {
            kind: FaultKind::SmtpSlow,
            ..restart(0.0, 12.0)
        };
        assert!(!out_of_reach(&[other], 0.1));
    }
}
