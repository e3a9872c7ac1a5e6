//! The seed's load test, as a benchmark (figures, not pass/fail): the real hook and daemon
//! against the grpcio portal (tests/interop/fake_portal.py), which answers every CheckPolicy
//! 50 ms late.
//!
//! 1. 2,000 connects from 64 concurrent hooks, 200 users taking turns (10 connects each),
//!    cold cache: throughput, hook p50/p99/max, and the portal's calls (coalescing: the
//!    connects of one user that overlap share one call).
//! 2. The same again, warm: every decision from the cache.
//! 3. 1,000 hooks at once for 1,000 users never seen, the portal partitioned (SIGSTOP: its
//!    socket stays open and says nothing, as behind a silent partition): none may take longer
//!    than hook_timeout, and every one is decided by fail_mode close (denied).
//!
//! `cargo bench --bench load`. Needs the test venv (tests/python-env.sh; `OCSERV_AGENT_PYTHON`
//! overrides). `OCSERV_AGENT_BENCH_BIN=PATH` runs another build as hook and daemon.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const HOOK_TIMEOUT: Duration = Duration::from_secs(3);

fn main() {
    let dir = std::env::temp_dir().join(format!("oa-bench-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let verdicts = dir.join("verdicts");
    std::fs::create_dir_all(&verdicts).unwrap();
    let pki = dir.join("pki");
    let ok = Command::new("sh")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gen-certs.sh"))
        .arg(&pki)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "tests/gen-certs.sh failed");
    let bin = std::env::var("OCSERV_AGENT_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_ocserv-agent").to_string());
    let python = std::env::var("OCSERV_AGENT_PYTHON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/target/test-venv/bin/python").into()
    });
    for u in 0..200 {
        std::fs::write(verdicts.join(format!("user{u}")), "allow sleep=0.05\n").unwrap();
    }
    for u in 0..1000 {
        std::fs::write(verdicts.join(format!("new{u}")), "allow\n").unwrap();
    }
    let mut portal = Command::new(&python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/fake_portal.py"
        ))
        .arg(&pki)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/proto"))
        .env("FAKE_PORTAL_VERDICTS", &verdicts)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(portal.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|p| p.parse().ok())
        .expect("the portal did not start");
    let config = dir.join("config");
    std::fs::write(&config, config_text(&dir, &pki, port)).unwrap();
    let mut daemon = Command::new(&bin)
        .args(["run", "-c", config.to_str().unwrap()])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(5);
    while !dir.join("agent.sock").exists() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let run = Run {
        bin: &bin,
        config: &config,
        calls: verdicts.join("calls"),
    };
    println!("hooks against a portal answering 50 ms late; fail_mode close, hook_timeout 3 s");
    let users: Vec<String> = (0..2000).map(|i| format!("user{}", i % 200)).collect();
    run.phase("2,000 connects, 64 at a time, cold", &users, 64, true);
    run.phase("2,000 connects, 64 at a time, warm", &users, 64, true);
    stop(&portal, true);
    let new: Vec<String> = (0..1000).map(|i| format!("new{i}")).collect();
    run.phase("1,000 at once, portal partitioned", &new, 1000, false);
    stop(&portal, false);
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = portal.kill();
    let _ = portal.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGSTOP (`silent`) or SIGCONT for the portal.
fn stop(portal: &Child, silent: bool) {
    let sig = if silent { "-STOP" } else { "-CONT" };
    let ok = Command::new("kill")
        .args([sig, &portal.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

struct Run<'a> {
    bin: &'a str,
    config: &'a Path,
    calls: std::path::PathBuf,
}

impl Run<'_> {
    /// Runs a hook per entry of `users`, `parallel` at a time; prints the figures. `allow`:
    /// what every decision must be.
    fn phase(&self, name: &str, users: &[String], parallel: usize, allow: bool) {
        let calls_before = self.portal_calls();
        let next = AtomicUsize::new(0);
        let times = Mutex::new(Vec::with_capacity(users.len()));
        let wrong = AtomicUsize::new(0);
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..parallel {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(user) = users.get(i) else { break };
                    let t = Instant::now();
                    if self.hook(i + 1, user) != allow {
                        wrong.fetch_add(1, Ordering::Relaxed);
                    }
                    times.lock().unwrap().push(t.elapsed());
                });
            }
        });
        let took = started.elapsed();
        let mut times = times.into_inner().unwrap();
        times.sort();
        let at = |q: usize| times[(times.len() * q / 100).min(times.len() - 1)];
        let over = times.iter().filter(|t| **t > HOOK_TIMEOUT).count();
        println!(
            "{name:<38} {:>6.0} connects/s  p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  over hook_timeout {over}  portal calls {}  not {} {}",
            users.len() as f64 / took.as_secs_f64(),
            ms(at(50)),
            ms(at(99)),
            ms(times[times.len() - 1]),
            self.portal_calls() - calls_before,
            if allow { "allowed" } else { "denied" },
            wrong.load(Ordering::Relaxed),
        );
    }

    fn portal_calls(&self) -> usize {
        std::fs::read_to_string(&self.calls).map_or(0, |s| s.lines().count())
    }

    /// One connect; whether it was allowed.
    fn hook(&self, id: usize, user: &str) -> bool {
        Command::new(self.bin)
            .args(["hook", "-c", self.config.to_str().unwrap()])
            .env_clear()
            .env("REASON", "connect")
            .env("ID", id.to_string())
            .env("USERNAME", user)
            .env("GROUPNAME", "staff")
            .env("IP_REAL", "192.0.2.10")
            .env("IP_REMOTE", "10.10.0.2")
            .stderr(Stdio::null())
            .status()
            .unwrap()
            .success()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn config_text(dir: &Path, pki: &Path, port: u16) -> String {
    format!(
        "config agent 'main'\n\toption socket '{sock}'\n\toption log_level warn\n\
         \toption hook_timeout 3s\n\
         config portal 'portal'\n\toption enabled 1\n\toption address '127.0.0.1:{port}'\n\
         \toption server_name 'localhost'\n\toption timeout 1s\n\
         \toption ca '{ca}'\n\toption cert '{cert}'\n\toption key '{key}'\n\
         config resilience 'resilience'\n\toption fail_mode close\n\
         \toption environment development\n\toption cache_ttl 5m\n\
         config metrics 'metrics'\n\toption enabled 0\n\
         config outbox 'outbox'\n\toption enabled 0\n",
        sock = dir.join("agent.sock").display(),
        ca = pki.join("ca.pem").display(),
        cert = pki.join("client.pem").display(),
        key = pki.join("client.key").display(),
    )
}
