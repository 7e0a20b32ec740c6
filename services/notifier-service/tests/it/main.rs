//! notifier-service integration tests: the three services in-process (or as killed and restarted
//! processes), real PostgreSQL, and a real SMTP server on loopback (`clinic_common::testing::SmtpServer`).
//! E-mails are counted by Message-ID at that server.

mod crashes;
mod emails;
mod helpers;
mod links;
mod poison;
mod reservations;
