//! What carries gRPC: a TCP socket wrapper that does not retry reads known to block, TLS
//! configurations built from PEM files (mutual on the server), the peer's identities from its
//! X.509 certificate, the bridge from async-io to the tokio I/O traits h2 wants, and
//! HTTP/2 keepalive pings.

pub mod io;
pub mod keepalive;
pub mod socket;
pub mod tls;
pub mod x509;
