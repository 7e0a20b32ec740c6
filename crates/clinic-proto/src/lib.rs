//! Generated gRPC code for every clinic service, re-exported as `pb`, plus the descriptor set for reflection.

pub mod pb {
    pub mod appointment {
        pub mod v1 {
            tonic::include_proto!("clinic.appointment.v1");
        }
    }
    pub mod notifier {
        pub mod v1 {
            tonic::include_proto!("clinic.notifier.v1");
        }
    }
    pub mod outbox {
        pub mod v1 {
            tonic::include_proto!("clinic.outbox.v1");
        }
    }
    pub mod registration {
        pub mod v1 {
            tonic::include_proto!("clinic.registration.v1");
        }
    }
}

/// Encoded `FileDescriptorSet` of every clinic proto, for server reflection and policy coverage checks.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/clinic_descriptor.bin"));
