//! Helpers for the gRPC tests: the test PKI, the Python grpcio peer, the fake portal.

use super::TempDir;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Python with grpcio that `tests/run.sh` prepared; checked, with advice if it is missing.
pub fn python() -> String {
    let python = std::env::var("OCSERV_AGENT_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import grpc, grpc_tools"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{python} lacks grpcio: run the tests with tests/run.sh (it installs grpcio in a venv)"
    );
    python
}

/// A fresh test PKI (tests/gen-certs.sh) in `dir`/pki.
pub fn certs(dir: &TempDir) -> PathBuf {
    let out = dir.path("pki");
    let st = Command::new("sh")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gen-certs.sh"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success(), "tests/gen-certs.sh failed");
    out
}

/// `tests/interop/agent_call.py ARGS` against the daemon's gRPC endpoint at `addr`, sending
/// `traceparent` metadata when given: its exit code, and stdout and stderr.
pub fn agent_call(
    addr: &str,
    pki: &std::path::Path,
    args: &[&str],
    traceparent: Option<&str>,
) -> (Option<i32>, String) {
    let mut command = Command::new(python());
    if let Some(t) = traceparent {
        command.env("AGENT_CALL_TRACEPARENT", t);
    }
    let out = command
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/agent_call.py"
        ))
        .arg(addr)
        .arg(pki)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/proto"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// The address the daemon's gRPC endpoint serves on, from its log.
pub fn grpc_address(d: &super::Daemon) -> String {
    d.wait_stderr("grpc: serving agent.v1 on ");
    let log = d.stderr();
    let rest = &log[log.find("grpc: serving agent.v1 on ").unwrap() + 26..];
    rest.split_whitespace().next().unwrap().to_string()
}

/// tests/interop/fake_portal.py, serving on a loopback port until dropped.
pub struct Portal {
    child: Child,
    pub port: u16,
}

impl Portal {
    pub fn start(pki: &std::path::Path) -> Portal {
        Portal::start_with(pki, 0, None)
    }

    /// On `port` (0: any), recording EventService reports as JSON lines in `events`.
    pub fn start_with(
        pki: &std::path::Path,
        port: u16,
        events: Option<&std::path::Path>,
    ) -> Portal {
        Portal::start_full(pki, port, events, None)
    }

    /// With CheckPolicy answers scripted per user by files in `verdicts` (see
    /// tests/interop/fake_portal.py; [`Verdicts`] writes them).
    pub fn start_scripted(
        pki: &std::path::Path,
        verdicts: &Verdicts,
        events: Option<&std::path::Path>,
    ) -> Portal {
        Portal::start_full(pki, 0, events, Some(&verdicts.0))
    }

    /// Recording reports in `events` and, in `traces`, a line `METHOD TRACEPARENT` per call
    /// (`-` for none).
    pub fn start_traced(
        pki: &std::path::Path,
        events: &std::path::Path,
        traces: &std::path::Path,
    ) -> Portal {
        Portal::start_env(pki, 0, Some(events), &[("FAKE_PORTAL_TRACES", traces)])
    }

    fn start_full(
        pki: &std::path::Path,
        port: u16,
        events: Option<&std::path::Path>,
        verdicts: Option<&std::path::Path>,
    ) -> Portal {
        let env: Vec<_> = verdicts
            .map(|dir| ("FAKE_PORTAL_VERDICTS", dir))
            .into_iter()
            .collect();
        Portal::start_env(pki, port, events, &env)
    }

    fn start_env(
        pki: &std::path::Path,
        port: u16,
        events: Option<&std::path::Path>,
        env: &[(&str, &std::path::Path)],
    ) -> Portal {
        let mut command = Command::new(python());
        command.envs(env.iter().copied());
        let mut child = command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/interop/fake_portal.py"
            ))
            .arg(pki)
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/proto"))
            .arg(port.to_string())
            .args(events)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let line = super::first_line(&mut child, PORTAL_START);
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!("fake portal did not start within {PORTAL_START:?}: {line:?}")
            });
        Portal { child, port }
    }
}

/// The directory of scripted CheckPolicy answers, one file per user.
pub struct Verdicts(pub PathBuf);

impl Verdicts {
    pub fn new(dir: &TempDir) -> Verdicts {
        let path = dir.path("verdicts");
        std::fs::create_dir_all(&path).unwrap();
        Verdicts(path)
    }

    /// From now on the portal answers `user` with `line` (`allow`, `deny ttl=30s`,
    /// `status PERMISSION_DENIED`, `hang`).
    pub fn set(&self, user: &str, line: &str) {
        std::fs::write(self.0.join(user), format!("{line}\n")).unwrap();
    }

    /// How many CheckPolicy calls the portal has had for `user`.
    pub fn calls(&self, user: &str) -> usize {
        std::fs::read_to_string(self.0.join("calls"))
            .unwrap_or_default()
            .lines()
            .filter(|l| *l == user)
            .count()
    }
}

/// Python with grpcio starts in about a second; the bound only turns a stuck start into a
/// failure that says so.
const PORTAL_START: Duration = Duration::from_secs(90);

impl Drop for Portal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `config grpc` section serving agent.v1 on a free loopback port with the test PKI's server
/// certificate, for `allowed` clients (none: any the CA signed).
pub fn grpc_section(pki: &std::path::Path, allowed: &[&str]) -> String {
    let mut text = format!(
        "config grpc 'grpc'\n\toption enabled 1\n\toption listen '127.0.0.1:0'\n\toption ca '{}'\n\toption cert '{}'\n\toption key '{}'\n",
        pki.join("ca.pem").display(),
        pki.join("server.pem").display(),
        pki.join("server.key").display()
    );
    for client in allowed {
        text += &format!("\tlist allowed_client '{client}'\n");
    }
    text
}

/// A config with the portal at `port` (fake_portal.py), `fail_mode` and short cache times.
pub fn portal_config(
    dir: &TempDir,
    pki: &std::path::Path,
    port: u16,
    fail_mode: &str,
) -> std::path::PathBuf {
    let text = super::config_text(dir, "\toption hook_timeout 5s\n")
        + &format!(
            "config portal 'portal'\n\toption enabled 1\n\toption address '127.0.0.1:{port}'\n\toption server_name 'localhost'\n\toption ca '{}'\n\toption cert '{}'\n\toption key '{}'\n\toption timeout 3s\n",
            pki.join("ca.pem").display(),
            pki.join("client.pem").display(),
            pki.join("client.key").display()
        )
        + &format!(
            "config resilience 'resilience'\n\toption fail_mode {fail_mode}\n\toption environment development\n\toption cache_ttl 1s\n\toption cache_deny_ttl 1s\n\toption cache_stale_ttl 1h\n\toption breaker_failure_threshold 2\n\toption breaker_timeout 1s\n"
        );
    dir.write("c", &text)
}
