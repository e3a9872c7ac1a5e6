//! The real daemon against peers that do not play by the rules, driven by a raw HTTP/2 client
//! (tests/interop/raw_h2.py, the `h2` package): floods of unfinished messages from clients on
//! and off `grpc.allowed_client`. What must hold: memory stays within the request budget, the
//! flood's streams get the status the rules name, and an allowed client is served throughout.

mod common;

use common::grpc::{certs, grpc_address, python};
use common::{config_text, Daemon, TempDir};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const RAW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/raw_h2.py");
const UPDATE_CONFIG: &str = "/agent.v1.AgentService/UpdateConfig";
const HEALTH: &str = "/agent.v1.AgentService/HealthCheck";

/// A daemon serving gRPC with the test PKI; only `listed.example` is on the allow-list (the
/// PKI's `client` certificate is CA-signed but not listed). `extra` goes in the grpc section.
fn grpc_daemon(dir: &TempDir, pki: &Path, extra: &str) -> (Daemon, String) {
    let text = format!(
        "{}config grpc 'grpc'\n\toption enabled 1\n\toption listen '127.0.0.1:0'\n\toption ca '{}'\n\toption cert '{}'\n\toption key '{}'\n\tlist allowed_client 'listed.example'\n{extra}",
        config_text(dir, ""),
        pki.join("ca.pem").display(),
        pki.join("server.pem").display(),
        pki.join("server.key").display(),
    );
    let d = Daemon::start(&dir.write("c", &text));
    let address = grpc_address(&d);
    (d, address)
}

fn raw(address: &str, pki: &Path, cert: &str) -> Command {
    let mut c = Command::new(python());
    c.arg(RAW).arg(address).arg(pki).arg(cert);
    c
}

/// A tier-1 HealthCheck as `cert`; the grpc-status it got.
fn health(address: &str, pki: &Path, cert: &str) -> String {
    let out = raw(address, pki, cert)
        .args(["call", HEALTH, "0801"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A flood running: started, and every stream open.
struct Flood {
    child: Child,
    out: BufReader<std::process::ChildStdout>,
}

impl Flood {
    fn start(address: &str, pki: &Path, cert: &str, shape: [usize; 3], path: &str) -> Flood {
        let [conns, streams, bytes] = shape.map(|n| n.to_string());
        let mut child = raw(address, pki, cert)
            .args(["flood", &conns, &streams, &bytes, path, "3"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the flood did not start");
        Flood { child, out }
    }

    /// Waits for the flood's end; its JSON summary.
    fn finish(mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert!(self.child.wait().unwrap().success());
        line
    }
}

/// The daemon's resident memory in KiB.
fn rss_kib(d: &Daemon) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The issue's reproduction: 6 connections x 20 streams, each an unfinished 4 MiB UpdateConfig,
/// from a CA-signed client that is not on the allow-list. Every stream is refused at its
/// headers (PERMISSION_DENIED) before a body byte is buffered; memory stays flat; the listed
/// client's calls are served meanwhile. The same client's health checks (open to it) may not
/// carry more than 4 KiB: a big one is RESOURCE_EXHAUSTED.
#[test]
fn an_unlisted_flood_is_refused_at_its_headers() {
    let dir = TempDir::new("hostile-unlisted");
    let pki = certs(&dir);
    let (d, address) = grpc_daemon(&dir, &pki, "");
    assert_eq!(health(&address, &pki, "listed"), "0");
    let before = rss_kib(&d);
    let flood = Flood::start(&address, &pki, "client", [6, 20, 4 << 20], UPDATE_CONFIG);
    assert_eq!(health(&address, &pki, "listed"), "0");
    let during = rss_kib(&d);
    let summary = flood.finish();
    assert!(summary.contains(r#""codes": {"7": 120}"#), "{summary}");
    assert!(summary.contains(r#""unanswered": 0"#), "{summary}");
    assert!(
        during < before + 16 * 1024,
        "RSS grew from {before} to {during} KiB"
    );

    let flood = Flood::start(&address, &pki, "client", [2, 5, 1 << 20], HEALTH);
    assert_eq!(health(&address, &pki, "listed"), "0");
    let summary = flood.finish();
    assert!(summary.contains(r#""codes": {"8": 10}"#), "{summary}");
    // Its own small health checks are still answered.
    assert_eq!(health(&address, &pki, "client"), "0");
}

/// A listed client's unfinished messages are charged to grpc.request_budget (here 1 MiB, at
/// most half of it on one connection): on each of two connections one 500,000-byte message
/// fits and the others are RESOURCE_EXHAUSTED at once; the two that fit wait for their last
/// byte, holding the budget; small calls still go through.
#[test]
fn a_listed_flood_is_held_to_the_request_budget() {
    let dir = TempDir::new("hostile-budget");
    let pki = certs(&dir);
    let (d, address) = grpc_daemon(
        &dir,
        &pki,
        "\toption request_budget 1048576\n\toption max_message_size 524288\n",
    );
    let before = rss_kib(&d);
    let flood = Flood::start(&address, &pki, "listed", [2, 4, 500_000], UPDATE_CONFIG);
    assert_eq!(health(&address, &pki, "listed"), "0");
    let during = rss_kib(&d);
    let summary = flood.finish();
    assert!(summary.contains(r#""codes": {"8": 6}"#), "{summary}");
    assert!(summary.contains(r#""unanswered": 2"#), "{summary}");
    assert!(
        during < before + 16 * 1024,
        "RSS grew from {before} to {during} KiB"
    );
    // The flood is gone, and with it its charges: a full-size message fits again (its stream
    // then fails on the content, which is not a config: anything but RESOURCE_EXHAUSTED).
    let summary = Flood::start(&address, &pki, "listed", [1, 1, 500_000], UPDATE_CONFIG).finish();
    assert!(summary.contains(r#""unanswered": 1"#), "{summary}");
}
