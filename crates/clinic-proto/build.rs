//! Compiles `proto/` with protox (no system `protoc`) and writes the descriptor set that reflection serves.
use std::{env, path::PathBuf};

use prost::Message;

const PROTO_ROOT: &str = "../../proto";
const PROTOS: &[&str] = &[
    "clinic/registration/v1/registration.proto",
    "clinic/appointment/v1/appointment.proto",
    "clinic/outbox/v1/outbox.proto",
    "clinic/notifier/v1/notifier.proto",
    // Only for reflection: lets grpcurl decode `google.rpc` error details. Rust code uses tonic-types.
    "google/rpc/error_details.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fds = protox::compile(PROTOS, [PROTO_ROOT])?;
    // `compile_fds` ignores `file_descriptor_set_path`, so the descriptor set is written here.
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(out_dir.join("clinic_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    Ok(())
}
