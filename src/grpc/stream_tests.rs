//! Streaming calls and metadata, our client against our server over real TCP and mutual TLS.
//! (tests/grpc_interop.rs checks each side against grpcio.)

use crate::grpc::client::{CallOptions, Channel, Settings as ClientSettings};
use crate::grpc::server::{serve_connection, Router, Settings, Shutdown};
use crate::grpc::transport::keepalive::Keepalive;
use crate::grpc::transport::tls::test_configs;
use crate::grpc::wire::budget::{Budget, Share};
use crate::grpc::wire::metadata::{Metadata, Value};
use crate::grpc::wire::status::{Code, Status};
use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use bytes::Bytes;
use futures_lite::future;
use std::cell::Cell;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

thread_local! {
    /// Messages the Flood handler has handed to `send` and that `send` accepted.
    static FLOODED: Cell<u32> = const { Cell::new(0) };
    /// Endless handlers that were dropped (cancelled) on this test's thread.
    static DROPPED: Cell<u32> = const { Cell::new(0) };
}

struct CountDrop;

impl Drop for CountDrop {
    fn drop(&mut self) {
        DROPPED.with(|d| d.set(d.get() + 1));
    }
}

fn router() -> Router {
    let mut r = Router::new();
    // Server streaming: N messages "0".."N-1", with metadata in headers and trailers.
    r.streaming("/t.S/Count", |call, requests, responses| async move {
        let n: u32 = String::from_utf8_lossy(&requests.single().await?)
            .parse()
            .map_err(|_| Status::new(Code::InvalidArgument, "not a number"))?;
        call.response_headers()
            .insert_ascii("x-count", &n.to_string())
            .unwrap();
        call.response_trailers()
            .insert_binary("x-end-bin", &[0, 255])
            .unwrap();
        for i in 0..n {
            responses.send(i.to_string().as_bytes()).await?;
        }
        Ok(())
    });
    // N empty messages, fed: they share DATA frames.
    r.streaming("/t.S/Many", |_call, requests, responses| async move {
        let n: u32 = String::from_utf8_lossy(&requests.single().await?)
            .parse()
            .map_err(|_| Status::new(Code::InvalidArgument, "not a number"))?;
        for _ in 0..n {
            responses.feed(b"").await?;
        }
        Ok(())
    });
    // Client streaming: the total length of what was sent.
    r.streaming("/t.S/Sum", |_call, mut requests, responses| async move {
        let mut total = 0;
        while let Some(m) = requests.next().await? {
            total += m.len();
        }
        responses.send(total.to_string().as_bytes()).await
    });
    // Bidi: every message straight back.
    r.streaming("/t.S/Echo", |_call, mut requests, responses| async move {
        while let Some(m) = requests.next().await? {
            responses.send(&m).await?;
        }
        Ok(())
    });
    // 16 KiB messages for as long as the client takes them.
    r.streaming("/t.S/Flood", |_call, _requests, responses| async move {
        let chunk = vec![7u8; 16 * 1024];
        loop {
            responses.send(&chunk).await?;
            FLOODED.with(|f| f.set(f.get() + 1));
        }
    });
    // One message every 10 ms, forever.
    r.streaming("/t.S/Endless", |_call, _requests, responses| async move {
        let _guard = CountDrop;
        loop {
            responses.send(b"tick").await?;
            Timer::after(Duration::from_millis(10)).await;
        }
    });
    r.unary("/t.S/Meta", |call, _msg| async move {
        if let Some(Value::Ascii(v)) = call.metadata.get("x-req") {
            call.response_headers().insert_ascii("x-seen", v).unwrap();
        }
        if let Some(Value::Binary(b)) = call.metadata.get("x-raw-bin") {
            call.response_trailers()
                .insert_binary("x-raw-bin", b)
                .unwrap();
        }
        Ok(Bytes::from_static(b"ok"))
    });
    r.unary("/t.S/Slow", |_call, msg| async move {
        Timer::after(Duration::from_secs(5)).await;
        Ok(msg)
    });
    r
}

/// A server on a free loopback port serving every connection, and a channel to it.
pub(super) struct Harness {
    ex: &'static LocalExecutor<'static>,
    shutdown: Rc<Shutdown>,
    pub(super) addr: std::net::SocketAddr,
}

impl Harness {
    pub(super) fn start(settings: Settings) -> Harness {
        let ex: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
        let (server_tls, _) = test_configs();
        let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
        let addr = listener.get_ref().local_addr().unwrap();
        let shutdown = Rc::new(Shutdown::new());
        let (router, settings) = (Rc::new(router()), Rc::new(settings));
        let stop = shutdown.clone();
        ex.spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let c = (
                    server_tls.clone(),
                    router.clone(),
                    settings.clone(),
                    stop.clone(),
                );
                ex.spawn(serve_connection(
                    tcp,
                    c.0,
                    c.1,
                    Rc::new(crate::grpc::server::InForce::new(c.2, 0)),
                    Share::new(Budget::new(64 << 20)),
                    ex,
                    c.3,
                ))
                .detach();
            }
        })
        .detach();
        Harness { ex, shutdown, addr }
    }

    fn channel(&self) -> Channel {
        self.channel_to(&self.addr.to_string())
    }

    /// A channel to `address` (a proxy in front of this server, say).
    pub(super) fn channel_to(&self, address: &str) -> Channel {
        let (_, client_tls) = test_configs();
        let settings = ClientSettings::new(address, Some("localhost"), client_tls);
        Channel::new(settings, self.ex)
    }

    pub(super) fn run<T>(&self, test: impl std::future::Future<Output = T>) -> T {
        async_io::block_on(self.ex.run(test))
    }
}

fn long() -> CallOptions {
    CallOptions {
        timeout: Some(Duration::from_secs(10)),
        ..CallOptions::default()
    }
}

#[test]
fn server_streaming_with_metadata_in_headers_and_trailers() {
    let h = Harness::start(Settings::default());
    let ch = h.channel();
    h.run(async {
        let (tx, mut rx) = ch.open("/t.S/Count", &long()).await.unwrap();
        tx.send(b"300").await.unwrap();
        tx.close().unwrap();
        assert_eq!(
            rx.headers().await.unwrap().get("x-count"),
            Some(&Value::Ascii("300".into()))
        );
        let mut got = Vec::new();
        while let Some(m) = rx.message().await.unwrap() {
            got.push(String::from_utf8(m.to_vec()).unwrap());
        }
        assert_eq!(got.len(), 300);
        assert_eq!(got[299], "299");
        assert_eq!(
            rx.trailers().get("x-end-bin"),
            Some(&Value::Binary(vec![0, 255]))
        );

        // Two request messages on a server-streaming method are refused.
        let (tx, mut rx) = ch.open("/t.S/Count", &long()).await.unwrap();
        tx.send(b"1").await.unwrap();
        // The server refuses on seeing the second message: closing may then find the stream
        // already ended.
        tx.send(b"1").await.unwrap();
        let _ = tx.close();
        let e = loop {
            match rx.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("accepted two requests"),
                Err(e) => break e,
            }
        };
        assert_eq!(e.code, Code::Unimplemented);
    });
}

#[test]
fn fed_messages_share_frames() {
    // 20 000 empty messages sent one per DATA frame would cost h2's frame budget 5 MB and end
    // the connection (ENHANCE_YOUR_CALM); fed, they travel 16 KiB per frame.
    let h = Harness::start(Settings::default());
    let ch = h.channel();
    h.run(async {
        let (tx, mut rx) = ch.open("/t.S/Many", &long()).await.unwrap();
        tx.send(b"20000").await.unwrap();
        tx.close().unwrap();
        let mut n = 0;
        while let Some(m) = rx.message().await.unwrap() {
            assert!(m.is_empty());
            n += 1;
        }
        assert_eq!(n, 20_000);
        // And the client side feeds too.
        let (tx, mut rx) = ch.open("/t.S/Sum", &long()).await.unwrap();
        for _ in 0..20_000 {
            tx.feed(b"x").await.unwrap();
        }
        tx.close().unwrap();
        assert_eq!(rx.message().await.unwrap().unwrap(), "20000");
    });
}

#[test]
fn client_streaming_and_bidi() {
    let h = Harness::start(Settings::default());
    let ch = h.channel();
    h.run(async {
        let (tx, mut rx) = ch.open("/t.S/Sum", &long()).await.unwrap();
        for _ in 0..100 {
            tx.send(&[1u8; 1000]).await.unwrap();
        }
        tx.close().unwrap();
        assert_eq!(rx.message().await.unwrap().unwrap(), "100000");
        assert_eq!(rx.message().await.unwrap(), None);

        // Bidi: each answer arrives before the next request is sent.
        let (tx, mut rx) = ch.open("/t.S/Echo", &long()).await.unwrap();
        for i in 0..50 {
            let m = format!("m{i}");
            tx.send(m.as_bytes()).await.unwrap();
            assert_eq!(rx.message().await.unwrap().unwrap(), m.as_bytes());
        }
        tx.close().unwrap();
        assert_eq!(rx.message().await.unwrap(), None);
    });
}

#[test]
fn a_slow_reader_holds_the_sender_back() {
    let h = Harness::start(Settings::default());
    let ch = h.channel();
    h.run(async {
        // Generous: debug builds under qemu move TLS data slowly.
        let options = CallOptions {
            timeout: Some(Duration::from_secs(120)),
            ..CallOptions::default()
        };
        let (_tx, mut rx) = ch.open("/t.S/Flood", &options).await.unwrap();
        rx.headers().await.unwrap();
        Timer::after(Duration::from_millis(300)).await;
        // The client's 64 KiB window plus h2's 64 KiB send buffer, in 16 KiB messages: a few,
        // never the thousands an unbounded sender would have queued by now.
        let stalled = FLOODED.with(|f| f.get());
        assert!(
            (2..=12).contains(&stalled),
            "{stalled} messages sent to a reader that reads nothing"
        );
        // Reading lets it go on.
        for _ in 0..40 {
            assert_eq!(rx.message().await.unwrap().unwrap().len(), 16 * 1024);
        }
        assert!(FLOODED.with(|f| f.get()) >= 40 + stalled - 12);
    });
}

#[test]
fn dropping_a_call_cancels_the_handler_and_deadlines_end_streams() {
    let h = Harness::start(Settings::default());
    let ch = h.channel();
    h.run(async {
        let (tx, mut rx) = ch.open("/t.S/Endless", &long()).await.unwrap();
        for _ in 0..3 {
            assert_eq!(rx.message().await.unwrap().unwrap(), "tick");
        }
        drop((tx, rx));
        Timer::after(Duration::from_millis(200)).await;
        assert_eq!(DROPPED.with(|d| d.get()), 1, "handler still running");

        let started = Instant::now();
        let options = CallOptions {
            timeout: Some(Duration::from_millis(300)),
            ..CallOptions::default()
        };
        let (_tx, mut rx) = ch.open("/t.S/Endless", &options).await.unwrap();
        let e = loop {
            if let Err(e) = rx.message().await {
                break e;
            }
        };
        assert_eq!(e.code, Code::DeadlineExceeded);
        assert!(started.elapsed() < Duration::from_secs(3));
        // Asking again repeats the failure; it never turns into a clean end.
        assert_eq!(rx.message().await.unwrap_err().code, Code::DeadlineExceeded);
        Timer::after(Duration::from_millis(200)).await;
        assert_eq!(
            DROPPED.with(|d| d.get()),
            2,
            "server ran on past the deadline"
        );
    });
}

#[test]
fn unary_metadata_both_ways() {
    let h = Harness::start(Settings::default());
    let ch = h.channel();
    h.run(async {
        let mut metadata = Metadata::new();
        metadata.insert_ascii("x-req", "hello").unwrap();
        metadata
            .insert_binary("x-raw-bin", &[0, 1, 2, 254])
            .unwrap();
        let options = CallOptions { metadata, ..long() };
        let r = ch.call("/t.S/Meta", b"", &options).await.unwrap();
        assert_eq!(r.message, "ok");
        assert_eq!(r.headers.get("x-seen"), Some(&Value::Ascii("hello".into())));
        assert_eq!(
            r.trailers.get("x-raw-bin"),
            Some(&Value::Binary(vec![0, 1, 2, 254]))
        );
    });
}

#[test]
fn unary_calls_without_a_deadline_get_the_servers_limit() {
    let h = Harness::start(Settings {
        unary_time_limit: Duration::from_millis(200),
        ..Settings::default()
    });
    let ch = h.channel();
    h.run(async {
        let started = Instant::now();
        let e = ch
            .call("/t.S/Slow", b"", &CallOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::DeadlineExceeded);
        assert!(started.elapsed() < Duration::from_secs(3));
    });
}

#[test]
fn shutdown_ends_streams_with_unavailable() {
    let h = Harness::start(Settings::default());
    let ch = h.channel();
    h.run(async {
        let (_tx, mut rx) = ch.open("/t.S/Endless", &long()).await.unwrap();
        rx.message().await.unwrap();
        h.shutdown.request();
        let e = loop {
            if let Err(e) = rx.message().await {
                break e;
            }
        };
        assert_eq!(e.code, Code::Unavailable, "{e}");
    });
}

#[test]
fn client_keepalive_gives_up_on_a_server_that_stops_answering() {
    // A server that completes TLS and HTTP/2 and then never polls its connection again:
    // no pongs, no responses (a hung process, a path that died).
    let ex: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
    let (server_tls, client_tls) = test_configs();
    let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    let hung = ex.spawn(async move {
        let (tcp, _): (Async<TcpStream>, _) = listener.accept().await.unwrap();
        let tls = futures_rustls::TlsAcceptor::from(server_tls)
            .accept(tcp)
            .await
            .unwrap();
        let connection = h2::server::handshake(crate::grpc::transport::io::TokioIo(tls))
            .await
            .unwrap();
        future::pending::<()>().await;
        drop(connection);
    });
    let mut settings = ClientSettings::new(&addr.to_string(), Some("localhost"), client_tls);
    settings.keepalive = Keepalive {
        interval: Duration::from_millis(100),
        timeout: Duration::from_millis(200),
    };
    let ch = Channel::new(settings, ex);
    async_io::block_on(ex.run(async {
        let started = Instant::now();
        let (_tx, mut rx) = ch
            .open("/t.S/Endless", &CallOptions::default())
            .await
            .unwrap();
        let e = rx.message().await.unwrap_err();
        assert_eq!(e.code, Code::Unavailable, "{e}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        drop(hung);
    }));
}

#[test]
fn streams_beyond_max_concurrent_streams_wait_for_a_free_one() {
    let h = Harness::start(Settings {
        max_concurrent_streams: 2,
        ..Settings::default()
    });
    let ch = h.channel();
    h.run(async {
        let mut open = Vec::new();
        for _ in 0..2 {
            let (tx, mut rx) = ch.open("/t.S/Endless", &long()).await.unwrap();
            rx.message().await.unwrap();
            open.push((tx, rx));
        }
        // The third is held back (by the client's h2, honouring the server's SETTINGS)...
        let (_tx, mut third) = ch.open("/t.S/Endless", &long()).await.unwrap();
        let early = future::or(async { Some(third.message().await) }, async {
            Timer::after(Duration::from_millis(500)).await;
            None
        })
        .await;
        assert!(early.is_none(), "a third stream ran beyond the limit of 2");
        // ...until one of the two ends.
        drop(open.remove(0));
        assert_eq!(third.message().await.unwrap().unwrap(), "tick");
    });
}
