//! The e-mails a race caused, read from the notifier's ledger (`ListDeliveries`), and activation
//! links read from the .eml files the notifier writes when it has no SMTP server (its EML_DIR).

use std::{
    path::Path,
    time::{Duration, Instant, SystemTime},
};

use clinic_proto::pb::notifier::v1::{Delivery, DeliveryStatus, ListDeliveriesRequest};

use super::{MailWait, report::EmailSeen};
use crate::{commands::Ctx, connect::bearer};

/// Every delivery in the ledger that `wanted` picks.
async fn deliveries(
    ctx: &Ctx,
    token: &str,
    wanted: &impl Fn(&Delivery) -> bool,
) -> anyhow::Result<Vec<Delivery>> {
    let mut client = ctx.notifier().await?;
    let mut found = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_deliveries(bearer(
                token,
                ListDeliveriesRequest {
                    status: None,
                    page_size: 100,
                    page_token,
                },
            ))
            .await?
            .into_inner();
        found.extend(page.deliveries.into_iter().filter(|d| wanted(d)));
        if page.next_page_token.is_empty() {
            return Ok(found);
        }
        page_token = page.next_page_token;
    }
}

/// Waits (bounded) until the deliveries `wanted` picks exist and none is still queued, then a quiet
/// period more to catch a late duplicate; returns what the ledger holds then.
pub async fn emails(
    ctx: &Ctx,
    token: &str,
    wait: &MailWait,
    wanted: impl Fn(&Delivery) -> bool,
) -> anyhow::Result<Vec<EmailSeen>> {
    let deadline = Instant::now() + Duration::from_secs_f64(wait.mail_timeout);
    loop {
        let seen = deliveries(ctx, token, &wanted).await?;
        let settled = !seen.is_empty() && seen.iter().all(|d| d.status() != DeliveryStatus::Queued);
        if settled || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs_f64(wait.quiet)).await;
    Ok(deliveries(ctx, token, &wanted)
        .await?
        .into_iter()
        .map(|d| EmailSeen {
            status: d
                .status()
                .as_str_name()
                .trim_start_matches("DELIVERY_STATUS_")
                .to_owned(),
            delivery_id: d.id,
            event_type: d.event_type,
            recipient: d.recipient,
        })
        .collect())
}

/// The activation token from the newest approval e-mail to `email` in `dir` (waits, bounded).
pub async fn activation_token(dir: &Path, email: &str) -> anyhow::Result<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(token) = newest_token(dir, email)? {
            return Ok(token);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "no approval e-mail to {email} in {} within a minute (is that the notifier's EML_DIR?)",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn newest_token(dir: &Path, email: &str) -> anyhow::Result<Option<String>> {
    let mut best: Option<(SystemTime, String)> = None;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(anyhow::Error::new(e).context(format!("read {}", dir.display()))),
    };
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        if !addressed_to(&text, email) {
            continue;
        }
        let Some(token) = link_token(&text) else {
            continue;
        };
        let modified = entry.metadata()?.modified()?;
        if best.as_ref().is_none_or(|(t, _)| modified > *t) {
            best = Some((modified, token));
        }
    }
    Ok(best.map(|(_, t)| t))
}

fn addressed_to(eml: &str, email: &str) -> bool {
    eml.lines()
        .take_while(|l| !l.is_empty() && *l != "\r")
        .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(email))
}

/// The `token=` value of the activation link, in a plain or quoted-printable text part.
fn link_token(eml: &str) -> Option<String> {
    let unfolded = eml
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let start = unfolded.find("?token=")? + "?token=".len();
    let token: String = unfolded[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.~%".contains(*c))
        .collect();
    (!token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_read_from_a_quoted_printable_link() {
        let eml = "To: \"Ana B\" <ana@x.example>\r\nSubject: s\r\n\r\nOpen http://h/activate?token=3Dab=\r\nc_9-Z\r\n";
        assert!(addressed_to(eml, "ana@x.example"));
        assert!(!addressed_to(eml, "bob@x.example"));
        assert_eq!(link_token(eml).as_deref(), Some("abc_9-Z"));
    }
}
