//! Recording the outcome: a `SENT` write that fails after the SMTP server accepted is retried.

use std::time::Duration;

use crate::helpers::{
    Knobs, approve_one, only_delivery, spawn_pipeline, terminate_notifier_sessions, wait_for_status,
};

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_record_that_loses_its_connection_is_retried_and_the_mail_goes_once() {
    let p = spawn_pipeline(Knobs {
        claim: Duration::from_secs(4),
        ..Knobs::default()
    })
    .await;
    p.smtp.hold_replies();
    approve_one(&p, "ana.outcome@mail.example.com").await;
    p.smtp.wait_for_held(1, WAIT).await;

    // Just before the server accepts, every database session of the notifier dies: the pooled
    // connection that would record SENT is dead.
    let killed = terminate_notifier_sessions(&p).await;
    assert!(killed >= 1, "no notifier session to end");
    p.smtp.release_replies();

    let (id, _, _) = only_delivery(&p).await;
    wait_for_status(&p, id, "SENT").await;
    let mails = p.smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "exactly one e-mail");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_record_that_cannot_be_written_until_the_claim_lapsed_still_lands_and_the_mail_goes_once()
 {
    let p = spawn_pipeline(Knobs {
        claim: Duration::from_secs(4),
        ..Knobs::default()
    })
    .await;
    p.smtp.hold_replies();
    approve_one(&p, "bea.outcome@mail.example.com").await;
    p.smtp.wait_for_held(1, WAIT).await;
    let (id, _, _) = only_delivery(&p).await;

    // From just before the server accepts until the claim has lapsed, the ledger refuses to record a
    // send (as a database that is down would): every SENT write fails.
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_sent() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           IF NEW.status = 'SENT' THEN RAISE EXCEPTION 'the test refuses SENT'; END IF; RETURN NEW; END $$; \
         CREATE TRIGGER refuse_sent BEFORE UPDATE ON deliveries FOR EACH ROW EXECUTE FUNCTION refuse_sent();",
    )
    .execute(&p.pool)
    .await
    .unwrap();
    p.smtp.release_replies();
    p.smtp.wait_for_at_least(1, WAIT).await;
    let claim_ends: time::OffsetDateTime =
        sqlx::query_scalar("SELECT claimed_until FROM deliveries WHERE id = $1")
            .bind(id)
            .fetch_one(&p.pool)
            .await
            .unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let lapsed: bool =
            sqlx::query_scalar("SELECT clock_timestamp() > $1 + interval '1.5 seconds'")
                .bind(claim_ends)
                .fetch_one(&p.pool)
                .await
                .unwrap();
        if lapsed {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the claim never lapsed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sqlx::raw_sql("DROP TRIGGER refuse_sent ON deliveries")
        .execute(&p.pool)
        .await
        .unwrap();

    wait_for_status(&p, id, "SENT").await;
    let mails = p.smtp.wait_for(1, WAIT).await;
    assert_eq!(mails.len(), 1, "exactly one e-mail");
    let (_, _, attempts) = only_delivery(&p).await;
    assert_eq!(attempts, 1, "the delivery was claimed again");
}
