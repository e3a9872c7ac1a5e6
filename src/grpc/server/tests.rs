//! Server tests in one process: a real TCP listener, real mutual TLS, and an h2 client.

use super::*;
use crate::grpc::server::{Access, Call, InForce, Router, Settings, Shutdown};
use crate::grpc::transport::keepalive::Keepalive;
use crate::grpc::transport::tls::{
    client_config, server_config, test_certs, test_configs, TlsFiles,
};
use crate::grpc::wire::budget::Budget;
use crate::grpc::wire::frame::{self, Decoder};
use crate::grpc::wire::status::{Code, Status};
use bytes::{Bytes, BytesMut};
use futures_rustls::TlsConnector;
use h2::client::SendRequest;
use http::{HeaderMap, Request, StatusCode};
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::time::Instant;

thread_local! {
    /// Handlers of /test.v1.Echo/Track that ran to the end, on this test's thread.
    static FINISHED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// What the client saw: HTTP status, response headers, messages, trailers.
struct Seen {
    http: StatusCode,
    headers: HeaderMap,
    messages: Vec<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Seen {
    /// grpc-status from the trailers, or from the headers of a trailers-only response.
    fn code(&self) -> Option<Code> {
        let map = self.trailers.as_ref().unwrap_or(&self.headers);
        map.get("grpc-status")
            .and_then(|v| Code::from_header(v.as_bytes()))
    }

    fn message(&self) -> String {
        let map = self.trailers.as_ref().unwrap_or(&self.headers);
        map.get("grpc-message")
            .map(|v| crate::grpc::wire::status::decode_message(v.as_bytes()))
            .unwrap_or_default()
    }
}

fn router() -> Router {
    let mut r = Router::new();
    r.unary("/test.v1.Echo/Echo", |call: Call, msg: Bytes| async move {
        if call.metadata.get("x-fail").is_some() {
            return Err(Status::new(Code::InvalidArgument, "told to fail: 100% ✓"));
        }
        Ok(msg)
    });
    r.unary("/test.v1.Echo/Slow", |_call, msg| async move {
        Timer::after(Duration::from_millis(1000)).await;
        Ok(msg)
    });
    r.unary("/test.v1.Echo/Track", |_call, msg| async move {
        Timer::after(Duration::from_millis(150)).await;
        FINISHED.with(|f| f.set(f.get() + 1));
        Ok(msg)
    });
    r.unary_for(
        Access::AnyClient,
        "/test.v1.Echo/Who",
        |call: Call, _| async move {
            Ok(Bytes::from(format!(
                "{} allowed={}",
                call.peer, call.peer_allowed
            )))
        },
    );
    r
}

/// An executor that lives as long as the process, as the server wants (like the daemon's).
fn leaked_executor() -> &'static LocalExecutor<'static> {
    Box::leak(Box::new(LocalExecutor::new()))
}

/// Listens on a free loopback port, spawns a server for the first connection, and connects a
/// TLS client to it. Returns the server's task and the client's TLS stream.
async fn start_one(
    ex: &'static LocalExecutor<'static>,
    server_tls: Arc<ServerConfig>,
    client_tls: Arc<ClientConfig>,
    settings: Rc<Settings>,
    shutdown: Rc<Shutdown>,
) -> (
    async_executor::Task<()>,
    futures_rustls::client::TlsStream<Async<TcpStream>>,
) {
    let listener = Async::new(TcpListener::bind("127.0.0.1:0").unwrap()).unwrap();
    let addr = listener.get_ref().local_addr().unwrap();
    let server = ex.spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        serve_connection(
            tcp,
            server_tls,
            Rc::new(router()),
            Rc::new(InForce::new(settings, 0)),
            Share::new(Budget::new(64 << 20)),
            ex,
            shutdown,
        )
        .await;
    });
    let tcp = Async::<TcpStream>::connect(addr).await.unwrap();
    let tls = TlsConnector::from(client_tls)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    (server, tls)
}

/// Whether `task` finishes within `wait`.
async fn finishes_within(task: async_executor::Task<()>, wait: Duration) -> bool {
    future::or(
        async {
            task.await;
            true
        },
        async {
            Timer::after(wait).await;
            false
        },
    )
    .await
}

/// Starts a server for one connection and a client; runs `test` with the client.
fn with_server<T>(allowed: &[&str], client_cert: &str, test: T)
where
    T: for<'a> FnOnce(&'a mut SendRequest<Bytes>) -> Pin<Box<dyn Future<Output = ()> + 'a>>,
{
    let d = test_certs();
    let server_tls = server_config(
        TlsFiles {
            ca: &d.join("ca.pem"),
            cert: &d.join("server.pem"),
            key: &d.join("server.key"),
        },
        false,
    )
    .unwrap();
    let client_tls = client_config(
        TlsFiles {
            ca: &d.join("ca.pem"),
            cert: &d.join(format!("{client_cert}.pem")),
            key: &d.join(format!("{client_cert}.key")),
        },
        false,
    )
    .unwrap();
    let settings = Rc::new(Settings {
        max_message: 1024,
        allowed_clients: allowed.iter().map(|s| s.to_string()).collect(),
        ..Settings::default()
    });
    let ex = leaked_executor();
    async_io::block_on(ex.run(async {
        let shutdown = Rc::new(Shutdown::new());
        let (server, tls) = start_one(ex, server_tls, client_tls, settings, shutdown).await;
        let (mut send, connection) = h2::client::handshake(TokioIo(tls)).await.unwrap();
        let conn_task = ex.spawn(async move {
            let _ = connection.await;
        });
        test(&mut send).await;
        drop(send);
        drop(conn_task);
        drop(server);
    }));
}

fn framed(msg: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    frame::encode(msg, &mut b);
    b.freeze()
}

async fn call(
    send: &mut SendRequest<Bytes>,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Seen {
    let mut req = Request::builder()
        .method("POST")
        .uri(format!("https://localhost{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let ready = future::poll_fn(|cx| send.poll_ready(cx)).await;
    ready.unwrap();
    let (response, mut stream) = send.send_request(req.body(()).unwrap(), false).unwrap();
    stream.send_data(body, true).unwrap();
    let response = response.await.unwrap();
    let (parts, mut body) = response.into_parts();
    let mut decoder = Decoder::new(1 << 20);
    let mut messages = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        let _ = body.flow_control().release_capacity(chunk.len());
        decoder.push(&chunk);
        while let Some(m) = decoder.next_message().unwrap() {
            messages.push(m);
        }
    }
    let trailers = body.trailers().await.unwrap();
    Seen {
        http: parts.status,
        headers: parts.headers,
        messages,
        trailers,
    }
}

#[test]
fn unary_round_trip_with_status_ok() {
    with_server(&[], "client", |send| {
        Box::pin(async move {
            let seen = call(send, "/test.v1.Echo/Echo", &[], framed(b"hello")).await;
            assert_eq!(seen.http, StatusCode::OK);
            assert_eq!(seen.headers["content-type"], "application/grpc");
            assert_eq!(seen.messages, [Bytes::from_static(b"hello")]);
            assert_eq!(seen.code(), Some(Code::Ok));
            // The connection serves further calls.
            let again = call(send, "/test.v1.Echo/Echo", &[], framed(b"")).await;
            assert_eq!(again.messages, [Bytes::new()]);
        })
    });
}

#[test]
fn handler_errors_travel_as_trailers_only_with_an_encoded_message() {
    with_server(&[], "client", |send| {
        Box::pin(async move {
            let seen = call(send, "/test.v1.Echo/Echo", &[("x-fail", "1")], framed(b"x")).await;
            assert!(seen.trailers.is_none(), "trailers-only response");
            assert_eq!(seen.code(), Some(Code::InvalidArgument));
            assert_eq!(seen.message(), "told to fail: 100% ✓");
        })
    });
}

/// (what, extra headers, body, expected status) of a call that must fail before the handler.
type EarlyError = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Bytes,
    Code,
);

#[test]
fn early_errors() {
    with_server(&[], "client", |send| {
        Box::pin(async move {
            let seen = call(send, "/test.v1.Echo/Nope", &[], framed(b"x")).await;
            assert_eq!(seen.code(), Some(Code::Unimplemented));
            assert!(seen.message().contains("unknown method /test.v1.Echo/Nope"));

            let mut compressed = framed(b"abc").to_vec();
            compressed[0] = 1;
            let two = [framed(b"a"), framed(b"b")].concat();
            let cases: Vec<EarlyError> = vec![
                (
                    "oversized",
                    &[],
                    framed(&[0u8; 2000]),
                    Code::ResourceExhausted,
                ),
                (
                    "compressed flag",
                    &[],
                    compressed.into(),
                    Code::Unimplemented,
                ),
                (
                    "gzip encoding",
                    &[("grpc-encoding", "gzip")],
                    framed(b"x"),
                    Code::Unimplemented,
                ),
                (
                    "malformed timeout",
                    &[("grpc-timeout", "soon")],
                    framed(b"x"),
                    Code::Internal,
                ),
                (
                    "truncated message",
                    &[],
                    Bytes::from_static(b"\0\0\0\0\x09abc"),
                    Code::Internal,
                ),
                (
                    "two messages in a unary call",
                    &[],
                    two.into(),
                    Code::Unimplemented,
                ),
            ];
            for (what, headers, body, code) in cases {
                let seen = call(send, "/test.v1.Echo/Echo", headers, body).await;
                assert_eq!(seen.code(), Some(code), "{what}");
            }
        })
    });
}

#[test]
fn a_non_grpc_content_type_gets_http_415() {
    with_server(&[], "client", |send| {
        Box::pin(async move {
            let req = Request::builder()
                .method("POST")
                .uri("https://localhost/test.v1.Echo/Echo")
                .header("content-type", "application/json")
                .body(())
                .unwrap();
            future::poll_fn(|cx| send.poll_ready(cx)).await.unwrap();
            let (response, _) = send.send_request(req, true).unwrap();
            let response = response.await.unwrap();
            assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
            assert!(response.headers().get("grpc-status").is_none());
        })
    });
}

#[test]
fn the_deadline_is_enforced() {
    with_server(&[], "client", |send| {
        Box::pin(async move {
            let started = Instant::now();
            let seen = call(
                send,
                "/test.v1.Echo/Slow",
                &[("grpc-timeout", "50m")],
                framed(b"x"),
            )
            .await;
            assert_eq!(seen.code(), Some(Code::DeadlineExceeded));
            assert!(
                started.elapsed() < Duration::from_millis(800),
                "the handler was not cut short (generous margin: tests also run under qemu)"
            );
            let seen = call(
                send,
                "/test.v1.Echo/Slow",
                &[("grpc-timeout", "5S")],
                framed(b"x"),
            )
            .await;
            assert_eq!(seen.code(), Some(Code::Ok));
        })
    });
}

#[test]
fn handlers_learn_who_called_and_whether_they_are_allowed() {
    with_server(&["spiffe://portal/ctl"], "client", |send| {
        Box::pin(async move {
            let seen = call(send, "/test.v1.Echo/Who", &[], framed(b"")).await;
            let text = String::from_utf8(seen.messages[0].to_vec()).unwrap();
            assert_eq!(
                text,
                "DNS:portal.example, URI:spiffe://portal/ctl, CN=portal-client allowed=true"
            );
        })
    });
    with_server(&["someone-else"], "client", |send| {
        Box::pin(async move {
            let seen = call(send, "/test.v1.Echo/Who", &[], framed(b"")).await;
            assert!(String::from_utf8_lossy(&seen.messages[0]).ends_with("allowed=false"));
        })
    });
}

/// A method for allow-listed clients, called by a peer off the list: PERMISSION_DENIED comes
/// back on the headers alone, while the request body is still open and not one byte of it has
/// been sent, so nothing of it is ever buffered; the handler never runs.
#[test]
fn a_caller_off_the_allow_list_is_refused_at_the_headers() {
    with_server(&["someone-else"], "client", |send| {
        Box::pin(async move {
            let req = Request::builder()
                .method("POST")
                .uri("https://localhost/test.v1.Echo/Track")
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .unwrap();
            future::poll_fn(|cx| send.poll_ready(cx)).await.unwrap();
            let (response, _body_left_open) = send.send_request(req, false).unwrap();
            let answered = future::or(async { Some(response.await.unwrap()) }, async {
                Timer::after(Duration::from_secs(10)).await;
                None
            })
            .await
            .expect("an answer without the body");
            assert_eq!(answered.headers()["grpc-status"], "7");
            let message = answered.headers()["grpc-message"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(message.contains("not on grpc.allowed_client"), "{message}");
            assert_eq!(FINISHED.with(|f| f.get()), 0, "the handler never ran");
        })
    });
}

#[test]
fn a_client_reset_cancels_the_handler() {
    with_server(&[], "client", |send| {
        Box::pin(async move {
            let req = Request::builder()
                .method("POST")
                .uri("https://localhost/test.v1.Echo/Track")
                .header("content-type", "application/grpc")
                .body(())
                .unwrap();
            future::poll_fn(|cx| send.poll_ready(cx)).await.unwrap();
            let (_response, mut stream) = send.send_request(req, false).unwrap();
            stream.send_data(framed(b"x"), true).unwrap();
            Timer::after(Duration::from_millis(30)).await;
            stream.send_reset(h2::Reason::CANCEL);
            Timer::after(Duration::from_millis(300)).await;
            assert_eq!(
                FINISHED.with(|f| f.get()),
                0,
                "the handler ran on after the reset"
            );
            // The same handler, not cancelled, finishes: the counter does count.
            let seen = call(send, "/test.v1.Echo/Track", &[], framed(b"y")).await;
            assert_eq!(seen.code(), Some(Code::Ok));
            assert_eq!(FINISHED.with(|f| f.get()), 1);
        })
    });
}

/// Serves one connection with `settings`; the client completes TLS and h2, then either keeps
/// polling its connection (answering pings) or goes silent. Returns whether the server closed
/// the connection within `wait`.
fn server_closes_connection(
    settings: Settings,
    client_answers_pings: bool,
    wait: Duration,
) -> bool {
    let (server_tls, client_tls) = test_configs();
    let ex = leaked_executor();
    async_io::block_on(ex.run(async {
        let shutdown = Rc::new(Shutdown::new());
        let (server, tls) =
            start_one(ex, server_tls, client_tls, Rc::new(settings), shutdown).await;
        let (send, connection) = h2::client::handshake(TokioIo(tls)).await.unwrap();
        let _client = client_answers_pings.then(|| {
            ex.spawn(async move {
                let _ = connection.await;
            })
        });
        let closed = finishes_within(server, wait).await;
        drop(send);
        closed
    }))
}

#[test]
fn keepalive_pings_drop_a_silent_client_and_keep_a_live_one() {
    let quick = || Settings {
        keepalive: Keepalive {
            interval: Duration::from_millis(50),
            timeout: Duration::from_millis(100),
        },
        ..Settings::default()
    };
    assert!(
        server_closes_connection(quick(), false, Duration::from_secs(3)),
        "a client that never answers pings must be dropped"
    );
    assert!(
        !server_closes_connection(quick(), true, Duration::from_millis(600)),
        "a client that answers pings must stay connected"
    );
}

#[test]
fn a_client_that_never_speaks_http2_is_dropped_after_the_handshake_timeout() {
    let (server_tls, client_tls) = test_configs();
    let ex = leaked_executor();
    let settings = Rc::new(Settings {
        handshake_timeout: Duration::from_millis(200),
        ..Settings::default()
    });
    let closed = async_io::block_on(ex.run(async {
        let shutdown = Rc::new(Shutdown::new());
        // TLS comes up; no HTTP/2 preface follows.
        let (server, _tls) = start_one(ex, server_tls, client_tls, settings, shutdown).await;
        finishes_within(server, Duration::from_secs(3)).await
    }));
    assert!(closed, "the silent connection was not dropped");
}

#[test]
fn graceful_shutdown_finishes_calls_in_flight_then_closes() {
    let (server_tls, client_tls) = test_configs();
    let ex = leaked_executor();
    let shutdown = Rc::new(Shutdown::new());
    async_io::block_on(ex.run(async {
        let settings = Rc::new(Settings::default());
        let (server, tls) = start_one(ex, server_tls, client_tls, settings, shutdown.clone()).await;
        let (mut send, connection) = h2::client::handshake(TokioIo(tls)).await.unwrap();
        let _driver = ex.spawn(async move {
            let _ = connection.await;
        });
        let slow = ex.spawn(async move {
            call(&mut send, "/test.v1.Echo/Slow", &[], framed(b"in flight")).await
        });
        Timer::after(Duration::from_millis(100)).await;
        shutdown.request();
        let seen = slow.await;
        assert_eq!(
            seen.code(),
            Some(Code::Ok),
            "the call in flight must finish"
        );
        assert_eq!(seen.messages, [Bytes::from_static(b"in flight")]);
        assert!(
            finishes_within(server, Duration::from_secs(3)).await,
            "the connection should close once its calls are done"
        );
    }));
}

#[test]
fn shutdown_waiters_do_not_pile_up() {
    let shutdown = Shutdown::new();
    async_io::block_on(async {
        for _ in 0..1000 {
            let r = future::poll_once(shutdown.requested()).await;
            assert!(r.is_none());
        }
        assert_eq!(shutdown.waiting(), 0, "dropped futures left their wakers");
        let waiting = shutdown.requested();
        let mut waiting = std::pin::pin!(waiting);
        assert!(future::poll_once(waiting.as_mut()).await.is_none());
        assert!(future::poll_once(waiting.as_mut()).await.is_none());
        assert_eq!(shutdown.waiting(), 1);
        shutdown.request();
        assert_eq!(future::poll_once(waiting.as_mut()).await, Some(()));
        assert_eq!(future::poll_once(shutdown.requested()).await, Some(()));
    });
}
