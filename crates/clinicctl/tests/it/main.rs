//! `clinicctl` end to end: the built binary as a subprocess against real servers on a fresh database.

mod helpers;

mod decisions;
mod flags;
mod operator_flow;
mod race;
mod seed;
mod sign_in;
