use std::time::Duration;

use std::collections::HashMap;

use jsonwebtoken::{
    Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Claims, Role, key_id, public_pem_from_private};

/// Every token this system issues names this issuer.
pub const ISSUER: &str = "clinic-center";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("invalid key: {0}")]
    Key(String),
    #[error("token rejected: {0}")]
    Rejected(String),
}

fn install_crypto_provider() {
    // Explicit, so jsonwebtoken never has to guess; a second install is a harmless no-op.
    let _ = jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER.install_default();
}

/// Signs access tokens. Only registration-service holds the private key.
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    /// The `kid` of every token it signs: its public key's thumbprint.
    kid: String,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIssuer([redacted])")
    }
}

impl TokenIssuer {
    pub fn from_pem(private_pem: &str) -> Result<Self, TokenError> {
        install_crypto_provider();
        let key = EncodingKey::from_ed_pem(private_pem.as_bytes())
            .map_err(|e| TokenError::Key(e.to_string()))?;
        let kid = public_pem_from_private(private_pem)
            .and_then(|public| key_id(&public))
            .map_err(|e| TokenError::Key(e.to_string()))?;
        Ok(Self { key, kid })
    }

    /// Issues a token for `subject` valid for `ttl` from now.
    pub fn issue(
        &self,
        subject: &str,
        role: Role,
        clinic_id: Option<Uuid>,
        audience: &[&str],
        ttl: Duration,
    ) -> Result<(String, OffsetDateTime), TokenError> {
        let now = OffsetDateTime::now_utc();
        let expires_at = now + ttl;
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: subject.to_owned(),
            aud: audience.iter().map(|a| (*a).to_owned()).collect(),
            role,
            clinic_id,
            iat: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
            jti: Uuid::new_v4(),
        };
        self.sign(&claims).map(|t| (t, expires_at))
    }

    /// Signs arbitrary claims (tests use it for expired tokens).
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        encode(&header, claims, &self.key).map_err(|e| TokenError::Key(e.to_string()))
    }
}

/// Verifies access tokens with the public keys it was given, the one a token's `kid` names; every
/// service holds one. While the signing key rotates it holds the old and the new key.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: HashMap<String, DecodingKey>,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenVerifier")
    }
}

impl TokenVerifier {
    /// From every `PUBLIC KEY` PEM block in `public_pems` (at least one).
    pub fn from_pem(public_pems: &str) -> Result<Self, TokenError> {
        install_crypto_provider();
        let mut keys = HashMap::new();
        for pem in super::keys::public_pems(public_pems) {
            let kid = key_id(&pem).map_err(|e| TokenError::Key(e.to_string()))?;
            let key = DecodingKey::from_ed_pem(pem.as_bytes())
                .map_err(|e| TokenError::Key(e.to_string()))?;
            keys.insert(kid, key);
        }
        if keys.is_empty() {
            return Err(TokenError::Key("no PUBLIC KEY PEM block".into()));
        }
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        // Each server checks that `aud` names it (the auth layer knows which server it guards);
        // here `aud` must only be present.
        validation.validate_aud = false;
        validation.leeway = 5;
        Ok(Self { keys, validation })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let rejected = |e: &dyn std::fmt::Display| TokenError::Rejected(e.to_string());
        let kid = decode_header(token)
            .map_err(|e| rejected(&e))?
            .kid
            .ok_or_else(|| rejected(&"no key id"))?;
        let key = self
            .keys
            .get(&kid)
            .ok_or_else(|| rejected(&"signed by a key this service does not hold"))?;
        decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| rejected(&e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::generate_key_pair;

    #[test]
    fn an_issued_token_verifies_and_lives_exactly_its_ttl() {
        let pair = generate_key_pair().unwrap();
        let issuer = TokenIssuer::from_pem(&pair.private_pem).unwrap();
        let verifier = TokenVerifier::from_pem(&pair.public_pem).unwrap();
        let clinic = Uuid::new_v4();
        let before = OffsetDateTime::now_utc().unix_timestamp();

        let (token, expires_at) = issuer
            .issue(
                "p1",
                Role::ClinicAdmin,
                Some(clinic),
                &["appointment-service"],
                Duration::from_secs(600),
            )
            .unwrap();

        let claims = verifier.verify(&token).unwrap();
        assert_eq!(
            (
                claims.iss.as_str(),
                claims.sub.as_str(),
                claims.role,
                claims.clinic_id
            ),
            (ISSUER, "p1", Role::ClinicAdmin, Some(clinic))
        );
        assert_eq!(claims.aud, ["appointment-service"]);
        assert_eq!(claims.exp, expires_at.unix_timestamp());
        assert_eq!(claims.exp - claims.iat, 600);
        assert!(claims.iat >= before);
    }

    #[test]
    fn debug_output_never_shows_a_key() {
        let pair = generate_key_pair().unwrap();
        let issuer = TokenIssuer::from_pem(&pair.private_pem).unwrap();
        let verifier = TokenVerifier::from_pem(&pair.public_pem).unwrap();
        assert_eq!(format!("{issuer:?}"), "TokenIssuer([redacted])");
        assert_eq!(format!("{verifier:?}"), "TokenVerifier");
    }

    #[test]
    fn a_verifier_holding_the_old_and_the_new_key_accepts_both_and_no_other() {
        let (old, new, stranger) = (
            generate_key_pair().unwrap(),
            generate_key_pair().unwrap(),
            generate_key_pair().unwrap(),
        );
        let both =
            TokenVerifier::from_pem(&format!("{}{}", old.public_pem, new.public_pem)).unwrap();
        let only_new = TokenVerifier::from_pem(&new.public_pem).unwrap();
        let token = |pair: &crate::auth::KeyPair| {
            TokenIssuer::from_pem(&pair.private_pem)
                .unwrap()
                .issue("p1", Role::Patient, None, &["x"], Duration::from_secs(60))
                .unwrap()
                .0
        };

        assert!(both.verify(&token(&old)).is_ok());
        assert!(both.verify(&token(&new)).is_ok());
        assert!(
            only_new.verify(&token(&old)).is_err(),
            "the old key retired"
        );
        assert!(both.verify(&token(&stranger)).is_err());
        let header = decode_header(token(&new)).unwrap();
        assert_eq!(header.kid, Some(key_id(&new.public_pem).unwrap()));
        assert!(TokenVerifier::from_pem("no key").is_err());
    }

    #[test]
    fn a_token_without_a_key_id_is_refused() {
        let pair = generate_key_pair().unwrap();
        let verifier = TokenVerifier::from_pem(&pair.public_pem).unwrap();
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let unnamed = encode(
            &Header::new(Algorithm::EdDSA),
            &Claims {
                iss: ISSUER.into(),
                sub: "p1".into(),
                aud: vec!["x".into()],
                role: Role::Patient,
                clinic_id: None,
                iat: now,
                exp: now + 60,
                jti: Uuid::new_v4(),
            },
            &EncodingKey::from_ed_pem(pair.private_pem.as_bytes()).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            verifier.verify(&unnamed),
            Err(TokenError::Rejected(_))
        ));
    }
}
