//! The authorization path end to end: the real hook binary, as ocserv runs it, against the real
//! daemon; local rules alone, and with the grpcio fake portal (tests/interop/fake_portal.py).

mod common;

use common::grpc::{certs, portal_config, Portal};
use common::ocserv::{connect, disconnect, run_hook};
use common::{bin, Daemon, TempDir};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Starts the hook without waiting for it, with exactly `vars` as its environment.
fn spawn_hook(config: &Path, vars: &[(String, String)], stderr: Stdio) -> Child {
    common::command(&bin())
        .args(["hook", "-c", config.to_str().unwrap()])
        .env_clear()
        .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stderr(stderr)
        .spawn()
        .unwrap()
}

#[test]
fn local_rules_decide_without_a_portal() {
    let dir = TempDir::new("authz-local");
    let text = common::config_text(&dir, "\toption log_level debug\n")
        + "config policy 'local'\n\toption default deny\n"
        + "config rule 'blocked_net'\n\toption action deny\n\tlist source '203.0.113.0/24'\n"
        + "config rule 'staff'\n\toption action allow\n\tlist user 'alice'\n\tlist user 'bob'\n"
        + "config rule 'one_device'\n\toption action allow\n\tlist user 'carol'\n\toption max_sessions 1\n";
    let config = dir.write("c", &text);
    let d = Daemon::start(&config);

    let (code, err) = run_hook(&config, &connect(1, "alice", "192.0.2.10"));
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = run_hook(&config, &connect(2, "alice", "203.0.113.9"));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("denied (local): denied by rule 'blocked_net'"),
        "{err}"
    );
    let (code, err) = run_hook(&config, &connect(3, "mallory", "192.0.2.11"));
    assert_eq!(code, Some(1));
    assert!(err.contains("denied by policy.default"), "{err}");

    // max_sessions counts the sessions the agent admitted; a disconnect frees the place.
    assert_eq!(
        run_hook(&config, &connect(10, "carol", "192.0.2.12")).0,
        Some(0)
    );
    let (code, err) = run_hook(&config, &connect(11, "carol", "192.0.2.12"));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("user has 1 session(s); rule 'one_device' allows 1"),
        "{err}"
    );
    assert_eq!(run_hook(&config, &disconnect(10, "carol")).0, Some(0));
    assert_eq!(
        run_hook(&config, &connect(12, "carol", "192.0.2.12")).0,
        Some(0)
    );
    // A disconnect for a session never admitted is harmless.
    assert_eq!(run_hook(&config, &disconnect(999, "nobody")).0, Some(0));

    d.wait_stderr(
        "connect of 'mallory' (session 3) from 192.0.2.11: denied (local): denied by policy.default",
    );
    let json = d.status_json();
    assert!(json.contains("allowed=3 denied=3"), "{json}");
    assert!(json.contains("\"sessions\":2"), "{json}");
}

/// Relaxes a config's deadlines (hook 30 s, portal call 20 s) for tests whose bursts of hook
/// processes would, under an emulator, outlast the usual ones.
fn patient(config: &Path) {
    let text = std::fs::read_to_string(config)
        .unwrap()
        .replace("option hook_timeout 5s", "option hook_timeout 30s")
        .replace("option timeout 3s", "option timeout 20s");
    std::fs::write(config, text).unwrap();
}

#[test]
fn the_portal_decides_and_fail_stale_serves_its_last_allow() {
    let dir = TempDir::new("authz-portal");
    let pki = certs(&dir);
    let portal = Portal::start(&pki);
    let config = portal_config(&dir, &pki, portal.port, "stale");
    let d = Daemon::start(&config);

    let (code, err) = run_hook(&config, &connect(1, "alice", "192.0.2.10"));
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = run_hook(&config, &connect(2, "bob", "192.0.2.20"));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("denied (portal): denied by the portal: not today"),
        "{err}"
    );
    // Within cache_ttl the same question is answered from the cache.
    let (code, _) = run_hook(&config, &connect(3, "alice", "192.0.2.10"));
    assert_eq!(code, Some(0));
    let json = d.status_json();
    assert!(json.contains("portal=2 cache=1"), "{json}");
    // Allowed, but should_disconnect: the session does not come up.
    let (code, err) = run_hook(&config, &connect(7, "suspended", "192.0.2.21"));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("the portal asked to disconnect the session: account suspended"),
        "{err}"
    );

    // The portal goes away. After cache_ttl, alice's allow is stale but served; bob's deny is
    // never served stale-as-allow, and a user the portal never answered is denied.
    drop(portal);
    std::thread::sleep(Duration::from_millis(1100));
    let (code, err) = run_hook(&config, &connect(4, "alice", "192.0.2.10"));
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = run_hook(&config, &connect(5, "bob", "192.0.2.20"));
    assert_eq!(code, Some(1), "{err}");
    let (code, err) = run_hook(&config, &connect(6, "dave", "192.0.2.30"));
    assert_eq!(code, Some(1));
    assert!(err.contains("(fail-close)"), "{err}");
    let json = d.status_json();
    assert!(json.contains("stale=2"), "{json}");
    // Two failures opened the breaker.
    assert!(json.contains("\"breaker_state\":\"open\""), "{json}");
    d.wait_stderr("portal circuit breaker: closed -> open");
}

#[test]
fn fail_close_denies_and_fail_open_allows_when_the_portal_is_down() {
    let dir = TempDir::new("authz-down");
    let pki = certs(&dir);
    // A port nobody listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    for (mode, want, source) in [("close", 1, "(fail-close)"), ("open", 0, "fail_mode open")] {
        let config = portal_config(&dir, &pki, port, mode);
        let d = Daemon::start(&config);
        let started = Instant::now();
        let (code, err) = run_hook(&config, &connect(1, "alice", "192.0.2.10"));
        assert_eq!(code, Some(want), "{mode}: {err}");
        if want == 1 {
            assert!(err.contains(source), "{err}");
        }
        // Decided by the fail mode, well before the hook's 5 s deadline (the source above
        // says the daemon answered, not the fallback); a cold emulated daemon and hook take
        // seconds of their own (seen: over 4 s under qemu-mips).
        let bound = Duration::from_secs(if common::emulated() { 15 } else { 4 });
        assert!(started.elapsed() < bound, "{mode}: {:?}", started.elapsed());
        let json = d.status_json();
        let counted = if mode == "open" {
            "fail-open=1"
        } else {
            "fail-close=1"
        };
        assert!(json.contains(counted), "{json}");
        if mode == "open" {
            d.wait_stderr(source);
        }
    }
}

#[test]
fn the_hook_exits_1_at_once_on_sigterm_and_falls_back_when_the_daemon_is_silent() {
    use std::os::unix::net::UnixListener;
    let dir = TempDir::new("authz-silent");
    let config = dir.write(
        "c",
        &common::config_text(&dir, "\toption hook_timeout 2s\n"),
    );
    // A "daemon" that accepts and never answers.
    let listener = UnixListener::bind(dir.path("agent.sock")).unwrap();
    let (accepted, connected) = std::sync::mpsc::channel();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(2) {
            conns.push(c);
            let _ = accepted.send(());
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let vars = connect(1, "alice", "192.0.2.10");
    // Silent daemon: the fallback after hook_timeout.
    let started = Instant::now();
    let (code, err) = run_hook(&config, &vars);
    let took = started.elapsed();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("denied by agent.hook_fallback"), "{err}");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // SIGTERM while waiting: exit status 1 (not death by signal), at once.
    let mut child = spawn_hook(&config, &vars, Stdio::null());
    // Once it is connected and waiting (its handler is installed before it connects).
    connected.recv().unwrap();
    connected.recv().unwrap();
    let sent = Instant::now();
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert!(
        sent.elapsed() < Duration::from_millis(500),
        "{:?}",
        sent.elapsed()
    );
    drop(held);
}

#[test]
fn concurrent_hooks_for_one_user_make_one_portal_call() {
    let dir = TempDir::new("authz-coalesce");
    let pki = certs(&dir);
    let portal = Portal::start(&pki);
    let config = portal_config(&dir, &pki, portal.port, "close");
    patient(&config);
    let _d = Daemon::start(&config);
    // 100 at once; fewer under an emulator, where each hook is a whole qemu process.
    let n = if common::emulated() { 20 } else { 100 };
    // The portal takes 2 s to answer "slow": every hook arrives while the first call runs.
    let hooks: Vec<_> = (0..n)
        .map(|i| {
            let vars = connect(100 + i, "slow", "192.0.2.50");
            spawn_hook(&config, &vars, Stdio::piped())
        })
        .collect();
    for h in hooks {
        let out = h.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (code, err) = run_hook(&config, &connect(1, "calls:slow", "192.0.2.50"));
    assert_eq!(code, Some(1));
    assert!(err.contains("denied by the portal: 1"), "{n} hooks: {err}");
}

/// Load: many hook processes against one daemon, in waves of 50 at once, over 40 users (the
/// first connect of each is a portal call, the rest cache hits); every one gets its answer.
#[test]
fn a_thousand_hooks_and_no_failures() {
    let dir = TempDir::new("authz-load");
    let pki = certs(&dir);
    let portal = Portal::start(&pki);
    let config = portal_config(&dir, &pki, portal.port, "close");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("option cache_ttl 1s", "option cache_ttl 1h");
    std::fs::write(&config, text).unwrap();
    patient(&config);
    let d = Daemon::start(&config);
    let emulated = common::emulated();
    let total: u32 = if emulated { 100 } else { 1000 };
    let mut failures = Vec::new();
    for wave in 0..total / 50 {
        let hooks: Vec<_> = (0..50)
            .map(|i| {
                let n = wave * 50 + i;
                let vars = connect(10_000 + n, &format!("user{}", n % 40), "192.0.2.60");
                spawn_hook(&config, &vars, Stdio::piped())
            })
            .collect();
        for h in hooks {
            let out = h.wait_with_output().unwrap();
            if out.status.code() != Some(0) {
                failures.push(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );
    let json = d.status_json();
    assert!(
        json.contains(&format!("allowed={total} denied=0")),
        "{json}"
    );
    // One portal call per user (overlapping hooks for a user share it, and count as portal
    // decisions: at most the first wave); every later decision from the cache.
    let count = |name: &str| -> u32 {
        let at = json.find(&format!(" {name}=")).unwrap() + name.len() + 2;
        json[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (portal_decisions, cached) = (count("portal"), count("cache"));
    assert_eq!(portal_decisions + cached, total, "{json}");
    assert!((40..=50).contains(&portal_decisions), "{json}");
    for user in ["user0", "user39"] {
        let (code, err) = run_hook(&config, &connect(1, &format!("calls:{user}"), "192.0.2.60"));
        assert_eq!(code, Some(1));
        assert!(err.contains("denied by the portal: 1"), "{user}: {err}");
    }
}
