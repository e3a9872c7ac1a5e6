//! The local socket between the daemon and its short-lived clients (hook, `status`): the frame
//! format (frame.rs), the typed messages (messages.rs), the daemon's side with its SO_PEERCRED
//! check (server.rs) and the clients' (client.rs).

pub mod client;
pub mod frame;
pub mod messages;
pub mod server;
