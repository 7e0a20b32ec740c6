//! Identity: signed access tokens (Ed25519 JWTs), the roles they carry, and the tower layer that checks
//! every RPC against a per-service policy table.

pub mod audience;
mod bearer;
mod claims;
mod keys;
mod layer;
mod policy;
mod service_token;
mod tokens;

pub use bearer::with_bearer;
pub use claims::{Claims, Identity, Role};
pub use keys::{KeyPair, generate_key_pair, key_id, public_pem_from_private};
pub use layer::{AuthLayer, AuthService, identity};
pub use policy::{Access, Policy};
pub use service_token::ServiceToken;
pub use tokens::{TokenError, TokenIssuer, TokenVerifier};
