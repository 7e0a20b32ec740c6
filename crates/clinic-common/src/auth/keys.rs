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
