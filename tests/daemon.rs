//! The daemon as a real process: status, reload on SIGHUP, graceful stop, socket safety,
//! peer checks and hostile clients on its real Unix socket.

mod common;

use common::{run, wait_for, Daemon, TempDir, SIGHUP, SIGINT, SIGTERM};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

fn field<'a>(json: &'a str, key: &str) -> &'a str {
    let start = json
        .find(&format!("\"{key}\":"))
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + key.len()
        + 3;
    let rest = &json[start..];
    let end = rest.find([',', '}']).unwrap();
    &rest[..end]
}

#[test]
fn status_reports_the_running_daemon() {
    let dir = TempDir::new("status");
    let config = dir.write(
        "c",
        &common::config_text(
            &dir,
            "\toption id 'gw-test'\nconfig rule\n\toption action deny\n\tlist user mallory\n",
        ),
    );
    let d = Daemon::start(&config);
    let (st, out, _) = run(&["status", "-c", config.to_str().unwrap()]);
    assert!(st.success());
    assert!(out.contains(&format!("(pid {})", d.pid())), "{out}");
    assert!(out.contains("agent id:   gw-test"), "{out}");
    assert!(
        out.contains("local policy (default allow, 1 rule(s))"),
        "{out}"
    );
    let json = d.status_json();
    assert_eq!(field(&json, "pid"), d.pid().to_string());
    assert_eq!(field(&json, "agent_id"), "\"gw-test\"");
    assert_eq!(field(&json, "reloads"), "0");
    d.wait_stderr("started");
}

#[test]
fn sighup_reload_keeps_the_old_config_when_the_new_one_is_bad() {
    let dir = TempDir::new("reload");
    let good = common::config_text(&dir, "\toption log_level 'info'\n");
    let config = dir.write("c", &good);
    let d = Daemon::start(&config);
    assert_eq!(field(&d.status_json(), "log_level"), "\"info\"");

    // A broken file: refused, logged with file:line, the old configuration stays.
    dir.write(
        "c",
        &format!("{good}\toption log_level 'loud'\n\toption a b c\n"),
    );
    d.signal(SIGHUP);
    wait_for("the refused reload", || {
        field(&d.status_json(), "reload_failures") == "1"
    });
    let json = d.status_json();
    assert_eq!(field(&json, "reloads"), "0");
    assert_eq!(field(&json, "log_level"), "\"info\"");
    let path = config.display().to_string();
    d.wait_stderr("reload refused; the previous configuration stays");
    d.wait_stderr(&format!("{path}:8: option 'log_level'"));
    d.wait_stderr(&format!("{path}:9: too many arguments"));
    assert!(json.contains(&format!("{path}:8:")), "{json}");

    // A good file: applied without a restart.
    dir.write(
        "c",
        &common::config_text(&dir, "\toption log_level 'debug'\n"),
    );
    d.signal(SIGHUP);
    wait_for("the accepted reload", || {
        field(&d.status_json(), "reloads") == "1"
    });
    let json = d.status_json();
    assert_eq!(field(&json, "log_level"), "\"debug\"");
    assert!(!json.contains("last_reload_error"), "{json}");
    d.wait_stderr("configuration reloaded");
}

#[test]
fn sigterm_stops_gracefully_and_removes_the_socket() {
    let dir = TempDir::new("term");
    let config = dir.write("c", &common::config_text(&dir, ""));
    let mut d = Daemon::start(&config);
    assert!(dir.path("agent.sock").exists());
    d.signal(SIGTERM);
    assert_eq!(d.wait_exit().code(), Some(0));
    assert!(!dir.path("agent.sock").exists());
    d.wait_stderr("stopping (SIGTERM)");
}

#[test]
fn sigint_stops_gracefully() {
    let dir = TempDir::new("int");
    let config = dir.write("c", &common::config_text(&dir, ""));
    let mut d = Daemon::start(&config);
    d.signal(SIGINT);
    assert_eq!(d.wait_exit().code(), Some(0));
    d.wait_stderr("stopping (SIGINT)");
}

#[test]
fn a_bad_config_at_start_is_reported_and_the_daemon_exits_1() {
    let dir = TempDir::new("badstart");
    let config = dir.write("c", "config agent 'main'\n\toption hook_timeout never\n");
    let mut d = Daemon::spawn(&config);
    assert_eq!(d.wait_exit().code(), Some(1));
    let err = d.stderr();
    assert!(
        err.contains(&format!("{}:2: option 'hook_timeout'", config.display())),
        "{err}"
    );
}

#[test]
fn socket_gets_the_configured_mode() {
    let dir = TempDir::new("mode");
    let config = dir.write("c", &common::config_text(&dir, ""));
    let d = Daemon::start(&config);
    let mode = std::fs::metadata(dir.path("agent.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    drop(d);
    let config = dir.write(
        "c",
        &common::config_text(&dir, "\toption socket_mode '0660'\n"),
    );
    let _d = Daemon::start(&config);
    let mode = std::fs::metadata(dir.path("agent.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);
}

#[test]
fn a_stale_socket_from_a_crash_is_replaced() {
    let dir = TempDir::new("stale");
    drop(UnixListener::bind(dir.path("agent.sock")).unwrap());
    assert!(dir.path("agent.sock").exists());
    let config = dir.write("c", &common::config_text(&dir, ""));
    let d = Daemon::start(&config);
    d.wait_stderr("replacing stale socket");
}

#[test]
fn a_live_daemon_keeps_its_socket() {
    let dir = TempDir::new("live");
    let config = dir.write("c", &common::config_text(&dir, ""));
    let first = Daemon::start(&config);
    let mut second = Daemon::spawn(&config);
    assert_eq!(second.wait_exit().code(), Some(1));
    assert!(
        second
            .stderr()
            .contains("another ocserv-agent is already listening"),
        "{}",
        second.stderr()
    );
    // The first still answers, and the second did not remove its socket on the way out.
    assert_eq!(field(&first.status_json(), "pid"), first.pid().to_string());
}

#[test]
fn a_file_that_is_not_a_socket_is_never_replaced() {
    let dir = TempDir::new("notsock");
    dir.write("agent.sock", "precious");
    let config = dir.write("c", &common::config_text(&dir, ""));
    let mut d = Daemon::spawn(&config);
    assert_eq!(d.wait_exit().code(), Some(1));
    d.wait_stderr("is not a socket");
    assert_eq!(
        std::fs::read_to_string(dir.path("agent.sock")).unwrap(),
        "precious"
    );
}

/// Sends raw bytes and returns whatever the daemon answers before closing.
fn raw_exchange(socket: &std::path::Path, bytes: &[u8]) -> Vec<u8> {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    reply
}

#[test]
fn hostile_frames_get_error_replies_and_the_daemon_lives_on() {
    let dir = TempDir::new("hostile");
    let config = dir.write("c", &common::config_text(&dir, ""));
    let d = Daemon::start(&config);
    let socket = dir.path("agent.sock");
    // An event the hook would never send: typed, but with a name ocserv's rules refuse.
    let event = br#"{"reason":"connect","id":1,"username":"a\nb","groupname":"","vhost":"","device":"","hostname":"","user_agent":"","device_type":"","device_platform":""}"#;
    let mut bad_event = b"OA\x02\x02".to_vec();
    bad_event.extend_from_slice(&(event.len() as u32).to_be_bytes());
    bad_event.extend_from_slice(event);
    let cases: &[(&[u8], &str)] = &[
        (b"GET / HTTP/1.0\r\n\r\n", "not an ocserv-agent message"),
        (b"OA\x09\x01\0\0\0\0", "protocol version 9"),
        // A hook of the version that sent ocserv's raw variables meets this daemon.
        (b"OA\x01\x02\0\0\0\x02{}", "protocol version 1"),
        (b"OA\x02\x63\0\0\0\0", "unknown message kind 99"),
        (b"OA\x02\x01\xff\xff\xff\xff", "exceeds"),
        (b"OA\x02\x01\0\0\0\x05[[[[[", "malformed"),
        (b"OA\x02\x01\0\0\0\x0a{\"a\":1,:2}", "malformed"),
        (b"OA\x02\x02\0\0\0\x02{}", "malformed"),
        (&bad_event, "malformed event: USERNAME"),
    ];
    for (bytes, expected) in cases {
        let reply = raw_exchange(&socket, bytes);
        assert!(reply.len() > 8, "no reply to {bytes:?}");
        assert_eq!(
            &reply[..4],
            b"OA\x02\xff",
            "not an error reply to {bytes:?}"
        );
        let text = String::from_utf8_lossy(&reply[8..]);
        assert!(text.contains(expected), "{bytes:?} -> {text}");
    }
    // Half a header and a hang-up: no reply, no harm.
    assert!(raw_exchange(&socket, b"OA\x02").is_empty());
    assert_eq!(field(&d.status_json(), "pid"), d.pid().to_string());
}

/// SO_PEERCRED: a peer whose uid is not allowed is refused. Needs root to act as another uid.
#[test]
fn peers_outside_allowed_uid_are_refused() {
    if !rustix_is_root() {
        eprintln!("skipped: needs root to run a client as another uid");
        return;
    }
    use std::os::unix::process::CommandExt;
    let dir = TempDir::new("peercred");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    // 0660 and a client in group 0, so the file mode lets it connect and only the uid check stands.
    let config = dir.write(
        "c",
        &common::config_text(&dir, "\toption socket_mode '0660'\n"),
    );
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let d = Daemon::start(&config);
    let as_nobody = || {
        common::command(&common::bin())
            .args(["status", "-c", config.to_str().unwrap()])
            .uid(65534)
            .gid(0)
            .output()
            .unwrap()
    };
    let out = as_nobody();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("uid 65534 is not allowed"), "{err}");
    d.wait_stderr("refused a connection from uid 65534");

    // Allowed after a reload that lists the uid.
    dir.write(
        "c",
        &common::config_text(
            &dir,
            "\toption socket_mode '0660'\n\tlist allowed_uid 0\n\tlist allowed_uid 65534\n",
        ),
    );
    d.signal(SIGHUP);
    wait_for("the reload", || field(&d.status_json(), "reloads") == "1");
    let out = as_nobody();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rustix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        .unwrap_or(false)
}

#[test]
fn log_level_filters_and_changes_on_reload() {
    let dir = TempDir::new("loglevel");
    let config = dir.write(
        "c",
        &common::config_text(&dir, "\toption log_level 'warn'\n"),
    );
    let d = Daemon::start(&config);
    assert_eq!(field(&d.status_json(), "log_level"), "\"warn\"");
    assert!(
        !d.stderr().contains("info:"),
        "info lines at level warn:\n{}",
        d.stderr()
    );
    dir.write(
        "c",
        &common::config_text(&dir, "\toption log_level 'info'\n"),
    );
    d.signal(SIGHUP);
    // The reload's own info line shows the new level is in force.
    d.wait_stderr("info: configuration reloaded");
}
