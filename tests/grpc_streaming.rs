//! Streaming against grpcio, both directions. Our server (the library's, in this process, with
//! test handlers that speak raw bytes) is called by a grpcio client
//! (`tests/interop/streaming_checks.py`): client-streaming, bidi, metadata, cancel, deadline,
//! backpressure. Our client opens bidi `AgentStream` on the grpcio fake portal.

mod common;

use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use bytes::Bytes;
use common::grpc::{certs, python, Portal};
use common::TempDir;
use ocserv_agent::grpc::client::{CallOptions, Channel, Settings as ClientSettings};
use ocserv_agent::grpc::server::{serve_connection, InForce, Router, Settings, Shutdown};
use ocserv_agent::grpc::{client_config, server_config, TlsFiles};
use ocserv_agent::grpc::{Budget, Share};
use ocserv_agent::grpc::{Code, Status};
use ocserv_agent::grpc::{Metadata, Value};
use ocserv_agent::proto::agent::v1::ServerMessage;
use ocserv_agent::proto::agent::v1::{agent_message, server_message, AgentMessage, Heartbeat};
use prost::Message;
use std::cell::Cell;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

fn tls_files<'a>(ca: &'a Path, cert: &'a Path, key: &'a Path) -> TlsFiles<'a> {
    TlsFiles { ca, cert, key }
}

/// Test handlers. Counters live on the server's thread; `/t.S/Stats` reports them.
fn router(flooded: Rc<Cell<u32>>, dropped: Rc<Cell<u32>>) -> Router {
    struct CountDrop(Rc<Cell<u32>>);
    impl Drop for CountDrop {
        fn drop(&mut self) {
            self.0.set(self.0.get() + 1);
        }
    }
    let mut r = Router::new();
    // Client streaming: how many messages and bytes arrived.
    r.streaming("/t.S/Sum", |_call, mut requests, responses| async move {
        let (mut n, mut bytes) = (0, 0);
        while let Some(m) = requests.next().await? {
            n += 1;
            bytes += m.len();
        }
        responses.send(format!("{n} {bytes}").as_bytes()).await
    });
    // Bidi: each message back at once, upper-cased; request metadata x-tag echoed in the
    // headers, a binary trailer at the end.
    r.streaming("/t.S/Echo", |call, mut requests, responses| async move {
        if let Some(Value::Ascii(tag)) = call.metadata.get("x-tag") {
            let tag = tag.clone();
            call.response_headers().insert_ascii("x-tag", &tag).unwrap();
        }
        let mut n = 0u32;
        while let Some(m) = requests.next().await? {
            n += 1;
            responses.send(&m.to_ascii_uppercase()).await?;
        }
        call.response_trailers()
            .insert_binary("x-count-bin", &n.to_be_bytes())
            .unwrap();
        Ok(())
    });
    // 16 KiB messages for as long as the client takes them.
    let f = flooded.clone();
    r.streaming("/t.S/Flood", move |_call, _requests, responses| {
        let f = f.clone();
        async move {
            let chunk = vec![7u8; 16 * 1024];
            loop {
                responses.send(&chunk).await?;
                f.set(f.get() + 1);
            }
        }
    });
    // A message every 10 ms until cancelled; counts its cancellations.
    let d = dropped.clone();
    r.streaming("/t.S/Endless", move |_call, _requests, responses| {
        let guard = CountDrop(d.clone());
        async move {
            let _guard = guard;
            loop {
                responses.send(b"tick").await?;
                Timer::after(Duration::from_millis(10)).await;
            }
        }
    });
    r.unary("/t.S/Stats", move |_call, _msg| {
        let text = format!("{} {}", flooded.get(), dropped.get());
        async move { Ok(Bytes::from(text)) }
    });
    r.unary("/t.S/Fail", |_call, _msg| async move {
        Err(Status::new(Code::FailedPrecondition, "not now: 50% ✓"))
    });
    r
}

#[test]
fn grpcio_streams_against_our_server() {
    let dir = TempDir::new("stream-server");
    let pki = certs(&dir);
    let (ca, cert, key) = (
        pki.join("ca.pem"),
        pki.join("server.pem"),
        pki.join("server.key"),
    );
    let tls = server_config(tls_files(&ca, &cert, &key), false).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let ex: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
        let listener = Async::new(listener).unwrap();
        let router = Rc::new(router(Rc::default(), Rc::default()));
        // The server's own log goes to stderr, shown if the test fails.
        ocserv_agent::logger::init(
            ocserv_agent::config::LogTarget::Stderr,
            log::LevelFilter::Debug,
        );
        // Pongs get 60 s here, not 10. Once, under qemu-mips on a 2-core machine loaded by
        // other builds, the server dropped grpcio's connection after the flood check; a pong
        // later than 10 s is the likely cause (the log above now shows the server's reason).
        // Keepalive itself is tested in src/grpc/server_tests.rs.
        let settings = Rc::new(Settings {
            keepalive: ocserv_agent::grpc::Keepalive {
                interval: Duration::from_secs(30),
                timeout: Duration::from_secs(60),
            },
            ..Settings::default()
        });
        let shutdown = Rc::new(Shutdown::new());
        let in_force = Rc::new(InForce::new(settings, 0));
        async_io::block_on(ex.run(async {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let conn = serve_connection(
                    tcp,
                    tls.clone(),
                    router.clone(),
                    in_force.clone(),
                    Share::new(Budget::new(64 << 20)),
                    ex,
                    shutdown.clone(),
                );
                ex.spawn(conn).detach();
            }
        }))
    });
    let out = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/streaming_checks.py"
        ))
        .arg(addr.to_string())
        .arg(&pki)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(
        out.status.success(),
        "grpcio streaming checks failed:\n{text}"
    );
    assert!(text.contains(" passed, 0 failed"), "{text}");
}

/// Our client opens bidi AgentStream on the grpcio fake portal: heartbeats go up, the portal
/// answers each with a command naming the heartbeat's number.
#[test]
fn our_client_runs_agent_stream_against_grpcio() {
    let dir = TempDir::new("stream-client");
    let pki = certs(&dir);
    let portal = Portal::start(&pki);
    let port = portal.port;
    let (ca, cert, key) = (
        pki.join("ca.pem"),
        pki.join("client.pem"),
        pki.join("client.key"),
    );
    let tls = client_config(tls_files(&ca, &cert, &key), false).unwrap();
    let ex: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
    let channel = Channel::new(
        ClientSettings::new(&format!("127.0.0.1:{port}"), Some("localhost"), tls),
        ex,
    );
    let result = async_io::block_on(ex.run(async {
        let mut metadata = Metadata::new();
        metadata.insert_ascii("x-agent-id", "router-7").unwrap();
        let options = CallOptions {
            timeout: Some(Duration::from_secs(20)),
            metadata,
        };
        let (tx, mut rx) = channel
            .open("/agent.v1.AgentService/AgentStream", &options)
            .await?;
        for i in 0..20 {
            let beat = AgentMessage {
                agent_id: format!("router-7/{i}"),
                payload: Some(agent_message::Payload::Heartbeat(Heartbeat::default())),
                ..AgentMessage::default()
            };
            tx.send(&beat.encode_to_vec()).await?;
            // The answer to this heartbeat arrives before the next one is sent: real bidi.
            let reply = rx.message().await?.expect("a command per heartbeat");
            let reply = ServerMessage::decode(reply).unwrap();
            assert_eq!(reply.request_id, format!("router-7/{i}"));
            let Some(server_message::Payload::Command(command)) = reply.payload else {
                panic!("expected a command, got {reply:?}");
            };
            assert_eq!(command.args, ["show", "status"]);
        }
        assert_eq!(
            rx.headers().await?.get("x-portal"),
            Some(&Value::Ascii("fake".into()))
        );
        tx.close()?;
        assert_eq!(rx.message().await?, None);
        assert_eq!(
            rx.trailers().get("x-heartbeats"),
            Some(&Value::Ascii("20".into()))
        );
        Ok::<_, Status>(())
    }));
    drop(portal);
    result.unwrap();
}
