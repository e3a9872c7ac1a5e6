//! ocserv itself, as the agent speaks to it and reads it:
//! - its control socket: the client (ctl.rs), the TOP event stream (top.rs), a user's live
//!   sessions counted and ended for `max_sessions` (live.rs), occtl's verbs run natively
//!   (occtl_cmd.rs) and printed in occtl's formats (occtl_fmt/);
//! - its files: settings read from ocserv.conf (conf.rs), per-user/group config files and the
//!   UpdateConfig allow-list (conffile.rs), the main-config fragment (fragment.rs), its init
//!   script for reloads (initscript.rs);
//! - its log, read from syslog for StreamLogs (syslog.rs), and which version runs (version.rs).

pub mod conf;
pub mod conffile;
pub mod ctl;
#[cfg(test)]
pub mod ctl_fake;
pub mod fragment;
pub mod initscript;
pub mod live;
pub mod occtl_cmd;
pub mod occtl_fmt;
pub mod syslog;
pub mod top;
pub mod version;

/// When a session started, for its age and order: `session_start_time` (ocserv 1.4.1 on, where
/// `conn_time` is the last (re)connect: a session that merely reconnected is not new), else
/// `conn_time`. A start that is not a positive time reads as 0.
pub fn session_start(u: &crate::proto::ocserv::ctl::UserInfoRep) -> u64 {
    match u.session_start_time {
        Some(t) if t > 0 => t as u64,
        _ => u.conn_time.unwrap_or(0),
    }
}

/// A tun device's byte counters: (received from the client, sent to it), as occtl reads them
/// from /sys/class/net/DEV/statistics; zeros when unreadable or when the name is not a plain
/// device name (it comes from ocserv's reply and must not walk out of /sys/class/net).
pub fn tun_counters(dev: &str) -> (u64, u64) {
    if dev.is_empty() || dev.contains('/') || dev.starts_with('.') {
        return (0, 0);
    }
    let read = |what: &str| {
        std::fs::read_to_string(format!("/sys/class/net/{dev}/statistics/{what}"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    };
    (read("rx_bytes"), read("tx_bytes"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn device_names_never_escape_sys_class_net() {
        assert_eq!(super::tun_counters("../../../etc"), (0, 0));
        assert_eq!(super::tun_counters("a/b"), (0, 0));
        assert_eq!(super::tun_counters(""), (0, 0));
    }
}
