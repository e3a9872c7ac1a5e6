//! The daemon's Unix socket: binding it safely and serving one request per connection.
//!
//! Binding: an existing path is replaced only if it is a socket nobody answers on (left by a
//! crash); a live daemon or a non-socket file is an error. The new socket is bound under a
//! temporary name, given its mode, then renamed into place, so it is never reachable with the
//! umask's permissions.
//!
//! Serving: each connection's peer uid is checked (SO_PEERCRED) before anything is read; the
//! request is bounded in size and time; a cap on open connections keeps a flood from exhausting
//! the router. A refused or broken request gets an error reply when possible, never a crash.

use super::frame::{decode_header, FrameError, HEADER_LEN};
use super::messages::{Reply, Request};
use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// What the socket server asks of the daemon.
pub trait Service: 'static {
    /// Whether a peer with this uid may talk to the daemon.
    fn peer_allowed(&self, uid: u32) -> bool;
    /// Answers one request; `peer` tells whether the client still waits for the answer.
    fn handle(&self, request: Request, peer: &Peer<'_>)
        -> impl std::future::Future<Output = Reply>;
    /// How long a connection may take, if not [`Limits::deadline`]: the daemon waits as long
    /// as its clients are configured to (a longer `hook_timeout` after a reload included).
    fn deadline(&self) -> Option<Duration> {
        None
    }
    /// Told of each reply written, with the time from its request read to the reply written
    /// (what a hook waited for the daemon, the socket aside); for latency metrics.
    fn replied(&self, _reply: &Reply, _took: Duration) {}
}

/// The connection a request came on, as the service sees it while it works on the answer.
pub struct Peer<'a> {
    stream: &'a Async<UnixStream>,
}

impl Peer<'_> {
    /// Whether the client still waits: its end of the connection is open. The hook and
    /// `status` never shut down their writing side, so end-of-stream here means the process
    /// closed the socket (it gave up or died), and an answer would reach nobody.
    pub fn waiting(&self) -> bool {
        let mut byte = [0u8; 1];
        let flags = rustix::net::RecvFlags::PEEK | rustix::net::RecvFlags::DONTWAIT;
        match rustix::net::recv(self.stream.get_ref(), &mut byte[..], flags) {
            Ok((_, 0)) => false,
            Ok(_) => true,
            Err(rustix::io::Errno::AGAIN) => true,
            Err(_) => false,
        }
    }
}

/// Bounds that protect the daemon from slow or flooding clients.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once. More wait, unaccepted, in the kernel's listen backlog until
    /// one finishes (a burst of connects is slowed, not refused); a hook that waits past its
    /// deadline applies its fallback.
    pub max_connections: u32,
    /// Time a connection may take from accept to reply.
    pub deadline: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 64,
            deadline: Duration::from_secs(10),
        }
    }
}

/// Why the socket could not be bound.
#[derive(Debug)]
pub enum BindError {
    /// Another daemon answers on the path.
    InUse(PathBuf),
    /// The path exists and is not a socket; we never delete such a file.
    NotASocket(PathBuf),
    /// The socket at this path could not be set up.
    Io(PathBuf, io::Error),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::InUse(p) => write!(
                f,
                "{}: another ocserv-agent is already listening there",
                p.display()
            ),
            BindError::NotASocket(p) => write!(
                f,
                "{}: exists and is not a socket; refusing to replace it",
                p.display()
            ),
            BindError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for BindError {}

/// A bound socket. Dropping it removes the socket file, if it is still the one we bound.
pub struct SocketServer {
    listener: Async<UnixListener>,
    path: PathBuf,
    identity: (u64, u64),
}

impl SocketServer {
    /// Binds `path` with `mode`; see the module docs for how an existing file is treated.
    pub fn bind(path: &Path, mode: u32) -> Result<SocketServer, BindError> {
        let io_err = |e| BindError::Io(path.to_path_buf(), e);
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(BindError::NotASocket(path.to_path_buf()))
            }
            Ok(_) => match UnixStream::connect(path) {
                Ok(_) => return Err(BindError::InUse(path.to_path_buf())),
                Err(e) => log::info!("replacing stale socket {} (connect: {e})", path.display()),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        let name = path
            .file_name()
            .ok_or_else(|| io_err(io::ErrorKind::InvalidInput.into()))?;
        let temp = path.with_file_name(format!(
            ".{}.{}.tmp",
            name.to_string_lossy(),
            std::process::id()
        ));
        let _ = std::fs::remove_file(&temp);
        let listener = UnixListener::bind(&temp).map_err(io_err)?;
        let placed = std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(mode))
            .and_then(|()| std::fs::rename(&temp, path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&temp);
            return Err(io_err(e));
        }
        let meta = std::fs::metadata(path).map_err(io_err)?;
        let listener = Async::new(listener).map_err(io_err)?;
        Ok(SocketServer {
            listener,
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Accepts connections until the returned future is dropped. Each connection runs as its
    /// own task on `executor`; `active` counts those still open (for a graceful stop).
    pub async fn serve<S: Service>(
        &self,
        executor: &LocalExecutor<'_>,
        service: Rc<S>,
        limits: Limits,
        active: Rc<Cell<u32>>,
    ) {
        let slot_freed: Rc<RefCell<Option<Waker>>> = Rc::default();
        loop {
            if active.get() >= limits.max_connections {
                log::warn!(
                    "{} connections open; the next wait for one to finish",
                    limits.max_connections
                );
                future::poll_fn(|cx| {
                    if active.get() < limits.max_connections {
                        Poll::Ready(())
                    } else {
                        *slot_freed.borrow_mut() = Some(cx.waker().clone());
                        Poll::Pending
                    }
                })
                .await;
            }
            let stream = match self.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    log::warn!("accept on {}: {e}", self.path.display());
                    Timer::after(Duration::from_millis(100)).await;
                    continue;
                }
            };
            active.set(active.get() + 1);
            let service = service.clone();
            let active = active.clone();
            let slot_freed = slot_freed.clone();
            let deadline = service.deadline().unwrap_or(limits.deadline);
            executor
                .spawn(async move {
                    connection(stream, &*service, deadline).await;
                    active.set(active.get() - 1);
                    if let Some(waker) = slot_freed.borrow_mut().take() {
                        waker.wake();
                    }
                })
                .detach();
        }
    }
}

impl Drop for SocketServer {
    fn drop(&mut self) {
        let ours = std::fs::metadata(&self.path)
            .map(|m| (m.dev(), m.ino()) == self.identity)
            .unwrap_or(false);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Serves one connection within `deadline`.
async fn connection<S: Service>(mut stream: Async<UnixStream>, service: &S, deadline: Duration) {
    let work = async {
        let uid = match rustix::net::sockopt::socket_peercred(&stream) {
            Ok(cred) => cred.uid.as_raw(),
            Err(e) => {
                log::warn!("cannot read peer credentials: {e}");
                return;
            }
        };
        let mut read_at = None;
        let reply = if service.peer_allowed(uid) {
            match read_request(&mut stream).await {
                Ok(request) => {
                    read_at = Some(Instant::now());
                    service.handle(request, &Peer { stream: &stream }).await
                }
                Err(FrameError::Closed) => return,
                Err(e @ FrameError::BadEvent(_)) => {
                    // The hook checks what it sends: one that does not is worth a line.
                    log::warn!("hook of uid {uid} sent a {e}");
                    Reply::Error(e.to_string())
                }
                Err(e) => {
                    log::debug!("bad request from uid {uid}: {e}");
                    Reply::Error(e.to_string())
                }
            }
        } else {
            log::warn!("refused a connection from uid {uid} (not in agent.allowed_uid)");
            Reply::Error(FrameError::PeerNotAllowed(uid).to_string())
        };
        match stream.write_all(&reply.encode()).await {
            Ok(()) => {
                if let Some(read_at) = read_at {
                    service.replied(&reply, read_at.elapsed());
                }
            }
            Err(e) => log::debug!("could not send reply: {e}"),
        }
    };
    let expired = async {
        Timer::after(deadline).await;
        log::debug!("connection took longer than {deadline:?}; closed");
    };
    future::or(work, expired).await;
}

async fn read_request(stream: &mut Async<UnixStream>) -> Result<Request, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    stream.read_exact(&mut header).await?;
    let (kind, len) = decode_header(&header)?;
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).await?;
    Request::decode(kind, &payload)
}
