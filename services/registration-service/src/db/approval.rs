//! Approval as ONE statement in its own (implicit) transaction, one round trip: the compare-and-swap
//! on (id, version, PENDING), which also clears the request's password hash, the patient account
//! (awaiting activation) with that hash (read by `pending` from the statement's snapshot, before the
//! update), its activation token (only the SHA-256 is stored) and the `registration.approved` outbox row.
//! Returns the approved request, or nothing when the compare-and-swap matched nothing. A unique
//! violation on the account (e-mail or insurance number taken) fails the whole statement.
//! Foreign keys between the inserted rows are checked at the end of the statement, when all exist.

use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::RegistrationRecord;

/// `$1` request, `$2` expected version, `$3` admin, `$4` new patient id, `$5` token hash, `$6` token
/// expiry, `$7` the token sealed for the notifier (for the e-mail; never in clear here), `$8` event id,
/// `$9` traceparent.
pub const APPROVE: &str = "\
WITH pending AS ( \
    SELECT password_hash FROM registration_requests WHERE id = $1), \
decided AS ( \
    UPDATE registration_requests \
    SET status = 'APPROVED', version = version + 1, decided_by = $3, decided_at = now(), \
        password_hash = NULL \
    WHERE id = $1 AND version = $2 AND status = 'PENDING' \
    RETURNING *), \
account AS ( \
    INSERT INTO accounts (id, email, password_hash, role, first_name, last_name, insurance_number, \
                          registration_request_id, status) \
    SELECT $4, email, (SELECT password_hash FROM pending), 'patient', first_name, last_name, \
           insurance_number, id, 'AWAITING_ACTIVATION' FROM decided \
    RETURNING id), \
token AS ( \
    INSERT INTO activation_tokens (token_hash, account_id, expires_at) SELECT $5, id, $6 FROM account), \
event AS ( \
    INSERT INTO outbox (id, aggregate_type, aggregate_id, event_type, payload, traceparent, created_at) \
    SELECT $8, 'registration_request', d.id::text, 'registration.approved', jsonb_build_object( \
               'request_id', d.id, 'patient_id', $4::uuid, 'email', d.email, \
               'first_name', d.first_name, 'last_name', d.last_name, \
               'activation_token_sealed', $7::text, \
               'activation_expires_at', (to_json($6::timestamptz AT TIME ZONE 'UTC') #>> '{}') || 'Z', \
               'decided_by', $3::uuid, \
               'decided_at', (to_json(d.decided_at AT TIME ZONE 'UTC') #>> '{}') || 'Z'), \
           $9, clock_timestamp() \
    FROM decided d) \
SELECT id, email, first_name, last_name, address, city, country, phone, insurance_number, status, \
       version, decided_by, decided_at, rejection_reason, created_at FROM decided";

/// What the winner of an approval writes besides the decision.
#[derive(Debug)]
pub struct Approval<'a> {
    pub request_id: Uuid,
    pub expected_version: i64,
    pub admin: Uuid,
    pub patient_id: Uuid,
    /// The activation token sealed for the notifier (`clinic_common::seal`).
    pub sealed_token: &'a str,
    pub token_hash: &'a [u8],
    pub token_expires_at: OffsetDateTime,
    pub event_id: Uuid,
    pub traceparent: Option<String>,
}

#[tracing::instrument(skip_all, fields(request_id = %a.request_id, expected_version = a.expected_version), err)]
pub async fn approve(
    conn: &mut PgConnection,
    a: &Approval<'_>,
) -> Result<Option<RegistrationRecord>, sqlx::Error> {
    sqlx::query_as(APPROVE)
        .bind(a.request_id)
        .bind(a.expected_version)
        .bind(a.admin)
        .bind(a.patient_id)
        .bind(a.token_hash)
        .bind(a.token_expires_at)
        .bind(a.sealed_token)
        .bind(a.event_id)
        .bind(a.traceparent.as_deref())
        .fetch_optional(conn)
        .await
}

/// `APPROVE` as pgbench replays it in `bench/approve_service.sql`: the same statement, taking the next
/// seeded pending request (see `bench/seed.sql`) with fresh ids and token.
pub fn approve_for_pgbench() -> String {
    let sql = APPROVE
        .replace("$9", "NULL::text")
        .replace("$8", "gen_random_uuid()")
        // A sealed token is 122 characters.
        .replace("$7", "repeat('s', 122)")
        .replace("$6", "(now() + interval '72 hours')")
        .replace("$5", "sha256(gen_random_uuid()::text::bytea)")
        .replace("$4", "gen_random_uuid()")
        .replace("$3", "'00000000-0000-0000-0000-00000000a0a0'")
        .replace("$2", "1")
        .replace(
            "$1",
            "(SELECT id FROM bench_requests WHERE n = (SELECT nextval('bench_request_seq')))",
        );
    format!(
        "-- GENERATED from APPROVE in services/registration-service/src/db/approval.rs by the test\n\
         -- `the_pgbench_replay_is_the_statement_the_service_runs` (BLESS=1 rewrites it): the one statement\n\
         -- an approval runs, replayed by pgbench on the same database (search_path=registration, -M prepared).\n\
         {sql};\n"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pgbench_replay_is_the_statement_the_service_runs() {
        clinic_common::testing::assert_generated_file(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../bench/approve_service.sql"
            ),
            &super::approve_for_pgbench(),
        );
    }
}
