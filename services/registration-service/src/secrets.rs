//! Password hashing (argon2id) and activation tokens (random, stored as SHA-256).

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use rand_core::RngCore;
use sha2::{Digest, Sha256};

/// Runs `work` on the dedicated hashing threads (see `hashing`).
async fn hashing<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    crate::hashing::run(work).await?
}

/// Argon2id with the crate's defaults (m = 19 MiB, t = 2, p = 1: the OWASP baseline), off the async
/// runtime because it is deliberately slow.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    hashing(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hash password: {e}"))
    })
    .await
}

/// Constant-effort check; `None` stands for "no such account" and still spends the hashing time so
/// response timing does not reveal which e-mails exist.
pub async fn verify_password(password: String, hash: Option<String>) -> anyhow::Result<bool> {
    hashing(move || {
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && hash != DUMMY_HASH)
    })
    .await
}

/// An argon2id hash of a random string nobody knows, with the default parameters.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$0d5M5HqNQDy2gDpLDg9+Nq9Qp1xX2bKZTCM8Yk0l7zM";

/// A fresh activation token: 32 random bytes, URL-safe; returns (token, SHA-256 of it).
pub fn new_activation_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_token(&token);
    (token, hash)
}

pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_dummy_never_matches() {
        // The hashing queue's own test fills it; not at the same time as this one.
        let _queue = crate::hashing::TEST_QUEUE.lock().await;
        let hash = hash_password("correct horse 1".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse 1".into(), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify_password("wrong horse 1".into(), Some(hash))
                .await
                .unwrap()
        );
        assert!(!verify_password("anything".into(), None).await.unwrap());
    }

    #[test]
    fn activation_tokens_are_random_and_hashed() {
        let (a, ha) = new_activation_token();
        let (b, _) = new_activation_token();
        assert_ne!(a, b);
        assert_eq!(ha, hash_token(&a));
        assert_eq!(ha.len(), 32);
    }
}
