//! Fuzz entry points for what a gRPC peer sends (see `crate::fuzzing`): the wire format's
//! pieces, a whole server connection over memory, and the X.509 names of a client certificate.

use crate::grpc::server::{serve_http2, Link, Peer};
use crate::grpc::server::{InForce, Router, Settings, Shutdown};
use crate::grpc::transport::x509;
use crate::grpc::wire::budget::{Budget, Share};
use crate::grpc::wire::frame::{self, Decoder};
use crate::grpc::wire::metadata::{base64_decode, base64_encode, Metadata};
use crate::grpc::wire::status::{decode_message, encode_message, Code, Status};
use crate::grpc::wire::timeout;
use crate::grpc::Identities;
use async_executor::LocalExecutor;
use bytes::{Bytes, BytesMut};
use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Message framing, `grpc-timeout`, metadata, base64 and `grpc-message`, each fed a part of
/// the input: the messages a decoder hands out, framed again, are the bytes it consumed; a
/// timeout read is written back and read to at least the same time; metadata read from headers
/// is written back and read the same; base64 and `grpc-message` round-trip.
pub fn grpc_wire(data: &[u8]) {
    let parts = crate::fuzzing::fields(data, 5);
    framing(parts[0]);
    if let Ok(t) = timeout::parse(parts[1]) {
        let again = timeout::parse(timeout::encode(t).as_bytes()).expect("our own timeout");
        assert!(again >= t, "{t:?} became {again:?}");
    }
    let headers: Vec<(String, &[u8])> = parts[2]
        .split(|&b| b == b'\n')
        .filter_map(|line| {
            let at = line.iter().position(|&b| b == b':')?;
            let key = std::str::from_utf8(&line[..at]).ok()?;
            Some((key.to_ascii_lowercase(), &line[at + 1..]))
        })
        .collect();
    let read = Metadata::from_headers(headers.iter().map(|(k, v)| (k.as_str(), *v)));
    if let Ok(md) = read {
        let written: Vec<(String, String)> =
            md.to_headers().map(|(k, v)| (k.to_string(), v)).collect();
        let again = Metadata::from_headers(written.iter().map(|(k, v)| (k.as_str(), v.as_bytes())))
            .expect("our own metadata");
        assert_eq!(
            again.iter().collect::<Vec<_>>(),
            md.iter().collect::<Vec<_>>()
        );
    }
    assert_eq!(
        base64_decode(base64_encode(parts[3]).as_bytes()).as_deref(),
        Some(parts[3])
    );
    if let Some(bytes) = base64_decode(parts[3]) {
        let unpadded = parts[3].iter().take_while(|&&b| b != b'=').count();
        assert_eq!(base64_encode(&bytes).trim_end_matches('=').len(), unpadded);
    }
    let message = decode_message(parts[4]);
    assert_eq!(decode_message(encode_message(&message).as_bytes()), message);
    let _ = Code::from_header(parts[4]);
    let _ = Status::from_trailers(parts[4], Some(parts[3]));
}

/// Feeds `data` to a decoder in chunks of growing size.
fn framing(data: &[u8]) {
    let mut decoder = Decoder::new(1024);
    let (mut fed, mut size, mut out) = (0, 1, BytesMut::new());
    while fed < data.len() {
        let end = (fed + size).min(data.len());
        decoder.push(&data[fed..end]);
        fed = end;
        size = size % 97 + 7;
        loop {
            match decoder.next_message() {
                Ok(Some(message)) => frame::encode(&message, &mut out),
                Ok(None) => break,
                Err(_) => return check_prefix(data, &out),
            }
        }
    }
    check_prefix(data, &out);
    if decoder.finish().is_ok() {
        assert_eq!(out.len(), data.len());
    }
}

fn check_prefix(data: &[u8], framed: &[u8]) {
    assert_eq!(&data[..framed.len()], framed);
}

/// A client certificate's names: read or refused, never a panic; an empty allow-list admits
/// what was read, and a list of what it names admits it.
pub fn x509(data: &[u8]) {
    let _ = x509::is_ca(data);
    if let Ok(ids) = x509::identities(data) {
        let _ = ids.to_string();
        assert!(ids.allowed_by(&[]));
        if let Some(name) = ids.dns.first().or(ids.uris.first()) {
            assert!(ids.allowed_by(std::slice::from_ref(name)));
        }
    }
}

/// Base64 text to bytes, for the seed corpus's certificates.
#[cfg(test)]
pub(crate) fn base64(text: &[u8]) -> Vec<u8> {
    base64_decode(text).expect("base64")
}

/// Heap use of the fuzz binary, from its counting allocator.
pub trait Meter {
    /// Starts a measurement: the peak is counted from the bytes in use now.
    fn start(&self);
    /// The most bytes in use above the start since [`Meter::start`].
    fn peak(&self) -> usize;
}

/// Heap a connection may take before its peer has sent anything (h2's buffers and tables,
/// the executor, the router): measured at about 60 KiB; the rest must follow bytes received.
const FIXED_HEAP: usize = 256 * 1024;
/// Heap allowed per byte received (buffers grow by doubling; a message is held while its
/// handler runs, and its reply is built).
const HEAP_PER_BYTE: usize = 8;

/// The client preface, put before every input so that inputs start at the frames.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

thread_local! {
    /// One executor for every run (the server's tasks need one that lives as long as the
    /// process); each run leaves it empty.
    static EXECUTOR: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
}

/// Bytes from a client, then the end of the stream: the whole server (HTTP/2, the calls, the
/// handlers) runs on them. The connection ends, no task outlives it, and with a `meter` the
/// heap it took stays within [`FIXED_HEAP`] + [`HEAP_PER_BYTE`] per byte received: memory
/// follows the bytes a peer sends, never the lengths it announces.
pub fn grpc_connection(data: &[u8], meter: Option<&dyn Meter>) {
    let mut input = PREFACE.to_vec();
    input.extend_from_slice(data);
    let received = input.len();
    if let Some(m) = meter {
        m.start();
    }
    EXECUTOR.with(|&executor| {
        let link = Link {
            router: Rc::new(router()),
            in_force: Rc::new(InForce::new(Rc::new(Settings::default()), 0)),
            budget: Share::new(Budget::new(64 << 20)),
            executor,
            shutdown: Rc::new(Shutdown::new()),
        };
        let peer = Rc::new(Peer {
            identities: Rc::new(Identities::default()),
            allowed: Cell::new(true),
        });
        let end = Rc::new(End::default());
        let stream = Scripted {
            input,
            at: 0,
            end: end.clone(),
        };
        let connection = executor.spawn(serve_http2(stream, peer, "fuzz", link));
        // Everything runs until nothing can (no clock: a timer never fires here); then the
        // client's side ends, and everything must finish.
        loop {
            while executor.try_tick() {}
            if connection.is_finished() {
                break;
            }
            assert!(!end.ended.get(), "the connection outlived its client's end");
            end.ended.set(true);
            if let Some(waker) = end.waker.take() {
                waker.wake();
            }
        }
        drop(connection);
        while executor.try_tick() {}
        assert!(executor.is_empty(), "a task outlived its connection");
    });
    if let Some(m) = meter {
        let peak = m.peak();
        assert!(
            peak <= FIXED_HEAP + HEAP_PER_BYTE * received,
            "{peak} bytes of heap for {received} bytes received"
        );
    }
}

/// Methods of each kind, answering at once.
fn router() -> Router {
    let mut r = Router::new();
    r.unary("/fuzz.v1.Echo/Echo", |_call, message: Bytes| async move {
        Ok(message)
    });
    r.unary("/fuzz.v1.Echo/Fail", |_call, _message| async move {
        Err(Status::new(Code::InvalidArgument, "told to fail ✓"))
    });
    r.streaming(
        "/fuzz.v1.Echo/Stream",
        |_call, mut requests, responses| async move {
            while let Some(message) = requests.next().await? {
                responses.send(&message).await?;
            }
            Ok(())
        },
    );
    r
}

/// The client's side of the connection: `input` in reads of varying size, then nothing until
/// [`End::ended`], then the end of the stream; whatever the server writes is taken and dropped.
struct Scripted {
    input: Vec<u8>,
    at: usize,
    end: Rc<End>,
}

/// When the client's side ends, and who waits for it.
#[derive(Default)]
struct End {
    ended: Cell<bool>,
    waker: std::cell::RefCell<Option<std::task::Waker>>,
}

impl futures_lite::AsyncRead for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.at == self.input.len() && !self.end.ended.get() {
            *self.end.waker.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let want = 1 + (self.at * 31 + 17) % 4096;
        let n = want.min(buf.len()).min(self.input.len() - self.at);
        buf[..n].copy_from_slice(&self.input[self.at..self.at + n]);
        self.at += n;
        Poll::Ready(Ok(n))
    }
}

impl futures_lite::AsyncWrite for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
