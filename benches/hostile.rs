//! The decision path while the gRPC endpoint is attacked: hook wall time (exec of the real
//! hook, the socket round trip, a local-rule decision) measured side by side, in one run,
//! idle and during each of:
//!
//! (a) 6 connections x 20 streams, each an unfinished 4 MiB UpdateConfig, from a CA-signed
//!     client that is not on grpc.allowed_client;
//! (b) 300 TLS handshakes a second without a client certificate, from 127.0.0.3;
//! (c) 32 TCP sockets that never start TLS.
//!
//! In each phase an allow-listed client (from 127.0.0.2) calls HealthCheck, and the daemon's
//! RSS is sampled. The load comes from tests/interop/raw_h2.py (Python `h2`; the test venv:
//! `OCSERV_AGENT_PYTHON`, default `target/test-venv/bin/python`, made by tests/python-env.sh).
//!
//! `cargo bench --bench hostile`. `OCSERV_AGENT_BENCH_BIN=PATH` runs another build as hook
//! and daemon.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RAW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/raw_h2.py");
/// How long each phase measures.
const PHASE: Duration = Duration::from_secs(8);

fn main() {
    let dir = std::env::temp_dir().join(format!("oa-bench-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let pki = dir.join("pki");
    let ok = Command::new("sh")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gen-certs.sh"))
        .arg(&pki)
        .status()
        .unwrap()
        .success();
    assert!(ok, "tests/gen-certs.sh failed");
    let bin = std::env::var("OCSERV_AGENT_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ocserv-agent").to_string());
    let port = free_port();
    let address = format!("127.0.0.1:{port}");
    let config = dir.join("config");
    std::fs::write(&config, config_text(&dir, &pki, port)).unwrap();
    let mut daemon = Command::new(&bin)
        .args(["run", "-c", config.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&address).is_err() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let bench = Bench {
        bin: &bin,
        config: &config,
        pki: &pki,
        address: &address,
        daemon: daemon.id(),
    };
    println!(
        "hook wall time, {} s per phase; HealthCheck from an allow-listed client in each",
        PHASE.as_secs()
    );
    bench.phase("idle", || None);
    bench.phase("(a) 6x20x4 MiB unlisted flood", || {
        let mut flood = bench
            .raw("client")
            .args(["flood", "6", "20", "4194304"])
            .arg("/agent.v1.AgentService/UpdateConfig")
            .arg(PHASE.as_secs().to_string())
            .env("RAW_H2_REPEAT", "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        wait_ready(&mut flood);
        Some(flood)
    });
    bench.phase("(b) 300 handshakes/s", || {
        let c = bench
            .raw("none")
            .args(["handshakes", "300"])
            .arg((PHASE.as_secs() + 2).to_string())
            .env("RAW_H2_SOURCE", "127.0.0.3")
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        Some(c)
    });
    let idle: Vec<_> = (0..32)
        .map(|_| std::net::TcpStream::connect(&address).unwrap())
        .collect();
    bench.phase("(c) 32 idle sockets", || None);
    drop(idle);
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

struct Bench<'a> {
    bin: &'a str,
    config: &'a Path,
    pki: &'a Path,
    address: &'a str,
    daemon: u32,
}

impl Bench<'_> {
    fn raw(&self, cert: &str) -> Command {
        let python = std::env::var("OCSERV_AGENT_PYTHON").unwrap_or_else(|_| {
            concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python").into()
        });
        let mut c = Command::new(python);
        c.arg(RAW).arg(self.address).arg(self.pki).arg(cert);
        c
    }

    /// Runs hooks back to back for [`PHASE`] with `load` started; prints the figures.
    fn phase(&self, name: &str, load: impl FnOnce() -> Option<Child>) {
        let rss_before = rss_kib(self.daemon);
        let load = load();
        let mut times = Vec::new();
        let mut rss_max = rss_before;
        let mut health = None;
        let started = Instant::now();
        let mut id = 0;
        while started.elapsed() < PHASE {
            id += 1;
            let t = Instant::now();
            self.hook(id);
            times.push(t.elapsed());
            rss_max = rss_max.max(rss_kib(self.daemon));
            if health.is_none() && started.elapsed() > PHASE / 2 {
                health = Some(self.health());
            }
        }
        if let Some(mut c) = load {
            // A load that ends with the phase may say how it went; then it is stopped.
            let until = Instant::now() + Duration::from_secs(3);
            while c.try_wait().is_ok_and(|s| s.is_none()) && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
            std::thread::sleep(Duration::from_millis(50));
        }
        times.sort();
        let at = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)];
        println!(
            "{name:<32} hook p50 {:>6.2} ms  p99 {:>6.2} ms  max {:>6.2} ms  ({} hooks)  RSS {} -> max {} KiB (+{})  HealthCheck: {}",
            ms(at(50)),
            ms(at(99)),
            ms(times[times.len() - 1]),
            times.len(),
            rss_before,
            rss_max,
            rss_max.saturating_sub(rss_before),
            health.unwrap_or_else(|| "not tried".into()),
        );
    }

    fn hook(&self, id: usize) {
        let status = Command::new(self.bin)
            .args(["hook", "-c", self.config.to_str().unwrap()])
            .env_clear()
            .env("REASON", "connect")
            .env("ID", id.to_string())
            .env("USERNAME", "alice")
            .env("GROUPNAME", "staff")
            .env("IP_REAL", "192.0.2.10")
            .env("IP_REMOTE", "10.10.0.2")
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "hook denied");
    }

    /// A HealthCheck as the allow-listed client from 127.0.0.2: "ok" or what happened.
    fn health(&self) -> String {
        let out = self
            .raw("listed")
            .args(["call", "/agent.v1.AgentService/HealthCheck", "0801"])
            .env("RAW_H2_SOURCE", "127.0.0.2")
            .output()
            .unwrap();
        match String::from_utf8_lossy(&out.stdout).trim() {
            "0" => "ok".into(),
            other => format!("FAILED ({other})"),
        }
    }
}

/// Waits for the flood's "ready"; its summary (streams answered, by status) is printed when
/// it comes.
fn wait_ready(c: &mut Child) {
    use std::io::BufRead;
    let mut line = String::new();
    let mut out = std::io::BufReader::new(c.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "the flood did not start");
    std::thread::spawn(move || {
        let mut summary = String::new();
        if out.read_line(&mut summary).is_ok_and(|n| n > 0) {
            println!("{:<32} the flood: {}", "", summary.trim());
        }
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_string();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn config_text(dir: &Path, pki: &Path, port: u16) -> String {
    let file = |name: &str| -> PathBuf { pki.join(name) };
    format!(
        "config agent 'main'\n\toption socket '{sock}'\n\toption log_level info\n\
         config metrics 'metrics'\n\toption enabled 0\n\
         config outbox 'outbox'\n\toption dir '{outbox}'\n\
         config grpc 'grpc'\n\toption enabled 1\n\toption listen '127.0.0.1:{port}'\n\
         \toption ca '{ca}'\n\toption cert '{cert}'\n\toption key '{key}'\n\
         \tlist allowed_client 'listed.example'\n",
        sock = dir.join("agent.sock").display(),
        outbox = dir.join("outbox").display(),
        ca = file("ca.pem").display(),
        cert = file("server.pem").display(),
        key = file("server.key").display(),
    )
}
