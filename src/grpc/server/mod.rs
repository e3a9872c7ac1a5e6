//! The gRPC server: TLS connections served by h2 with one task per stream ([`serve_tls`]),
//! streams routed by path to unary or streaming handlers ([`Router`]) with per-method access,
//! replies with custom metadata ([`Requests`], [`Responses`]), the bounds and settings in
//! force across reloads ([`Settings`], [`InForce`]), graceful shutdown ([`Shutdown`]), and
//! admission of new peers before their handshake ([`admission`]).

pub mod admission;
mod connection;
mod dispatch;
mod reply;
mod router;
mod settings;

pub use connection::{accept_tls, serve_connection, serve_tls, TlsConnection};
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use connection::{serve_http2, Link};
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use dispatch::Peer;
pub use reply::{Requests, Responses};
pub use router::{Access, Call, Router, StreamFuture, UnaryFuture};
pub use settings::{InForce, Settings, Shutdown};
