//! The few ocserv.conf settings the agent needs, read from ocserv's own file.
//!
//! ocserv.conf is `key = value` lines with `#` comments; a key may repeat (routes), the agent
//! only reads single-valued ones and takes the last, as ocserv does.

use crate::config::Ocserv;
use std::path::{Path, PathBuf};

/// occtl's and ocserv's default control socket.
pub const DEFAULT_CTL_SOCKET: &str = "/var/run/occtl.socket";

/// The value of `key` in ocserv.conf text, if set.
pub fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        if line.starts_with('#') {
            return None;
        }
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

/// Where ocserv's control socket is: `ocserv.ctl_socket` when set, else `occtl-socket-file`
/// from ocserv.conf, else the default. An unreadable ocserv.conf means the default.
pub fn ctl_socket(settings: &Ocserv) -> PathBuf {
    if let Some(p) = &settings.ctl_socket {
        return p.clone();
    }
    std::fs::read_to_string(&settings.config)
        .ok()
        .and_then(|text| value(&text, "occtl-socket-file").map(PathBuf::from))
        .unwrap_or_else(|| Path::new(DEFAULT_CTL_SOCKET).to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_uncommented_value_counts() {
        let text = "# occtl-socket-file = /nope\nocctl-socket-file = /a\n  occtl-socket-file=\"/b\"  \nuse-occtl = true\n";
        assert_eq!(value(text, "occtl-socket-file"), Some("/b"));
        assert_eq!(value(text, "use-occtl"), Some("true"));
        assert_eq!(value(text, "socket-file"), None);
    }

    #[test]
    fn explicit_setting_then_ocserv_conf_then_default() {
        let dir = std::env::temp_dir().join(format!("ocserv-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let conf = dir.join("ocserv.conf");
        std::fs::write(&conf, "occtl-socket-file = /run/x.socket\n").unwrap();
        let mut s = Ocserv {
            config: conf,
            ..Ocserv::default()
        };
        assert_eq!(ctl_socket(&s), PathBuf::from("/run/x.socket"));
        s.ctl_socket = Some("/explicit".into());
        assert_eq!(ctl_socket(&s), PathBuf::from("/explicit"));
        s.ctl_socket = None;
        s.config = dir.join("missing.conf");
        assert_eq!(ctl_socket(&s), PathBuf::from(DEFAULT_CTL_SOCKET));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
