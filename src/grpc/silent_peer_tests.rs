//! A server that stops answering in the middle of a connection: our client against our server
//! through a loopback proxy that can make the connections it carries go silent for good while
//! new ones pass (a NAT mapping that expired, a partition that healed for new flows only).

use super::stream_tests::Harness;
use crate::grpc::client::CallOptions;
use crate::grpc::server::Settings;
use crate::grpc::wire::status::Code;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Forwards loopback connections to `upstream`; [`Proxy::silence`] makes every connection it
/// carries at that moment drop what it reads, both ways, without closing.
struct Proxy {
    addr: SocketAddr,
    accepted: Arc<AtomicU32>,
    /// Connections whose client end was closed by the client.
    closed_by_client: Arc<AtomicU32>,
    carried: Arc<Mutex<Vec<Arc<AtomicBool>>>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            accepted: Arc::default(),
            closed_by_client: Arc::default(),
            carried: Arc::default(),
        };
        let (accepted, closed, carried) = (
            proxy.accepted.clone(),
            proxy.closed_by_client.clone(),
            proxy.carried.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let client = client.unwrap();
                let server = TcpStream::connect(upstream).unwrap();
                accepted.fetch_add(1, Ordering::SeqCst);
                let silent = Arc::new(AtomicBool::new(false));
                carried.lock().unwrap().push(silent.clone());
                let pipe = |from: TcpStream, to: TcpStream, closed: Option<Arc<AtomicU32>>| {
                    let silent = silent.clone();
                    std::thread::spawn(move || forward(from, to, &silent, closed));
                };
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    Some(closed.clone()),
                );
                pipe(server, client, None);
            }
        });
        proxy
    }

    fn silence(&self) {
        for s in self.carried.lock().unwrap().iter() {
            s.store(true, Ordering::SeqCst);
        }
    }
}

/// Copies `from` to `to` until `from` ends (counted in `closed`); once `silent`, what is read
/// is dropped.
fn forward(
    mut from: TcpStream,
    mut to: TcpStream,
    silent: &AtomicBool,
    closed: Option<Arc<AtomicU32>>,
) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) if !silent.load(Ordering::SeqCst) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Ok(_) => {}
        }
    }
    if let Some(c) = closed {
        c.fetch_add(1, Ordering::SeqCst);
    }
    if !silent.load(Ordering::SeqCst) {
        let _ = to.shutdown(Shutdown::Write);
    }
}

fn within(ms: u64) -> CallOptions {
    CallOptions {
        timeout: Some(Duration::from_millis(ms)),
        ..CallOptions::default()
    }
}

#[test]
fn a_connection_gone_silent_is_replaced_at_the_next_call_and_closed() {
    let h = Harness::start(Settings::default());
    let proxy = Proxy::start(h.addr);
    let ch = h.channel_to(&proxy.addr.to_string());
    h.run(async {
        let r = ch.call("/t.S/Meta", b"", &within(2000)).await.unwrap();
        assert_eq!(&r.message[..], b"ok");
        proxy.silence();
        let e = ch.call("/t.S/Meta", b"", &within(300)).await.unwrap_err();
        assert_eq!(e.code, Code::DeadlineExceeded);
        // The next call does not go to the silent connection: a new one answers at once.
        let started = Instant::now();
        let r = ch.call("/t.S/Meta", b"", &within(2000)).await.unwrap();
        assert_eq!(&r.message[..], b"ok");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(proxy.accepted.load(Ordering::SeqCst), 2);
        // The silent one got its PING, no PONG, and was closed by the client.
        let until = Instant::now()
            + crate::grpc::transport::keepalive::PROBE_TIMEOUT
            + Duration::from_secs(2);
        while proxy.closed_by_client.load(Ordering::SeqCst) == 0 {
            assert!(
                Instant::now() < until,
                "the silent connection was not closed"
            );
            async_io::Timer::after(Duration::from_millis(50)).await;
        }
        // And the new connection carries on.
        let r = ch.call("/t.S/Meta", b"", &within(2000)).await.unwrap();
        assert_eq!(&r.message[..], b"ok");
        assert_eq!(proxy.accepted.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn a_slow_server_answers_the_ping_and_keeps_its_connection() {
    let h = Harness::start(Settings::default());
    let proxy = Proxy::start(h.addr);
    let ch = h.channel_to(&proxy.addr.to_string());
    h.run(async {
        ch.call("/t.S/Meta", b"", &within(2000)).await.unwrap();
        // /t.S/Slow answers after 5 s: the deadline passes with nothing heard, the probe goes
        // out, and the server's HTTP/2 layer answers it while the handler sleeps.
        let e = ch.call("/t.S/Slow", b"x", &within(300)).await.unwrap_err();
        assert_eq!(e.code, Code::DeadlineExceeded);
        async_io::Timer::after(Duration::from_millis(300)).await;
        ch.call("/t.S/Meta", b"", &within(2000)).await.unwrap();
        assert_eq!(
            proxy.accepted.load(Ordering::SeqCst),
            1,
            "no new connection"
        );
        assert_eq!(proxy.closed_by_client.load(Ordering::SeqCst), 0);
    });
}
