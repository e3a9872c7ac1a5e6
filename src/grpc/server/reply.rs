//! The server's end of one call: the request messages a handler reads ([`Requests`]), the
//! response messages it sends ([`Responses`]), and how the call is closed with a status.
//!
//! Response headers go out lazily, with the first message, so that a call failing before it
//! has said anything becomes a trailers-only response (one HEADERS frame), as gRPC wants.

use crate::grpc::wire::body::{stream_error, Incoming, Outgoing};
use crate::grpc::wire::metadata::Metadata;
use crate::grpc::wire::status::{encode_message, Code, Status};
use bytes::Bytes;
use h2::server::SendResponse;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use std::cell::{OnceCell, RefCell};
use std::rc::Rc;
use std::task::{Context, Poll};

/// Custom metadata a handler sends back.
#[derive(Debug, Default)]
pub(crate) struct ReplyMetadata {
    pub headers: RefCell<Metadata>,
    pub trailers: RefCell<Metadata>,
}

/// The request messages of a call, in order.
pub struct Requests {
    incoming: Incoming,
}

impl Requests {
    pub(crate) fn new(incoming: Incoming) -> Requests {
        Requests { incoming }
    }

    /// The next request message; `Ok(None)` once the client has half-closed.
    pub async fn next(&mut self) -> Result<Option<Bytes>, Status> {
        self.incoming.next().await
    }

    /// Exactly one message followed by the end of the client's side (unary and
    /// server-streaming calls).
    pub async fn single(mut self) -> Result<Bytes, Status> {
        let Some(message) = self.next().await? else {
            return Err(Status::new(
                Code::Internal,
                "the request carried no message",
            ));
        };
        if self.next().await?.is_some() {
            return Err(Status::new(
                Code::Unimplemented,
                "this method takes exactly one request message",
            ));
        }
        Ok(message)
    }
}

/// Sends response messages. Each `send` waits for flow-control capacity: a client that reads
/// slowly slows the handler rather than growing a buffer.
pub struct Responses {
    reply: Rc<Reply>,
}

impl Responses {
    pub(crate) fn new(reply: Rc<Reply>) -> Responses {
        Responses { reply }
    }

    /// Sends one encoded message now (the response headers first, if this is the first).
    pub async fn send(&self, message: &[u8]) -> Result<(), Status> {
        self.reply.open()?.send(message).await
    }

    /// Queues a message to share DATA frames with the next ones (a backlog of small messages);
    /// sends when a frame is full. Queued messages go out at the next `send` or `flush`, and
    /// before the final status in any case.
    pub async fn feed(&self, message: &[u8]) -> Result<(), Status> {
        self.reply.open()?.feed(message).await
    }

    /// Sends what [`Responses::feed`] queued.
    pub async fn flush(&self) -> Result<(), Status> {
        self.reply.open()?.flush().await
    }
}

/// The response side of one h2 stream: before the headers, after them, or finished.
pub(crate) struct Reply {
    respond: RefCell<Option<SendResponse<Bytes>>>,
    body: OnceCell<Outgoing>,
    metadata: Rc<ReplyMetadata>,
}

impl Reply {
    pub fn new(respond: SendResponse<Bytes>, metadata: Rc<ReplyMetadata>) -> Reply {
        Reply {
            respond: RefCell::new(Some(respond)),
            body: OnceCell::new(),
            metadata,
        }
    }

    /// The body, sending the response headers (with the handler's metadata) first if needed.
    fn open(&self) -> Result<&Outgoing, Status> {
        if let Some(body) = self.body.get() {
            return Ok(body);
        }
        let Some(mut respond) = self.respond.borrow_mut().take() else {
            return Err(Status::new(Code::Internal, "the call has already ended"));
        };
        let mut response = grpc_response();
        self.metadata
            .headers
            .borrow()
            .write_headers(response.headers_mut());
        let stream = respond
            .send_response(response, false)
            .map_err(|e| stream_error(&e))?;
        Ok(self.body.get_or_init(|| Outgoing::new(stream)))
    }

    /// Sends one message and ends the call with OK (a unary reply).
    pub async fn reply(&self, message: &[u8]) {
        let sent = match self.open() {
            Ok(body) => body.send(message).await,
            Err(status) => Err(status),
        };
        match sent {
            Ok(()) => self.finish(&Status::ok()),
            // Could not even send: the stream is gone, nobody is left to tell.
            Err(status) => log::debug!("gRPC reply not sent: {status}"),
        }
    }

    /// Ends the call with `status`: trailers after the messages sent, or a trailers-only
    /// response if there were none.
    pub fn finish(&self, status: &Status) {
        let mut trailers = HeaderMap::new();
        status_headers(status, &mut trailers);
        self.metadata.trailers.borrow().write_headers(&mut trailers);
        if let Some(body) = self.body.get() {
            let _ = body.send_trailers(trailers);
            return;
        }
        let Some(mut respond) = self.respond.borrow_mut().take() else {
            return;
        };
        let mut response = grpc_response();
        self.metadata
            .headers
            .borrow()
            .write_headers(response.headers_mut());
        response.headers_mut().extend(trailers);
        let _ = respond.send_response(response, true);
    }

    /// Ready when the client resets the stream.
    pub fn poll_reset(&self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(body) = self.body.get() {
            return body.poll_reset(cx);
        }
        match self.respond.borrow_mut().as_mut() {
            Some(respond) => respond.poll_reset(cx).map(|_| ()),
            None => Poll::Pending,
        }
    }
}

/// A trailers-only response with `status`, for errors found before a handler runs.
pub(crate) fn send_status(respond: &mut SendResponse<Bytes>, status: &Status) {
    let mut response = grpc_response();
    status_headers(status, response.headers_mut());
    let _ = respond.send_response(response, true);
}

/// A plain HTTP error, for requests that are not gRPC at all.
pub(crate) fn send_http_error(respond: &mut SendResponse<Bytes>, code: StatusCode) {
    let mut response = Response::new(());
    *response.status_mut() = code;
    let _ = respond.send_response(response, true);
}

fn grpc_response() -> Response<()> {
    let mut response = Response::new(());
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-accept-encoding", HeaderValue::from_static("identity"));
    response
}

fn status_headers(status: &Status, headers: &mut HeaderMap) {
    headers.insert("grpc-status", HeaderValue::from(status.code.number()));
    if !status.message.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&encode_message(&status.message)) {
            headers.insert("grpc-message", v);
        }
    }
}
