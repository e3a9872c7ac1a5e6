//! The dial-out control stream against a grpcio control server (tests/interop/fake_portal.py,
//! scripted mode): the real daemon dials out over mTLS, sends heartbeats, runs the orders it is
//! sent and answers each with its request_id; a stream the server ends, and a server that goes
//! away and comes back, are reconnected; an order repeated after a reconnect is answered again
//! without running twice.

mod common;

use common::grpc::{certs, Portal};
use common::{config_text, Daemon, TempDir};
use std::path::Path;
use std::time::{Duration, Instant};

/// Waits (up to a minute: the emulated runs are slow) until a line of `file` satisfies
/// `found`; returns all lines.
fn wait_lines(file: &Path, what: &str, found: impl Fn(&str) -> bool) -> Vec<String> {
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.lines().any(&found) {
            return text.lines().map(str::to_string).collect();
        }
        assert!(
            Instant::now() < until,
            "no {what} in the control server's record:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn config(dir: &TempDir, pki: &Path, port: u16) -> std::path::PathBuf {
    let text = config_text(dir, "\toption id 'scripted-r1'\n")
        + &format!(
            "config control 'control'\n\toption enabled 1\n\toption address '127.0.0.1:{port}'\n\toption server_name 'localhost'\n\toption heartbeat_interval 1s\n\toption ca '{}'\n\toption cert '{}'\n\toption key '{}'\n",
            pki.join("ca.pem").display(),
            pki.join("client.pem").display(),
            pki.join("client.key").display()
        )
        + &format!(
            "config ocserv 'ocserv'\n\toption ctl_socket '{}'\n\toption per_user_dir '{}'\n\toption backup_dir '{}'\n",
            dir.path("no-ocserv.socket").display(),
            dir.path("users").display(),
            dir.path("backup").display()
        );
    std::fs::create_dir_all(dir.path("users")).unwrap();
    dir.write("c", &text)
}

fn has(line: &str, parts: &[&str]) -> bool {
    parts.iter().all(|p| line.contains(p))
}

#[test]
fn the_agent_dials_out_beats_runs_orders_once_and_reconnects() {
    let dir = TempDir::new("control");
    let pki = certs(&dir);
    let record = dir.path("record");
    let portal = Portal::start_with(&pki, 0, Some(&record));
    let port = portal.port;
    let d = Daemon::start(&config(&dir, &pki, port));

    // Stream 1: heartbeats, then three orders answered in order; the server then ends it.
    // Stream 2 (the agent reconnects): cfg-1 again, and cmd-2.
    let lines = wait_lines(&record, "answer to cmd-2", |l| {
        has(l, &["\"stream\": 2", "\"request_id\": \"cmd-2\""])
    });
    let find = |parts: &[&str]| {
        lines
            .iter()
            .find(|l| has(l, parts))
            .unwrap_or_else(|| panic!("no line with {parts:?} in:\n{}", lines.join("\n")))
            .clone()
    };
    let beat = find(&["\"kind\": \"heartbeat\"", "\"stream\": 1"]);
    assert!(
        has(
            &beat,
            &["\"agent_id\": \"scripted-r1\"", "\"ocserv_running\": false"]
        ),
        "{beat}"
    );
    assert!(
        !beat.contains("\"memory_total\": 0,"),
        "memory from /proc: {beat}"
    );
    assert!(!beat.contains("\"seconds\": 0,"), "a timestamp: {beat}");
    // No ocserv here: the command ran and failed as occtl would (exit 1).
    let cmd = find(&["\"request_id\": \"cmd-1\""]);
    assert!(
        has(
            &cmd,
            &[
                "\"event_type\": \"command_result\"",
                "\"success\": \"false\"",
                "\"exit_code\": \"1\""
            ]
        ),
        "{cmd}"
    );
    let cfg = find(&["\"request_id\": \"cfg-1\"", "\"stream\": 1"]);
    assert!(
        has(
            &cfg,
            &[
                "\"config_result\"",
                "\"success\": \"true\"",
                "valid: 1 line(s) for user 'dave' (ocserv's version unknown: not checked against it)"
            ]
        ),
        "{cfg}"
    );
    let act = find(&["\"request_id\": \"act-1\""]);
    assert!(
        has(&act, &["\"action_result\"", "unknown action 'reboot'"]),
        "{act}"
    );
    // The repeat of cfg-1 on stream 2 got the same answer, and the file was written once
    // (a second run would have made a backup of the first).
    let again = find(&["\"request_id\": \"cfg-1\"", "\"stream\": 2"]);
    assert_eq!(
        again.split("\"metadata\"").nth(1),
        cfg.split("\"metadata\"").nth(1),
        "{again}"
    );
    let file = std::fs::read_to_string(dir.path("users/dave")).unwrap();
    assert!(file.ends_with("route = 10.80.0.0/16\n"), "{file}");
    assert!(!dir.path("backup").exists(), "cfg-1 ran twice");
    assert!(
        d.stderr()
            .contains("control: the portal ended the stream; reconnecting"),
        "{}",
        d.stderr()
    );

    // The server goes away and comes back on the same port: the agent finds it again, and
    // its script's cfg-1 is still answered from memory.
    drop(portal);
    let record2 = dir.path("record2");
    let _portal = Portal::start_with(&pki, port, Some(&record2));
    let lines = wait_lines(&record2, "a heartbeat after the restart", |l| {
        has(l, &["\"kind\": \"heartbeat\""])
    });
    assert!(lines
        .iter()
        .any(|l| has(l, &["\"kind\": \"stream\"", "scripted-r1"])));
    wait_lines(&record2, "cfg-1 answered again", |l| {
        has(l, &["\"request_id\": \"cfg-1\"", "\"success\": \"true\""])
    });
    assert!(
        !dir.path("backup").exists(),
        "cfg-1 ran again after the restart"
    );
}

/// A reload that turns the control stream off closes it; turning it on again reopens it, and
/// the orders that ran before are still known.
#[test]
fn a_reload_closes_and_reopens_the_stream() {
    let dir = TempDir::new("control-reload");
    let pki = certs(&dir);
    let record = dir.path("record");
    let portal = Portal::start_with(&pki, 0, Some(&record));
    let config = config(&dir, &pki, portal.port);
    let d = Daemon::start(&config);
    let wait_daemon = |what: &str| d.wait_stderr_within(what, Duration::from_secs(60));
    wait_lines(&record, "stream 2 answered", |l| {
        has(l, &["\"stream\": 2", "\"request_id\": \"cmd-2\""])
    });
    let on = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, on.replace("option enabled 1", "option enabled 0")).unwrap();
    d.signal(common::SIGHUP);
    wait_daemon("control: the control settings changed; reconnecting");
    wait_daemon("control: disabled; the stream is closed");
    std::fs::write(&config, on).unwrap();
    d.signal(common::SIGHUP);
    // Stream 3 repeats cfg-1: answered from memory, not run a third time.
    wait_lines(&record, "cfg-1 on stream 3", |l| {
        has(l, &["\"stream\": 3", "\"request_id\": \"cfg-1\""])
    });
    assert!(
        !dir.path("backup").exists(),
        "cfg-1 ran again: {}",
        d.stderr()
    );
}
