//! Helpers for integration tests: temporary directories, the real binary, a running daemon.

#![allow(dead_code)] // each test file uses a different subset

pub mod grpc;
pub mod ocserv;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_ocserv-agent"))
}

/// A command that runs `program` (the binary under test, or a link to it). When the tests run
/// under an emulator (cross/build.sh sets `OCSERV_AGENT_TEST_RUNNER`, e.g.
/// `qemu-mips-static -cpu 24Kc`), the binary is started through it: this machine has no
/// binfmt_misc to do that transparently.
pub fn command(program: &Path) -> Command {
    match std::env::var("OCSERV_AGENT_TEST_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut cmd = Command::new(words.next().unwrap());
            cmd.args(words).arg(program);
            cmd
        }
        _ => Command::new(program),
    }
}

/// The first line `child` writes to its stdout, or "" if none comes within `limit` (the
/// reader thread is left behind: it ends when the child is killed).
pub fn first_line(child: &mut Child, limit: Duration) -> String {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(limit).unwrap_or_default()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("oa-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A minimal config whose socket and outbox journal live in `dir`, with metrics on a free
/// loopback port (the default port would be shared by tests running in parallel). More
/// options for the agent section go in `extra_agent`.
pub fn config_text(dir: &TempDir, extra_agent: &str) -> String {
    format!(
        "config metrics 'metrics'\n\toption listen '127.0.0.1:0'\nconfig outbox 'outbox'\n\toption dir '{}'\nconfig agent 'main'\n\toption socket '{}'\n{extra_agent}",
        dir.path("outbox").display(),
        dir.path("agent.sock").display()
    )
}

/// Runs the binary to completion with `args`; returns status, stdout, stderr.
pub fn run(args: &[&str]) -> (ExitStatus, String, String) {
    let out = command(&bin()).args(args).output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs the hook (`program` with `args`) with exactly the environment `vars`, as ocserv would;
/// returns its exit code and stderr.
pub fn hook<K: AsRef<str>, V: AsRef<str>>(
    program: &Path,
    args: &[&str],
    vars: &[(K, V)],
) -> (Option<i32>, String) {
    let out = command(program)
        .args(args)
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Whether the tests run under an emulator (cross/build.sh sets `OCSERV_AGENT_TEST_RUNNER`):
/// each process is then a whole qemu, and wall-clock bounds must allow for it.
pub fn emulated() -> bool {
    std::env::var_os("OCSERV_AGENT_TEST_RUNNER").is_some_and(|r| !r.is_empty())
}

/// Polls `cond` every 10 ms for up to 5 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("timed out waiting for {what}");
}

/// A daemon started with `run -c CONFIG`; killed on drop if still running.
pub struct Daemon {
    pub child: Child,
    pub config: PathBuf,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Daemon {
    /// Starts the daemon and waits until `status` answers.
    pub fn start(config: &Path) -> Daemon {
        let d = Daemon::spawn(config);
        wait_for("the daemon to answer status", || {
            run(&["status", "-c", config.to_str().unwrap()]).0.success()
        });
        d
    }

    /// Starts the daemon without waiting for it.
    pub fn spawn(config: &Path) -> Daemon {
        let mut child = command(&bin())
            .args(["run", "-c", config.to_str().unwrap()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Daemon {
            child,
            config: config.to_path_buf(),
            stderr,
            reader: Some(reader),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY-free: `kill` only sends a signal to the child we started.
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// What the daemon has written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits until the daemon's stderr contains `needle` (the log reader runs on its own thread).
    pub fn wait_stderr(&self, needle: &str) {
        self.wait_stderr_within(needle, Duration::from_secs(5));
    }

    /// [`Daemon::wait_stderr`] with its own limit (for what takes a reconnect or a sweep).
    pub fn wait_stderr_within(&self, needle: &str, limit: Duration) {
        let until = Instant::now() + limit;
        while !self.stderr().contains(needle) {
            assert!(
                Instant::now() < until,
                "daemon never logged {needle:?}; it logged:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `status --json` as text.
    pub fn status_json(&self) -> String {
        let (st, out, err) = run(&["status", "--json", "-c", self.config.to_str().unwrap()]);
        assert!(st.success(), "status failed: {err}");
        out
    }

    /// Waits for the daemon to exit, for up to 5 s, and for its stderr to be read to the end.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                if let Some(reader) = self.reader.take() {
                    reader.join().unwrap();
                }
                return st;
            }
            assert!(Instant::now() < until, "daemon did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A decision counter from `status --json`'s `decisions` text, e.g.
/// `decisions(&json, "stale")`.
pub fn decisions(json: &str, name: &str) -> u32 {
    json.split(&format!(" {name}="))
        .nth(1)
        .and_then(|rest| rest.split([' ', '"']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {json}"))
}

pub const SIGHUP: i32 = 1;
pub const SIGINT: i32 = 2;
pub const SIGTERM: i32 = 15;
