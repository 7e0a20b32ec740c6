//! Activation tokens are sealed for the notifier: registration-service encrypts each with the
//! notifier's public key (a libsodium sealed box: X25519 + XSalsa20-Poly1305, a fresh ephemeral key
//! per token) before it reaches the outbox, and only the notifier, holding the private key, opens it
//! — in memory, to write the e-mail. Neither the outbox nor the notifier's ledger holds a token in
//! clear. Keys are 32 bytes, base64url, one per file (`notifier-service gen-seal-keypair`).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use crypto_box::{PublicKey, SecretKey};
use rand_core::OsRng;

use crate::config::{read_key_file, read_private_key_file};

/// Seals: what registration-service holds.
#[derive(Clone)]
pub struct SealingKey(PublicKey);

/// Opens: what the notifier holds.
#[derive(Clone)]
pub struct OpeningKey(SecretKey);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SealingKey({})",
            URL_SAFE_NO_PAD.encode(self.0.as_bytes())
        )
    }
}

impl std::fmt::Debug for OpeningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpeningKey([redacted])")
    }
}

fn key_bytes(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim())
        .map_err(|e| anyhow::anyhow!("not a base64url key: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("a key is 32 bytes, not {}", b.len()))
}

/// A new pair: (opening key, sealing key), each as the text of its file.
pub fn generate_pair() -> (String, String) {
    let secret = SecretKey::generate(&mut OsRng);
    (
        URL_SAFE_NO_PAD.encode(secret.to_bytes()),
        URL_SAFE_NO_PAD.encode(secret.public_key().as_bytes()),
    )
}

impl SealingKey {
    pub fn from_text(text: &str) -> anyhow::Result<Self> {
        Ok(Self(PublicKey::from_bytes(key_bytes(text)?)))
    }

    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        Self::from_text(&read_key_file(path)?)
    }

    /// The text of its key file.
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    /// `secret` sealed, base64url; only the opening key's holder can read it.
    pub fn seal(&self, secret: &str) -> anyhow::Result<String> {
        let sealed = self
            .0
            .seal(&mut OsRng, secret.as_bytes())
            .map_err(|_| anyhow::anyhow!("sealing failed"))?;
        Ok(URL_SAFE_NO_PAD.encode(sealed))
    }
}

impl OpeningKey {
    pub fn from_text(text: &str) -> anyhow::Result<Self> {
        Ok(Self(SecretKey::from_bytes(key_bytes(text)?)))
    }

    /// Refused when other users may read the file (see [`read_private_key_file`]).
    pub fn from_file(path: &std::path::Path) -> anyhow::Result<Self> {
        Self::from_text(&read_private_key_file(path)?)
    }

    /// The text of its key file (to write one; never log it).
    pub fn to_text(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.to_bytes())
    }

    pub fn sealing_key(&self) -> SealingKey {
        SealingKey(self.0.public_key())
    }

    /// What [`SealingKey::seal`] sealed for this key; an error for anything else.
    pub fn open(&self, sealed: &str) -> anyhow::Result<String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(sealed.trim())
            .map_err(|e| anyhow::anyhow!("sealed value is not base64url: {e}"))?;
        let clear = self
            .0
            .unseal(&bytes)
            .map_err(|_| anyhow::anyhow!("sealed value does not open with this key"))?;
        Ok(String::from_utf8(clear)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_matching_key_opens_and_each_seal_differs() {
        let (open_text, seal_text) = generate_pair();
        let (open, seal) = (
            OpeningKey::from_text(&open_text).unwrap(),
            SealingKey::from_text(&seal_text).unwrap(),
        );
        let a = seal.seal("token-123").unwrap();
        let b = seal.seal("token-123").unwrap();

        assert_ne!(a, b, "a fresh ephemeral key per seal");
        assert!(!a.contains("token-123"));
        assert_eq!(open.open(&a).unwrap(), "token-123");
        assert_eq!(open.open(&b).unwrap(), "token-123");
        let (stranger, _) = generate_pair();
        assert!(OpeningKey::from_text(&stranger).unwrap().open(&a).is_err());
        let mut tampered = URL_SAFE_NO_PAD.decode(&a).unwrap();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(open.open(&URL_SAFE_NO_PAD.encode(tampered)).is_err());
        assert_eq!(
            URL_SAFE_NO_PAD.encode(open.sealing_key().0.as_bytes()),
            seal_text
        );
        assert!(SealingKey::from_text("short").is_err());
        assert_eq!(format!("{open:?}"), "OpeningKey([redacted])");
    }
}
