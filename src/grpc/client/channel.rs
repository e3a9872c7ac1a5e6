//! The gRPC client (agent → portal): one reused HTTP/2 connection over mutual TLS, unary and
//! streaming calls with deadlines and metadata, keepalive pings while calls are open, and a
//! jittered backoff between failed connection attempts.
//!
//! Every failure comes back as a [`Status`], mapped as gRPC says: connection and TLS failures
//! are UNAVAILABLE, a reset stream maps by its reason, a non-gRPC HTTP answer by its status, an
//! expired deadline is DEADLINE_EXCEEDED. While the backoff runs, calls fail at once with
//! UNAVAILABLE instead of each waiting for a connect timeout: the hook's deadline is short.

use crate::grpc::client::call::{before, OpenCall};
pub use crate::grpc::client::call::{CallOptions, Receiver, Response, Sender};
use crate::grpc::transport::io::TokioIo;
use crate::grpc::transport::keepalive::{self, Keepalive, Probe};
use crate::grpc::transport::socket::Socket;
use crate::grpc::wire::body::Outgoing;
use crate::grpc::wire::frame;
use crate::grpc::wire::status::{Code, Status};
use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use bytes::Bytes;
use futures_lite::future;
use futures_rustls::TlsConnector;
use h2::client::SendRequest;
use http::Request;
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
    /// The client's TLS (with its certificate, for mutual TLS).
    pub tls: Arc<ClientConfig>,
    /// How long a TCP and TLS connect may take.
    pub connect_timeout: Duration,
    /// The largest response message taken.
    pub max_message: usize,
    /// First wait after a failed connection attempt; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    /// The longest wait between connection attempts.
    pub backoff_max: Duration,
    /// TCP_USER_TIMEOUT for the connection's socket: how long sent data may stay unacknowledged
    /// before the kernel gives the connection up. For a stream that sends regularly (the
    /// control stream's heartbeats) this finds a silently dead path without pinging a server
    /// that may count pings against us. `None`: the kernel's default (about 15 minutes).
    pub user_timeout: Option<Duration>,
    /// Pings while calls are open. The default interval is above the 5-minute minimum that
    /// grpc-go and gRPC C-core servers enforce by default (pinging more often gets a GOAWAY
    /// "too_many_pings"); a portal that permits more can be pinged more often.
    pub keepalive: Keepalive,
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
            user_timeout: None,
            keepalive: Keepalive {
                interval: Duration::from_secs(360),
                timeout: Duration::from_secs(20),
            },
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
    open_calls: Rc<Cell<u32>>,
    address: Rc<str>,
    observer: RefCell<Option<Observer>>,
}

/// Told of every unary call when it ends: the method's path, the status (OK or the error) and
/// how long the call took, connecting included. How a caller measures its calls (latency
/// histograms, say) without this crate knowing of metrics.
pub type Observer = Rc<dyn Fn(&str, Code, Duration)>;

/// A connection in use, whether its driver task still runs, when the server was last heard
/// from on it, and its probe (raised: suspected dead, no new call goes to it).
#[derive(Clone)]
struct Live {
    send: SendRequest<Bytes>,
    alive: Rc<Cell<bool>>,
    heard: Rc<Cell<Instant>>,
    probe: Rc<Probe>,
}

impl Channel {
    /// A channel whose connection tasks run on `executor` (the daemon's, for the process).
    pub fn new(settings: Settings, executor: &'static LocalExecutor<'static>) -> Channel {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.subsec_nanos() | 1);
        Channel {
            executor,
            connection: RefCell::new(None),
            failures: Cell::new(0),
            retry_at: Cell::new(None),
            rng: Cell::new(seed),
            open_calls: Rc::new(Cell::new(0)),
            address: settings.address.as_str().into(),
            observer: RefCell::new(None),
            settings,
        }
    }

    /// Has `observer` told of every unary call from now on.
    pub fn observe(&self, observer: Observer) {
        *self.observer.borrow_mut() = Some(observer);
    }

    /// Calls a unary method with an encoded request; the whole call, connecting included,
    /// ends within `timeout`.
    pub async fn unary(
        &self,
        path: &str,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Bytes, Status> {
        let options = CallOptions {
            timeout: Some(timeout),
            ..CallOptions::default()
        };
        Ok(self.call(path, request, &options).await?.message)
    }

    /// A unary call with metadata both ways.
    pub async fn call(
        &self,
        path: &str,
        request: &[u8],
        options: &CallOptions,
    ) -> Result<Response, Status> {
        let sent = Instant::now();
        let deadline = options.timeout.map(|t| sent + t);
        let used = RefCell::new(None);
        let call = async {
            let (sender, mut receiver, live) = self.start(path, options, deadline).await?;
            *used.borrow_mut() = Some(live);
            // A send error is not the final word: the server may already have answered (an
            // early UNIMPLEMENTED, say), and that answer is the status to report.
            if sender.send(request).await.is_ok() {
                let _ = sender.close();
            }
            let Some(message) = receiver.message().await? else {
                return Err(Status::new(Code::Internal, "OK without a response message"));
            };
            if receiver.message().await?.is_some() {
                return Err(Status::new(
                    Code::Internal,
                    "more than one response message",
                ));
            }
            Ok(Response {
                message,
                headers: receiver.headers().await?.clone(),
                trailers: receiver.trailers().clone(),
            })
        };
        let result = before(deadline, call).await;
        if let (Err(status), Some(live)) = (&result, used.borrow().as_ref()) {
            if status.code == Code::DeadlineExceeded {
                self.suspect(live, sent);
            }
        }
        if let Some(observer) = self.observer.borrow().as_ref() {
            let code = result.as_ref().map_or_else(|s| s.code, |_| Code::Ok);
            observer(path, code, sent.elapsed());
        }
        result
    }

    /// After a call on `live` sent at `sent` missed its deadline: if nothing at all came from
    /// the server since, the connection may be silently dead (a NAT mapping that expired, a
    /// partition): it gets a PING at once, no new call goes to it meanwhile, and it is closed
    /// if the PING is not answered within [`keepalive::PROBE_TIMEOUT`]. A server that is only
    /// slow answers the PING and keeps its connection.
    fn suspect(&self, live: &Live, sent: Instant) {
        if live.alive.get() && !live.probe.is_raised() && live.heard.get() < sent {
            log::info!(
                "{}: a call missed its deadline with nothing heard on its connection since it was sent; pinging it, new calls go to a new connection",
                self.settings.address
            );
            live.probe.raise();
        }
    }

    /// Opens a streaming call (server-, client- or bidi-streaming): send with the [`Sender`],
    /// [`Sender::close`] when done, read with the [`Receiver`]. Connecting is bounded by the
    /// call's timeout if it has one, by the connect timeout in any case.
    pub async fn open(
        &self,
        path: &str,
        options: &CallOptions,
    ) -> Result<(Sender, Receiver), Status> {
        let deadline = options.timeout.map(|t| Instant::now() + t);
        let (sender, receiver, _) = before(deadline, self.start(path, options, deadline)).await?;
        Ok((sender, receiver))
    }

    async fn start(
        &self,
        path: &str,
        options: &CallOptions,
        deadline: Option<Instant>,
    ) -> Result<(Sender, Receiver, Live), Status> {
        let live = self.connect().await?;
        let mut send = live.send.clone();
        let mut request = Request::builder()
            .method("POST")
            .uri(format!("https://{}{path}", self.settings.server_name))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header(
                "user-agent",
                concat!("ocserv-agent/", env!("CARGO_PKG_VERSION")),
            )
            .body(())
            .map_err(|e| Status::new(Code::Internal, format!("bad request for {path}: {e}")))?;
        if let Some(at) = deadline {
            let left = at.saturating_duration_since(Instant::now());
            let value = http::HeaderValue::from_str(&crate::grpc::wire::timeout::encode(left))
                .map_err(|e| Status::new(Code::Internal, e.to_string()))?;
            request.headers_mut().insert("grpc-timeout", value);
        }
        options.metadata.write_headers(request.headers_mut());
        future::poll_fn(|cx| send.poll_ready(cx))
            .await
            .map_err(|e| self.connection_lost(e))?;
        let (response, body) = send
            .send_request(request, false)
            .map_err(|e| self.connection_lost(e))?;
        let open = OpenCall::new(&self.open_calls);
        Ok((
            Sender::new(Outgoing::new(body), deadline, open.clone()),
            Receiver::new(
                response,
                deadline,
                self.settings.max_message,
                self.address.clone(),
                open,
            ),
            live,
        ))
    }

    /// The live connection, or a new one (unless the backoff says wait). A connection under
    /// suspicion is left to its probe: its driver closes it if the probe goes unanswered.
    async fn connect(&self) -> Result<Live, Status> {
        if let Some(live) = self.connection.borrow().as_ref() {
            if live.alive.get() && !live.probe.is_raised() {
                return Ok(live.clone());
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
        let attempt = async { Some(self.dial().await) };
        let timeout = async {
            Timer::after(self.settings.connect_timeout).await;
            None
        };
        match future::or(attempt, timeout).await {
            Some(Ok(live)) => {
                self.failures.set(0);
                self.retry_at.set(None);
                *self.connection.borrow_mut() = Some(live.clone());
                Ok(live)
            }
            Some(Err(status)) => Err(self.failed(status)),
            None => Err(self.failed(Status::new(
                Code::Unavailable,
                format!("connecting to {} timed out", self.settings.address),
            ))),
        }
    }

    async fn dial(&self) -> Result<Live, Status> {
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
        if let Some(t) = self.settings.user_timeout {
            let ms = u32::try_from(t.as_millis()).unwrap_or(u32::MAX);
            if let Err(e) = rustix::net::sockopt::set_tcp_user_timeout(tcp.get_ref(), ms) {
                log::debug!("{addr}: TCP_USER_TIMEOUT not set: {e}");
            }
        }
        let heard = Rc::new(Cell::new(Instant::now()));
        let name = ServerName::try_from(self.settings.server_name.clone())
            .map_err(|e| Status::new(Code::InvalidArgument, format!("bad server name: {e}")))?;
        let tls = TlsConnector::from(self.settings.tls.clone())
            .connect(name, Socket::heard_in(tcp, heard.clone()))
            .await
            .map_err(|e| unavailable(format!("TLS with {addr}: {e}")))?;
        let (send, connection) = h2::client::Builder::new()
            .max_send_buffer_size(64 * 1024)
            .data_frame_budget(crate::grpc::wire::body::DATA_FRAME_BUDGET)
            .handshake(TokioIo(tls))
            .await
            .map_err(|e| unavailable(format!("HTTP/2 with {addr}: {e}")))?;
        let alive = Rc::new(Cell::new(true));
        let flag = alive.clone();
        let address = addr.clone();
        let open_calls = self.open_calls.clone();
        let keepalive = self.settings.keepalive;
        let probe = Rc::new(Probe::default());
        let raised = probe.clone();
        self.executor
            .spawn(async move {
                let mut connection = connection;
                let pings = connection.ping_pong();
                let drive = async {
                    if let Err(e) = connection.await {
                        log::debug!("connection to {address} ended: {e}");
                    }
                };
                let watch = async {
                    keepalive::run(pings, keepalive, || open_calls.get() > 0, Some(&raised)).await;
                    log::info!("{address} did not answer a ping; closing that connection");
                };
                future::or(drive, watch).await;
                flag.set(false);
            })
            .detach();
        Ok(Live {
            send,
            alive,
            heard,
            probe,
        })
    }

    /// Records a failed attempt and schedules the next (see [`backoff`]).
    fn failed(&self, status: Status) -> Status {
        let failures = self.failures.get().saturating_add(1);
        self.failures.set(failures);
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng.set(x);
        let s = &self.settings;
        let wait = crate::backoff::backoff(failures, s.backoff_min, s.backoff_max, x);
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
