//! What `occtl` prints, from the control socket's replies: its text (users table, user detail,
//! status) and its `--json` shapes with occtl's key names (`shared/spec/ocserv.md` §3), as
//! valid JSON (occtl 1.1.6 repeats the `Routes` key; here it appears once: the list, or
//! `"defaultroute"` when there are none, which is what occtl's second `Routes` says).
//!
//! Everything is a pure function of the reply, the time and the interface counters, so it is
//! tested without an ocserv; `cli/occtl.rs` supplies the three.

mod events;
mod json;
mod status;
mod users;

pub use events::{event_json, event_line};
pub use status::{bans_json, bans_text, status_json, status_text};
pub use users::{user_detail, users_json, users_table};

use super::version::Version;

/// What occtl prints differently from one ocserv version to the next, so that ours prints
/// what the occtl beside the running ocserv prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    /// How rates end: `/s` from 1.2.4, `/sec` before.
    pub per_second: &'static str,
    /// The symbol for 1000 bytes: `kB` from 1.2.4, `KB` before.
    pub kilo: &'static str,
    /// "Last connected at" and "Session started at" (1.4.1 on) instead of "Connected at".
    /// A session whose reply has `session_start_time` is printed so whatever this says.
    pub session_start: bool,
}

impl Dialect {
    /// The dialect of `version`; for an unknown one, that of the versions routers run (1.3.0
    /// and later), with the session times as each reply shows them.
    pub fn of(version: Option<Version>) -> Dialect {
        match version {
            Some(v) if v < Version::SI_SYMBOLS => Dialect {
                per_second: "/sec",
                kilo: "KB",
                session_start: false,
            },
            Some(v) => Dialect {
                per_second: "/s",
                kilo: "kB",
                session_start: v >= Version::SESSION_START,
            },
            None => Dialect {
                per_second: "/s",
                kilo: "kB",
                session_start: false,
            },
        }
    }

    /// Bytes for people as occtl prints them: `216 bytes`, `8.5 kB`, `3.2 MB`, `1.0 GB`
    /// (powers of 1000; up to 1000 is bytes; GB is the largest unit).
    pub fn bytes(self, n: u64) -> String {
        const K: u64 = 1000;
        let unit = |div: u64, sym: &str| format!("{:.1} {sym}", n as f64 / div as f64);
        if n >= K * K * K {
            unit(K * K * K, "GB")
        } else if n >= K * K {
            unit(K * K, "MB")
        } else if n > K {
            unit(K, self.kilo)
        } else {
            format!("{n} bytes")
        }
    }
}

/// A session's interface counters (occtl reads /sys/class/net/DEV/statistics too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx: u64,
    pub tx: u64,
}

/// Seconds from ocserv (a `uint64` on the wire) as the signed seconds the formatting does its
/// arithmetic in: a value past `i64::MAX` is clamped, never wrapped to a negative time.
pub fn secs(t: Option<u64>) -> i64 {
    t.map_or(0, |t| i64::try_from(t).unwrap_or(i64::MAX))
}

/// occtl's compact interval: `    3s`, ` 2m:05s`, ` 1h:02m`, ` 3days`.
pub fn interval(secs: i64) -> String {
    if secs < 0 {
        return "   ?   ".to_string();
    }
    let t = secs as u64;
    if t >= 48 * 3600 {
        format!("{:2}days", t / 86_400)
    } else if t >= 3600 {
        format!("{:2}h:{:02}m", t / 3600, (t / 60) % 60)
    } else if t > 60 {
        format!("{:2}m:{:02}s", t / 60, t % 60)
    } else {
        format!("{t:5}s")
    }
}

/// `YYYY-MM-DD HH:MM` in UTC (occtl prints local time; see `utc.rs` for why the agent does not).
pub fn local_time(unix: i64) -> String {
    let (y, mo, d, h, mi, _) = crate::utc::parts(unix);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}")
}

/// ocserv's session state number in words.
pub fn state(status: Option<u32>) -> &'static str {
    match status {
        Some(0) => "inactive",
        Some(1) => "auth failed",
        Some(2) => "init",
        Some(3) => "cont",
        Some(4) => "connected",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_use_occtls_units() {
        assert_eq!(interval(3), "    3s");
        assert_eq!(interval(60), "   60s");
        assert_eq!(interval(125), " 2m:05s");
        assert_eq!(interval(3 * 3600 + 120), " 3h:02m");
        assert_eq!(interval(3 * 86_400), " 3days");
        assert_eq!(interval(-5), "   ?   ");
    }

    #[test]
    fn sizes_read_like_occtls() {
        let new = Dialect::of(Some(Version(1, 3, 0)));
        assert_eq!(new.bytes(216), "216 bytes");
        assert_eq!(new.bytes(1000), "1000 bytes"); // occtl switches to kB above 1000
        assert_eq!(new.bytes(1001), "1.0 kB");
        assert_eq!(new.bytes(8512), "8.5 kB");
        assert_eq!(new.bytes(11_227), "11.2 kB");
        assert_eq!(new.bytes(3_200_000_000), "3.2 GB");
        assert_eq!(new.bytes(5_000_000_000_000), "5000.0 GB");
        assert_eq!(new.bytes(u64::MAX), "18446744073.7 GB");
        let old = Dialect::of(Some(Version(1, 1, 6)));
        assert_eq!(old.bytes(8512), "8.5 KB");
        assert_eq!((old.per_second, new.per_second), ("/sec", "/s"));
        assert_eq!(Dialect::of(None), new);
        assert!(!new.session_start && Dialect::of(Some(Version(1, 4, 1))).session_start);
    }
}
