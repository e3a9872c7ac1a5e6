//! `ocserv-agent version`: what this binary is and what it was built for.

use std::process::ExitCode;

pub fn run() -> ExitCode {
    println!("ocserv-agent {}", env!("CARGO_PKG_VERSION"));
    println!("target: {}", env!("OCSERV_AGENT_TARGET"));
    println!(
        "arch: {}-bit, {}-endian",
        usize::BITS,
        if cfg!(target_endian = "big") {
            "big"
        } else {
            "little"
        }
    );
    println!("features: {}", env!("OCSERV_AGENT_FEATURES"));
    ExitCode::SUCCESS
}
