//! ocserv-agent: the daemon beside ocserv on a router, and the tools around it.
//!
//! The public surface is what the binary, the integration tests and the benchmarks use; it
//! carries `missing_docs`:
//! - [`cli`]: command-line entry points (`run`, `hook`, `check-config`, `status`, `occtl`, ...);
//! - [`config`]: the UCI configuration file, read as libuci reads it, typed and validated;
//! - [`session`]: the decision input, a session event read from ocserv's script environment;
//! - [`decision`]: what a decision is (allow or deny, its source, why), sent typed to the hook;
//! - [`trace`]: W3C `traceparent`, to follow one connect from the router to the portal;
//! - [`ipc`]: the local socket between the hook and the daemon;
//! - [`resilience`]: circuit breaker, decision cache, fail modes, coalescing;
//! - [`grpc`]: gRPC over HTTP/2, both ends (a crate-in-waiting); [`proto`]: the generated
//!   message types; [`logger`]: stderr or syslog output for the `log` facade.
//!
//! [`fuzzing`] exists only in tests and with the `fuzzing` feature: one entry point per parser
//! of outside bytes, with the properties the fuzz targets in `fuzz/` check.
//!
//! Inside (`pub(crate)`), in the order a connect meets them: `daemon` (start-up, signals,
//! reload, the hook's requests), `authz` (local rules, the portal behind cache and breaker, the
//! budget), `ocserv` (its control socket, events, occtl's formats, its files), `portal` (the
//! CheckPolicy and ValidateSession client), `events` (reports: journal, outbox, delivery),
//! `services` (the gRPC services the agent serves), `control` (the dial-out stream),
//! `metrics` (Prometheus text over HTTP and as a textfile); and beneath them `backoff` (every
//! retry's doubling wait and jitter), `fsutil` (atomic writes, no symbolic link followed),
//! `offload` (the thread for blocking file work), `json` (strict JSON in front of nanoserde),
//! `log_limit`, `log_ring` (recent lines for StreamLogs), `utc` (calendar dates without libc),
//! `occtl_verbs` (the verbs the config allows and the runner runs).

#![warn(missing_docs)]

pub(crate) mod authz;
pub(crate) mod backoff;
pub mod cli;
pub mod config;
pub(crate) mod control;
pub(crate) mod daemon;
pub mod decision;
pub(crate) mod events;
pub(crate) mod fsutil;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod grpc;
pub mod ipc;
pub(crate) mod json;
pub(crate) mod log_limit;
pub(crate) mod log_ring;
pub mod logger;
pub(crate) mod metrics;
pub(crate) mod occtl_verbs;
pub(crate) mod ocserv;
pub(crate) mod offload;
pub(crate) mod portal;
#[allow(missing_docs)]
pub mod proto;
pub mod resilience;
pub(crate) mod services;
pub mod session;
#[cfg(test)]
pub(crate) mod testutil;
pub mod trace;
pub(crate) mod utc;
