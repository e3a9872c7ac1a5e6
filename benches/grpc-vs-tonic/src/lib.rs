//! Generated agent.v1 types and tonic stubs, shared by the two binaries.

pub mod agent {
    pub mod v1 {
        tonic::include_proto!("agent.v1");
    }
}

use std::path::Path;

/// Reads a PEM file of the test PKI.
pub fn pem(dir: &Path, name: &str) -> Vec<u8> {
    std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{}/{name}: {e}", dir.display()))
}
