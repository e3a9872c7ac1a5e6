//! The real daemon's gRPC endpoint against Python grpcio, an independent implementation.
//! `tests/run.sh` (the README's test command) provides grpcio and sets OCSERV_AGENT_PYTHON.

mod common;

use common::grpc::{certs, grpc_address, python};
use common::{Daemon, TempDir, SIGHUP};
use std::path::{Path, PathBuf};
use std::process::Command;

const PROTO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/agent_checks.py");

/// The daemon's config, the grpc section last (tests add to it); its syslog (for StreamLogs `ocserv` / `system`) is a file with two of
/// ocserv's lines and one of dnsmasq's (agent_checks.py knows them).
fn grpc_config(dir: &TempDir, pki: &Path) -> PathBuf {
    let syslog = dir.write(
        "syslog",
        "Nov 26 10:00:00 router ocserv[12]: main: added user 'alice'\n\
         Nov 26 10:00:01 router dnsmasq[7]: query A example.net\n\
         2030-01-01T00:00:00Z router ocserv[12]: worker: a line from the future\n",
    );
    let text = format!(
        "{}\toption log_level debug\nconfig ocserv 'ocserv'\n\toption logread '{}'\n\toption syslog_file '{}'\nconfig grpc 'grpc'\n\toption enabled 1\n\toption listen '127.0.0.1:0'\n\toption ca '{}'\n\toption cert '{}'\n\toption key '{}'\n",
        common::config_text(dir, ""),
        dir.path("no-logread").display(),
        syslog.display(),
        pki.join("ca.pem").display(),
        pki.join("server.pem").display(),
        pki.join("server.key").display(),
    );
    dir.write("c", &text)
}

/// Our own gRPC client to the daemon at `address`, with the test PKI's client certificate, on
/// an executor that lives as long as the test process; calls get 10 s.
fn our_client(
    pki: &Path,
    address: &str,
) -> (
    &'static async_executor::LocalExecutor<'static>,
    ocserv_agent::grpc::client::Channel,
    ocserv_agent::grpc::client::CallOptions,
) {
    use ocserv_agent::grpc::client::{CallOptions, Channel, Settings};
    use ocserv_agent::grpc::{client_config, TlsFiles};
    let tls = client_config(
        TlsFiles {
            ca: &pki.join("ca.pem"),
            cert: &pki.join("client.pem"),
            key: &pki.join("client.key"),
        },
        false,
    )
    .unwrap();
    let ex = Box::leak(Box::new(async_executor::LocalExecutor::new()));
    let channel = Channel::new(Settings::new(address, Some("localhost"), tls), ex);
    let options = CallOptions {
        timeout: Some(std::time::Duration::from_secs(10)),
        ..CallOptions::default()
    };
    (ex, channel, options)
}

/// The address the daemon logged for its gRPC endpoint (it listens on port 0).
fn run_client(python: &str, address: &str, pki: &Path, quick: bool) -> (bool, String) {
    let mut cmd = Command::new(python);
    cmd.arg(SCRIPT).arg(address).arg(pki).arg(PROTO);
    if quick {
        cmd.arg("quick");
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn grpcio_calls_the_real_daemon() {
    let python = python();
    let dir = TempDir::new("grpcio");
    let pki = certs(&dir);
    let config = grpc_config(&dir, &pki);
    let d = Daemon::start(&config);
    let address = grpc_address(&d);
    let (ok, output) = run_client(&python, &address, &pki, false);
    println!("{output}");
    assert!(
        ok,
        "grpcio checks failed:\n{output}\ndaemon log:\n{}",
        d.stderr()
    );
    assert!(output.contains(" passed, 0 failed"), "{output}");
}

#[test]
fn a_bad_certificate_on_reload_keeps_the_old_one() {
    let python = python();
    let dir = TempDir::new("grpc-reload");
    let pki = certs(&dir);
    let config = grpc_config(&dir, &pki);
    let d = Daemon::start(&config);
    let address = grpc_address(&d);
    // Break the server key on disk, then reload.
    std::fs::write(pki.join("server.key"), "not a key").unwrap();
    d.signal(SIGHUP);
    d.wait_stderr("grpc: reload refused, the previous certificates stay");
    assert!(d.stderr().contains("server.key"), "{}", d.stderr());
    let (ok, output) = run_client(&python, &address, &pki, true);
    assert!(ok, "the old certificate should still serve:\n{output}");
}

#[test]
fn a_missing_certificate_at_start_is_named() {
    let dir = TempDir::new("grpc-missing");
    let pki = certs(&dir);
    std::fs::remove_file(pki.join("server.pem")).unwrap();
    let config = grpc_config(&dir, &pki);
    let mut d = Daemon::spawn(&config);
    assert_eq!(d.wait_exit().code(), Some(1));
    let err = d.stderr();
    assert!(err.contains("server.pem"), "{err}");
}

#[test]
fn sigterm_with_grpc_enabled_stops_cleanly() {
    let dir = TempDir::new("grpc-term");
    let pki = certs(&dir);
    let config = grpc_config(&dir, &pki);
    let mut d = Daemon::start(&config);
    let address = grpc_address(&d);
    let _idle = std::net::TcpStream::connect(&address).unwrap();
    d.signal(common::SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
    assert!(d.stderr().contains("stopping (SIGTERM)"), "{}", d.stderr());
}

/// A client whose certificate is valid but not on `allowed_client` may check health, not read
/// the logs or the session list (they name users and addresses). Our own client this time,
/// against the real daemon.
#[test]
fn logs_are_for_allow_listed_clients_only() {
    use ocserv_agent::grpc::Code;

    use ocserv_agent::proto::agent::v1::{HealthCheckRequest, LogStreamRequest};
    use prost::Message;

    let dir = TempDir::new("grpc-allow");
    let pki = certs(&dir);
    let config = grpc_config(&dir, &pki);
    let text = std::fs::read_to_string(&config).unwrap()
        + "\tlist allowed_client 'someone.else.example'\n";
    std::fs::write(&config, text).unwrap();
    let d = Daemon::start(&config);
    let address = grpc_address(&d);
    let (ex, channel, options) = our_client(&pki, &address);
    async_io::block_on(ex.run(async {
        let health = HealthCheckRequest { tier: 1 }.encode_to_vec();
        channel
            .call("/agent.v1.AgentService/HealthCheck", &health, &options)
            .await
            .expect("health is for every authenticated client");
        let (tx, mut rx) = channel
            .open("/agent.v1.AgentService/StreamLogs", &options)
            .await
            .unwrap();
        // The server may refuse before the request arrives (the stream is then closed and the
        // send fails): the status is what counts.
        if tx
            .send(&LogStreamRequest::default().encode_to_vec())
            .await
            .is_ok()
        {
            let _ = tx.close();
        }
        let e = rx.message().await.unwrap_err();
        assert_eq!(e.code, Code::PermissionDenied, "{e}");
        assert!(e.message.contains("allowed_client"), "{e}");
        // The session list names users and their addresses: allow-listed clients only too.
        let e = channel
            .call("/agent.v1.VPNAgentService/GetActiveSessions", &[], &options)
            .await
            .unwrap_err();
        assert_eq!(e.code, Code::PermissionDenied, "{e}");
    }));
}

/// Failed handshakes cost one log line per 10 s, with a count, not one each: anyone who reaches
/// the port can fail hundreds a second, and every line goes to logd.
#[test]
fn failed_handshakes_are_logged_once_per_interval() {
    use std::io::Write;
    let dir = TempDir::new("grpc-handshake-log");
    let pki = certs(&dir);
    let config = grpc_config(&dir, &pki);
    let d = Daemon::start(&config);
    let address = grpc_address(&d);
    for _ in 0..40 {
        let mut s = std::net::TcpStream::connect(&address).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
    // A client that still completes its handshake is served and logged as usual.
    let out = Command::new(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/agent_call.py"
        ))
        .args([
            &address,
            pki.to_str().unwrap(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/proto"),
        ])
        .args(["health", "1"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = d.stderr();
    let lines = log.matches("gRPC TLS handshake with").count();
    assert_eq!(lines, 1, "{log}");
}

/// A reload that takes a client off grpc.allowed_client applies to its open connection: the
/// connection gets GOAWAY, and its next call is judged by the list in force.
#[test]
fn a_reload_applies_the_allow_list_to_open_connections() {
    use ocserv_agent::grpc::Code;

    let dir = TempDir::new("grpc-reload-allow");
    let pki = certs(&dir);
    let config = grpc_config(&dir, &pki);
    let base = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        base.clone() + "\tlist allowed_client 'portal.example'\n",
    )
    .unwrap();
    let d = Daemon::start(&config);
    let address = grpc_address(&d);
    let (ex, channel, options) = our_client(&pki, &address);
    const SESSIONS: &str = "/agent.v1.VPNAgentService/GetActiveSessions";
    async_io::block_on(ex.run(async {
        // Listed: the call reaches the handler (no ocserv here, so UNAVAILABLE).
        let e = channel.call(SESSIONS, &[], &options).await.unwrap_err();
        assert_eq!(e.code, Code::Unavailable, "{e}");
    }));
    std::fs::write(
        &config,
        base + "\tlist allowed_client 'someone.else.example'\n",
    )
    .unwrap();
    d.signal(SIGHUP);
    d.wait_stderr("GOAWAY, its client is no longer on grpc.allowed_client");
    async_io::block_on(ex.run(async {
        // A call that raced the GOAWAY was refused unprocessed: UNAVAILABLE, and the next one
        // goes out on a new connection. Never INTERNAL, never served under the old list.
        for attempt in 0..3 {
            let e = channel.call(SESSIONS, &[], &options).await.unwrap_err();
            if e.code == Code::PermissionDenied {
                return;
            }
            assert_eq!(e.code, Code::Unavailable, "attempt {attempt}: {e}");
        }
        panic!("never judged by the new allow-list");
    }));
}

/// A reload with new certificate files sends GOAWAY to connections made under the old ones;
/// one that only re-reads the same files leaves them alone.
#[test]
fn new_certificates_apply_to_open_connections() {
    use ocserv_agent::grpc::client::Channel;

    let dir = TempDir::new("grpc-reload-certs");
    let pki = certs(&dir);
    let config = grpc_config(&dir, &pki);
    let d = Daemon::start(&config);
    let address = grpc_address(&d);
    let (ex, channel, options) = our_client(&pki, &address);
    let health = |channel: &Channel| {
        let request = [0x08, 0x01]; // HealthCheckRequest { tier: 1 }
        async_io::block_on(ex.run(channel.call(
            "/agent.v1.AgentService/HealthCheck",
            &request,
            &options,
        )))
    };
    health(&channel).expect("healthy");
    d.signal(SIGHUP);
    d.wait_stderr("grpc: certificates and allowed clients reloaded");
    health(&channel).expect("the same files: the same connection serves on");
    assert!(
        !d.stderr().contains("GOAWAY, the certificates changed"),
        "{}",
        d.stderr()
    );
    // New files (another CA): the open connection is told to go.
    let other = dir.path("pki2");
    let st = Command::new("sh")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gen-certs.sh"))
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(pki.to_str().unwrap(), other.to_str().unwrap());
    std::fs::write(&config, text).unwrap();
    d.signal(SIGHUP);
    d.wait_stderr("GOAWAY, the certificates changed");
}
