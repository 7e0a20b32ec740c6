use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who may do what. The wire form (`snake_case`) is what tokens and the database store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Patient,
    ClinicCenterAdmin,
    ClinicAdmin,
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Patient => "patient",
            Role::ClinicCenterAdmin => "clinic_center_admin",
            Role::ClinicAdmin => "clinic_admin",
            Role::Service => "service",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "patient" => Ok(Role::Patient),
            "clinic_center_admin" => Ok(Role::ClinicCenterAdmin),
            "clinic_admin" => Ok(Role::ClinicAdmin),
            "service" => Ok(Role::Service),
            other => Err(format!("unknown role `{other}`")),
        }
    }
}

/// The JWT body. `sub` is an account id for people and `service:<name>` for internal callers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clinic_id: Option<Uuid>,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
}

/// The verified caller of an RPC, put into the request extensions by the auth layer.
/// Handlers take identity from here only, never from a request field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub role: Role,
    pub clinic_id: Option<Uuid>,
}

impl Identity {
    /// The account id of a person; `None` for service callers.
    pub fn account_id(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.subject).ok()
    }
}

impl From<Claims> for Identity {
    fn from(c: Claims) -> Self {
        Identity {
            subject: c.sub,
            role: c.role,
            clinic_id: c.clinic_id,
        }
    }
}
