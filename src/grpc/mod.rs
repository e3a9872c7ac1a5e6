//! Our gRPC layer over HTTP/2: message framing, status codes, deadlines and metadata, shared by
//! the server (portal → agent) and the client (agent → portal).

pub mod admission;
pub mod body;
pub mod budget;
pub mod client;
mod client_call;
mod dispatch;
pub mod frame;
pub mod io;
pub mod keepalive;
pub mod metadata;
pub mod reply;
pub mod router;
pub mod server;
pub mod socket;
pub mod status;
pub mod timeout;
pub mod tls;
pub mod x509;

#[cfg(test)]
mod silent_peer_tests;
#[cfg(test)]
mod stream_tests;
