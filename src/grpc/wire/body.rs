//! Messages over one HTTP/2 stream, for both ends: [`Incoming`] splits the received body into
//! messages, [`Outgoing`] frames messages and sends them under HTTP/2 flow control.
//!
//! Flow control is the backpressure: `Incoming` gives the window back only for bytes the
//! caller has pulled, so a slow reader slows its peer; `Outgoing::send` waits until the peer's
//! window (and h2's bounded send buffer) has room, so a slow peer slows the writer instead of
//! growing a queue.

use crate::grpc::wire::budget::{Charge, Share};
use crate::grpc::wire::frame::{self, Decoder};
use crate::grpc::wire::status::{Code, Status};
use bytes::{Bytes, BytesMut};
use futures_lite::future;
use h2::{RecvStream, SendStream};
use http::HeaderMap;
use std::cell::RefCell;
use std::rc::Rc;
use std::task::{Context, Poll};

/// DATA frames are filled up to this by [`Outgoing::feed`]: the default HTTP/2 frame size.
pub const BATCH: usize = 16 * 1024;

/// h2 closes a connection (ENHANCE_YOUR_CALM) when the small DATA frames it holds unread cost
/// more than this: each frame of n < 256 bytes costs 256 - n. Its default (32 KiB for our
/// windows) trips on a burst of ~150 tiny messages, which grpc-go or grpcio peers send legally;
/// with this, a full 64 KiB window of messages of 60 bytes or more always fits, while a flood of
/// 1-byte frames still costs at most ~1000 frames of h2 bookkeeping per connection.
pub const DATA_FRAME_BUDGET: usize = 256 * 1024;

/// The messages a peer sends on one stream.
///
/// Frames are taken out of h2 as soon as they are there (h2 counts small frames it holds and
/// closes a connection that lets too many pile up), but the flow-control window is given back
/// only as messages are handed out, or when a message needs more bytes than arrived: the peer
/// can never have more than one window of data waiting here. With a [`Share`] of the server's
/// memory budget, a message is charged before the window for its rest is given back.
pub struct Incoming {
    body: RecvStream,
    decoder: Decoder,
    /// Bytes taken from h2 whose window is not yet given back.
    held: usize,
    ended: bool,
    share: Option<Rc<Share>>,
    /// What the message being received is charged.
    charge: Option<Charge>,
}

impl Incoming {
    pub fn new(body: RecvStream, max_message: usize) -> Incoming {
        Incoming {
            body,
            decoder: Decoder::new(max_message),
            held: 0,
            ended: false,
            share: None,
            charge: None,
        }
    }

    /// Charges each message to `share` before the peer may send more than a window of it.
    pub fn with_budget(mut self, share: Rc<Share>) -> Incoming {
        self.share = Some(share);
        self
    }

    /// The next message, `Ok(None)` once the peer has ended its side cleanly, or the status
    /// the call fails with (a reset stream, a truncated or oversized message).
    pub async fn next(&mut self) -> Result<Option<Bytes>, Status> {
        loop {
            self.take_ready().await?;
            if let Some(message) = self.decoder.next_message()? {
                self.charge = None;
                self.release(frame::PREFIX_LEN + message.len());
                return Ok(Some(message));
            }
            if self.ended {
                self.decoder.finish()?;
                return Ok(None);
            }
            // Waiting for more: the peer may need the window we hold to send it, and may send
            // the rest of the message once it has it.
            self.charge_announced()?;
            self.release(self.held);
            match self.body.data().await {
                Some(chunk) => self.take(chunk)?,
                None => self.ended = true,
            }
        }
    }

    /// Charges the message whose prefix is here, once, at its announced length.
    fn charge_announced(&mut self) -> Result<(), Status> {
        let (Some(share), Some(len)) = (&self.share, self.decoder.announced()) else {
            return Ok(());
        };
        if self.charge.as_ref().is_some_and(|c| c.bytes() == len) {
            return Ok(());
        }
        self.charge = None;
        self.charge = Some(share.charge(len)?);
        // Charged, not reserved: the buffer grows as bytes arrive. Reserving the announced
        // length here let five bytes that announce 4 MiB take 4 MiB of heap (found by
        // fuzz/fuzz_targets/grpc_connection.rs; fuzz/regressions/grpc_connection).
        Ok(())
    }

    /// Moves every frame h2 already has into the decoder, without waiting.
    async fn take_ready(&mut self) -> Result<(), Status> {
        while !self.ended {
            match future::poll_once(self.body.data()).await {
                Some(Some(chunk)) => self.take(chunk)?,
                Some(None) => self.ended = true,
                None => break,
            }
        }
        Ok(())
    }

    fn take(&mut self, chunk: Result<Bytes, h2::Error>) -> Result<(), Status> {
        let chunk = chunk.map_err(|e| stream_error(&e))?;
        self.held += chunk.len();
        self.decoder.push(&chunk);
        Ok(())
    }

    fn release(&mut self, bytes: usize) {
        let bytes = bytes.min(self.held);
        if bytes > 0 {
            self.held -= bytes;
            let _ = self.body.flow_control().release_capacity(bytes);
        }
    }

    /// The trailers, once [`Incoming::next`] has returned `Ok(None)`.
    pub async fn trailers(&mut self) -> Result<Option<HeaderMap>, Status> {
        self.body.trailers().await.map_err(|e| stream_error(&e))
    }
}

/// The sending half of one stream.
pub struct Outgoing {
    stream: RefCell<SendStream<Bytes>>,
    /// Framed messages fed but not yet handed to h2.
    pending: RefCell<BytesMut>,
}

impl Outgoing {
    pub fn new(stream: SendStream<Bytes>) -> Outgoing {
        Outgoing {
            stream: RefCell::new(stream),
            pending: RefCell::new(BytesMut::new()),
        }
    }

    /// Sends one message now (with any fed before it).
    pub async fn send(&self, message: &[u8]) -> Result<(), Status> {
        frame::encode(message, &mut self.pending.borrow_mut());
        self.flush().await
    }

    /// Queues one message to share a DATA frame with the next ones; sends once a frame's worth
    /// is queued. Many small messages (log lines, a backlog) then cost a few frames, not one
    /// each. [`Outgoing::flush`] sends the rest.
    pub async fn feed(&self, message: &[u8]) -> Result<(), Status> {
        let full = {
            let mut pending = self.pending.borrow_mut();
            frame::encode(message, &mut pending);
            pending.len() >= BATCH
        };
        if full {
            self.flush().await
        } else {
            Ok(())
        }
    }

    /// Hands everything queued to h2, waiting for flow-control capacity as it goes: a message
    /// larger than the window goes out in pieces as the peer reads.
    pub async fn flush(&self) -> Result<(), Status> {
        let mut data = self.pending.borrow_mut().split().freeze();
        while !data.is_empty() {
            let capacity = {
                let mut stream = self.stream.borrow_mut();
                stream.reserve_capacity(data.len());
                stream.capacity()
            };
            if capacity == 0 {
                // Ready only when the connection assigns more capacity to this stream.
                match future::poll_fn(|cx| self.stream.borrow_mut().poll_capacity(cx)).await {
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(stream_error(&e)),
                    None => return Err(Status::new(Code::Cancelled, "stream closed by the peer")),
                }
            }
            let chunk = data.split_to(capacity.min(data.len()).min(BATCH));
            self.stream
                .borrow_mut()
                .send_data(chunk, false)
                .map_err(|e| stream_error(&e))?;
        }
        Ok(())
    }

    /// Anything still queued, handed to h2 beyond the window (it waits in h2's buffer): for
    /// ending a stream, which cannot wait.
    fn push_pending(&self) -> Result<(), Status> {
        let data = self.pending.borrow_mut().split().freeze();
        if data.is_empty() {
            return Ok(());
        }
        self.stream
            .borrow_mut()
            .send_data(data, false)
            .map_err(|e| stream_error(&e))
    }

    /// Ends our side of the stream without trailers (a client's half-close).
    pub fn close(&self) -> Result<(), Status> {
        self.push_pending()?;
        self.stream
            .borrow_mut()
            .send_data(Bytes::new(), true)
            .map_err(|e| stream_error(&e))
    }

    /// Ends our side of the stream with trailers (a server's status).
    pub fn send_trailers(&self, trailers: HeaderMap) -> Result<(), Status> {
        self.push_pending()?;
        self.stream
            .borrow_mut()
            .send_trailers(trailers)
            .map_err(|e| stream_error(&e))
    }

    /// Ready when the peer resets the stream (or the connection fails).
    pub fn poll_reset(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.stream.borrow_mut().poll_reset(cx).map(|_| ())
    }
}

/// The status for an h2 error: a reset maps by its reason (gRPC's table); a stream the peer
/// refused by GOAWAY (it was never processed: the server is going away, a reload, a maximum
/// connection age) and anything else that means the connection is gone: UNAVAILABLE, which
/// callers treat as "try again on a new connection".
pub fn stream_error(e: &h2::Error) -> Status {
    if e.is_go_away() {
        return Status::new(
            Code::Unavailable,
            format!("the peer is going away (GOAWAY): {e}"),
        );
    }
    match e.reason() {
        Some(reason) => Status::new(
            Code::from_reset(reason.into()),
            format!("stream reset: {e}"),
        ),
        None => Status::new(Code::Unavailable, format!("connection lost: {e}")),
    }
}
