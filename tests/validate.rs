//! `portal.validate_interval`: the real daemon puts ocserv's connected sessions to the grpcio
//! portal's ValidateSession and ends exactly the ones refused, by TERMINATE_ID on the control
//! socket (a stand-in here; tests/e2e/run.sh does it on a real ocserv).

mod common;

use common::grpc::{certs, portal_config, Portal};
use common::{Daemon, TempDir};
use ocserv_agent::proto::ocserv::ctl::{UserInfoRep, UserListRep};
use prost::Message;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const LIST: u8 = 4;
const TERMINATE_ID: u8 = 14;

/// Answers LIST with `sessions` and TERMINATE_ID with true, recording the IDs terminated.
fn control_socket(path: &std::path::Path, sessions: UserListRep) -> Arc<Mutex<Vec<i32>>> {
    let listener = UnixListener::bind(path).unwrap();
    let ended = Arc::new(Mutex::new(Vec::new()));
    let record = ended.clone();
    std::thread::spawn(move || {
        for c in listener.incoming() {
            let Ok(mut c) = c else { return };
            let mut h = [0u8; 5];
            if c.read_exact(&mut h).is_err() {
                continue;
            }
            let mut body = vec![0u8; u32::from_ne_bytes([h[1], h[2], h[3], h[4]]) as usize];
            c.read_exact(&mut body).unwrap();
            let (cmd, payload) = match h[0] {
                LIST => (104, sessions.encode_to_vec()),
                TERMINATE_ID => {
                    // IdMsg: field 1, sint32 (zigzag).
                    let zigzag = body[1] as i32;
                    record.lock().unwrap().push((zigzag >> 1) ^ -(zigzag & 1));
                    (112, vec![0x08, 0x01])
                }
                other => panic!("unexpected control command {other}"),
            };
            let mut frame = vec![cmd];
            frame.extend_from_slice(&(payload.len() as u32).to_ne_bytes());
            frame.extend_from_slice(&payload);
            c.write_all(&frame).unwrap();
        }
    });
    ended
}

#[test]
fn sessions_the_portal_refuses_are_terminated_and_the_rest_stay() {
    let dir = TempDir::new("validate");
    let pki = certs(&dir);
    let portal = Portal::start(&pki);
    let session = |id, user: &str, status| UserInfoRep {
        id: Some(id),
        username: Some(user.into()),
        ip: Some("192.0.2.9".into()),
        status: Some(status),
        ..UserInfoRep::default()
    };
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
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "\toption timeout 3s\n",
        "\toption timeout 3s\n\toption validate_interval 1s\n",
    ) + &format!(
        "config ocserv 'ocserv'\n\toption ctl_socket '{}'\n",
        dir.path("ctl.socket").display()
    );
    std::fs::write(&config, text).unwrap();
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
    let session = UserInfoRep {
        id: Some(12),
        username: Some("revoked".into()),
        ip: Some("192.0.2.9".into()),
        status: Some(4),
        ..UserInfoRep::default()
    };
    control_socket(
        &dir.path("ctl.socket"),
        UserListRep {
            user: vec![session],
        },
    );
    let config = portal_config(&dir, &pki, portal.port, "stale");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("option cache_ttl 1s", "option cache_ttl 10m")
        .replace(
            "\toption timeout 3s\n",
            "\toption timeout 3s\n\toption validate_interval 1s\n",
        )
        + &format!(
            "config ocserv 'ocserv'\n\toption ctl_socket '{}'\n",
            dir.path("ctl.socket").display()
        );
    std::fs::write(&config, text).unwrap();
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
