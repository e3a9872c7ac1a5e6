//! Lets h2 (written against tokio's I/O traits) run on smol's sockets (futures-io traits).
//!
//! A hand-written adapter rather than `tokio-util`'s compat (which drops vectored writes) or
//! `async-compat` (which pulls in tokio's runtime and starts a thread of its own). tokio is built
//! with `io-util` only: no runtime, no reactor, no timers.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

/// Wraps a futures-io stream so that it implements tokio's `AsyncRead` and `AsyncWrite`.
#[derive(Debug)]
pub struct TokioIo<T>(pub T);

impl<T: futures_lite::AsyncRead + Unpin> tokio::io::AsyncRead for TokioIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match Pin::new(&mut self.0).poll_read(cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: futures_lite::AsyncWrite + Unpin> tokio::io::AsyncWrite for TokioIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    /// futures-io's close: over TLS it sends close_notify; async-io's sockets only flush, and
    /// the peer sees end of stream when the socket is dropped.
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_io::Async;
    use std::os::unix::net::UnixStream;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn bytes_cross_the_adapter_both_ways() {
        async_io::block_on(async {
            let (a, b) = UnixStream::pair().unwrap();
            let mut a = TokioIo(Async::new(a).unwrap());
            let mut b = TokioIo(Async::new(b).unwrap());
            a.write_all(b"ping").await.unwrap();
            let bufs = [IoSlice::new(b"po"), IoSlice::new(b"ng")];
            let n = b.write_vectored(&bufs).await.unwrap();
            assert!(n > 0);
            if n < 4 {
                b.write_all(&b"pong"[n..]).await.unwrap();
            }
            b.flush().await.unwrap();
            let mut got = [0u8; 4];
            b.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"ping");
            a.read_exact(&mut got).await.unwrap();
            assert_eq!(&got, b"pong");
            b.shutdown().await.unwrap();
            drop(b);
            let mut rest = Vec::new();
            a.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty(), "the peer sees end of stream");
        });
    }
}
