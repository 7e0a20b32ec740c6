//! SQL, one function per statement, each taking the caller's connection or transaction.
//! Tables are unqualified: the pool's `search_path` is the `appointment` schema.

pub mod appointments;
pub mod catalog;
pub mod locks;
pub mod reservations;

/// The schema this service owns.
pub const SCHEMA: &str = "appointment";

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Extensions the migrations use (`btree_gist`, for the exclusion constraints): `create-db-roles`
/// creates them, as the migration role may not.
pub const EXTENSIONS: &[&str] = &["btree_gist"];
