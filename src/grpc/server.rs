//! The gRPC server: TLS (mutual) over TCP, HTTP/2 by h2, unary calls routed by path.
//!
//! One task per connection drives h2 and accepts streams; one task per stream validates the
//! request (method, content type, encoding, path, deadline), reads exactly one bounded message,
//! runs the handler against the deadline and the client's reset, and answers. Early errors are
//! trailers-only responses; a client that resets its stream cancels the handler (the handler's
//! future is dropped).

use super::frame::{self, Decoder};
use super::io::TokioIo;
use super::metadata::Metadata;
use super::status::{encode_message, Code, Status};
use super::x509::{self, Identities};
use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use bytes::{Bytes, BytesMut};
use futures_lite::future;
use futures_rustls::TlsAcceptor;
use h2::server::SendResponse;
use h2::RecvStream;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use rustls::ServerConfig;
use std::collections::HashMap;
use std::future::Future;
use std::net::TcpStream;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a handler returns: the encoded response message, or the status to fail with.
pub type UnaryFuture = Pin<Box<dyn Future<Output = Result<Bytes, Status>>>>;

type UnaryHandler = Rc<dyn Fn(Call, Bytes) -> UnaryFuture>;

/// What a handler knows about the call besides its message.
#[derive(Clone, Debug)]
pub struct Call {
    /// `/package.Service/Method`.
    pub path: String,
    pub metadata: Metadata,
    /// The client certificate's names.
    pub peer: Rc<Identities>,
    /// Whether the peer is on `grpc.allowed_client` (always true when the list is empty).
    /// Handlers of mutating methods answer PERMISSION_DENIED when it is not.
    pub peer_allowed: bool,
    pub deadline: Option<Instant>,
}

/// Methods by path.
#[derive(Default)]
pub struct Router {
    unary: HashMap<String, UnaryHandler>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Serves `path` (`/package.Service/Method`) with a unary handler.
    pub fn unary<F, Fut>(&mut self, path: &str, handler: F)
    where
        F: Fn(Call, Bytes) -> Fut + 'static,
        Fut: Future<Output = Result<Bytes, Status>> + 'static,
    {
        self.unary.insert(
            path.to_string(),
            Rc::new(move |call, msg| Box::pin(handler(call, msg))),
        );
    }
}

/// Tells connections to stop taking new calls (GOAWAY) and finish the ones in flight.
#[derive(Default)]
pub struct Shutdown {
    requested: std::cell::Cell<bool>,
    waiters: std::cell::RefCell<Vec<std::task::Waker>>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Starts the graceful shutdown of every connection holding this handle.
    pub fn request(&self) {
        self.requested.set(true);
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Resolves once shutdown is requested.
    pub async fn requested(&self) {
        future::poll_fn(|cx| {
            if self.requested.get() {
                std::task::Poll::Ready(())
            } else {
                self.waiters.borrow_mut().push(cx.waker().clone());
                std::task::Poll::Pending
            }
        })
        .await
    }
}

/// Bounds for one server.
#[derive(Clone, Debug)]
pub struct Settings {
    pub max_message: usize,
    pub max_concurrent_streams: u32,
    pub max_header_list_size: u32,
    pub handshake_timeout: Duration,
    pub allowed_clients: Vec<String>,
    /// An idle-or-not connection is pinged this often...
    pub keepalive_interval: Duration,
    /// ...and closed if the pong takes longer than this (a dead NAT path, a hung client).
    pub keepalive_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            max_message: frame::DEFAULT_MAX_MESSAGE,
            max_concurrent_streams: 100,
            max_header_list_size: 16 * 1024,
            handshake_timeout: Duration::from_secs(10),
            allowed_clients: Vec::new(),
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
        }
    }
}

/// Serves one accepted TCP connection until it closes. Streams run as tasks on `executor`,
/// which must live as long as the process (the daemon leaks its one executor for this).
/// When `shutdown` is requested the connection sends GOAWAY, lets the calls in flight finish,
/// then closes.
pub async fn serve_connection(
    tcp: Async<TcpStream>,
    tls: Arc<ServerConfig>,
    router: Rc<Router>,
    settings: Rc<Settings>,
    executor: &'static LocalExecutor<'static>,
    shutdown: Rc<Shutdown>,
) {
    let _ = tcp.get_ref().set_nodelay(true);
    let remote = tcp
        .get_ref()
        .peer_addr()
        .map_or_else(|_| "?".to_string(), |a| a.to_string());
    let handshake = async { Some(TlsAcceptor::from(tls).accept(tcp).await) };
    let timeout = async {
        Timer::after(settings.handshake_timeout).await;
        None
    };
    let stream = match future::or(handshake, timeout).await {
        Some(Ok(stream)) => stream,
        Some(Err(e)) => {
            log::info!("gRPC TLS handshake with {remote} failed: {e}");
            return;
        }
        None => {
            log::info!("gRPC TLS handshake with {remote} timed out");
            return;
        }
    };
    let peer = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|cert| x509::identities(cert));
    let peer = match peer {
        Some(Ok(ids)) => Rc::new(ids),
        // The verifier requires a certificate, so neither case should happen; refuse anyway.
        Some(Err(e)) => {
            log::warn!("gRPC client {remote}: {e}");
            return;
        }
        None => {
            log::warn!("gRPC client {remote} presented no certificate");
            return;
        }
    };
    let peer_allowed = peer.allowed_by(&settings.allowed_clients);
    if !peer_allowed {
        log::info!("gRPC client {remote} ({peer}) is not on grpc.allowed_client");
    }
    // The HTTP/2 preface is bounded too: a client that finishes TLS and then says nothing must
    // not hold its place forever.
    let h2_handshake = async {
        Some(
            h2::server::Builder::new()
                .max_concurrent_streams(settings.max_concurrent_streams)
                .max_header_list_size(settings.max_header_list_size)
                .max_send_buffer_size(64 * 1024)
                .handshake(TokioIo(stream))
                .await,
        )
    };
    let h2_timeout = async {
        Timer::after(settings.handshake_timeout).await;
        None
    };
    let mut connection = match future::or(h2_handshake, h2_timeout).await {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            log::info!("gRPC HTTP/2 handshake with {remote} failed: {e}");
            return;
        }
        None => {
            log::info!("gRPC client {remote} sent no HTTP/2 preface in time");
            return;
        }
    };
    let pings = connection.ping_pong();
    let accept = async {
        let mut going_away = false;
        loop {
            let next = if going_away {
                connection.accept().await
            } else {
                let next = async { Some(connection.accept().await) };
                let stop = async {
                    shutdown.requested().await;
                    None
                };
                match future::or(next, stop).await {
                    Some(next) => next,
                    None => {
                        log::debug!(
                            "gRPC connection from {remote}: GOAWAY, finishing calls in flight"
                        );
                        connection.graceful_shutdown();
                        going_away = true;
                        continue;
                    }
                }
            };
            let Some(next) = next else { break };
            match next {
                Ok((request, respond)) => {
                    let (router, settings, peer) = (router.clone(), settings.clone(), peer.clone());
                    executor
                        .spawn(async move {
                            handle_stream(request, respond, &router, &settings, peer, peer_allowed)
                                .await
                        })
                        .detach();
                }
                Err(e) => {
                    log::debug!("gRPC connection from {remote} ended: {e}");
                    break;
                }
            }
        }
    };
    let keepalive = async {
        match pings {
            Some(pings) => keep_alive(pings, &settings).await,
            None => future::pending().await,
        }
        log::info!("gRPC client {remote} did not answer a keepalive ping; closing");
    };
    future::or(accept, keepalive).await;
}

/// Pings the peer every `keepalive_interval`; returns when a pong is late or the ping fails.
async fn keep_alive(mut pings: h2::PingPong, settings: &Settings) {
    loop {
        Timer::after(settings.keepalive_interval).await;
        if pings.send_ping(h2::Ping::opaque()).is_err() {
            return;
        }
        let pong = async { future::poll_fn(|cx| pings.poll_pong(cx)).await.is_ok() };
        let late = async {
            Timer::after(settings.keepalive_timeout).await;
            false
        };
        if !future::or(pong, late).await {
            return;
        }
    }
}

/// How a stream ended, from the handler's point of view.
enum Outcome {
    Reply(Bytes),
    Fail(Status),
    /// The client reset the stream: nothing more to send.
    Reset,
}

async fn handle_stream(
    request: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
    router: &Router,
    settings: &Settings,
    peer: Rc<Identities>,
    peer_allowed: bool,
) {
    let (parts, body) = request.into_parts();
    if parts.method != http::Method::POST {
        send_http_error(&mut respond, StatusCode::METHOD_NOT_ALLOWED);
        return;
    }
    match content_type(&parts.headers) {
        ContentType::Grpc => {}
        ContentType::OtherGrpc(ct) => {
            let msg = format!("content-type {ct} is not supported (use application/grpc)");
            send_status(&mut respond, &Status::new(Code::Unimplemented, msg));
            return;
        }
        ContentType::NotGrpc => {
            send_http_error(&mut respond, StatusCode::UNSUPPORTED_MEDIA_TYPE);
            return;
        }
    }
    let path = parts.uri.path().to_string();
    let outcome = match prepare(&parts.headers, &path, router, peer, peer_allowed) {
        Err(status) => Outcome::Fail(status),
        Ok((handler, call)) => run_unary(handler, call, body, settings, &mut respond).await,
    };
    match outcome {
        Outcome::Reply(message) => send_reply(&mut respond, message),
        Outcome::Fail(status) => send_status(&mut respond, &status),
        Outcome::Reset => {}
    }
}

/// Checks encoding, route, deadline and metadata; returns the handler and the call.
fn prepare(
    headers: &HeaderMap,
    path: &str,
    router: &Router,
    peer: Rc<Identities>,
    peer_allowed: bool,
) -> Result<(UnaryHandler, Call), Status> {
    if let Some(encoding) = headers.get("grpc-encoding") {
        if encoding.as_bytes() != b"identity" {
            return Err(Status::new(
                Code::Unimplemented,
                format!(
                    "grpc-encoding {} is not supported (identity only)",
                    String::from_utf8_lossy(encoding.as_bytes())
                ),
            ));
        }
    }
    let handler = router
        .unary
        .get(path)
        .cloned()
        .ok_or_else(|| Status::new(Code::Unimplemented, format!("unknown method {path}")))?;
    let deadline = match headers.get("grpc-timeout") {
        Some(v) => Some(Instant::now() + super::timeout::parse(v.as_bytes())?),
        None => None,
    };
    let metadata = Metadata::from_headers(
        headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    )
    .map_err(|e| Status::new(Code::Internal, e.to_string()))?;
    Ok((
        handler,
        Call {
            path: path.to_string(),
            metadata,
            peer,
            peer_allowed,
            deadline,
        },
    ))
}

/// Reads the one request message and runs the handler, racing the deadline and a reset.
async fn run_unary(
    handler: UnaryHandler,
    call: Call,
    body: RecvStream,
    settings: &Settings,
    respond: &mut SendResponse<Bytes>,
) -> Outcome {
    let deadline = call.deadline;
    let work = async {
        let message = match read_one_message(body, settings.max_message).await {
            Ok(m) => m,
            Err(Some(status)) => return Outcome::Fail(status),
            Err(None) => return Outcome::Reset,
        };
        match handler(call, message).await {
            Ok(reply) => Outcome::Reply(reply),
            Err(status) => Outcome::Fail(status),
        }
    };
    let expired = async {
        match deadline {
            Some(at) => {
                Timer::at(at).await;
                Outcome::Fail(Status::new(Code::DeadlineExceeded, "deadline exceeded"))
            }
            None => future::pending().await,
        }
    };
    let reset = async {
        let _ = future::poll_fn(|cx| respond.poll_reset(cx)).await;
        Outcome::Reset
    };
    future::or(future::or(work, expired), reset).await
}

/// The single message of a unary request. `Err(None)`: the client went away.
async fn read_one_message(
    mut body: RecvStream,
    max_message: usize,
) -> Result<Bytes, Option<Status>> {
    let mut decoder = Decoder::new(max_message);
    let mut message = None;
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|_| None)?;
        let _ = body.flow_control().release_capacity(chunk.len());
        decoder.push(&chunk);
        while let Some(m) = decoder.next_message().map_err(Some)? {
            if message.replace(m).is_some() {
                return Err(Some(Status::new(
                    Code::Unimplemented,
                    "a unary call carries exactly one request message",
                )));
            }
        }
    }
    decoder.finish().map_err(Some)?;
    message.ok_or_else(|| {
        Some(Status::new(
            Code::Internal,
            "the request carried no message",
        ))
    })
}

enum ContentType {
    Grpc,
    OtherGrpc(String),
    NotGrpc,
}

fn content_type(headers: &HeaderMap) -> ContentType {
    let Some(value) = headers.get(http::header::CONTENT_TYPE) else {
        return ContentType::NotGrpc;
    };
    let text = String::from_utf8_lossy(value.as_bytes()).to_ascii_lowercase();
    let base = text.split(';').next().unwrap_or("").trim().to_string();
    match base.as_str() {
        "application/grpc" | "application/grpc+proto" => ContentType::Grpc,
        other if other.starts_with("application/grpc+") => {
            ContentType::OtherGrpc(other.to_string())
        }
        _ => ContentType::NotGrpc,
    }
}

fn grpc_headers(builder: http::response::Builder) -> http::response::Builder {
    builder
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header("grpc-accept-encoding", "identity")
}

fn status_trailers(status: &Status, headers: &mut HeaderMap) {
    headers.insert("grpc-status", HeaderValue::from(status.code.number()));
    if !status.message.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&encode_message(&status.message)) {
            headers.insert("grpc-message", v);
        }
    }
}

/// A trailers-only response: one HEADERS frame with the status, ending the stream.
fn send_status(respond: &mut SendResponse<Bytes>, status: &Status) {
    let mut response = grpc_headers(Response::builder())
        .body(())
        .expect("static headers are valid");
    status_trailers(status, response.headers_mut());
    let _ = respond.send_response(response, true);
}

fn send_http_error(respond: &mut SendResponse<Bytes>, code: StatusCode) {
    let response = Response::builder()
        .status(code)
        .body(())
        .expect("static headers are valid");
    let _ = respond.send_response(response, true);
}

fn send_reply(respond: &mut SendResponse<Bytes>, message: Bytes) {
    let response = grpc_headers(Response::builder())
        .body(())
        .expect("static headers are valid");
    let Ok(mut stream) = respond.send_response(response, false) else {
        return;
    };
    let mut framed = BytesMut::with_capacity(frame::PREFIX_LEN + message.len());
    frame::encode(&message, &mut framed);
    if stream.send_data(framed.freeze(), false).is_err() {
        return;
    }
    let mut trailers = HeaderMap::new();
    status_trailers(&Status::ok(), &mut trailers);
    let _ = stream.send_trailers(trailers);
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
