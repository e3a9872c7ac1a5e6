//! HTTP/2 keepalive, for both ends: a PING every interval, and the connection is given up when
//! the PONG is late. This finds dead peers that TCP alone would not notice for hours: a NAT
//! entry that expired, a router that rebooted, a client that hung.

use async_io::Timer;
use futures_lite::future;
use std::time::Duration;

/// When to ping and how long to wait for the answer.
#[derive(Clone, Copy, Debug)]
pub struct Keepalive {
    pub interval: Duration,
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

/// Pings the peer every `interval` while `wanted()` says so; returns when a pong is late or
/// the ping cannot be sent. Without a `PingPong` (h2 hands it out once) it never returns.
pub async fn run(pings: Option<h2::PingPong>, keepalive: Keepalive, wanted: impl Fn() -> bool) {
    let Some(mut pings) = pings else {
        return future::pending().await;
    };
    loop {
        Timer::after(keepalive.interval).await;
        if !wanted() {
            continue;
        }
        if pings.send_ping(h2::Ping::opaque()).is_err() {
            return;
        }
        let pong = async { future::poll_fn(|cx| pings.poll_pong(cx)).await.is_ok() };
        let late = async {
            Timer::after(keepalive.timeout).await;
            false
        };
        if !future::or(pong, late).await {
            return;
        }
    }
}
