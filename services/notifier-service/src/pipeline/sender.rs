//! Claims due deliveries, renders and sends them, records the outcome. Wakes on the consumer's NOTIFY,
//! polls as a fallback.
//!
//! Exactly one e-mail per delivery rests on three bounds: an attempt (patient look-up, render, SMTP)
//! gives up after `attempt_deadline`, at most half the claim, so it never outlives the claim; its
//! outcome is recorded under the claim's token, so a sender whose claim was taken over records nothing;
//! and the write is retried past the claim's end for a send (see `outcome`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use lettre::message::Mailbox;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{
    backoff,
    contacts::{ContactError, Contacts},
    outcome::{self, Outcome},
};
use crate::{
    db::{QUEUE_CHANNEL, deliveries},
    mail::{Mailer, render, render::appointment_patient},
};

#[derive(Clone)]
pub struct SenderSettings {
    pub from: Mailbox,
    pub activation_base_url: String,
    /// Opens the activation tokens registration-service sealed for this service.
    pub activation_open: clinic_common::seal::OpeningKey,
    pub max_attempts: i32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a claimed delivery is reserved for this sender before another may take it.
    pub claim: Duration,
    /// Longest one attempt (patient look-up, render, SMTP) may take. At most half the claim: the holder
    /// gives up while its claim still holds, and has the rest of it to record the outcome.
    pub attempt_deadline: Duration,
    /// Deliveries claimed and sent in parallel per round. Each may need a database connection at the
    /// same moment to record its outcome, so it is bounded by the pool (see `Settings::validate`).
    pub batch: i64,
    pub poll_fallback: Duration,
}

impl SenderSettings {
    /// Longest a delivery in flight may take from its claim to its recorded outcome: the attempt (at
    /// most `attempt_deadline`, half the claim), then a `SENT` write retried until one claim length
    /// past the claim's end, the last write given `MIN_WRITE_TIME`. So at most twice the claim, plus
    /// that.
    pub fn longest_send(&self) -> Duration {
        self.claim * 2 + outcome::MIN_WRITE_TIME
    }

    /// Shutdown waits up to `drain` for the sends in flight. Shorter than [`longest_send`], it could
    /// cut a send the SMTP server then accepts, or its `SENT` write: the claim lapses and another
    /// replica sends the e-mail again.
    ///
    /// [`longest_send`]: Self::longest_send
    pub fn check_drain(&self, drain: Duration) -> anyhow::Result<()> {
        let longest = self.longest_send();
        anyhow::ensure!(
            drain > longest,
            "the shutdown drain ({drain:?}) must be longer than a send in flight may take ({longest:?}: \
             the attempt deadline ({:?}), then its SENT write retried until one claim length past the \
             claim's end — 2 × the claim ({:?}) + {:?}); a shorter drain can cut a send or its SENT \
             write, and another replica sends the e-mail again (raise SHUTDOWN_DRAIN_SECONDS or lower \
             CLAIM_SECONDS)",
            self.attempt_deadline,
            self.claim,
            outcome::MIN_WRITE_TIME
        );
        Ok(())
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.batch >= 1, "the send batch must be at least 1");
        anyhow::ensure!(
            !self.attempt_deadline.is_zero() && self.claim >= self.attempt_deadline * 2,
            "the claim ({:?}) must be at least twice the attempt deadline ({:?}), so a sender gives \
             up on an attempt while its claim still holds",
            self.claim,
            self.attempt_deadline
        );
        Ok(())
    }
}

pub struct Sender {
    pub pool: PgPool,
    pub mailer: Mailer,
    pub contacts: Contacts,
    pub settings: SenderSettings,
}

enum Failure {
    /// Retry later (SMTP or registration-service down, a 4xx reply, the attempt deadline).
    Transient(String),
    /// Retrying cannot help (no template, unknown patient, bad address, a 5xx reply): dead at once.
    Permanent(String),
}

/// Runs until `shutdown`: then claims nothing more, and returns once the sends in flight have
/// recorded their outcome.
pub async fn run(sender: Arc<Sender>, shutdown: CancellationToken) {
    let wake = Arc::new(Notify::new());
    let listen = clinic_common::db::wake_on_notify(
        sender.pool.clone(),
        QUEUE_CHANNEL.to_owned(),
        wake.clone(),
        shutdown.clone(),
    );
    tokio::join!(listen, sender.send_loop(&wake, &shutdown));
}

impl Sender {
    async fn send_loop(&self, wake: &Notify, shutdown: &CancellationToken) {
        while !shutdown.is_cancelled() {
            let notified = wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Taken before the claim, so the claim in the database ends no earlier than this.
            let claim_ends = Instant::now() + self.settings.claim;
            let claimed = async {
                let mut conn = self.pool.acquire().await?;
                deliveries::claim_due(&mut conn, self.settings.batch, self.settings.claim).await
            };
            let batch = match claimed.await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming deliveries failed");
                    Vec::new()
                }
            };
            let full = batch.len() as i64 == self.settings.batch;
            // Not cut short by shutdown: a send in flight may already be accepted by the SMTP server,
            // and its outcome must be recorded (both are bounded by the claim).
            futures::future::join_all(batch.into_iter().map(|d| self.deliver(d, claim_ends))).await;
            if full {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = notified => {},
                () = tokio::time::sleep(self.settings.poll_fallback) => {},
            }
        }
    }

    async fn deliver(&self, d: deliveries::Delivery, claim_ends: Instant) {
        // Continue the trace of the request that caused the event.
        let span = tracing::info_span!("send_email", delivery_id = %d.id, event_type = %d.event_type, attempt = d.attempts);
        if let Some(tp) = &d.traceparent {
            let carrier = std::collections::HashMap::from([("traceparent".to_owned(), tp.clone())]);
            let _ = span.set_parent(TraceContextPropagator::new().extract(&carrier));
        }
        async {
            let Some(token) = d.claim_token else {
                tracing::error!("claimed delivery without a claim token; not sent");
                return;
            };
            let deadline = self.settings.attempt_deadline;
            let attempt = tokio::time::timeout(deadline, self.try_send(&d))
                .await
                .unwrap_or_else(|_| {
                    Err(Failure::Transient(format!(
                        "attempt took longer than {deadline:?}"
                    )))
                });
            let outcome = match attempt {
                Ok(recipient) => {
                    tracing::info!("e-mail accepted by SMTP");
                    Outcome::Sent { recipient }
                }
                Err(failure) => {
                    let (error, permanent) = match failure {
                        Failure::Transient(e) => (e, false),
                        Failure::Permanent(e) => (e, true),
                    };
                    let dead = permanent || d.attempts >= self.settings.max_attempts;
                    let delay = backoff(
                        d.attempts - 1,
                        self.settings.backoff_base,
                        self.settings.backoff_max,
                    );
                    tracing::warn!(
                        error,
                        dead,
                        retry_in_ms = delay.as_millis() as u64,
                        "delivery failed"
                    );
                    Outcome::Failed {
                        error,
                        retry_at: OffsetDateTime::now_utc() + delay,
                        dead,
                    }
                }
            };
            outcome::record(
                &self.pool,
                d.id,
                token,
                &outcome,
                claim_ends,
                self.settings.claim,
            )
            .await;
        }
        .instrument(span)
        .await
    }

    async fn try_send(&self, d: &deliveries::Delivery) -> Result<String, Failure> {
        let contact = if d.event_type.starts_with("appointment.") {
            let patient =
                appointment_patient(&d.payload).map_err(|e| Failure::Permanent(e.to_string()))?;
            match self.contacts.patient(patient).await {
                Ok(c) => Some(c),
                Err(e @ ContactError::Unknown(_)) => return Err(Failure::Permanent(e.to_string())),
                Err(e) => return Err(Failure::Transient(e.to_string())),
            }
        } else {
            None
        };
        // The approval's activation token arrives sealed and is opened only here, in memory.
        let payload = opened(&d.event_type, &d.payload, &self.settings.activation_open)
            .map_err(|e| Failure::Permanent(format!("activation token: {e}")))?;
        let email = render(
            &d.event_type,
            &payload,
            contact.as_ref(),
            &self.settings.activation_base_url,
        )
        .map_err(|e| Failure::Permanent(format!("render: {e}")))?;
        self.mailer
            .send(&self.settings.from, &d.message_id, &email)
            .await
            .map_err(|e| match e.is_permanent() {
                true => Failure::Permanent(format!("smtp: {e}")),
                false => Failure::Transient(format!("smtp: {e}")),
            })?;
        Ok(email.to.email)
    }
}

/// `payload` with the sealed activation token of a `registration.approved` event opened into
/// `activation_token` (the ledger keeps only the sealed one); other events as they are.
fn opened(
    event_type: &str,
    payload: &serde_json::Value,
    key: &clinic_common::seal::OpeningKey,
) -> anyhow::Result<serde_json::Value> {
    if event_type != "registration.approved" {
        return Ok(payload.clone());
    }
    let sealed = payload["activation_token_sealed"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no activation_token_sealed in the payload"))?;
    let mut clear = payload.clone();
    clear["activation_token"] = key.open(sealed)?.into();
    Ok(clear)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(claim: Duration, attempt_deadline: Duration) -> SenderSettings {
        SenderSettings {
            from: "Clinic <no-reply@clinic.test>".parse().unwrap(),
            activation_base_url: "https://clinic.test/activate".into(),
            activation_open: clinic_common::seal::OpeningKey::from_text(
                &clinic_common::seal::generate_pair().0,
            )
            .unwrap(),
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(600),
            claim,
            attempt_deadline,
            batch: 6,
            poll_fallback: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_drain_shorter_than_the_attempt_deadline_and_the_sent_write_retry_is_refused() {
        let s = settings(Duration::from_secs(60), Duration::from_secs(25));
        // The old default drain, shorter than the attempt deadline itself.
        let error = s.check_drain(Duration::from_secs(20)).unwrap_err();
        assert!(
            error.to_string().contains("SHUTDOWN_DRAIN_SECONDS"),
            "{error}"
        );
        // Longer than the attempt, but not than the SENT write's retry after it.
        assert!(s.check_drain(Duration::from_secs(30)).is_err());
        assert!(s.check_drain(Duration::from_secs(121)).is_err());
        assert!(s.check_drain(Duration::from_secs(122)).is_ok());
    }
}
