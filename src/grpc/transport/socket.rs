//! A TCP stream that does not retry a read it knows would block.
//!
//! async-io's `Async<TcpStream>` tries the syscall on every poll and only then waits for
//! readiness. Under HTTP/2 the connection task is polled for every event of every stream
//! (a response to send, a window update), so most of those polls cost a `recv` that fails with
//! EAGAIN: one per call, measured with strace under load. This wrapper remembers that the last
//! read would block and asks the reactor (no syscall) until readiness is reported.

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite};
use std::cell::Cell;
use std::io::{self, IoSlice, Read};
use std::net::TcpStream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

/// A TCP stream for TLS to sit on.
#[derive(Debug)]
pub struct Socket {
    io: Async<TcpStream>,
    /// The last read returned EAGAIN and no readiness has been reported since.
    read_blocked: bool,
    /// Set to the time of every read that brought bytes: the peer's last sign of life.
    heard: Option<Rc<Cell<Instant>>>,
}

impl Socket {
    pub fn new(io: Async<TcpStream>) -> Socket {
        Socket {
            io,
            read_blocked: false,
            heard: None,
        }
    }

    /// A socket that records when the peer was last heard from in `heard` (the client uses it
    /// to tell a silently dead connection from a slow server).
    pub fn heard_in(io: Async<TcpStream>, heard: Rc<Cell<Instant>>) -> Socket {
        Socket {
            heard: Some(heard),
            ..Socket::new(io)
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            if self.read_blocked {
                ready!(self.io.poll_readable(cx))?;
                self.read_blocked = false;
            }
            match (&mut self.io.get_ref()).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.read_blocked = true,
                result => {
                    if let (Ok(1..), Some(heard)) = (&result, &self.heard) {
                        heard.set(Instant::now());
                    }
                    return Poll::Ready(result);
                }
            }
        }
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn reads_wait_for_readiness_after_would_block_and_then_get_the_data() {
        async_io::block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut a = Socket::new(Async::<TcpStream>::connect(addr).await.unwrap());
            let (b, _) = listener.accept().unwrap();
            let mut b = Async::new(b).unwrap();
            // Nothing yet: the read blocks (and remembers it), then data arrives.
            let reader = async {
                let mut got = [0u8; 5];
                a.read_exact(&mut got).await.unwrap();
                assert!(a.read_blocked || got == *b"hello");
                got
            };
            let writer = async {
                async_io::Timer::after(Duration::from_millis(50)).await;
                b.write_all(b"hel").await.unwrap();
                async_io::Timer::after(Duration::from_millis(50)).await;
                b.write_all(b"lo").await.unwrap();
            };
            let (got, ()) = futures_lite::future::zip(reader, writer).await;
            assert_eq!(&got, b"hello");
            // End of stream is reported, not mistaken for blocking.
            drop(b);
            let mut rest = Vec::new();
            a.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
        });
    }
}
