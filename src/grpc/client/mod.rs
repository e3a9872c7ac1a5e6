//! The gRPC client: a [`Channel`] to one server that connects (and reconnects, with backoff)
//! over mutual TLS, sends unary calls and opens streaming ones ([`Sender`], [`Receiver`]),
//! with deadlines, metadata and a probe that notices a connection gone silent.

mod call;
mod channel;

pub use call::{CallOptions, Receiver, Response, Sender};
pub use channel::{Channel, Observer, Settings};
