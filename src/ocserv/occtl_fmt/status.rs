//! The server: `show status` and `show ip bans`, text and JSON.

use super::json::{array, object, s, Value};
use super::{interval, local_time, Dialect};
use crate::proto::ocserv::ctl::{BanListRep, StatusRep};
use std::fmt::Write;
use std::net::IpAddr;

/// `occtl show status`.
pub fn status_text(st: &StatusRep, now: i64, dialect: Dialect) -> String {
    let start = st.start_time.unwrap_or(0);
    let reset = st.last_reset.unwrap_or(0);
    let mut out = String::from(
        "Note: the printed statistics are not real-time; session time\nas well as RX and TX data are updated on user disconnect\n\nGeneral info:\n",
    );
    let _ = writeln!(out, "\tStatus: {}", online(st));
    let _ = writeln!(out, "\tServer PID: {}", st.pid.unwrap_or(0));
    let _ = writeln!(out, "\tSec-mod PID: {}", secmod(st));
    let _ = writeln!(out, "\tSec-mod instance count: {}", st.sec_mod_pids.len());
    let _ = writeln!(
        out,
        "\tUp since: {} ({})",
        local_time(start),
        interval(now.saturating_sub(start))
    );
    let _ = writeln!(out, "\tActive sessions: {}", st.active_clients.unwrap_or(0));
    let _ = writeln!(
        out,
        "\tTotal sessions: {}",
        st.total_sessions_closed.unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "\tTotal authentication failures: {}",
        st.total_auth_failures.unwrap_or(0)
    );
    let _ = writeln!(out, "\tIPs in ban list: {}", st.banned_ips.unwrap_or(0));
    // occtl prints latency only when ocserv sends its samples (built with latency stats).
    if st.latency_sample_count.is_some() {
        let (median, stdev) = latency(st);
        let _ = writeln!(out, "\tMedian latency: {}", latency_text(median));
        let _ = writeln!(out, "\tSTDEV latency: {}", latency_text(stdev));
    }
    out.push_str("\nCurrent stats period:\n");
    let _ = writeln!(
        out,
        "\tLast stats reset: {} ({})",
        local_time(reset),
        interval(now.saturating_sub(reset))
    );
    for (name, count) in [
        ("Sessions handled", st.sessions_closed),
        ("Timed out sessions", st.session_timeouts),
        ("Timed out (idle) sessions", st.session_idle_timeouts),
        ("Closed due to error sessions", st.session_errors),
        ("Authentication failures", st.auth_failures),
    ] {
        let _ = writeln!(out, "\t{name}: {}", count.unwrap_or(0));
    }
    for (name, secs) in times(st) {
        let _ = writeln!(out, "\t{name}: {}", interval(secs));
    }
    // occtl shows the MTU once a session has ended in this period.
    if let Some(mtu) = st.max_mtu.filter(|&m| m > 0) {
        let _ = writeln!(out, "\tMax MTU: {mtu}");
    }
    let _ = writeln!(
        out,
        "\tRX: {}",
        dialect.bytes(st.kbytes_in.unwrap_or(0).saturating_mul(1000))
    );
    let _ = writeln!(
        out,
        "\tTX: {}",
        dialect.bytes(st.kbytes_out.unwrap_or(0).saturating_mul(1000))
    );
    out
}

/// Median and standard deviation of the authentication latency, in microseconds (ocserv sends
/// totals over a sample count).
fn latency(st: &StatusRep) -> (u64, u64) {
    match st.latency_sample_count.unwrap_or(0) {
        0 => (0, 0),
        n => (
            st.latency_median_total.unwrap_or(0) / n,
            st.latency_rms_total.unwrap_or(0) / n,
        ),
    }
}

fn latency_text(micros: u64) -> String {
    if micros < 1000 {
        "<1ms".to_string()
    } else {
        format!("{}ms", micros / 1000)
    }
}

/// The period's auth and session times, in seconds (sessions come in minutes).
fn times(st: &StatusRep) -> [(&'static str, i64); 4] {
    [
        (
            "Average auth time",
            i64::from(st.avg_auth_time.unwrap_or(0)),
        ),
        ("Max auth time", i64::from(st.max_auth_time.unwrap_or(0))),
        (
            "Average session time",
            i64::from(st.avg_session_mins.unwrap_or(0)) * 60,
        ),
        (
            "Max session time",
            i64::from(st.max_session_mins.unwrap_or(0)) * 60,
        ),
    ]
}

fn online(st: &StatusRep) -> &'static str {
    if st.status.unwrap_or(false) {
        "online"
    } else {
        "error"
    }
}

fn secmod(st: &StatusRep) -> u32 {
    st.sec_mod_pids.first().copied().unwrap_or(0)
}

/// `occtl --json show status`: one object (occtl prints it without an enclosing array).
pub fn status_json(st: &StatusRep, now: i64, dialect: Dialect) -> String {
    let start = st.start_time.unwrap_or(0);
    let reset = st.last_reset.unwrap_or(0);
    let n = |v: Option<u32>| Value::Num(i64::from(v.unwrap_or(0)));
    let big = |v: Option<u64>| Value::Num(v.unwrap_or(0).min(i64::MAX as u64) as i64);
    let rx = st.kbytes_in.unwrap_or(0).saturating_mul(1000);
    let tx = st.kbytes_out.unwrap_or(0).saturating_mul(1000);
    let (median, stdev) = latency(st);
    let [avg_auth, max_auth, avg_session, max_session] = times(st);
    let mut e = vec![
        ("Status", s(online(st))),
        ("Server PID", n(st.pid)),
        ("Sec-mod PID", Value::Num(i64::from(secmod(st)))),
        (
            "Sec-mod instance count",
            Value::Num(st.sec_mod_pids.len() as i64),
        ),
        ("Up since", s(local_time(start))),
        ("_Up since", s(interval(now.saturating_sub(start)))),
        ("raw_up_since", Value::Num(start)),
        ("uptime", Value::Num(now.saturating_sub(start))),
        ("Active sessions", n(st.active_clients)),
        ("Total sessions", big(st.total_sessions_closed)),
        ("Total authentication failures", big(st.total_auth_failures)),
        ("IPs in ban list", n(st.banned_ips)),
    ];
    // As in the text: latency only when ocserv sends its samples.
    if st.latency_sample_count.is_some() {
        e.extend([
            ("Median latency", s(latency_text(median))),
            ("raw_median_latency", Value::Num(median as i64)),
            ("STDEV latency", s(latency_text(stdev))),
            ("raw_stdev_latency", Value::Num(stdev as i64)),
        ]);
    }
    e.extend([
        ("Last stats reset", s(local_time(reset))),
        ("_Last stats reset", s(interval(now.saturating_sub(reset)))),
        ("raw_last_stats_reset", Value::Num(reset)),
        ("Sessions handled", big(st.sessions_closed)),
        ("Timed out sessions", big(st.session_timeouts)),
        ("Timed out (idle) sessions", big(st.session_idle_timeouts)),
        ("Closed due to error sessions", big(st.session_errors)),
        ("Authentication failures", big(st.auth_failures)),
        ("Average auth time", s(interval(avg_auth.1))),
        ("raw_avg_auth_time", Value::Num(avg_auth.1)),
        ("Max auth time", s(interval(max_auth.1))),
        ("raw_max_auth_time", Value::Num(max_auth.1)),
        ("Average session time", s(interval(avg_session.1))),
        ("raw_avg_session_time", Value::Num(avg_session.1)),
        ("Max session time", s(interval(max_session.1))),
        ("raw_max_session_time", Value::Num(max_session.1)),
    ]);
    if st.max_mtu.unwrap_or(0) > 0 {
        e.push(("Max MTU", n(st.max_mtu)));
    }
    e.extend([
        ("RX", s(dialect.bytes(rx))),
        ("raw_rx", Value::Num(rx.min(i64::MAX as u64) as i64)),
        ("TX", s(dialect.bytes(tx))),
        ("raw_tx", Value::Num(tx.min(i64::MAX as u64) as i64)),
    ]);
    format!("{}\n", object(&e))
}

/// An address from a ban list (binary, 4 or 16 bytes).
fn ban_ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).unwrap_or_default()).to_string(),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).unwrap_or_default()).to_string(),
        _ => String::from_utf8_lossy(bytes)
            .trim_end_matches('\0')
            .to_string(),
    }
}

/// `occtl show ip bans`: one line per banned address (nothing when none).
pub fn bans_text(bans: &BanListRep, now: i64) -> String {
    let mut out = String::new();
    for b in &bans.info {
        let expires = b.expires.unwrap_or(0);
        let _ = writeln!(
            out,
            "IP: {}  Score: {}  Until: {} ({})",
            ban_ip(b.ip.as_deref().unwrap_or_default()),
            b.score.unwrap_or(0),
            local_time(expires),
            interval(expires.saturating_sub(now))
        );
    }
    out
}

/// `occtl --json show ip bans`.
pub fn bans_json(bans: &BanListRep, now: i64) -> String {
    array(
        bans.info
            .iter()
            .map(|b| {
                let expires = b.expires.unwrap_or(0);
                object(&[
                    ("IP", s(ban_ip(b.ip.as_deref().unwrap_or_default()))),
                    ("Since", s(local_time(expires))),
                    ("_Since", s(interval(expires.saturating_sub(now)))),
                    ("Score", Value::Num(i64::from(b.score.unwrap_or(0)))),
                ])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_times_from_ocserv_are_formatted_not_overflowed() {
        for t in [i64::MIN, i64::MAX] {
            let st = StatusRep {
                start_time: Some(t),
                last_reset: Some(t),
                ..StatusRep::default()
            };
            for now in [i64::MIN, 0, i64::MAX] {
                assert!(status_text(&st, now, Dialect::of(None)).contains("Up since"));
                assert!(status_json(&st, now, Dialect::of(None)).contains("uptime"));
                let bans = BanListRep {
                    info: vec![crate::proto::ocserv::ctl::BanInfo {
                        expires: Some(t),
                        ..Default::default()
                    }],
                };
                assert!(bans_text(&bans, now).contains("Until"));
                assert!(bans_json(&bans, now).contains("_Since"));
            }
        }
    }

    /// occtl prints latency only when ocserv sends samples (a build with latency stats).
    #[test]
    fn latency_only_when_ocserv_sends_it() {
        let without = StatusRep::default();
        assert!(!status_text(&without, 0, Dialect::of(None)).contains("latency"));
        assert!(!status_json(&without, 0, Dialect::of(None)).contains("latency"));
        let with = StatusRep {
            latency_sample_count: Some(0),
            ..StatusRep::default()
        };
        assert!(status_text(&with, 0, Dialect::of(None)).contains("\tMedian latency: <1ms\n"));
        assert!(status_json(&with, 0, Dialect::of(None)).contains("\"raw_stdev_latency\": 0,"));
    }

    /// Counters 10-13 are 64-bit in every ocserv: above 4 Gi they print whole, not wrapped.
    #[test]
    fn session_counters_are_64_bit() {
        let big = 5_000_000_000u64;
        let st = StatusRep {
            sessions_closed: Some(big),
            session_timeouts: Some(big + 1),
            session_idle_timeouts: Some(big + 2),
            session_errors: Some(big + 3),
            ..StatusRep::default()
        };
        let json = status_json(&st, 0, Dialect::of(None));
        assert!(json.contains("\"Sessions handled\": 5000000000,"), "{json}");
        assert!(
            json.contains("\"Closed due to error sessions\": 5000000003,"),
            "{json}"
        );
        let text = status_text(&st, 0, Dialect::of(None));
        assert!(text.contains("Sessions handled: 5000000000"), "{text}");
        // And on the wire: what ocserv sends as a uint64 decodes whole.
        use prost::Message;
        let back = StatusRep::decode(st.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back.session_errors, Some(big + 3));
    }

    #[test]
    fn status_and_bans_carry_the_server_numbers() {
        let st = StatusRep {
            status: Some(true),
            pid: Some(23189),
            sec_mod_pids: vec![23193],
            active_clients: Some(1),
            start_time: Some(1_795_700_587),
            last_reset: Some(1_795_700_587),
            total_sessions_closed: Some(4),
            sessions_closed: Some(4),
            max_mtu: Some(1472),
            ..StatusRep::default()
        };
        let json = status_json(&st, 1_795_700_625, Dialect::of(None));
        assert!(json.contains("\"Server PID\": 23189,"), "{json}");
        assert!(json.contains("\"Sec-mod PID\": 23193,"), "{json}");
        assert!(json.contains("\"uptime\": 38,"), "{json}");
        assert!(json.contains("\"Total sessions\": 4,"), "{json}");
        let text = status_text(&st, 1_795_700_625, Dialect::of(None));
        assert!(
            text.contains("\tStatus: online\n\tServer PID: 23189\n"),
            "{text}"
        );
        assert!(text.contains("\tActive sessions: 1\n"), "{text}");
        let bans = BanListRep {
            info: vec![crate::proto::ocserv::ctl::BanInfo {
                ip: Some(vec![192, 0, 2, 7]),
                score: Some(80),
                expires: Some(1_795_700_700),
            }],
        };
        assert!(bans_json(&bans, 1_795_700_625).contains("\"IP\": \"192.0.2.7\""));
        assert!(bans_text(&bans, 1_795_700_625).starts_with("IP: 192.0.2.7  Score: 80"));
    }
}
