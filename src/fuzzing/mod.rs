//! One entry point per parser of outside bytes, each checking the properties its fuzz target
//! (in `fuzz/`) stands for: never a panic, and where a parser has a writer, that what it read
//! is written back and read again the same.
//!
//! Compiled only for tests and with the `fuzzing` feature, so the shipped binary carries none
//! of it. `cargo test` replays every target's seed corpus and every crash input kept in
//! `fuzz/regressions/` through the same functions (`replay_tests`), so a crash found once stays
//! fixed on every target, under qemu too.
//!
//! An entry point panics when a property does not hold: that is how libFuzzer learns of it.

mod config;
mod json;
mod local;
mod ocserv;
mod portal;

pub use crate::grpc::fuzz::{grpc_connection, grpc_wire, x509, Meter};
pub use config::{uci, user_config};
pub use json::{json, Reference};
pub use local::{hook_env, ipc, journal, metrics_http, syslog};
pub use ocserv::ocserv_ctl;
pub use portal::{portal_reply, traceparent};

/// One target's entry point, as `cargo test` calls it.
pub type Target = fn(&[u8]);

/// Every target by the name of its fuzz target and corpus directory, as `cargo test` runs
/// them: without the JSON reference parser (serde_json is the fuzz crate's alone), with the
/// test thread's heap as the connection's meter.
pub const TARGETS: &[(&str, Target)] = &[
    ("uci", uci),
    ("user_config", user_config),
    ("json", |d| json(d, None)),
    ("hook_env", hook_env),
    ("ipc", ipc),
    ("journal", journal),
    ("syslog", syslog),
    ("metrics_http", metrics_http),
    ("portal_reply", portal_reply),
    ("traceparent", traceparent),
    ("ocserv_ctl", ocserv_ctl),
    ("grpc_wire", grpc_wire),
    ("grpc_connection", |d| grpc_connection(d, meter())),
    ("x509", x509),
];

/// Splits fuzz input into at most `n` parts at 0xFF bytes (never in UTF-8 text), so that one
/// input can carry several fields; missing parts are empty.
pub(crate) fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |&b| b == 0xff).collect();
    out.resize(n, &[]);
    out
}

/// The heap meter of `cargo test`; none in a fuzz binary's table (it brings its own).
fn meter() -> Option<&'static dyn Meter> {
    #[cfg(test)]
    return Some(&heap::ThreadHeap);
    #[cfg(not(test))]
    None
}

#[cfg(test)]
mod heap;
#[cfg(test)]
mod replay_tests;
