//! The portal misbehaving, seen through the real hook and daemon with the grpcio fake portal:
//! slow (deadline → breaker opens → stale served without a call → half-open probe → closed),
//! restarted, presenting a certificate from the wrong CA; and what the cache may and may not do
//! while the portal is healthy.

mod common;

use common::grpc::{certs, portal_config, Portal, Verdicts};
use common::ocserv::{connect, run_hook};
use common::{decisions as count, Daemon, TempDir};
use std::path::Path;
use std::time::{Duration, Instant};

fn breaker(d: &Daemon) -> String {
    let json = d.status_json();
    let at = json.find("\"breaker_state\":\"").unwrap() + 17;
    json[at..].split('"').next().unwrap().to_string()
}

fn set_portal_timeout(config: &Path, timeout: &str) {
    let text = std::fs::read_to_string(config)
        .unwrap()
        .replace("option timeout 3s", &format!("option timeout {timeout}"));
    std::fs::write(config, text).unwrap();
}

#[test]
fn a_slow_portal_opens_the_breaker_and_a_probe_closes_it() {
    let dir = TempDir::new("faults-slow");
    let pki = certs(&dir);
    let verdicts = Verdicts::new(&dir);
    let portal = Portal::start_scripted(&pki, &verdicts, None);
    let config = portal_config(&dir, &pki, portal.port, "stale");
    // 'slow' answers after 10 s. The call's deadline (4 s) is far longer than an emulated TLS
    // handshake on a loaded machine (1.5 s was not), and the hook's budget (8 s less its
    // margin) longer still, so that the deadline is the portal's fault and counts.
    verdicts.set("slow", "allow sleep=10");
    set_portal_timeout(&config, "4s");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("option hook_timeout 5s", "option hook_timeout 8s");
    std::fs::write(&config, text).unwrap();
    let d = Daemon::start(&config);

    assert_eq!(
        run_hook(&config, &connect(1, "alice", "192.0.2.10")).0,
        Some(0)
    );
    std::thread::sleep(Duration::from_millis(1100)); // alice's allow is now only stale

    // Each call for 'slow' hits the deadline; two open the breaker.
    for (id, ip) in [(2, "192.0.2.21"), (3, "192.0.2.22")] {
        let (code, err) = run_hook(&config, &connect(id, "slow", ip));
        assert_eq!(code, Some(1), "{err}");
        assert!(
            err.contains("(fail-close)") && err.contains("DEADLINE_EXCEEDED"),
            "{err}"
        );
    }
    assert_eq!(breaker(&d), "open");
    d.wait_stderr("portal circuit breaker: closed -> open");

    // Open: no call is made (the portal's count below proves it); alice's recent allow is
    // served stale. (No wall-clock bound: under qemu-mips one hook alone takes ~0.5 s.)
    let (code, err) = run_hook(&config, &connect(4, "alice", "192.0.2.10"));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(count(&d.status_json(), "stale"), 1);

    // After breaker_timeout (1 s) the next call is the half-open probe; it succeeds: closed.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        run_hook(&config, &connect(5, "alice", "192.0.2.10")).0,
        Some(0)
    );
    let json = d.status_json();
    assert_eq!(count(&json, "portal"), 2, "{json}");
    assert_eq!(breaker(&d), "closed");
    assert!(json.contains("rejected=1 trips=1"), "{json}");
    // The portal saw alice twice: the first connect and the probe; the stale one made no call.
    let (_, err) = run_hook(&config, &connect(6, "calls:alice", "192.0.2.99"));
    assert!(err.contains("denied by the portal: 2"), "{err}");
    d.wait_stderr("portal circuit breaker: open -> half-open");
    d.wait_stderr("portal circuit breaker: half-open -> closed");
}

#[test]
fn denies_are_cached_for_cache_deny_ttl_and_stale_is_never_served_while_the_portal_answers() {
    let dir = TempDir::new("faults-ttl");
    let pki = certs(&dir);
    let portal = Portal::start(&pki);
    let config = portal_config(&dir, &pki, portal.port, "stale");
    let d = Daemon::start(&config);
    let bob = |id| run_hook(&config, &connect(id, "bob", "192.0.2.20"));

    let (code, err) = bob(1);
    assert_eq!(code, Some(1));
    assert!(err.contains("denied (portal)"), "{err}");
    let (code, err) = bob(2);
    assert_eq!(code, Some(1));
    assert!(err.contains("denied (cache)"), "{err}");
    std::thread::sleep(Duration::from_millis(1100)); // cache_deny_ttl 1s
    let (_, err) = bob(3);
    assert!(
        err.contains("denied (portal)"),
        "after cache_deny_ttl: {err}"
    );
    // The portal saw bob twice (the 'calls:' user asks it, from an address never cached).
    let (_, err) = run_hook(&config, &connect(4, "calls:bob", "192.0.2.99"));
    assert!(err.contains("denied by the portal: 2"), "{err}");

    // alice's allow expires while the portal is healthy: the portal is asked, never the stale entry.
    assert_eq!(
        run_hook(&config, &connect(5, "alice", "192.0.2.10")).0,
        Some(0)
    );
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(
        run_hook(&config, &connect(6, "alice", "192.0.2.10")).0,
        Some(0)
    );
    let json = d.status_json();
    assert_eq!(count(&json, "stale"), 0, "{json}");
    assert_eq!(count(&json, "portal"), 5, "{json}");
}

#[test]
fn a_wrong_certificate_is_a_portal_failure_and_a_restarted_portal_is_used_again() {
    let dir = TempDir::new("faults-tls");
    let pki = certs(&dir);
    let other = TempDir::new("faults-tls-other");
    let wrong_pki = certs(&other);
    let portal = Portal::start(&pki);
    let port = portal.port;
    let config = portal_config(&dir, &pki, port, "stale");
    let d = Daemon::start(&config);
    assert_eq!(
        run_hook(&config, &connect(1, "alice", "192.0.2.10")).0,
        Some(0)
    );

    // The portal comes back on its port with a certificate our CA did not sign.
    drop(portal);
    let impostor = Portal::start_with(&wrong_pki, port, None);
    std::thread::sleep(Duration::from_millis(1100));
    let (code, err) = run_hook(&config, &connect(2, "alice", "192.0.2.10"));
    assert_eq!(code, Some(0), "stale allow expected: {err}");
    let (code, err) = run_hook(&config, &connect(3, "carol", "192.0.2.30"));
    assert_eq!(code, Some(1));
    assert!(err.contains("(fail-close)"), "{err}");
    // The outbox's retries share the channel and its backoff: the dial that meets the impostor
    // may be one of theirs (not logged again within an outage). Ask until a hook's call dials.
    let until = Instant::now() + Duration::from_secs(30);
    let mut asked = 100;
    while !d.stderr().contains("TLS with 127.0.0.1:") {
        assert!(Instant::now() < until, "{}", d.stderr());
        std::thread::sleep(Duration::from_millis(300));
        let (code, _) = run_hook(&config, &connect(asked, "carol", "192.0.2.30"));
        assert_eq!(code, Some(1));
        asked += 1;
    }
    d.wait_stderr("invalid peer certificate: BadSignature");
    assert_eq!(count(&d.status_json(), "stale"), 1);

    // The real portal restarts: decisions come from it again once the channel reconnects.
    drop(impostor);
    let _portal = Portal::start_with(&pki, port, None);
    let until = Instant::now() + Duration::from_secs(40);
    let mut id = 10;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        id += 1;
        let (_, err) = run_hook(&config, &connect(id, "bob", &format!("192.0.2.{id}")));
        if err.contains("denied (portal): denied by the portal: not today") {
            break;
        }
        assert!(
            Instant::now() < until,
            "the portal was never used again: {err}\n{}",
            d.stderr()
        );
    }
}

/// The breaker's trips, from `status`.
fn trips(d: &Daemon) -> u32 {
    count(&d.status_json(), "trips")
}

/// A long outage grows the breaker's open time (1 s doubling, up to a minute here: 16 s after
/// five trips). When the portal returns, the report waiting in the outbox is delivered within
/// a retry (`retry_max 1s`), and that answer brings the breaker's probe forward: decisions come
/// from the portal again within seconds, not after the 16 s the open time had grown to.
#[test]
fn a_report_delivered_after_a_long_outage_brings_the_breakers_probe_forward() {
    let dir = TempDir::new("faults-long-outage");
    let pki = certs(&dir);
    let events = dir.path("events");
    let portal = Portal::start_with(&pki, 0, Some(&events));
    let port = portal.port;
    let config = portal_config(&dir, &pki, port, "close");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(
            "option breaker_failure_threshold 2",
            "option breaker_failure_threshold 1\n\toption breaker_max_timeout 1m",
        )
        .replace(
            "config outbox 'outbox'\n",
            "config outbox 'outbox'\n\toption retry_max 1s\n",
        );
    std::fs::write(&config, text).unwrap();
    let d = Daemon::start(&config);
    assert_eq!(
        run_hook(&config, &connect(1, "alice", "192.0.2.10")).0,
        Some(0)
    );

    drop(portal);
    // Connects keep coming while the portal is away: every probe fails, the open time doubles.
    let mut id = 100;
    let until = Instant::now() + Duration::from_secs(40);
    while trips(&d) < 5 {
        assert!(Instant::now() < until, "{}", d.status_json());
        id += 1;
        let (code, err) = run_hook(&config, &connect(id, "carol", "192.0.2.30"));
        assert_eq!(code, Some(1), "{err}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, _) = run_hook(&config, &common::ocserv::disconnect(1, "alice"));
    assert_eq!(code, Some(0));

    let _portal = Portal::start_with(&pki, port, Some(&events));
    let back = Instant::now();
    loop {
        id += 1;
        let (code, err) = run_hook(&config, &connect(id, "alice", "192.0.2.10"));
        if code == Some(0) {
            break;
        }
        assert!(err.contains("(fail-close)"), "{err}");
        assert!(
            back.elapsed() < Duration::from_secs(6),
            "the portal was not asked within 6 s of its return (the breaker waits out its \
             grown open time): {}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    d.wait_stderr("breaker: the portal answered a report; its next policy check is the probe");
}
