//! HTTP/2 keepalive, for both ends: a PING every interval, and the connection is given up when
//! the PONG is late. This finds dead peers that TCP alone would not notice for hours: a NAT
//! entry that expired, a router that rebooted, a client that hung.

use async_io::Timer;
use futures_lite::future;
use std::cell::{Cell, RefCell};
use std::task::{Poll, Waker};
use std::time::Duration;

/// When to ping and how long to wait for the answer.
#[derive(Clone, Copy, Debug)]
pub struct Keepalive {
    /// How long a connection may be quiet before a PING.
    pub interval: Duration,
    /// How long a PING may go unanswered before the connection is closed.
    pub timeout: Duration,
}

impl Default for Keepalive {
    fn default() -> Keepalive {
        Keepalive {
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Longest wait for the answer to a probe ([`Probe::raise`]): the peer's TCP stack answers a
/// PING at once whatever its handlers are doing, so a connection that has not answered in 2 s
/// is not one to wait for.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A request to ping now rather than at the next interval: raised by the client when a call
/// missed its deadline on a connection that had shown no sign of life since the call was sent.
/// Raised, it stays raised until the PING is answered (the connection is then known alive) or
/// the connection is given up; the channel sends no new call to a connection whose probe is
/// raised.
#[derive(Debug, Default)]
pub struct Probe {
    raised: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Probe {
    /// Asks for a PING now.
    pub fn raise(&self) {
        self.raised.set(true);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }

    /// Whether the connection is under suspicion (a probe raised and not answered yet).
    pub fn is_raised(&self) -> bool {
        self.raised.get()
    }

    async fn wait(&self) {
        future::poll_fn(|cx| {
            if self.raised.get() {
                Poll::Ready(())
            } else {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
    }
}

/// Pings the peer every `interval` while `wanted()` says so, and at once when `probe` is raised
/// (answer within [`PROBE_TIMEOUT`] or the keepalive timeout, the shorter); returns when a pong
/// is late or the ping cannot be sent. Without a `PingPong` (h2 hands it out once) it never
/// returns.
pub async fn run(
    pings: Option<h2::PingPong>,
    keepalive: Keepalive,
    wanted: impl Fn() -> bool,
    probe: Option<&Probe>,
) {
    let Some(mut pings) = pings else {
        return future::pending().await;
    };
    loop {
        let interval = async {
            Timer::after(keepalive.interval).await;
            false
        };
        let probed = async {
            match probe {
                Some(p) => p.wait().await,
                None => future::pending().await,
            }
            true
        };
        let probed = future::or(interval, probed).await;
        if !probed && !wanted() {
            continue;
        }
        let timeout = if probed {
            keepalive.timeout.min(PROBE_TIMEOUT)
        } else {
            keepalive.timeout
        };
        if pings.send_ping(h2::Ping::opaque()).is_err() {
            return;
        }
        let pong = async { future::poll_fn(|cx| pings.poll_pong(cx)).await.is_ok() };
        let late = async {
            Timer::after(timeout).await;
            false
        };
        if !future::or(pong, late).await {
            return;
        }
        if let Some(p) = probe {
            p.raised.set(false); // answered: alive after all
        }
    }
}
