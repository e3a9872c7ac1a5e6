#![no_main]
//! See `ocserv_agent::fuzzing::uci` for what this target checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocserv_agent::fuzzing::uci(data));
