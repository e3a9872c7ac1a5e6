//! One client call in flight: [`Sender`] for the request messages, [`Receiver`] for the
//! response headers, messages and final status.
//!
//! Dropping both halves before the call has ended resets the stream (CANCEL): that is how a
//! caller cancels. The call's deadline bounds every wait on either half.

use crate::grpc::wire::body::{stream_error, Incoming, Outgoing};
use crate::grpc::wire::metadata::Metadata;
use crate::grpc::wire::status::{Code, Status};
use async_io::Timer;
use bytes::Bytes;
use futures_lite::future;
use h2::client::ResponseFuture;
use http::HeaderMap;
use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Per-call choices.
#[derive(Clone, Debug, Default)]
pub struct CallOptions {
    /// The whole call, connecting included, ends within this (sent as `grpc-timeout` too).
    /// `None` for long-lived streams.
    pub timeout: Option<Duration>,
    /// Custom request metadata.
    pub metadata: Metadata,
}

/// A unary response with the metadata that came with it.
#[derive(Clone, Debug)]
pub struct Response {
    /// The response message.
    pub message: Bytes,
    /// The response headers' custom metadata.
    pub headers: Metadata,
    /// The trailers' custom metadata.
    pub trailers: Metadata,
}

/// Races `work` against the deadline.
pub(crate) async fn before<T>(
    deadline: Option<Instant>,
    work: impl Future<Output = Result<T, Status>>,
) -> Result<T, Status> {
    let Some(at) = deadline else {
        return work.await;
    };
    let expired = async {
        Timer::at(at).await;
        Err(Status::new(Code::DeadlineExceeded, "deadline exceeded"))
    };
    future::or(work, expired).await
}

/// Sends request messages.
pub struct Sender {
    out: Outgoing,
    deadline: Option<Instant>,
    _open: OpenCall,
}

impl Sender {
    pub(crate) fn new(out: Outgoing, deadline: Option<Instant>, open: OpenCall) -> Sender {
        Sender {
            out,
            deadline,
            _open: open,
        }
    }

    /// Sends one encoded message, waiting for flow-control capacity. An error here usually
    /// means the server has ended the call: the [`Receiver`] has its status.
    pub async fn send(&self, message: &[u8]) -> Result<(), Status> {
        before(self.deadline, self.out.send(message)).await
    }

    /// Queues a message to share DATA frames with the next ones; see `Outgoing::feed`.
    pub async fn feed(&self, message: &[u8]) -> Result<(), Status> {
        before(self.deadline, self.out.feed(message)).await
    }

    /// Sends what [`Sender::feed`] queued.
    pub async fn flush(&self) -> Result<(), Status> {
        before(self.deadline, self.out.flush()).await
    }

    /// Half-closes: tells the server no more messages follow (queued ones go first).
    pub fn close(&self) -> Result<(), Status> {
        self.out.close()
    }
}

enum State {
    Waiting(ResponseFuture),
    Body(Incoming),
    Done,
    /// Ended with this status; asking again gives it again, never a clean end.
    Failed(Status),
}

/// Receives the response.
pub struct Receiver {
    state: State,
    deadline: Option<Instant>,
    max_message: usize,
    address: Rc<str>,
    headers: Metadata,
    trailers: Metadata,
    _open: OpenCall,
}

impl Receiver {
    pub(crate) fn new(
        response: ResponseFuture,
        deadline: Option<Instant>,
        max_message: usize,
        address: Rc<str>,
        open: OpenCall,
    ) -> Receiver {
        Receiver {
            state: State::Waiting(response),
            deadline,
            max_message,
            address,
            headers: Metadata::new(),
            trailers: Metadata::new(),
            _open: open,
        }
    }

    /// The next response message; `Ok(None)` when the call has ended with OK; the status when
    /// it ended otherwise.
    pub async fn message(&mut self) -> Result<Option<Bytes>, Status> {
        if let State::Failed(status) = &self.state {
            return Err(status.clone());
        }
        let deadline = self.deadline;
        let result = before(deadline, self.next()).await;
        if let Err(status) = &result {
            self.state = State::Failed(status.clone());
        }
        result
    }

    /// The server's response headers (custom metadata), waiting for them if need be.
    pub async fn headers(&mut self) -> Result<&Metadata, Status> {
        if let State::Failed(status) = &self.state {
            return Err(status.clone());
        }
        if let State::Waiting(_) = self.state {
            let deadline = self.deadline;
            before(deadline, self.wait_headers()).await?;
        }
        Ok(&self.headers)
    }

    /// The trailers' custom metadata, once [`Receiver::message`] has returned the end.
    pub fn trailers(&self) -> &Metadata {
        &self.trailers
    }

    async fn next(&mut self) -> Result<Option<Bytes>, Status> {
        if let State::Waiting(_) = self.state {
            self.wait_headers().await?;
        }
        let State::Body(incoming) = &mut self.state else {
            return Ok(None);
        };
        if let Some(message) = incoming.next().await? {
            return Ok(Some(message));
        }
        let trailers = incoming.trailers().await?;
        self.state = State::Done;
        let trailers = trailers.unwrap_or_default();
        self.trailers = Metadata::from_header_map(&trailers)
            .map_err(|e| Status::new(Code::Internal, e.to_string()))?;
        match status_in(&trailers) {
            Some(status) if status.is_ok() => Ok(None),
            Some(status) => Err(status),
            None => Err(Status::new(Code::Internal, "response without grpc-status")),
        }
    }

    /// Waits for the response headers; a trailers-only response ends the call here.
    async fn wait_headers(&mut self) -> Result<(), Status> {
        let State::Waiting(response) = &mut self.state else {
            return Ok(());
        };
        let response = response.await.map_err(|e| stream_error(&e))?;
        self.state = State::Done;
        let (parts, body) = response.into_parts();
        if parts.status != http::StatusCode::OK {
            return Err(Status::new(
                Code::from_http_status(parts.status.as_u16()),
                format!("HTTP status {} from {}", parts.status, self.address),
            ));
        }
        self.headers = Metadata::from_header_map(&parts.headers)
            .map_err(|e| Status::new(Code::Internal, e.to_string()))?;
        if let Some(status) = status_in(&parts.headers) {
            // Trailers-only: no messages follow, the headers were the trailers.
            self.trailers = std::mem::take(&mut self.headers);
            return if status.is_ok() { Ok(()) } else { Err(status) };
        }
        self.state = State::Body(Incoming::new(body, self.max_message));
        Ok(())
    }
}

/// Counts a call as open while either half lives (keepalive pings only while calls are open:
/// gRPC servers punish pings on an idle connection with GOAWAY).
pub(crate) struct OpenCall(Rc<Cell<u32>>);

impl OpenCall {
    pub fn new(count: &Rc<Cell<u32>>) -> OpenCall {
        count.set(count.get() + 1);
        OpenCall(count.clone())
    }
}

impl Clone for OpenCall {
    fn clone(&self) -> OpenCall {
        OpenCall::new(&self.0)
    }
}

impl Drop for OpenCall {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

pub(crate) fn status_in(headers: &HeaderMap) -> Option<Status> {
    let code = headers.get("grpc-status")?;
    Some(Status::from_trailers(
        code.as_bytes(),
        headers.get("grpc-message").map(|v| v.as_bytes()),
    ))
}
