use std::collections::HashMap;

use super::Role;

/// Who may call one RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (registration, activation, login; health and reflection).
    Public,
    /// A person's valid token whose role is one of these. Finer checks (own data only) stay in the
    /// handler. Listing [`Role::Service`] here admits no service: services are named, below.
    Roles(&'static [Role]),
    /// People with one of these roles, and the named services (token subject `service:<name>`).
    Callers(&'static [Role], &'static [&'static str]),
}

impl Access {
    /// Whether a verified caller — `role`, token `subject` — may call an RPC with this access.
    pub fn admits(self, role: Role, subject: &str) -> bool {
        let (roles, services): (&[Role], &[&str]) = match self {
            Access::Public => return true,
            Access::Roles(roles) => (roles, &[]),
            Access::Callers(roles, services) => (roles, services),
        };
        match role {
            Role::Service => subject
                .strip_prefix("service:")
                .is_some_and(|name| services.contains(&name)),
            person => roles.contains(&person),
        }
    }
}

/// The per-service table of RPC full path (`/package.Service/Method`) → access.
/// An RPC missing from the table is refused: deny by default.
#[derive(Debug, Clone)]
pub struct Policy {
    entries: HashMap<&'static str, Access>,
}

/// Infrastructure every service serves without a token.
const PUBLIC_PREFIXES: &[&str] = &[
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1.ServerReflection/",
    "/grpc.reflection.v1alpha.ServerReflection/",
];

impl Policy {
    pub fn new(entries: &[(&'static str, Access)]) -> Self {
        Self {
            entries: entries.iter().copied().collect(),
        }
    }

    /// Merges several services' tables (a server hosting more than one gRPC service).
    pub fn merge(mut self, other: Policy) -> Self {
        self.entries.extend(other.entries);
        self
    }

    pub fn access(&self, path: &str) -> Option<Access> {
        if PUBLIC_PREFIXES.iter().any(|p| path.starts_with(p)) {
            return Some(Access::Public);
        }
        self.entries.get(path).copied()
    }

    /// Whether this table covers the gRPC service `path` (`/package.Service/Method`) belongs to, i.e.
    /// whether this server hosts it. Health and reflection count as hosted everywhere.
    pub fn hosts_service_of(&self, path: &str) -> bool {
        let Some(service) = path
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .map(|(service, _)| service)
        else {
            return false;
        };
        let prefix = format!("/{service}/");
        PUBLIC_PREFIXES.contains(&prefix.as_str())
            || self.entries.keys().any(|k| k.starts_with(&prefix))
    }

    /// Full paths of `service` (e.g. `clinic.registration.v1.RegistrationService`) in `descriptor_set`
    /// that have no entry. Tests assert this is empty so a new RPC cannot ship without a policy.
    pub fn missing_entries(&self, descriptor_set: &[u8], service: &str) -> Vec<String> {
        use prost::Message;
        let fds = prost_types::FileDescriptorSet::decode(descriptor_set)
            .expect("descriptor set is valid protobuf");
        let mut found_service = false;
        let mut missing = Vec::new();
        for file in &fds.file {
            for svc in &file.service {
                let full = format!("{}.{}", file.package(), svc.name());
                if full != service {
                    continue;
                }
                found_service = true;
                for method in &svc.method {
                    let path = format!("/{full}/{}", method.name());
                    if !self.entries.contains_key(path.as_str()) {
                        missing.push(path);
                    }
                }
            }
        }
        assert!(
            found_service,
            "service {service} is not in the descriptor set"
        );
        missing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_is_admitted_by_name_and_a_person_by_role() {
        let get_patient = Access::Callers(&[Role::Patient], &["appointment-service"]);
        assert!(get_patient.admits(Role::Service, "service:appointment-service"));
        assert!(!get_patient.admits(Role::Service, "service:operator"));
        assert!(
            !get_patient.admits(Role::Service, "appointment-service"),
            "no prefix"
        );
        assert!(get_patient.admits(Role::Patient, "p1"));
        assert!(!get_patient.admits(Role::ClinicAdmin, "service:appointment-service"));
        let listed_role = Access::Roles(&[Role::Service, Role::Patient]);
        assert!(
            !listed_role.admits(Role::Service, "service:appointment-service"),
            "a service must be named"
        );
        assert!(Access::Public.admits(Role::Service, "service:operator"));
    }

    const FEED: &str = "clinic.outbox.v1.OutboxFeed";

    #[test]
    fn missing_entries_names_exactly_the_rpcs_without_one() {
        let pull_only = Policy::new(&[("/clinic.outbox.v1.OutboxFeed/Pull", Access::Public)]);
        assert_eq!(
            pull_only.missing_entries(clinic_proto::FILE_DESCRIPTOR_SET, FEED),
            vec!["/clinic.outbox.v1.OutboxFeed/Ack".to_owned()]
        );
        let both = pull_only.merge(Policy::new(&[(
            "/clinic.outbox.v1.OutboxFeed/Ack",
            Access::Public,
        )]));
        assert!(
            both.missing_entries(clinic_proto::FILE_DESCRIPTOR_SET, FEED)
                .is_empty()
        );
    }

    #[test]
    fn a_server_hosts_the_services_its_table_names_plus_health_and_reflection() {
        let pull_only = Policy::new(&[("/clinic.outbox.v1.OutboxFeed/Pull", Access::Public)]);
        assert!(pull_only.hosts_service_of("/clinic.outbox.v1.OutboxFeed/Ack"));
        assert!(pull_only.hosts_service_of("/grpc.health.v1.Health/Check"));
        assert!(
            pull_only.hosts_service_of("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo")
        );
        assert!(
            !pull_only.hosts_service_of("/clinic.outbox.v1.Outbox/Pull"),
            "a prefix is not a service"
        );
        assert!(!pull_only.hosts_service_of("/clinic.registration.v1.RegistrationService/Login"));
        assert!(!pull_only.hosts_service_of("no-slash"));
        assert!(!pull_only.hosts_service_of("/"));
    }
}
