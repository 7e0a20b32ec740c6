//! SQL, one function per statement, each taking the caller's connection or transaction.
//! Tables are unqualified: the pool's `search_path` is the `registration` schema.

pub mod accounts;
pub mod activation_tokens;
pub mod approval;
pub mod login_failures;
pub mod requests;
pub mod submission_keys;

/// The schema this service owns.
pub const SCHEMA: &str = "registration";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Extensions the migrations use (`create-db-roles` creates them, as the migration role may not): none.
pub const EXTENSIONS: &[&str] = &[];
