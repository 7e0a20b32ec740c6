use ed25519_dalek::{
    SigningKey,
    pkcs8::{EncodePrivateKey, EncodePublicKey, spki::der::pem::LineEnding},
};
use rand_core::OsRng;

/// An Ed25519 key pair in PEM: PKCS#8 private key and SPKI public key.
pub struct KeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("private_pem", &"[redacted]")
            .finish_non_exhaustive()
    }
}

pub fn generate_key_pair() -> anyhow::Result<KeyPair> {
    let signing = SigningKey::generate(&mut OsRng);
    let private_pem = signing.to_pkcs8_pem(LineEnding::LF)?.to_string();
    let public_pem = signing.verifying_key().to_public_key_pem(LineEnding::LF)?;
    Ok(KeyPair {
        private_pem,
        public_pem,
    })
}

/// The SPKI PEM public key of a PKCS#8 PEM Ed25519 private key, so a service that signs needs one file.
pub fn public_pem_from_private(private_pem: &str) -> anyhow::Result<String> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let signing = SigningKey::from_pkcs8_pem(private_pem)
        .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 PEM private key: {e}"))?;
    Ok(signing.verifying_key().to_public_key_pem(LineEnding::LF)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_key_derived_from_the_private_one_is_the_pairs() {
        let pair = generate_key_pair().unwrap();
        assert!(pair.private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(pair.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        assert_eq!(
            public_pem_from_private(&pair.private_pem).unwrap(),
            pair.public_pem
        );
        assert!(public_pem_from_private(&pair.public_pem).is_err());
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let pair = generate_key_pair().unwrap();
        let shown = format!("{pair:?}");
        assert_eq!(shown, r#"KeyPair { private_pem: "[redacted]", .. }"#);
    }
}
