//! What the server dispatches to: handlers by path, and what a handler learns about its call.
//!
//! Two shapes of handler: unary (one message in, one out: most of our methods) and streaming
//! (any number each way, for server-streaming, client-streaming and bidi methods alike; the
//! handler decides how many it reads and sends, [`Requests::single`] enforces "exactly one"
//! for server-streaming methods).

use crate::grpc::server::reply::{ReplyMetadata, Requests, Responses};
use crate::grpc::transport::x509::Identities;
use crate::grpc::wire::metadata::Metadata;
use crate::grpc::wire::status::Status;
use bytes::Bytes;
use std::cell::RefMut;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

/// What a unary handler returns: the encoded response message, or the status to fail with.
pub type UnaryFuture = Pin<Box<dyn Future<Output = Result<Bytes, Status>>>>;

/// What a streaming handler returns: how the call ends (OK after the messages it sent).
pub type StreamFuture = Pin<Box<dyn Future<Output = Result<(), Status>>>>;

pub(crate) type UnaryHandler = Rc<dyn Fn(Call, Bytes) -> UnaryFuture>;
pub(crate) type StreamHandler = Rc<dyn Fn(Call, Requests, Responses) -> StreamFuture>;

/// A registered method.
#[derive(Clone)]
pub(crate) enum Method {
    Unary(UnaryHandler),
    Streaming(StreamHandler),
}

/// Who may call a method. Checked at the stream's headers, before any of its body is read:
/// a caller refused here costs the server no buffered request bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only a peer on `grpc.allowed_client` (any CA-signed peer when the list is empty). What
    /// [`Router::unary`] and [`Router::streaming`] register: a new method is closed until it is
    /// opened on purpose.
    AllowedClients,
    /// Any peer the CA signed (HealthCheck).
    AnyClient,
}

/// What a handler knows about the call besides its messages.
#[derive(Clone, Debug)]
pub struct Call {
    /// `/package.Service/Method`.
    pub path: String,
    /// The request's custom metadata.
    pub metadata: Metadata,
    /// The client certificate's names.
    pub peer: Rc<Identities>,
    /// Whether the peer is on `grpc.allowed_client` (always true when the list is empty).
    /// Handlers of mutating methods answer PERMISSION_DENIED when it is not.
    pub peer_allowed: bool,
    /// When the call ends with DEADLINE_EXCEEDED: the client's `grpc-timeout`, or the server's
    /// limit for unary calls.
    pub deadline: Option<Instant>,
    pub(crate) reply: Rc<ReplyMetadata>,
}

impl Call {
    /// PERMISSION_DENIED unless the peer is on `grpc.allowed_client`: the guard of every
    /// method that changes something or reads the logs.
    pub fn require_allowed(&self) -> Result<(), Status> {
        if self.peer_allowed {
            Ok(())
        } else {
            Err(Status::new(
                crate::grpc::wire::status::Code::PermissionDenied,
                format!("{} is not on grpc.allowed_client", self.peer),
            ))
        }
    }

    /// Metadata for the response headers. They leave with the first response message (unary:
    /// when the handler returns), so later changes are not sent.
    pub fn response_headers(&self) -> RefMut<'_, Metadata> {
        self.reply.headers.borrow_mut()
    }

    /// Metadata for the trailers, sent with the final status, whether OK or not.
    pub fn response_trailers(&self) -> RefMut<'_, Metadata> {
        self.reply.trailers.borrow_mut()
    }
}

/// Methods by path.
#[derive(Default)]
pub struct Router {
    methods: HashMap<String, (Method, Access)>,
}

impl Router {
    /// A router with no methods (every path is UNIMPLEMENTED).
    pub fn new() -> Router {
        Router::default()
    }

    /// Serves `path` (`/package.Service/Method`) with a unary handler, for allow-listed
    /// clients only ([`Access::AllowedClients`]).
    pub fn unary<F, Fut>(&mut self, path: &str, handler: F)
    where
        F: Fn(Call, Bytes) -> Fut + 'static,
        Fut: Future<Output = Result<Bytes, Status>> + 'static,
    {
        self.unary_for(Access::AllowedClients, path, handler);
    }

    /// [`Router::unary`] with the access given.
    pub fn unary_for<F, Fut>(&mut self, access: Access, path: &str, handler: F)
    where
        F: Fn(Call, Bytes) -> Fut + 'static,
        Fut: Future<Output = Result<Bytes, Status>> + 'static,
    {
        let handler: UnaryHandler = Rc::new(move |call, msg| Box::pin(handler(call, msg)));
        self.methods
            .insert(path.to_string(), (Method::Unary(handler), access));
    }

    /// Serves `path` with a streaming handler (server-, client- or bidi-streaming), for
    /// allow-listed clients only.
    pub fn streaming<F, Fut>(&mut self, path: &str, handler: F)
    where
        F: Fn(Call, Requests, Responses) -> Fut + 'static,
        Fut: Future<Output = Result<(), Status>> + 'static,
    {
        let handler: StreamHandler =
            Rc::new(move |call, requests, responses| Box::pin(handler(call, requests, responses)));
        self.methods.insert(
            path.to_string(),
            (Method::Streaming(handler), Access::AllowedClients),
        );
    }

    pub(crate) fn get(&self, path: &str) -> Option<(Method, Access)> {
        self.methods.get(path).cloned()
    }
}
