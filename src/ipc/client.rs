//! The client side of the daemon socket, for short-lived processes (hook, `status`, `cache`).
//!
//! Blocking I/O with one overall deadline for the whole exchange: the connect is non-blocking
//! (a daemon with a full accept backlog makes `connect` wait forever otherwise) and every read
//! and write gets only the time that is left, so a peer that trickles bytes cannot stretch it.
//!
//! Errors say whether the daemon answered at all ([`CallError::NoAnswer`]: no socket, refused,
//! nothing within the deadline, closed before the first byte) or answered something unusable
//! ([`CallError::BadAnswer`]): the hook applies `hook_fallback` only to the first.

use super::frame::{decode_header, FrameError, HEADER_LEN};
use super::messages::{Reply, Request};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Why a call brought back no reply.
#[derive(Debug)]
pub enum CallError {
    /// Nothing came back: the daemon is not there, refused the connection, or sent not one
    /// byte before the deadline or before closing.
    NoAnswer(FrameError),
    /// Something came back, and it is not a whole, well-formed reply.
    BadAnswer(FrameError),
}

impl CallError {
    /// The underlying frame error.
    pub fn frame(&self) -> &FrameError {
        match self {
            CallError::NoAnswer(e) | CallError::BadAnswer(e) => e,
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::NoAnswer(e) => write!(f, "{e}"),
            CallError::BadAnswer(e) => write!(f, "a malformed answer: {e}"),
        }
    }
}

/// Sends `request` to the daemon at `socket` and waits for the reply, for at most `timeout`
/// in all.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Reply, CallError> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(socket, deadline).map_err(CallError::NoAnswer)?;
    // The daemon may refuse (say, a uid it does not allow) and close without reading the
    // request; then the write fails but its explanation is already waiting to be read.
    let sent = write_all(&mut stream, &request.encode(), deadline);
    match (sent, read_reply(&mut stream, deadline)) {
        (_, Ok(reply)) => Ok(reply),
        (Err(e), Err(CallError::NoAnswer(_))) => Err(CallError::NoAnswer(e)),
        (_, Err(e)) => Err(e),
    }
}

/// The time left before `deadline`, or `TimedOut` when there is none.
fn left(deadline: Instant) -> Result<Duration, FrameError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or(FrameError::TimedOut)
}

fn write_all(
    stream: &mut UnixStream,
    mut bytes: &[u8],
    deadline: Instant,
) -> Result<(), FrameError> {
    while !bytes.is_empty() {
        stream.set_write_timeout(Some(left(deadline)?))?;
        match stream.write(bytes) {
            Ok(0) => return Err(FrameError::Closed),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Fills `buf`, each read given only the time left; returns how many bytes arrived when it
/// fails.
fn read_full(
    stream: &mut UnixStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<(), (usize, FrameError)> {
    let mut filled = 0;
    while filled < buf.len() {
        let wait = left(deadline).map_err(|e| (filled, e))?;
        stream
            .set_read_timeout(Some(wait))
            .map_err(|e| (filled, e.into()))?;
        match stream.read(&mut buf[filled..]) {
            Ok(0) => return Err((filled, FrameError::Closed)),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((filled, e.into())),
        }
    }
    Ok(())
}

fn read_reply(stream: &mut UnixStream, deadline: Instant) -> Result<Reply, CallError> {
    let mut header = [0u8; HEADER_LEN];
    read_full(stream, &mut header, deadline).map_err(|(got, e)| {
        if got == 0 {
            CallError::NoAnswer(e)
        } else {
            CallError::BadAnswer(e)
        }
    })?;
    let (kind, len) = decode_header(&header).map_err(CallError::BadAnswer)?;
    let mut payload = vec![0u8; len as usize];
    read_full(stream, &mut payload, deadline).map_err(|(_, e)| CallError::BadAnswer(e))?;
    Reply::decode(kind, &payload).map_err(CallError::BadAnswer)
}

/// Connects without blocking past `deadline`.
fn connect(socket: &Path, deadline: Instant) -> Result<UnixStream, FrameError> {
    let addr = SocketAddrUnix::new(socket).map_err(io::Error::from)?;
    loop {
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
            None,
        )
        .map_err(io::Error::from)?;
        match rustix::net::connect(&fd, &addr) {
            Ok(()) => {
                let stream = UnixStream::from(fd);
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            // Linux answers EAGAIN when the listener's backlog is full: try again shortly.
            Err(rustix::io::Errno::AGAIN) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(rustix::io::Errno::AGAIN) => return Err(FrameError::TimedOut),
            Err(e) => return Err(FrameError::Io(e.into())),
        }
    }
}
