//! The gRPC wire format, shared by both ends: length-prefixed message frames, status codes and
//! their trailers, `grpc-timeout`, metadata, message bodies over h2 with flow control and
//! batching, and the byte budget that bounds what a peer's messages may hold in memory.

pub mod body;
pub mod budget;
pub mod frame;
pub mod metadata;
pub mod status;
pub mod timeout;
