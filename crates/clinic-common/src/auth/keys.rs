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

/// The key id of an SPKI PEM Ed25519 public key: its RFC 7638 JWK thumbprint (SHA-256 of
/// `{"crv":"Ed25519","kty":"OKP","x":…}`, base64url). Tokens name the key that signed them in their
/// `kid`, so verifiers can hold the old and the new key while the signing key rotates.
pub fn key_id(public_pem: &str) -> anyhow::Result<String> {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use ed25519_dalek::{VerifyingKey, pkcs8::DecodePublicKey};
    use sha2::{Digest, Sha256};
    let key = VerifyingKey::from_public_key_pem(public_pem.trim())
        .map_err(|e| anyhow::anyhow!("not an Ed25519 SPKI PEM public key: {e}"))?;
    let jwk = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.as_bytes())
    );
    Ok(URL_SAFE_NO_PAD.encode(Sha256::digest(jwk.as_bytes())))
}

/// Every `PUBLIC KEY` PEM block in `text` (a verifier's key file may hold the old and the new key).
pub fn public_pems(text: &str) -> Vec<String> {
    const END: &str = "-----END PUBLIC KEY-----";
    text.split_inclusive(END)
        .filter_map(|chunk| {
            let start = chunk.find("-----BEGIN PUBLIC KEY-----")?;
            chunk.ends_with(END).then(|| chunk[start..].to_owned())
        })
        .collect()
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
    fn a_key_id_is_the_rfc_7638_thumbprint_and_differs_per_key() {
        // RFC 8037 appendix A.3: the thumbprint of its example Ed25519 key.
        let rfc_key = "-----BEGIN PUBLIC KEY-----\n\
                       MCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n\
                       -----END PUBLIC KEY-----\n";
        assert_eq!(
            key_id(rfc_key).unwrap(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
        let (a, b) = (generate_key_pair().unwrap(), generate_key_pair().unwrap());
        assert_ne!(
            key_id(&a.public_pem).unwrap(),
            key_id(&b.public_pem).unwrap()
        );
        assert!(key_id(&a.private_pem).is_err());
    }

    #[test]
    fn a_key_file_may_hold_several_public_keys() {
        let (a, b) = (generate_key_pair().unwrap(), generate_key_pair().unwrap());
        let both = format!("# old\n{}\n# new\n{}", a.public_pem, b.public_pem);
        let pems = public_pems(&both);
        assert_eq!(pems.len(), 2);
        assert_eq!(key_id(&pems[0]).unwrap(), key_id(&a.public_pem).unwrap());
        assert_eq!(key_id(&pems[1]).unwrap(), key_id(&b.public_pem).unwrap());
        assert!(public_pems("no key here").is_empty());
    }

    #[test]
    fn debug_output_never_shows_the_private_key() {
        let pair = generate_key_pair().unwrap();
        let shown = format!("{pair:?}");
        assert_eq!(shown, r#"KeyPair { private_pem: "[redacted]", .. }"#);
    }
}
