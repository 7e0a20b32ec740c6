//! Abuse limits on the RPCs anyone may call (`SubmitRegistration`, `ActivateAccount`, `Login`): a rate
//! per client address, and for `Login` a rate per account (password guessing against one account from
//! many addresses). Past a limit the answer is RESOURCE_EXHAUSTED `RATE_LIMITED` with `RetryInfo`, and
//! no password is hashed. Limits are per replica (N replicas allow N times the rate); the hashing
//! pool's bound (see `hashing`) caps the cost whatever the rate.

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use governor::{
    DefaultKeyedRateLimiter, Quota,
    clock::{Clock, DefaultClock},
};

use crate::{domain::Email, error::RegistrationError};

/// How many calls a minute, each with a burst of the same size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// Public calls per client address per minute.
    pub per_address_per_minute: NonZeroU32,
    /// `Login` attempts per account (e-mail) per minute.
    pub logins_per_account_per_minute: NonZeroU32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            per_address_per_minute: NonZeroU32::new(300).expect("non-zero"),
            logins_per_account_per_minute: NonZeroU32::new(10).expect("non-zero"),
        }
    }
}

/// Shared by every clone (the service state is cloned per server).
#[derive(Clone)]
pub struct Limits {
    per_address: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    per_account: Arc<DefaultKeyedRateLimiter<String>>,
    checks: Arc<AtomicU64>,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Limits")
    }
}

/// Forget keys idle long enough to be back at a full burst, every this many checks, so a spray of
/// addresses or e-mails cannot grow the tables without bound.
const FORGET_EVERY: u64 = 4096;

impl Limits {
    pub fn new(s: LimitSettings) -> Self {
        Self {
            per_address: Arc::new(governor::RateLimiter::keyed(Quota::per_minute(
                s.per_address_per_minute,
            ))),
            per_account: Arc::new(governor::RateLimiter::keyed(Quota::per_minute(
                s.logins_per_account_per_minute,
            ))),
            checks: Arc::new(AtomicU64::new(0)),
        }
    }

    /// One public call from `peer` (unknown in in-process callers without TCP: not limited).
    pub fn address(&self, peer: Option<SocketAddr>) -> Result<(), RegistrationError> {
        self.tidy();
        let Some(peer) = peer else { return Ok(()) };
        check(&self.per_address, &peer.ip())
    }

    /// One `Login` attempt for `email` (its canonical form: case variants are one account).
    pub fn login(&self, email: &Email) -> Result<(), RegistrationError> {
        check(&self.per_account, &email.as_str().to_owned())
    }

    fn tidy(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % FORGET_EVERY == FORGET_EVERY - 1 {
            self.per_address.retain_recent();
            self.per_account.retain_recent();
            self.per_address.shrink_to_fit();
            self.per_account.shrink_to_fit();
        }
    }
}

/// The client as the failed-login delay keys it: the address, an IPv6 one by its /64 (what one
/// subscriber is usually given, so rotating within it is one client); `""` without an address.
pub fn login_client(peer: Option<IpAddr>) -> String {
    match peer.map(|ip| ip.to_canonical()) {
        None => String::new(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            let prefix = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{prefix}/64")
        }
    }
}

fn check<K>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Result<(), RegistrationError>
where
    K: std::hash::Hash + Eq + Clone,
{
    limiter.check_key(key).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        RegistrationError::RateLimited {
            retry_after: wait.max(Duration::from_millis(100)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_address: u32, per_account: u32) -> Limits {
        Limits::new(LimitSettings {
            per_address_per_minute: NonZeroU32::new(per_address).unwrap(),
            logins_per_account_per_minute: NonZeroU32::new(per_account).unwrap(),
        })
    }

    #[test]
    fn a_burst_passes_then_the_next_call_is_told_when_to_retry() {
        let l = limits(3, 2);
        let (a, b): (SocketAddr, SocketAddr) = (
            "10.0.0.1:1000".parse().unwrap(),
            "10.0.0.2:1000".parse().unwrap(),
        );
        for _ in 0..3 {
            l.address(Some(a)).unwrap();
        }
        let Err(RegistrationError::RateLimited { retry_after }) = l.address(Some(a)) else {
            panic!("the fourth call from one address passed");
        };
        assert!(retry_after > Duration::from_secs(10) && retry_after <= Duration::from_secs(20));
        l.address(Some("10.0.0.1:2000".parse().unwrap()))
            .unwrap_err();
        l.address(Some(b))
            .expect("another address has its own budget");
        l.address(None).expect("no address, no limit");

        let email = |raw: &str| Email::parse(raw).unwrap();
        l.login(&email("Ana@Example.com")).unwrap();
        l.login(&email("ana@example.com ")).unwrap();
        assert!(matches!(
            l.login(&email("ANA@example.com")),
            Err(RegistrationError::RateLimited { .. })
        ));
        l.login(&email("other@example.com")).expect("per account");
    }

    #[test]
    fn a_login_client_is_its_address_and_an_ipv6_one_its_64() {
        let client = |s: &str| login_client(Some(s.parse().unwrap()));
        assert_eq!(client("10.0.0.1"), "10.0.0.1");
        assert_eq!(client("::ffff:10.0.0.1"), "10.0.0.1");
        assert_eq!(client("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(client("2001:db8:1:2:ffff::1"), "2001:db8:1:2::/64");
        assert_eq!(login_client(None), "");
    }
}
