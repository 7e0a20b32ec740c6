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
    /// The services this token may be presented to (see [`super::audience`]); required.
    pub aud: Vec<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_displays_parses_and_serializes_as_its_wire_form() {
        for (role, wire) in [
            (Role::Patient, "patient"),
            (Role::ClinicCenterAdmin, "clinic_center_admin"),
            (Role::ClinicAdmin, "clinic_admin"),
            (Role::Service, "service"),
        ] {
            assert_eq!(role.as_str(), wire);
            assert_eq!(role.to_string(), wire);
            assert_eq!(wire.parse::<Role>(), Ok(role));
            assert_eq!(serde_json::to_value(role).unwrap(), wire);
        }
        assert_eq!(
            "admin".parse::<Role>(),
            Err("unknown role `admin`".to_owned())
        );
    }

    #[test]
    fn an_identity_is_the_tokens_subject_role_and_clinic() {
        let (person, clinic) = (Uuid::new_v4(), Uuid::new_v4());
        let claims = Claims {
            iss: "clinic-center".into(),
            sub: person.to_string(),
            aud: vec!["appointment-service".into()],
            role: Role::ClinicAdmin,
            clinic_id: Some(clinic),
            iat: 0,
            exp: 60,
            jti: Uuid::new_v4(),
        };
        let who = Identity::from(claims.clone());
        assert_eq!(
            who,
            Identity {
                subject: person.to_string(),
                role: Role::ClinicAdmin,
                clinic_id: Some(clinic),
            }
        );
        assert_eq!(who.account_id(), Some(person));
        let service = Identity::from(Claims {
            sub: "service:notifier-service".into(),
            role: Role::Service,
            clinic_id: None,
            ..claims
        });
        assert_eq!(service.account_id(), None);
    }
}
