//! `portal.validate_interval`: the real daemon puts ocserv's connected sessions to the grpcio
//! portal's ValidateSession and ends exactly the ones refused, by TERMINATE_ID on the control
//! socket (a stand-in here; tests/e2e/run.sh does it on a real ocserv).

mod common;

use common::grpc::{certs, portal_config, Portal};
use common::ocserv::{control_socket, listed, validating};
use common::{Daemon, TempDir};
use ocserv_agent::proto::ocserv::ctl::UserListRep;
use std::time::Duration;

#[test]
fn sessions_the_portal_refuses_are_terminated_and_the_rest_stay() {
    let dir = TempDir::new("validate");
    let pki = certs(&dir);
    let portal = Portal::start(&pki);
    let session = |id, user: &str, status| listed(id, user, "192.0.2.9", status);
    let sessions = UserListRep {
        user: vec![
            session(11, "alice", 4),
            session(12, "revoked", 4),
            session(13, "kicked", 4),
            session(14, "revoked", 2), // still being authorized: not for this sweep
            session(15, "broken", 4),  // the portal fails: left up
        ],
    };
    let ended = control_socket(&dir.path("ctl.socket"), sessions);
    let config = portal_config(&dir, &pki, portal.port, "close");
    validating(&config, &dir.path("ctl.socket"));
    let d = Daemon::start(&config);
    d.wait_stderr_within(
        "validate: 4 session(s) checked, 2 ended, 1 without an answer",
        Duration::from_secs(60),
    );
    let mut ids = ended.lock().unwrap().clone();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids, [12, 13], "{}", d.stderr());
    let log = d.stderr();
    assert!(
        log.contains("validate: ended session 12 of 'revoked': account revoked"),
        "{log}"
    );
    assert!(
        log.contains("validate: ended session 13 of 'kicked': no reason given"),
        "{log}"
    );
}

/// A session the sweep ends takes its user's cached allow with it: the next login is put to
/// the portal, which now denies.
#[test]
fn a_sweep_that_ends_a_session_revokes_the_cache() {
    use common::grpc::Verdicts;
    use common::ocserv::{connect, run_hook};
    let dir = TempDir::new("validate-revokes");
    let pki = certs(&dir);
    let verdicts = Verdicts::new(&dir);
    let portal = Portal::start_scripted(&pki, &verdicts, None);
    control_socket(
        &dir.path("ctl.socket"),
        UserListRep {
            user: vec![listed(12, "revoked", "192.0.2.9", 4)],
        },
    );
    let config = portal_config(&dir, &pki, portal.port, "stale");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("option cache_ttl 1s", "option cache_ttl 10m"),
    )
    .unwrap();
    validating(&config, &dir.path("ctl.socket"));
    let d = Daemon::start(&config);
    verdicts.set("revoked", "allow");
    assert_eq!(
        run_hook(&config, &connect(20, "revoked", "192.0.2.9")).0,
        Some(0)
    );
    verdicts.set("revoked", "deny");
    // The allow is cached (10 m) until a sweep ends the user's session; wait for one that
    // comes after the allow was cached.
    let ended = "validate: ended session 12 of 'revoked'";
    let before = d.stderr().matches(ended).count();
    let until = std::time::Instant::now() + Duration::from_secs(60);
    while d.stderr().matches(ended).count() <= before {
        assert!(std::time::Instant::now() < until, "{}", d.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, err) = run_hook(&config, &connect(21, "revoked", "192.0.2.9"));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("denied by the portal"), "{err}");
    assert_eq!(verdicts.calls("revoked"), 2);
}
