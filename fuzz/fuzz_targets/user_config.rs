#![no_main]
//! See `ocserv_agent::fuzzing::user_config` for what this target checks.

libfuzzer_sys::fuzz_target!(|data: &[u8]| ocserv_agent::fuzzing::user_config(data));
