//! Hook wall time, end to end: exec of the hook, its config read, the socket round trip and a
//! cached portal decision in the daemon; next to the exec of a static no-op binary (the floor
//! any connect-script pays). The portal is our own gRPC server in this process answering
//! CheckPolicy "allowed", so after the first call every decision is a cache hit.
//!
//! `cargo bench --bench hook` (release profile). Prints p50 / p99 / max of N sequential runs.
//! `OCSERV_AGENT_BENCH_BIN=PATH` runs another build of the agent as hook and daemon.

use async_executor::LocalExecutor;
use async_io::Async;
use bytes::Bytes;
use ocserv_agent::grpc::server::{serve_connection, InForce, Router, Settings, Shutdown};
use ocserv_agent::grpc::{server_config, TlsFiles};
use ocserv_agent::grpc::{Budget, Share};
use ocserv_agent::proto::vpn::v1::{CheckPolicyResponse, ReportConnectResponse};
use prost::Message;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

const RUNS: usize = 2000;

fn main() {
    let dir = std::env::temp_dir().join(format!("oa-bench-hook-{}", std::process::id()));
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
    let port = start_portal(&pki);
    let noop = static_noop(&dir);
    let config = dir.join("config");
    std::fs::write(&config, config_text(&dir, &pki, port)).unwrap();
    // OCSERV_AGENT_BENCH_BIN measures another build of the agent (a static musl one, say).
    let bin = std::env::var("OCSERV_AGENT_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ocserv-agent").to_string());
    let bin = bin.as_str();
    let mut daemon = Command::new(bin)
        .args(["run", "-c", config.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let sock = dir.join("agent.sock");
    let until = Instant::now() + Duration::from_secs(5);
    while !sock.exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }

    let hook = |id: usize| {
        let status = Command::new(bin)
            .args(["hook", "-c", config.to_str().unwrap()])
            .env_clear()
            .env("REASON", "connect")
            // A new session each time, as ocserv does: each allowed connect is journalled and
            // reported (the same ID twice in a row would be a duplicate, not reported).
            .env("ID", (1 + id).to_string())
            .env("USERNAME", "alice")
            .env("GROUPNAME", "staff")
            .env("IP_REAL", "192.0.2.10")
            .env("IP_REMOTE", "10.10.0.2")
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "hook denied");
    };
    hook(0); // the portal call; the rest are cache hits
    let exec_noop = || {
        assert!(Command::new(&noop).status().unwrap().success());
    };
    let floor = measure(exec_noop);
    let hooks = measure_indexed(hook);
    println!("static no-op exec: {floor}");
    println!("hook, cache hit:   {hooks}");
    println!(
        "daemon RSS: {} kB after those; filling the cache with 10 000 users...",
        rss_kb(daemon.id())
    );
    for wave in 0..200 {
        let hooks: Vec<_> = (0..50)
            .map(|i| {
                let n = wave * 50 + i;
                Command::new(bin)
                    .args(["hook", "-c", config.to_str().unwrap()])
                    .env_clear()
                    .env("REASON", "connect")
                    // IDs reused per slot: live sessions stay at 50, as on a router.
                    .env("ID", (100_000 + i).to_string())
                    .env("USERNAME", format!("user{n}"))
                    .env("IP_REAL", "192.0.2.10")
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for mut h in hooks {
            assert!(h.wait().unwrap().success(), "hook denied");
        }
    }
    println!(
        "daemon RSS: {} kB with 10 000 cached decisions (50 live sessions)",
        rss_kb(daemon.id())
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

fn rss_kb(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_string())
        })
        .unwrap_or_else(|| "?".into())
}

struct Summary {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:>6.0} us  p99 {:>6.0} us  max {:>6.0} us  ({RUNS} runs)",
            self.p50.as_secs_f64() * 1e6,
            self.p99.as_secs_f64() * 1e6,
            self.max.as_secs_f64() * 1e6
        )
    }
}

fn measure(mut f: impl FnMut()) -> Summary {
    measure_indexed(|_| f())
}

fn measure_indexed(mut f: impl FnMut(usize)) -> Summary {
    for i in 0..50 {
        f(i + 1_000_000); // warm-up
    }
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|i| {
            let t = Instant::now();
            f(i + 1);
            t.elapsed()
        })
        .collect();
    times.sort();
    Summary {
        p50: times[RUNS / 2],
        p99: times[RUNS * 99 / 100],
        max: times[RUNS - 1],
    }
}

/// A static binary that only exits 0, built with the system C compiler.
fn static_noop(dir: &Path) -> PathBuf {
    let src = dir.join("noop.c");
    let out = dir.join("noop");
    std::fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let ok = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cc -static failed (needs a C compiler and static libc)");
    out
}

fn config_text(dir: &Path, pki: &Path, port: u16) -> String {
    format!(
        "config agent 'main'\n\toption socket '{sock}'\n\toption log_level warn\n\
         config metrics 'metrics'\n\toption enabled 0\n\
         config outbox 'outbox'\n\toption dir '{outbox}'\n\
         config portal 'portal'\n\toption enabled 1\n\toption address '127.0.0.1:{port}'\n\
         \toption server_name 'localhost'\n\toption ca '{ca}'\n\toption cert '{cert}'\n\toption key '{key}'\n\
         config resilience 'resilience'\n\toption environment development\n\toption cache_ttl 1h\n\toption cache_max_size 10000\n",
        sock = dir.join("agent.sock").display(),
        outbox = dir.join("outbox").display(),
        ca = pki.join("ca.pem").display(),
        cert = pki.join("client.pem").display(),
        key = pki.join("client.key").display(),
    )
}

/// A portal on a thread of its own: CheckPolicy always allows.
fn start_portal(pki: &Path) -> u16 {
    let tls = server_config(
        TlsFiles {
            ca: &pki.join("ca.pem"),
            cert: &pki.join("server.pem"),
            key: &pki.join("server.key"),
        },
        false,
    )
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let ex: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
        let listener = Async::new(listener).unwrap();
        let mut router = Router::new();
        router.unary(
            "/vpn.v1.AuthService/CheckPolicy",
            |_call, _msg| async move {
                let reply = CheckPolicyResponse {
                    allowed: true,
                    ..CheckPolicyResponse::default()
                };
                Ok(Bytes::from(reply.encode_to_vec()))
            },
        );
        // Every allowed connect is also reported, as in production (the outbox is on).
        router.unary(
            "/vpn.v1.EventService/ReportConnect",
            |_call, _msg| async move {
                let reply = ReportConnectResponse {
                    success: true,
                    ..ReportConnectResponse::default()
                };
                Ok(Bytes::from(reply.encode_to_vec()))
            },
        );
        let (router, settings, shutdown) = (
            Rc::new(router),
            Rc::new(Settings::default()),
            Rc::new(Shutdown::new()),
        );
        async_io::block_on(ex.run(async {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let c = (
                    tls.clone(),
                    router.clone(),
                    settings.clone(),
                    shutdown.clone(),
                );
                ex.spawn(serve_connection(
                    tcp,
                    c.0,
                    c.1,
                    Rc::new(InForce::new(c.2, 0)),
                    Share::new(Budget::new(64 << 20)),
                    ex,
                    c.3,
                ))
                .detach();
            }
        }))
    });
    port
}
