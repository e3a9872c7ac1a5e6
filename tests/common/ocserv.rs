//! What ocserv hands its connect/disconnect script, and running the real hook with it.

use super::{bin, hook};
use ocserv_agent::proto::ocserv::ctl::UserListRep;
use prost::Message;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What ocserv sets for a connect of `user` (session `id`) from `ip`.
pub fn connect(id: u32, user: &str, ip: &str) -> Vec<(String, String)> {
    vec![
        ("REASON".into(), "connect".into()),
        ("ID".into(), id.to_string()),
        ("USERNAME".into(), user.into()),
        ("GROUPNAME".into(), "staff".into()),
        ("IP_REAL".into(), ip.into()),
        ("IP_REMOTE".into(), "10.10.0.2".into()),
        ("DEVICE".into(), "vpns0".into()),
    ]
}

pub fn disconnect(id: u32, user: &str) -> Vec<(String, String)> {
    vec![
        ("REASON".into(), "disconnect".into()),
        ("ID".into(), id.to_string()),
        ("USERNAME".into(), user.into()),
        ("STATS_BYTES_IN".into(), "1000".into()),
        ("STATS_BYTES_OUT".into(), "2000".into()),
        ("STATS_DURATION".into(), "30".into()),
    ]
}

pub fn run_hook(config: &Path, vars: &[(String, String)]) -> (Option<i32>, String) {
    hook(&bin(), &["hook", "-c", config.to_str().unwrap()], vars)
}

const LIST: u8 = 4;
const TERMINATE_ID: u8 = 14;

/// A stand-in for ocserv's control socket at `path`: answers LIST with `sessions` and TERMINATE_ID with true, recording the IDs terminated.
pub fn control_socket(path: &std::path::Path, sessions: UserListRep) -> Arc<Mutex<Vec<i32>>> {
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

/// A session as ocserv's LIST shows it: `status` 4 is connected.
pub fn listed(
    id: i32,
    user: &str,
    ip: &str,
    status: u32,
) -> ocserv_agent::proto::ocserv::ctl::UserInfoRep {
    ocserv_agent::proto::ocserv::ctl::UserInfoRep {
        id: Some(id),
        username: Some(user.into()),
        ip: Some(ip.into()),
        status: Some(status),
        ..Default::default()
    }
}

/// Turns on the ValidateSession sweep every second in a `portal_config` file, with ocserv's
/// control socket at `ctl`.
pub fn validating(config: &Path, ctl: &Path) {
    let text = std::fs::read_to_string(config).unwrap().replace(
        "\toption timeout 3s\n",
        "\toption timeout 3s\n\toption validate_interval 1s\n",
    ) + &format!(
        "config ocserv 'ocserv'\n\toption ctl_socket '{}'\n",
        ctl.display()
    );
    std::fs::write(config, text).unwrap();
}
