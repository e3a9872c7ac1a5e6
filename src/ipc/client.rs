//! The client side of the daemon socket, for short-lived processes (hook, `status`).
//!
//! Blocking I/O with one overall deadline: the connect is non-blocking (a daemon with a full
//! accept backlog makes `connect` wait forever otherwise) and every read and write gets the
//! time that is left. It never waits longer than the deadline.

use super::frame::{decode_header, FrameError, HEADER_LEN};
use super::messages::{Reply, Request};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Sends `request` to the daemon at `socket` and waits for the reply, for at most `timeout`.
pub fn call(socket: &Path, request: &Request, timeout: Duration) -> Result<Reply, FrameError> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(socket, deadline)?;
    let left = |deadline: Instant| {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(FrameError::TimedOut)
    };
    stream.set_write_timeout(Some(left(deadline)?))?;
    // The daemon may refuse (say, a uid it does not allow) and close without reading the request;
    // then the write fails but its explanation is already waiting to be read.
    let sent = stream.write_all(&request.encode());
    let reply = read_reply(&mut stream, deadline, left);
    match (sent, reply) {
        (_, Ok(reply)) => Ok(reply),
        (Err(e), Err(_)) => Err(e.into()),
        (Ok(()), Err(e)) => Err(e),
    }
}

fn read_reply(
    stream: &mut UnixStream,
    deadline: Instant,
    left: impl Fn(Instant) -> Result<Duration, FrameError>,
) -> Result<Reply, FrameError> {
    let mut header = [0u8; HEADER_LEN];
    stream.set_read_timeout(Some(left(deadline)?))?;
    stream.read_exact(&mut header)?;
    let (kind, len) = decode_header(&header)?;
    let mut payload = vec![0u8; len as usize];
    stream.set_read_timeout(Some(left(deadline)?))?;
    stream.read_exact(&mut payload)?;
    Reply::decode(kind, &payload)
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
