//! Never a wrong allow, through the real hook and daemon with a grpcio portal whose answers each
//! test scripts per user: refusal statuses deny (never stale, never open), an odd field on a
//! deny stays a deny, revocations reach the cache (`cache clear`, DisconnectUser,
//! `should_disconnect`), and a reload's shorter TTLs apply to what is already cached.

mod common;

use common::grpc::{certs, portal_config, Portal, Verdicts};
use common::ocserv::{connect, run_hook};
use common::{decisions as count, run, Daemon, TempDir, SIGHUP};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A test's world: its directory and PKI, the portal with scripted answers (recording the
/// control stream and reports in `dir/record`), and a config for it with `fail_mode` and
/// `cache_ttl` (1s, as `portal_config` has it, unless given).
struct World {
    dir: TempDir,
    pki: PathBuf,
    verdicts: Verdicts,
    portal: Portal,
    config: PathBuf,
}

impl World {
    fn new(name: &str, fail_mode: &str, ttl: Option<&str>) -> World {
        let dir = TempDir::new(name);
        let pki = certs(&dir);
        let verdicts = Verdicts::new(&dir);
        let portal = Portal::start_scripted(&pki, &verdicts, Some(&dir.path("record")));
        let config = portal_config(&dir, &pki, portal.port, fail_mode);
        if let Some(ttl) = ttl {
            let text = std::fs::read_to_string(&config)
                .unwrap()
                .replace("option cache_ttl 1s", &format!("option cache_ttl {ttl}"));
            std::fs::write(&config, text).unwrap();
        }
        World {
            dir,
            pki,
            verdicts,
            portal,
            config,
        }
    }
}

fn hook_as(config: &Path, id: u32, user: &str, ip: &str) -> (Option<i32>, String) {
    run_hook(config, &connect(id, user, ip))
}

/// Alice is allowed and cached; her entry expires; the portal now answers each refusal status.
/// Under `stale` and under `open` every one is a deny, from its own source, and logged.
#[test]
fn refusal_statuses_deny_under_stale_and_open() {
    for fail_mode in ["stale", "open"] {
        let w = World::new(&format!("refusals-{fail_mode}"), fail_mode, None);
        let (config, verdicts) = (&w.config, &w.verdicts);
        let d = Daemon::start(config);
        verdicts.set("alice", "allow");
        assert_eq!(hook_as(config, 1, "alice", "192.0.2.10").0, Some(0));
        std::thread::sleep(Duration::from_millis(1100)); // now only stale
        let codes = [
            "PERMISSION_DENIED",
            "UNAUTHENTICATED",
            "NOT_FOUND",
            "FAILED_PRECONDITION",
            "INVALID_ARGUMENT",
            "CANCELLED",
        ];
        for (i, code) in codes.iter().enumerate() {
            verdicts.set("alice", &format!("status {code}"));
            let (exit, err) = hook_as(config, 10 + i as u32, "alice", "192.0.2.10");
            assert_eq!(exit, Some(1), "{fail_mode}/{code}: {err}");
            assert!(
                err.contains("(portal-refused)") && err.contains(code),
                "{fail_mode}/{code}: {err}"
            );
        }
        // Then the portal fails for real: the refusal dropped the old allow, so stale has
        // nothing to serve; open still opens (that is what it is for).
        verdicts.set("alice", "status UNAVAILABLE");
        let (exit, err) = hook_as(config, 20, "alice", "192.0.2.10");
        match fail_mode {
            "stale" => assert_eq!(exit, Some(1), "{err}"),
            _ => assert_eq!(exit, Some(0), "{err}"),
        }
        let json = d.status_json();
        assert_eq!(count(&json, "portal-refused"), codes.len() as u32, "{json}");
        assert_eq!(count(&json, "stale"), 0, "{json}");
        // Logged at error, once a minute however many.
        d.wait_stderr("portal refused CheckPolicy with PERMISSION_DENIED");
        assert_eq!(
            d.stderr().matches("portal refused CheckPolicy").count(),
            1,
            "{}",
            d.stderr()
        );
        // Refusals say the portal is up: the breaker stayed closed.
        assert!(json.contains("\"breaker_state\":\"closed\""), "{json}");
    }
}

/// `allowed: false` with a malformed `cache_ttl_seconds` is the portal's deny, not a failure:
/// no stale allow, no breaker count; a malformed TTL on an allow only means "do not cache".
#[test]
fn a_deny_with_odd_metadata_is_a_deny() {
    let w = World::new("odd-ttl", "stale", None);
    let (config, verdicts) = (&w.config, &w.verdicts);
    let d = Daemon::start(config);
    verdicts.set("alice", "allow");
    assert_eq!(hook_as(config, 1, "alice", "192.0.2.10").0, Some(0));
    std::thread::sleep(Duration::from_millis(1100)); // alice's allow is now only stale
    for (i, ttl) in ["30s", "-1", "1.5"].iter().enumerate() {
        verdicts.set("alice", &format!("deny ttl={ttl}"));
        let (exit, err) = hook_as(config, 10 + i as u32, "alice", "192.0.2.10");
        assert_eq!(exit, Some(1), "{ttl}: {err}");
        assert!(
            err.contains("(portal): denied by the portal: scripted deny"),
            "{ttl}: {err}"
        );
    }
    // An allow with a malformed TTL admits and is not cached: the next connect asks again.
    verdicts.set("carol", "allow ttl=soon");
    assert_eq!(hook_as(config, 30, "carol", "192.0.2.30").0, Some(0));
    assert_eq!(hook_as(config, 31, "carol", "192.0.2.30").0, Some(0));
    assert_eq!(verdicts.calls("carol"), 2);
    // Warned once a minute, not once a reply.
    d.wait_stderr("cache_ttl_seconds '30s' is not a whole number of seconds");
    assert_eq!(d.stderr().matches("is not a whole number").count(), 1);
    let json = d.status_json();
    assert!(json.contains("failures=0"), "{json}");
    assert_eq!(count(&json, "stale"), 0, "{json}");
}

/// A cached allow, then the portal changes its mind: `ocserv-agent cache clear USER` makes the
/// next connect ask (and be denied); other users' decisions stay.
#[test]
fn cache_clear_puts_the_next_connect_to_the_portal() {
    let w = World::new("cache-clear", "stale", Some("10m"));
    let (config, verdicts) = (&w.config, &w.verdicts);
    let _d = Daemon::start(config);
    let c = config.to_str().unwrap();
    verdicts.set("alice", "allow");
    verdicts.set("bob", "allow");
    for (id, user, ip) in [
        (1, "alice", "192.0.2.1"),
        (2, "alice", "192.0.2.2"),
        (3, "bob", "192.0.2.3"),
    ] {
        assert_eq!(hook_as(config, id, user, ip).0, Some(0));
    }
    verdicts.set("alice", "deny");
    verdicts.set("bob", "deny");
    let (exit, err) = hook_as(config, 4, "alice", "192.0.2.1");
    assert_eq!(exit, Some(0), "still cached: {err}");
    let (st, out, err) = run(&["cache", "clear", "alice", "-c", c]);
    assert!(st.success(), "{err}");
    assert_eq!(out.trim(), "dropped 2 cached decision(s) of 'alice'");
    for (id, ip) in [(5, "192.0.2.1"), (6, "192.0.2.2")] {
        let (exit, err) = hook_as(config, id, "alice", ip);
        assert_eq!(exit, Some(1), "{err}");
        assert!(err.contains("denied by the portal"), "{err}");
    }
    assert_eq!(
        hook_as(config, 7, "bob", "192.0.2.3").0,
        Some(0),
        "bob's stays"
    );
    let (st, out, _) = run(&["cache", "clear", "-c", c]);
    assert!(st.success());
    assert!(out.starts_with("dropped "), "{out}");
    assert_eq!(hook_as(config, 8, "bob", "192.0.2.3").0, Some(1));
    let (st, _, err) = run(&["cache", "clear", "a\u{1}b", "-c", c]);
    assert_eq!(st.code(), Some(1), "{err}");
    assert!(err.contains("is not a user name"), "{err}");
    let (st, _, err) = run(&["cache", "drop", "-c", c]);
    assert_eq!(st.code(), Some(1), "{err}");
}

/// `should_disconnect` on one key revokes the user's allows on every key.
#[test]
fn should_disconnect_revokes_every_key_of_the_user() {
    let w = World::new("should-disconnect", "stale", Some("10m"));
    let (config, verdicts) = (&w.config, &w.verdicts);
    let _d = Daemon::start(config);
    // 'suspended' is the fake portal's allowed-but-should_disconnect user; script the first
    // answer as a plain allow on one address.
    verdicts.set("suspended", "allow");
    assert_eq!(hook_as(config, 1, "suspended", "192.0.2.1").0, Some(0));
    std::fs::remove_file(verdicts.0.join("suspended")).unwrap();
    let (exit, err) = hook_as(config, 2, "suspended", "192.0.2.2");
    assert_eq!(exit, Some(1), "{err}");
    assert!(err.contains("account suspended"), "{err}");
    // The first address's cached allow went with it: asked again, denied again.
    let (exit, err) = hook_as(config, 3, "suspended", "192.0.2.1");
    assert_eq!(exit, Some(1), "{err}");
    assert!(err.contains("(portal)"), "{err}");
}

/// A reload to `cache_ttl 0` applies to the allow cached under 10 m; a reload to a smaller
/// `cache_max_size` takes effect.
#[test]
fn a_reload_applies_to_what_is_cached() {
    let w = World::new("reload-ttl", "stale", Some("10m"));
    let (config, verdicts) = (&w.config, &w.verdicts);
    let d = Daemon::start(config);
    verdicts.set("alice", "allow");
    for id in 1..=3 {
        assert_eq!(
            hook_as(config, id, "alice", &format!("192.0.2.{id}")).0,
            Some(0)
        );
    }
    verdicts.set("alice", "deny");
    assert_eq!(
        hook_as(config, 4, "alice", "192.0.2.1").0,
        Some(0),
        "cached"
    );
    let text = std::fs::read_to_string(config).unwrap().replace(
        "option cache_ttl 10m",
        "option cache_ttl 0\n\toption cache_max_size 2",
    );
    std::fs::write(config, text).unwrap();
    d.signal(SIGHUP);
    d.wait_stderr("configuration reloaded");
    let json = d.status_json();
    assert!(json.contains("capacity=2"), "{json}");
    assert_eq!(hook_as(config, 5, "alice", "192.0.2.1").0, Some(1));
    assert_eq!(verdicts.calls("alice"), 4);
}

/// DisconnectUser drops the user's cached decisions even when ocserv cannot be reached.
#[test]
fn disconnect_user_revokes_the_cache() {
    let w = World::new("disconnect-revokes", "stale", Some("10m"));
    let (config, verdicts) = (&w.config, &w.verdicts);
    let text = std::fs::read_to_string(config).unwrap()
        + &format!(
            "config grpc 'grpc'\n\toption enabled 1\n\toption listen '127.0.0.1:0'\n\toption ca '{}'\n\toption cert '{}'\n\toption key '{}'\nconfig ocserv 'ocserv'\n\toption ctl_socket '{}'\n",
            w.pki.join("ca.pem").display(),
            w.pki.join("server.pem").display(),
            w.pki.join("server.key").display(),
            w.dir.path("no-ocserv.socket").display()
        );
    std::fs::write(config, text).unwrap();
    let d = Daemon::start(config);
    d.wait_stderr("grpc: serving agent.v1 on ");
    let log = d.stderr();
    let at = log.find("grpc: serving agent.v1 on ").unwrap() + 26;
    let address = log[at..].split_whitespace().next().unwrap().to_string();
    verdicts.set("alice", "allow");
    assert_eq!(hook_as(config, 1, "alice", "192.0.2.1").0, Some(0));
    verdicts.set("alice", "deny");
    assert_eq!(
        hook_as(config, 2, "alice", "192.0.2.1").0,
        Some(0),
        "cached"
    );
    let out = std::process::Command::new(common::grpc::python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/agent_call.py"
        ))
        .args([
            &address,
            w.pki.to_str().unwrap(),
            concat!(env!("CARGO_MANIFEST_DIR"), "/proto"),
        ])
        .args(["disconnect", "alice", "all"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("error UNAVAILABLE"), "no ocserv here: {text}");
    let (exit, err) = hook_as(config, 3, "alice", "192.0.2.1");
    assert_eq!(exit, Some(1), "{err}");
    assert!(err.contains("denied by the portal"), "{err}");
    d.wait_stderr("cache: dropped 1 decision(s) of 'alice'");
}

/// The control stream's `invalidate_cache` order drops the user's cached allow, as the portal
/// means it to: the next connect is put to the portal.
#[test]
fn the_control_streams_invalidate_cache_revokes() {
    let w = World::new("control-invalidate", "stale", Some("10m"));
    let (config, verdicts) = (&w.config, &w.verdicts);
    let record = w.dir.path("record");
    let base = std::fs::read_to_string(config).unwrap().replace(
        "\toption hook_timeout 5s\n",
        "\toption hook_timeout 5s\n\toption id 'scripted-d1'\n",
    );
    let control = |enabled: u8| {
        format!(
            "config control 'control'\n\toption enabled {enabled}\n\toption address '127.0.0.1:{}'\n\toption heartbeat_interval 1s\n",
            w.portal.port
        )
    };
    std::fs::write(config, base.clone() + &control(0)).unwrap();
    let d = Daemon::start(config);
    verdicts.set("alice", "allow");
    assert_eq!(hook_as(config, 1, "alice", "192.0.2.1").0, Some(0));
    verdicts.set("alice", "deny");
    assert_eq!(
        hook_as(config, 2, "alice", "192.0.2.1").0,
        Some(0),
        "cached"
    );
    std::fs::write(config, base + &control(1)).unwrap();
    d.signal(SIGHUP);
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("\"request_id\": \"inv-1\""))
        {
            assert!(line.contains("\"success\": \"true\""), "{line}");
            assert!(
                line.contains("dropped 1 cached decision(s) of 'alice'"),
                "{line}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < until,
            "no answer to inv-1:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (exit, err) = hook_as(config, 3, "alice", "192.0.2.1");
    assert_eq!(exit, Some(1), "{err}");
    assert!(err.contains("denied by the portal"), "{err}");
}

/// Expired decisions leave on the daemon's timer, so `cache_entries` counts live ones even for
/// keys nobody asks about again.
#[test]
fn expired_decisions_are_swept_without_being_asked_for() {
    let w = World::new("sweep", "stale", None);
    let (config, verdicts) = (&w.config, &w.verdicts);
    let text = std::fs::read_to_string(config)
        .unwrap()
        .replace("option cache_stale_ttl 1h", "option cache_stale_ttl 0");
    std::fs::write(config, text).unwrap();
    let d = Daemon::start(config);
    verdicts.set("alice", "allow");
    assert_eq!(hook_as(config, 1, "alice", "192.0.2.1").0, Some(0));
    assert!(
        d.status_json().contains("\"cache_entries\":1,"),
        "{}",
        d.status_json()
    );
    // cache_ttl 1 s, no stale window: dead after 1 s, gone at the next sweep (every second).
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while !d.status_json().contains("\"cache_entries\":0,") {
        assert!(std::time::Instant::now() < until, "{}", d.status_json());
        std::thread::sleep(Duration::from_millis(200));
    }
}
