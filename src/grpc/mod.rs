//! gRPC over HTTP/2 (h2 for HTTP/2, rustls for TLS, prost's bytes for messages), both ends,
//! written to be a crate of its own: nothing here knows the agent (its configuration, its
//! services or its decisions). Split by role, as rustls splits its client and server:
//! - `wire`: the format on the wire, for both ends: message framing, status codes and their
//!   trailers, `grpc-timeout`, metadata (ASCII and `-bin`), message bodies with flow control,
//!   and the byte budget a peer's messages are charged to;
//! - `transport`: what carries it: the TCP socket wrapper, TLS configurations from PEM files,
//!   the peer's X.509 identities, the tokio-I/O bridge h2 needs, keepalive pings;
//! - [`server`]: connections, streams routed to handlers, replies, admission of new peers;
//! - [`client`]: a channel to one server, reconnecting, with unary and streaming calls.
//!
//! What callers need is re-exported here and in `server`/`client`; the rest is internal.

mod transport;
mod wire;

pub mod client;
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) mod fuzz;
pub mod server;

pub use transport::keepalive::Keepalive;
#[cfg(test)]
pub(crate) use transport::tls::test_certs;
pub use transport::tls::{client_config, server_config, TlsError, TlsFiles};
pub use transport::x509::Identities;
pub use wire::budget::{Budget, Share};
pub use wire::metadata::{Metadata, Value};
pub use wire::status::{Code, Status};

#[cfg(test)]
mod silent_peer_tests;
#[cfg(test)]
mod stream_tests;
