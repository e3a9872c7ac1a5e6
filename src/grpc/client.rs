//! The gRPC client (agent → portal): one reused HTTP/2 connection over mutual TLS, unary calls
//! with a deadline, and a jittered backoff between failed connection attempts.
//!
//! Every failure comes back as a [`Status`], mapped as gRPC says: connection and TLS failures
//! are UNAVAILABLE, a reset stream maps by its reason, a non-gRPC HTTP answer by its status, an
//! expired deadline is DEADLINE_EXCEEDED. While the backoff runs, calls fail at once with
//! UNAVAILABLE instead of each waiting for a connect timeout: the hook's deadline is short.

use super::frame::{self, Decoder};
use super::io::TokioIo;
use super::status::{Code, Status};
use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use bytes::{Bytes, BytesMut};
use futures_lite::future;
use futures_rustls::TlsConnector;
use h2::client::SendRequest;
use http::{HeaderMap, Request};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::cell::{Cell, RefCell};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `host:port`.
    pub address: String,
    /// The name the server's certificate must carry (the host part of `address` by default).
    pub server_name: String,
    pub tls: Arc<ClientConfig>,
    pub connect_timeout: Duration,
    pub max_message: usize,
    /// First wait after a failed connection attempt; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl Settings {
    /// Settings with defaults; `server_name` from `address` unless given.
    pub fn new(address: &str, server_name: Option<&str>, tls: Arc<ClientConfig>) -> Settings {
        let host = address
            .rsplit_once(':')
            .map_or(address, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        Settings {
            address: address.to_string(),
            server_name: server_name.unwrap_or(host).to_string(),
            tls,
            connect_timeout: Duration::from_secs(5),
            max_message: frame::DEFAULT_MAX_MESSAGE,
            backoff_min: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// A channel to one server.
pub struct Channel {
    settings: Settings,
    executor: &'static LocalExecutor<'static>,
    connection: RefCell<Option<Live>>,
    failures: Cell<u32>,
    retry_at: Cell<Option<Instant>>,
    rng: Cell<u32>,
}

/// A connection in use, and whether its driver task still runs.
#[derive(Clone)]
struct Live {
    send: SendRequest<Bytes>,
    alive: Rc<Cell<bool>>,
}

impl Channel {
    /// A channel whose connection tasks run on `executor` (the daemon's, for the process).
    pub fn new(settings: Settings, executor: &'static LocalExecutor<'static>) -> Channel {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() | 1);
        Channel {
            settings,
            executor,
            connection: RefCell::new(None),
            failures: Cell::new(0),
            retry_at: Cell::new(None),
            rng: Cell::new(seed),
        }
    }

    /// Calls a unary method with an encoded request; the whole call, connecting included,
    /// ends within `timeout`.
    pub async fn unary(
        &self,
        path: &str,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Bytes, Status> {
        let call = self.call(path, request, timeout);
        let expired = async {
            Timer::after(timeout).await;
            Err(Status::new(Code::DeadlineExceeded, "deadline exceeded"))
        };
        future::or(call, expired).await
    }

    async fn call(&self, path: &str, request: &[u8], timeout: Duration) -> Result<Bytes, Status> {
        let mut send = self.connect().await?;
        let http_request = Request::builder()
            .method("POST")
            .uri(format!("https://{}{path}", self.settings.server_name))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("grpc-timeout", super::timeout::encode(timeout))
            .header(
                "user-agent",
                concat!("ocserv-agent/", env!("CARGO_PKG_VERSION")),
            )
            .body(())
            .map_err(|e| Status::new(Code::Internal, format!("bad request for {path}: {e}")))?;
        future::poll_fn(|cx| send.poll_ready(cx))
            .await
            .map_err(|e| self.connection_lost(e))?;
        let (response, mut body) = send
            .send_request(http_request, false)
            .map_err(|e| self.connection_lost(e))?;
        let mut framed = BytesMut::with_capacity(frame::PREFIX_LEN + request.len());
        frame::encode(request, &mut framed);
        // A send error is not the final word: the server may already have answered (an early
        // UNIMPLEMENTED, say), and that answer is the status to report.
        let _ = body.send_data(framed.freeze(), true);
        let response = response.await.map_err(|e| stream_error(&e))?;
        let (parts, mut body) = response.into_parts();
        if parts.status != http::StatusCode::OK {
            return Err(Status::new(
                Code::from_http_status(parts.status.as_u16()),
                format!(
                    "HTTP status {} from {}",
                    parts.status, self.settings.address
                ),
            ));
        }
        if let Some(status) = status_in(&parts.headers) {
            // Trailers-only: no messages follow.
            return Err(if status.is_ok() {
                Status::new(Code::Internal, "OK without a response message")
            } else {
                status
            });
        }
        let mut decoder = Decoder::new(self.settings.max_message);
        let mut message = None;
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(|e| stream_error(&e))?;
            let _ = body.flow_control().release_capacity(chunk.len());
            decoder.push(&chunk);
            while let Some(m) = decoder.next_message()? {
                if message.replace(m).is_some() {
                    return Err(Status::new(
                        Code::Internal,
                        "more than one response message",
                    ));
                }
            }
        }
        decoder.finish()?;
        let trailers = body.trailers().await.map_err(|e| stream_error(&e))?;
        let status = trailers
            .as_ref()
            .and_then(status_in)
            .unwrap_or_else(|| Status::new(Code::Internal, "response without grpc-status"));
        match (status.is_ok(), message) {
            (true, Some(m)) => Ok(m),
            (true, None) => Err(Status::new(Code::Internal, "OK without a response message")),
            (false, _) => Err(status),
        }
    }

    /// The live connection, or a new one (unless the backoff says wait).
    async fn connect(&self) -> Result<SendRequest<Bytes>, Status> {
        if let Some(live) = self.connection.borrow().as_ref() {
            if live.alive.get() {
                return Ok(live.send.clone());
            }
        }
        *self.connection.borrow_mut() = None;
        if let Some(at) = self.retry_at.get() {
            let now = Instant::now();
            if now < at {
                return Err(Status::new(
                    Code::Unavailable,
                    format!(
                        "{} unreachable; next attempt in {} ms",
                        self.settings.address,
                        (at - now).as_millis()
                    ),
                ));
            }
        }
        let attempt = async { Some(self.open().await) };
        let timeout = async {
            Timer::after(self.settings.connect_timeout).await;
            None
        };
        match future::or(attempt, timeout).await {
            Some(Ok(live)) => {
                self.failures.set(0);
                self.retry_at.set(None);
                let send = live.send.clone();
                *self.connection.borrow_mut() = Some(live);
                Ok(send)
            }
            Some(Err(status)) => Err(self.failed(status)),
            None => Err(self.failed(Status::new(
                Code::Unavailable,
                format!("connecting to {} timed out", self.settings.address),
            ))),
        }
    }

    async fn open(&self) -> Result<Live, Status> {
        let unavailable = |what: String| Status::new(Code::Unavailable, what);
        let addr = &self.settings.address;
        let addrs = resolve(addr.clone())
            .await
            .map_err(|e| unavailable(format!("cannot resolve {addr}: {e}")))?;
        let mut last = None;
        let mut tcp = None;
        for a in addrs {
            match Async::<TcpStream>::connect(a).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = tcp.ok_or_else(|| {
            unavailable(format!(
                "cannot connect to {addr}: {}",
                last.map_or_else(|| "no address".to_string(), |e| e.to_string())
            ))
        })?;
        let _ = tcp.get_ref().set_nodelay(true);
        let name = ServerName::try_from(self.settings.server_name.clone())
            .map_err(|e| Status::new(Code::InvalidArgument, format!("bad server name: {e}")))?;
        let tls = TlsConnector::from(self.settings.tls.clone())
            .connect(name, tcp)
            .await
            .map_err(|e| unavailable(format!("TLS with {addr}: {e}")))?;
        let (send, connection) = h2::client::handshake(TokioIo(tls))
            .await
            .map_err(|e| unavailable(format!("HTTP/2 with {addr}: {e}")))?;
        let alive = Rc::new(Cell::new(true));
        let flag = alive.clone();
        let address = addr.clone();
        self.executor
            .spawn(async move {
                if let Err(e) = connection.await {
                    log::debug!("connection to {address} ended: {e}");
                }
                flag.set(false);
            })
            .detach();
        Ok(Live { send, alive })
    }

    /// Records a failed attempt and schedules the next: doubling, ±20% jitter, capped.
    fn failed(&self, status: Status) -> Status {
        let failures = self.failures.get().saturating_add(1);
        self.failures.set(failures);
        let s = &self.settings;
        let base = s
            .backoff_min
            .saturating_mul(1 << (failures - 1).min(16))
            .min(s.backoff_max);
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        let wait = base.saturating_mul(800 + x % 401) / 1000;
        self.retry_at.set(Some(Instant::now() + wait));
        status
    }

    fn connection_lost(&self, e: h2::Error) -> Status {
        *self.connection.borrow_mut() = None;
        Status::new(
            Code::Unavailable,
            format!("connection to {} lost: {e}", self.settings.address),
        )
    }
}

fn stream_error(e: &h2::Error) -> Status {
    match e.reason() {
        Some(reason) => Status::new(
            Code::from_reset(reason.into()),
            format!("stream reset: {e}"),
        ),
        None => Status::new(Code::Unavailable, format!("connection lost: {e}")),
    }
}

fn status_in(headers: &HeaderMap) -> Option<Status> {
    let code = headers.get("grpc-status")?;
    Some(Status::from_trailers(
        code.as_bytes(),
        headers.get("grpc-message").map(|v| v.as_bytes()),
    ))
}

/// Resolves `host:port` on a thread of its own: a DNS lookup can take seconds on a router
/// and must not stall the daemon's single thread.
async fn resolve(address: String) -> std::io::Result<Vec<SocketAddr>> {
    if let Ok(a) = address.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    type Slot = (Option<std::io::Result<Vec<SocketAddr>>>, Option<Waker>);
    let shared: Arc<Mutex<Slot>> = Arc::new(Mutex::new((None, None)));
    let writer = shared.clone();
    std::thread::Builder::new()
        .name("resolve".into())
        .spawn(move || {
            let result = address.to_socket_addrs().map(Iterator::collect);
            let mut slot = writer.lock().unwrap_or_else(|e| e.into_inner());
            slot.0 = Some(result);
            if let Some(w) = slot.1.take() {
                w.wake();
            }
        })?;
    future::poll_fn(|cx| {
        let mut slot = shared.lock().unwrap_or_else(|e| e.into_inner());
        match slot.0.take() {
            Some(r) => Poll::Ready(r),
            None => {
                slot.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}
