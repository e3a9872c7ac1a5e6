//! The local socket between the daemon and its short-lived clients (hook, `status`).

pub mod client;
pub mod frame;
pub mod messages;
pub mod server;
