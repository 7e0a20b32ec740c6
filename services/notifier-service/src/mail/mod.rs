//! Turning an event into an e-mail and handing it to SMTP (or to `.eml` files).

pub mod render;
pub mod smtp_pool;
mod smtps;
pub mod transport;

pub use render::{Contact, Email, render};
pub use transport::{MailError, Mailer, SmtpSettings, TlsMode};

/// `Message-ID` of the e-mail for an event: derived from the event id only, so a resend after a crash
/// carries the same id and receivers can drop the duplicate.
pub fn message_id(event_id: uuid::Uuid, domain: &str) -> String {
    format!("<{event_id}@{domain}>")
}
