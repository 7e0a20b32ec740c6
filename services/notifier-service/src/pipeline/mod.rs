//! The two loops: consumers record pulled events in the ledger then ack; senders claim queued
//! deliveries, render, send over SMTP and record the outcome. Beside them, the ledger's purge.

pub mod consumer;
pub mod contacts;
pub mod outcome;
pub mod purge;
pub mod sender;

use std::time::Duration;

/// Retry delay after `attempts` failed attempts: exponential from `base`, capped at `max`, with
/// ±50 % jitter so a recovering SMTP server is not hit by every delivery at once.
pub fn backoff(attempts: i32, base: Duration, max: Duration) -> Duration {
    let exp = base
        .saturating_mul(1u32 << attempts.clamp(0, 20) as u32)
        .min(max);
    exp.mul_f64(rand::random_range(0.5..1.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for _ in 0..100 {
            let first = backoff(0, base, max);
            assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(1500));
            let late = backoff(30, base, max);
            assert!(late <= Duration::from_secs(90) && late >= Duration::from_secs(30));
        }
    }
}
