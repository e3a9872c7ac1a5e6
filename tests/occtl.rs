//! `ocserv-agent occtl` against a scripted control socket: the framing in the host's byte order
//! (run under qemu-mips this is the big-endian case), replies decoded and printed as occtl
//! would, exit codes, and a server that closes without answering. The real ocserv comparison
//! is in tests/e2e/run.sh.

mod common;

use common::TempDir;
use prost::Message;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::thread::JoinHandle;

/// Answers each connection with the next reply: `Some((command, payload))`, or `None` to close
/// without a word. Returns what each request was (command, payload).
fn scripted(path: &Path, replies: Vec<Option<(u8, Vec<u8>)>>) -> JoinHandle<Vec<(u8, Vec<u8>)>> {
    let listener = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for reply in replies {
            let (mut conn, _) = listener.accept().unwrap();
            let mut h = [0u8; 5];
            conn.read_exact(&mut h).unwrap();
            let len = u32::from_ne_bytes([h[1], h[2], h[3], h[4]]) as usize;
            let mut payload = vec![0u8; len];
            conn.read_exact(&mut payload).unwrap();
            seen.push((h[0], payload));
            if let Some((cmd, body)) = reply {
                let mut frame = vec![cmd];
                frame.extend_from_slice(&(body.len() as u32).to_ne_bytes());
                frame.extend_from_slice(&body);
                conn.write_all(&frame).unwrap();
            }
        }
        seen
    })
}

fn occtl(sock: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = common::command(&common::bin())
        .args(["occtl", "-s", sock.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The wire form of ocserv's user_info_rep for one session (field numbers from the spec).
fn session(id: i32, user: &str) -> Vec<u8> {
    #[derive(Message)]
    struct UserInfo {
        #[prost(sint32, optional, tag = "1")]
        id: Option<i32>,
        #[prost(string, optional, tag = "2")]
        username: Option<String>,
        #[prost(string, optional, tag = "4")]
        ip: Option<String>,
        #[prost(string, optional, tag = "5")]
        tun: Option<String>,
        #[prost(string, optional, tag = "7")]
        local_ip: Option<String>,
        #[prost(uint32, optional, tag = "13")]
        status: Option<u32>,
        #[prost(string, optional, tag = "33")]
        vhost: Option<String>,
    }
    #[derive(Message)]
    struct UserList {
        #[prost(message, repeated, tag = "1")]
        user: Vec<UserInfo>,
    }
    UserList {
        user: vec![UserInfo {
            id: Some(id),
            username: Some(user.into()),
            ip: Some("192.0.2.7".into()),
            tun: Some("vpns0".into()),
            local_ip: Some("10.10.0.2".into()),
            status: Some(4),
            vhost: Some("default".into()),
        }],
    }
    .encode_to_vec()
}

/// status_rep with `status: true` and `pid: 999999999` (past any pid_max).
const STATUS_NO_SUCH_PID: [u8; 8] = [0x08, 0x01, 0x10, 0xff, 0x93, 0xeb, 0xdc, 0x03];

#[test]
fn show_users_and_disconnect_speak_ocservs_framing() {
    let dir = TempDir::new("occtl");
    let sock = dir.path("occtl.socket");
    let server = scripted(
        &sock,
        vec![
            // STATUS first, for ocserv's version: a PID no process has, so it stays unknown.
            Some((101, STATUS_NO_SUCH_PID.to_vec())),
            Some((104, session(15202, "alice"))),
            Some((101, STATUS_NO_SUCH_PID.to_vec())),
            Some((104, Vec::new())),
            Some((106, vec![0x08, 0x01])), // bool_msg status=true
            Some((105, vec![0x08, 0x00])), // status=false
            None,                          // an older ocserv: no reply at all
        ],
    );
    let (code, out, err) = occtl(&sock, &["--json", "show", "users"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("\"ID\": 15202,") && out.contains("\"IPv4\": \"10.10.0.2\""),
        "{out}"
    );
    let (code, out, _) = occtl(&sock, &["show", "user", "bob"]);
    assert_eq!((code, out.as_str()), (Some(2), "user or ID not found\n"));
    let (code, out, _) = occtl(&sock, &["disconnect", "id", "15202"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(0), "connection ID '15202' was disconnected\n")
    );
    let (code, out, _) = occtl(&sock, &["disconnect", "user", "bob"]);
    assert_eq!(
        (code, out.as_str()),
        (Some(1), "could not disconnect user 'bob'\n")
    );
    let (code, _, err) = occtl(&sock, &["reload"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("does not support Reload"), "{err}");

    let seen = server.join().unwrap();
    let commands: Vec<u8> = seen.iter().map(|(c, _)| *c).collect();
    assert_eq!(commands, [1, 4, 1, 5, 8, 7, 2]);
    assert_eq!(seen[3].1, b"\x0a\x03bob", "USER_INFO carries username_req");
    assert_eq!(
        seen[4].1,
        [0x08, 0xc4, 0xed, 0x01],
        "DISCONNECT_ID: sint32 15202"
    );
}

#[test]
fn bad_arguments_never_reach_the_socket() {
    let dir = TempDir::new("occtl-args");
    let sock = dir.path("none.socket");
    for args in [
        &["show", "id", "1;reboot"][..],
        &["unban", "ip", "$(id)"],
        &["show", "user", "-rf"],
        &["stop", "now"],
    ] {
        let (code, _, err) = occtl(&sock, args);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(err.starts_with("ocserv-agent occtl: "), "{args:?}: {err}");
        assert!(
            !err.contains("cannot connect"),
            "{args:?} reached the socket: {err}"
        );
    }
    let (code, _, err) = occtl(&sock, &["show", "status"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("cannot connect to ocserv's control socket"),
        "{err}"
    );
}
