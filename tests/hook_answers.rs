//! The hook against daemons that answer badly, and the daemon's budget for a decision:
//! only no answer at all uses `hook_fallback`; an error reply, a malformed or cut-off frame, or
//! a trickle of bytes is a deny within `hook_timeout`; and a decision that can no longer be
//! delivered (the hook died, or the time ran out) changes nothing in the daemon.

mod common;

use common::grpc::{certs, portal_config, Portal, Verdicts};
use common::ocserv::{connect, run_hook};
use common::{bin, command, config_text, Daemon, TempDir};
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A config whose hook falls back to *allow*, so that a wrong fallback shows as an admit.
fn lenient(dir: &TempDir) -> PathBuf {
    dir.write(
        "c",
        &config_text(
            dir,
            "\toption hook_timeout 1s\n\toption hook_fallback allow\n",
        ),
    )
}

/// A stand-in daemon on the configured socket: reads the request, then `answer`s.
fn fake_daemon(
    socket: &Path,
    answer: impl Fn(&mut std::os::unix::net::UnixStream) + Send + 'static,
) {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for c in listener.incoming() {
            let Ok(mut c) = c else { return };
            let mut header = [0u8; 8];
            if c.read_exact(&mut header).is_err() {
                continue;
            }
            let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
            let mut body = vec![0u8; len as usize];
            let _ = c.read_exact(&mut body);
            answer(&mut c);
        }
    });
}

/// What a stand-in daemon does with a connection once it has read the request.
type Answer = Box<dyn Fn(&mut std::os::unix::net::UnixStream) + Send>;

fn frame(kind: u8, payload: &str) -> Vec<u8> {
    frame_of_version(ocserv_agent::ipc::frame::VERSION, kind, payload)
}

fn frame_of_version(version: u8, kind: u8, payload: &str) -> Vec<u8> {
    let mut f = vec![b'O', b'A', version, kind];
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    f.extend_from_slice(payload.as_bytes());
    f
}

const ALLOW: &str = r#"{"allow":true,"source":"local","reason":"x"}"#;

fn hook(config: &Path) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let (code, err) = run_hook(config, &connect(1, "alice", "192.0.2.1"));
    (code, err, started.elapsed())
}

#[test]
fn only_no_answer_uses_the_fallback() {
    // No socket at all: the fallback (allow here).
    let dir = TempDir::new("hook-none");
    let config = lenient(&dir);
    let (code, err, _) = hook(&config);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("allowed by agent.hook_fallback"), "{err}");

    // Closed without a byte: still no answer.
    let dir = TempDir::new("hook-closed");
    let config = lenient(&dir);
    fake_daemon(&dir.path("agent.sock"), |_c| {});
    let (code, err, _) = hook(&config);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn any_answer_that_is_not_an_allow_denies() {
    let cases: [(&str, Answer, &str); 7] = [
        (
            "error",
            Box::new(|c| {
                let _ = c.write_all(&frame(255, r#"{"message":"no"}"#));
            }),
            "the daemon refused: no",
        ),
        (
            "garbage",
            Box::new(|c| {
                let _ = c.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            }),
            "not an ocserv-agent message",
        ),
        (
            "cut",
            Box::new(|c| {
                let f = frame(130, ALLOW);
                let _ = c.write_all(&f[..f.len() - 5]);
            }),
            "malformed answer",
        ),
        (
            "bad-json",
            Box::new(|c| {
                let _ = c.write_all(&frame(130, r#"{"allow":true}"#));
            }),
            "malformed",
        ),
        (
            "status",
            Box::new(|c| {
                let _ = c.write_all(&frame(131, r#"{"dropped":1}"#));
            }),
            "without a decision",
        ),
        (
            // A decision must name a source this binary knows.
            "unknown-source",
            Box::new(|c| {
                let allow = r#"{"allow":true,"source":"portal2","reason":"x"}"#;
                let _ = c.write_all(&frame(130, allow));
            }),
            "unknown decision source 'portal2'",
        ),
        (
            // An allow as a daemon of protocol version 1 wrote it (an upgrade half done).
            "old-daemon",
            Box::new(|c| {
                let _ = c.write_all(&frame_of_version(1, 130, ALLOW));
            }),
            "protocol version 1 is not supported",
        ),
    ];
    for (name, answer, says) in cases {
        let dir = TempDir::new(&format!("hook-{name}"));
        let config = lenient(&dir);
        fake_daemon(&dir.path("agent.sock"), answer);
        let (code, err, _) = hook(&config);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert!(
            err.contains("denied") && err.contains(says),
            "{name}: {err}"
        );
        assert!(!err.contains("hook_fallback"), "{name}: {err}");
    }
}

/// A daemon that sends a valid allow one byte every 100 ms would take seconds; the hook's one
/// deadline (1 s) ends it, and a partial answer is a deny.
#[test]
fn a_trickle_cannot_stretch_the_deadline() {
    let dir = TempDir::new("hook-trickle");
    let config = lenient(&dir);
    fake_daemon(&dir.path("agent.sock"), |c| {
        for b in frame(130, ALLOW) {
            if c.write_all(&[b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let (code, err, took) = hook(&config);
    assert_eq!(code, Some(1), "{err}");
    assert!(took < Duration::from_secs(4), "took {took:?}: {err}");
    assert!(err.contains("timed out"), "{err}");
}

/// The portal hangs past the budget (hook_timeout 4 s less its 500 ms margin; portal.timeout
/// 3.8 s): the daemon answers a deny the hook still receives, before its own deadline, even
/// under `fail_mode open` (an allow found after the budget would reach nobody in time).
#[test]
fn a_hanging_portal_is_a_budget_deny_in_time() {
    let dir = TempDir::new("budget-hang");
    let pki = certs(&dir);
    let verdicts = Verdicts::new(&dir);
    let portal = Portal::start_scripted(&pki, &verdicts, None);
    let config = portal_config(&dir, &pki, portal.port, "open");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("option hook_timeout 5s", "option hook_timeout 4s")
        .replace("option timeout 3s", "option timeout 3800ms");
    std::fs::write(&config, text).unwrap();
    let d = Daemon::start(&config);
    verdicts.set("alice", "hang");
    let (code, err, took) = hook(&config);
    assert_eq!(code, Some(1), "{err}");
    // The daemon's deny reached the hook: not the hook's own timeout (that would say
    // "no answer ... hook_fallback").
    assert!(err.contains("(budget)"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let json = d.status_json();
    assert!(json.contains("\"sessions\":0"), "{json}");
    // The breaker does not count a deadline the budget shortened.
    assert!(json.contains("failures=0"), "{json}");
}

/// The hook dies while the portal thinks; the portal then allows. Nothing is recorded and
/// nothing reported: the daemon checks that the hook still waits before any effect.
#[test]
fn an_allow_for_a_hook_that_left_has_no_effects() {
    let dir = TempDir::new("budget-gone");
    let pki = certs(&dir);
    let events = dir.path("events.jsonl");
    let verdicts = Verdicts::new(&dir);
    let portal = Portal::start_scripted(&pki, &verdicts, Some(&events));
    let config = portal_config(&dir, &pki, portal.port, "close");
    let d = Daemon::start(&config);
    verdicts.set("slow", "allow sleep=2");
    let mut hook = command(&bin())
        .args(["hook", "-c", config.to_str().unwrap()])
        .env_clear()
        .envs(connect(7, "slow", "192.0.2.7"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Once the portal has the question, the hook goes away.
    // (An emulated TLS handshake can take seconds: a generous bound.)
    let until = Instant::now() + Duration::from_secs(30);
    while verdicts.calls("slow") == 0 {
        assert!(Instant::now() < until, "the portal was never asked");
        std::thread::sleep(Duration::from_millis(10));
    }
    hook.kill().unwrap();
    hook.wait().unwrap();
    d.wait_stderr_within(
        "connect of 'slow' (session 7) from 192.0.2.7: denied (budget): the hook stopped waiting; nothing was changed",
        Duration::from_secs(10),
    );
    let json = d.status_json();
    assert!(json.contains("\"sessions\":0"), "{json}");
    assert!(json.contains(" budget=1 "), "{json}");
    // A connect that is admitted afterwards is reported; the abandoned one never is.
    assert_eq!(
        run_hook(&config, &connect(8, "other", "192.0.2.8")).0,
        Some(0)
    );
    common::wait_for("the report of session 8", || {
        std::fs::read_to_string(&events).is_ok_and(|t| t.contains("\"session_id\": \"8\""))
    });
    let reported = std::fs::read_to_string(&events).unwrap();
    assert!(!reported.contains("\"session_id\": \"7\""), "{reported}");
}
