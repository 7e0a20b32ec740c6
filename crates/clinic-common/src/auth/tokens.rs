use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Claims, Role};

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
        Ok(Self { key })
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
        encode(&Header::new(Algorithm::EdDSA), claims, &self.key)
            .map_err(|e| TokenError::Key(e.to_string()))
    }
}

/// Verifies access tokens with the public key; every service holds one.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenVerifier")
    }
}

impl TokenVerifier {
    pub fn from_pem(public_pem: &str) -> Result<Self, TokenError> {
        install_crypto_provider();
        let key = DecodingKey::from_ed_pem(public_pem.as_bytes())
            .map_err(|e| TokenError::Key(e.to_string()))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
        // Each server checks that `aud` names it (the auth layer knows which server it guards);
        // here `aud` must only be present.
        validation.validate_aud = false;
        validation.leeway = 5;
        Ok(Self { key, validation })
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        decode::<Claims>(token, &self.key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Rejected(e.to_string()))
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
}
