//! Our gRPC layer over HTTP/2: message framing, status codes, deadlines and metadata, shared by
//! the server (portal → agent) and the client (agent → portal).

pub mod client;
pub mod frame;
pub mod io;
pub mod listener;
pub mod metadata;
pub mod server;
pub mod status;
pub mod timeout;
pub mod tls;
pub mod x509;
