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
pub use json::quote;
pub use status::{bans_json, bans_text, status_json, status_text};
pub use users::{user_detail, users_json, users_table};

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

/// Bytes for people: `216 bytes`, `8.5 kB`, `3.2 MB` (powers of 1000).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} bytes");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
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
        assert_eq!(human_bytes(216), "216 bytes");
        assert_eq!(human_bytes(8512), "8.5 kB");
        assert_eq!(human_bytes(11_227), "11.2 kB");
        assert_eq!(human_bytes(3_200_000_000), "3.2 GB");
    }
}
