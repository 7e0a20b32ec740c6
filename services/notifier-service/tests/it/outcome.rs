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
