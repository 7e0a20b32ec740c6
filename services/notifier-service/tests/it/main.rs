//! notifier-service integration tests: the three services in-process (or as killed and restarted
//! processes), real PostgreSQL, and a real SMTP server on loopback (`clinic_common::testing::SmtpServer`).
//! E-mails are counted by Message-ID at that server.

mod claims;
mod crashes;
mod emails;
mod healthcheck;
mod helpers;
mod ledger_outage;
mod links;
mod operator_retry;
mod outcome;
mod poison;
mod reflection;
mod reservations;
mod retention;
mod shutdown;
mod smtp_failures;
mod smtp_tls;
