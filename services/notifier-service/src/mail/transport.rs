//! SMTP (host, port, TLS mode, credentials from config), or `.eml` files in a folder.

use std::{path::PathBuf, sync::Arc, time::Duration};

use lettre::{
    AsyncFileTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
    transport::smtp::client::{Certificate, TlsParameters},
};
use secrecy::SecretString;

use super::{
    Email,
    smtp_pool::{SendError, SmtpPool},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsMode {
    /// Plain SMTP (local catchers such as Mailpit).
    None,
    /// STARTTLS upgrade, required.
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub timeout: Duration,
    /// PEM of a CA trusted for the server's certificate besides the public roots (a relay whose
    /// certificate a private CA signed).
    pub ca_pem: Option<String>,
}

impl SmtpSettings {
    /// How the server's certificate is checked: against the public roots and `ca_pem`, for `host`.
    pub fn tls_parameters(&self) -> Result<TlsParameters, lettre::transport::smtp::Error> {
        let mut builder = TlsParameters::builder(self.host.clone());
        if let Some(pem) = &self.ca_pem {
            builder = builder.add_root_certificate(Certificate::from_pem(pem.as_bytes())?);
        }
        builder.build()
    }
}

#[derive(Clone)]
pub enum Mailer {
    /// Plain, STARTTLS or TLS from the first byte: our own no-delay connections, never reused after
    /// a send that was cut short (see `smtp_pool`).
    Smtp(Arc<SmtpPool>),
    /// Writes each message to `<dir>/<uuid>.eml`, for running without a mail server.
    Files(AsyncFileTransport<Tokio1Executor>),
}

impl Mailer {
    pub fn smtp(s: &SmtpSettings) -> anyhow::Result<Self> {
        if s.tls != TlsMode::None {
            // A bad CA file or host name fails at start-up, not at the first e-mail.
            s.tls_parameters()?;
        }
        Ok(Mailer::Smtp(Arc::new(SmtpPool::new(s.clone()))))
    }

    pub fn files(dir: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir)?;
        Ok(Mailer::Files(AsyncFileTransport::new(dir)))
    }

    /// Sends `email` with the given `Message-ID`; Ok means the server (or the folder) accepted it.
    #[tracing::instrument(name = "smtp_send", skip_all, fields(message_id = %message_id), err(level = "info"))]
    pub async fn send(
        &self,
        from: &Mailbox,
        message_id: &str,
        email: &Email,
    ) -> Result<(), MailError> {
        let name = format!("{} {}", email.to.first_name, email.to.last_name);
        let address = email
            .to
            .email
            .parse()
            .map_err(|e| MailError::Message(format!("recipient {:?}: {e}", email.to.email)))?;
        let message = Message::builder()
            .message_id(Some(message_id.to_owned()))
            .from(from.clone())
            .to(Mailbox::new(Some(name), address))
            .subject(email.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| MailError::Message(e.to_string()))?;
        match self {
            Mailer::Smtp(pool) => pool.send(message.envelope(), &message.formatted()).await?,
            Mailer::Files(t) => {
                t.send(message).await?;
            }
        }
        Ok(())
    }
}

/// Why an e-mail did not go, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The message cannot be built (e.g. the recipient's address does not parse).
    #[error("cannot build the message: {0}")]
    Message(String),
    #[error(transparent)]
    Send(#[from] SendError),
    #[error("write .eml file: {0}")]
    File(#[from] lettre::transport::file::Error),
}

impl MailError {
    /// Retrying cannot help: the message is malformed or the server refused it with a 5xx reply.
    /// Connection errors, time-outs, 4xx replies and a full disk are worth another attempt.
    pub fn is_permanent(&self) -> bool {
        match self {
            MailError::Message(_) => true,
            MailError::Send(e) => e.is_permanent(),
            MailError::File(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::Contact;

    #[tokio::test]
    async fn the_file_transport_writes_an_eml_with_the_message_id() {
        let dir =
            std::env::temp_dir().join(format!("clinic-eml-{}", uuid::Uuid::new_v4().simple()));
        let mailer = Mailer::files(dir.clone()).unwrap();
        let email = Email {
            to: Contact {
                email: "ana@mail.example.com".into(),
                first_name: "Ana".into(),
                last_name: "A".into(),
            },
            subject: "Hello".into(),
            text: "plain".into(),
            html: "<p>html</p>".into(),
        };
        let from: Mailbox = "Clinic <no-reply@clinic.test>".parse().unwrap();

        mailer
            .send(&from, "<e1@notifier.test>", &email)
            .await
            .unwrap();

        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
        assert_eq!(files.len(), 1);
        let raw = std::fs::read_to_string(files[0].path()).unwrap();
        assert!(raw.contains("Message-ID: <e1@notifier.test>"), "{raw}");
        assert!(raw.contains("multipart/alternative"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
