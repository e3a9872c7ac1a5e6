//! Our gRPC client against a fake portal on Python grpcio (an independent implementation):
//! vpn.v1.AuthService over mutual TLS. `tests/run.sh` provides grpcio (OCSERV_AGENT_PYTHON).

mod common;

use async_executor::LocalExecutor;
use bytes::Bytes;
use common::grpc::{certs, Portal};
use common::TempDir;
use ocserv_agent::grpc::client::{Channel, Settings};
use ocserv_agent::grpc::{client_config, TlsFiles};
use ocserv_agent::grpc::{Code, Status};
use ocserv_agent::proto::vpn::v1::{CheckPolicyRequest, CheckPolicyResponse};
use prost::Message;
use std::path::Path;
use std::time::{Duration, Instant};

const CHECK_POLICY: &str = "/vpn.v1.AuthService/CheckPolicy";

fn channel(pki: &Path, port: u16, ca: &str) -> Channel {
    let tls = client_config(
        TlsFiles {
            ca: &pki.join(ca),
            cert: &pki.join("client.pem"),
            key: &pki.join("client.key"),
        },
        false,
    )
    .unwrap();
    let mut settings = Settings::new(&format!("127.0.0.1:{port}"), Some("localhost"), tls);
    settings.connect_timeout = Duration::from_secs(2);
    Channel::new(settings, executor())
}

/// One executor per test thread, for the channel's connection tasks.
fn executor() -> &'static LocalExecutor<'static> {
    thread_local! {
        static EX: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
    }
    EX.with(|ex| *ex)
}

fn ask(user: &str) -> Vec<u8> {
    CheckPolicyRequest {
        username: user.into(),
        client_ip: "192.0.2.7".into(),
        ..CheckPolicyRequest::default()
    }
    .encode_to_vec()
}

/// Asks the portal about `user`, driving the channel's executor meanwhile.
fn check(ch: &Channel, user: &str, timeout: Duration) -> Result<Bytes, Status> {
    block(executor(), ch.unary(CHECK_POLICY, &ask(user), timeout))
}

/// Runs `f` while driving `ex`, where the channel's connection task lives.
fn block<T>(ex: &'static LocalExecutor<'static>, f: impl std::future::Future<Output = T>) -> T {
    async_io::block_on(ex.run(f))
}

#[test]
fn decisions_errors_deadlines_and_connection_reuse() {
    let dir = TempDir::new("client-main");
    let pki = certs(&dir);
    let portal = Portal::start(&pki);
    let ch = channel(&pki, portal.port, "ca.pem");
    let ex = executor();

    let alice = check(&ch, "alice", Duration::from_secs(5)).unwrap();
    let alice = CheckPolicyResponse::decode(alice).unwrap();
    assert!(alice.allowed);
    assert_eq!(alice.routes, ["10.0.0.0/8"]);
    assert_eq!(alice.metadata["client_ip"], "192.0.2.7");
    let again = check(&ch, "alice", Duration::from_secs(5)).unwrap();
    let again = CheckPolicyResponse::decode(again).unwrap();
    assert_eq!(
        alice.metadata["peer"], again.metadata["peer"],
        "the connection is reused"
    );

    let bob = check(&ch, "bob", Duration::from_secs(5)).unwrap();
    let bob = CheckPolicyResponse::decode(bob).unwrap();
    assert!(!bob.allowed);
    assert_eq!(bob.deny_reason, "not today");

    let e = check(&ch, "broken", Duration::from_secs(5)).unwrap_err();
    assert_eq!(
        (e.code, e.message.as_str()),
        (Code::Unavailable, "portal database down")
    );

    let started = Instant::now();
    let e = check(&ch, "slow", Duration::from_millis(300)).unwrap_err();
    assert_eq!(e.code, Code::DeadlineExceeded);
    assert!(started.elapsed() < Duration::from_millis(1500));

    let e = block(
        ex,
        ch.unary(
            "/vpn.v1.AuthService/Nope",
            &ask("x"),
            Duration::from_secs(5),
        ),
    )
    .unwrap_err();
    assert_eq!(e.code, Code::Unimplemented);

    // Still usable after all that.
    assert!(check(&ch, "carol", Duration::from_secs(5)).is_ok());
}

#[test]
fn a_server_we_do_not_trust_is_unavailable() {
    let dir = TempDir::new("client-trust");
    let pki = certs(&dir);
    let portal = Portal::start(&pki);
    let ch = channel(&pki, portal.port, "other-ca.pem");
    let e = check(&ch, "alice", Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert!(e.message.contains("TLS"), "{}", e.message);
}

#[test]
fn a_down_portal_is_unavailable_and_retries_back_off() {
    let dir = TempDir::new("client-down");
    let pki = certs(&dir);
    // A port nobody listens on: bind, note, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let ch = channel(&pki, port, "ca.pem");
    let e = check(&ch, "alice", Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert!(e.message.contains("cannot connect"), "{}", e.message);
    // Within the backoff, the next call fails at once and says when it will try again.
    let started = Instant::now();
    let e = check(&ch, "alice", Duration::from_secs(5)).unwrap_err();
    assert_eq!(e.code, Code::Unavailable);
    assert!(e.message.contains("next attempt in"), "{}", e.message);
    assert!(started.elapsed() < Duration::from_millis(50));
}
