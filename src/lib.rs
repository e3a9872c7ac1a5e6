//! ocserv-agent: the daemon beside ocserv on a router, and the tools around it.
//!
//! Where things are, in the order a connect request meets them:
//! - [`cli`]: command-line entry points (`run`, `hook`, `check-config`, `status`, `version`);
//! - [`config`]: the UCI configuration file, parsed, typed and validated;
//! - [`session`]: the decision input, a session event read from ocserv's script environment;
//! - [`decision`]: what a decision is (allow or deny, its source, why), sent typed to the hook;
//! - [`authz`]: the decision: local rules, the portal behind cache and breaker, the budget;
//! - [`ipc`]: the local socket between the hook and the daemon;
//! - [`json`]: strict JSON checking in front of nanoserde;
//! - [`daemon`]: start-up, signals, reload and shutdown;
//! - [`logger`]: stderr or syslog output for the `log` facade; [`log_limit`]: rate-limited lines;
//! - [`resilience`]: circuit breaker, decision cache, fail modes, coalescing;
//! - [`portal`]: the portal client (CheckPolicy); [`grpc`]: gRPC over HTTP/2, both ends;
//! - [`control`]: the dial-out control stream (heartbeats up, the portal's orders down);
//! - [`events`]: session reports to the portal (journal, outbox, delivery);
//! - [`metrics`]: Prometheus text over HTTP and as a textfile;
//! - [`ocserv`]: ocserv's control socket and occtl's output formats;
//! - [`services`]: the gRPC services the agent serves;
//! - [`proto`]: the gRPC message types generated from `proto/`.
//!
//! And beneath them all: [`backoff`] (every retry's doubling wait and jitter), [`fsutil`] (atomic writes with backups, no symbolic link followed),
//! [`offload`] (the thread for blocking file work), [`log_ring`] (recent log lines for
//! StreamLogs), [`utc`] (calendar dates without libc's time functions), [`occtl_verbs`]
//! (the occtl verbs, for the config and the runner).

pub mod authz;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod control;
pub mod daemon;
pub mod decision;
pub mod events;
pub mod fsutil;
pub mod grpc;
pub mod ipc;
pub mod json;
pub mod log_limit;
pub mod log_ring;
pub mod logger;
pub mod metrics;
pub mod occtl_verbs;
pub mod ocserv;
pub mod offload;
pub mod portal;
pub mod proto;
pub mod resilience;
pub mod services;
pub mod session;
#[cfg(test)]
pub mod testutil;
pub mod utc;
