//! What `occtl` prints, from the control socket's replies: its text (users table, user detail,
//! status) and its `--json` shapes with occtl's key names (`shared/spec/ocserv.md` §3), as
//! valid JSON (occtl 1.1.6 repeats the `Routes` key; here it appears once: the list, or
//! `"defaultroute"` when there are none, which is what occtl's second `Routes` says).
//!
//! Everything is a pure function of the reply, the time and the interface counters, so it is
//! tested without an ocserv; `cli/occtl.rs` supplies the three.

use crate::proto::ocserv::ctl::{BanListRep, StatusRep, UserInfoRep};
use std::fmt::Write;
use std::net::IpAddr;

/// A session's interface counters (occtl reads /sys/class/net/DEV/statistics too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub rx: u64,
    pub tx: u64,
}

/// One JSON value in occtl's vocabulary.
enum Value {
    Str(String),
    Num(i64),
    List(Vec<String>),
}

fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}

/// A JSON string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// An object at two levels of indentation, as occtl lays it out inside its array.
fn object(entries: &[(&str, Value)]) -> String {
    let mut out = String::from("  {\n");
    for (i, (key, value)) in entries.iter().enumerate() {
        let _ = write!(out, "    {}: ", quote(key));
        match value {
            Value::Str(v) => out.push_str(&quote(v)),
            Value::Num(n) => {
                let _ = write!(out, "{n}");
            }
            Value::List(items) => {
                let items: Vec<String> = items.iter().map(|i| quote(i)).collect();
                let _ = write!(out, "[{}]", items.join(", "));
            }
        }
        out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
    }
    out.push_str("  }");
    out
}

/// A JSON array of objects, one per line group.
fn array(objects: Vec<String>) -> String {
    if objects.is_empty() {
        return "[\n]\n".to_string();
    }
    format!("[\n{}\n]\n", objects.join(",\n"))
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

/// `YYYY-MM-DD HH:MM` in local time (the TZ of the router), as occtl prints dates.
pub fn local_time(unix: i64) -> String {
    let t = unix as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which lives on this stack frame.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return "?".to_string();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min
    )
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

fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// The client's VPN address: ocserv calls it `local_ip` (and the server's `remote_ip`).
fn vpn_ip(u: &UserInfoRep) -> &str {
    match text(&u.local_ip) {
        "" => text(&u.local_ip6),
        v4 => v4,
    }
}

/// The session cookie as text: ocserv sends base64 with a trailing NUL.
fn session_id(u: &UserInfoRep) -> String {
    let raw = u.safe_id.as_deref().unwrap_or_default();
    let raw = raw.strip_suffix(&[0]).unwrap_or(raw);
    String::from_utf8_lossy(raw).into_owned()
}

/// `occtl show users`: the table.
pub fn users_table(users: &[UserInfoRep], now: i64) -> String {
    if users.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "{:>8} {:>8} {:>8} {:>14} {:>14} {:>6} {:>7} {:>14} {:>9}\n",
        "id", "user", "vhost", "ip", "vpn-ip", "device", "since", "dtls-cipher", "status"
    );
    for u in users {
        let conn = u.conn_time.unwrap_or(0) as i64;
        let dtls = match text(&u.dtls_ciphersuite) {
            "" => "(no-dtls)",
            c => c,
        };
        let _ = writeln!(
            out,
            "{:>8} {:>8} {:>8} {:>14} {:>14} {:>6} {} {:>14} {:>9}",
            u.id.unwrap_or(0),
            text(&u.username),
            text(&u.vhost),
            text(&u.ip),
            vpn_ip(u),
            text(&u.tun),
            interval(now - conn),
            dtls,
            state(u.status)
        );
    }
    out
}

/// `occtl show user NAME` / `show id ID`: one block per session.
pub fn user_detail(users: &[UserInfoRep], now: i64, counters: &dyn Fn(&str) -> Counters) -> String {
    let mut out = String::new();
    for u in users {
        let conn = u.conn_time.unwrap_or(0) as i64;
        let age = (now - conn).max(1) as u64;
        let c = counters(text(&u.tun));
        let _ = writeln!(out, "\tID: {}", u.id.unwrap_or(0));
        let _ = writeln!(
            out,
            "\tUsername: {}   Groupname: {}",
            text(&u.username),
            group(u)
        );
        let _ = writeln!(out, "\tState: {}", state(u.status));
        let _ = writeln!(out, "\tvhost: {}", text(&u.vhost));
        let _ = writeln!(
            out,
            "\tDevice: {}   MTU: {}",
            text(&u.tun),
            u.mtu.unwrap_or(0)
        );
        let _ = writeln!(out, "\tRemote IP: {}   Location: unknown", text(&u.ip));
        let _ = writeln!(out, "\tLocal Device IP: {}", text(&u.local_dev_ip));
        if !text(&u.local_ip).is_empty() {
            let _ = writeln!(
                out,
                "\tIPv4: {}   P-t-P IPv4: {}",
                text(&u.local_ip),
                text(&u.remote_ip)
            );
        }
        if !text(&u.local_ip6).is_empty() {
            let _ = writeln!(
                out,
                "\tIPv6: {}   P-t-P IPv6: {}",
                text(&u.local_ip6),
                text(&u.remote_ip6)
            );
        }
        let _ = writeln!(out, "\tUser-Agent: {}", text(&u.user_agent));
        let _ = writeln!(
            out,
            "\tRX: {} ({})   TX: {} ({})",
            c.rx,
            human_bytes(c.rx),
            c.tx,
            human_bytes(c.tx)
        );
        let _ = writeln!(
            out,
            "\tAverage bandwidth RX: {}/sec  TX: {}/sec",
            human_bytes(c.rx / age),
            human_bytes(c.tx / age)
        );
        let _ = writeln!(
            out,
            "\tDPD: {}   KeepAlive: {}",
            u.dpd.unwrap_or(0),
            u.keepalive.unwrap_or(0)
        );
        let _ = writeln!(out, "\tHostname: {}", text(&u.hostname));
        let _ = writeln!(
            out,
            "\tConnected at: {} ({})",
            local_time(conn),
            interval(now - conn)
        );
        let _ = writeln!(out, "\tSession: {}", short_session(&session_id(u)));
        let _ = writeln!(out, "\tTLS ciphersuite: {}", text(&u.tls_ciphersuite));
        if !text(&u.dtls_ciphersuite).is_empty() {
            let _ = writeln!(out, "\tDTLS cipher: {}", text(&u.dtls_ciphersuite));
        }
        out.push('\n');
        for (name, list) in [
            ("DNS", &u.dns),
            ("NBNS", &u.nbns),
            ("Split-DNS-Domains", &u.domains),
        ] {
            if !list.is_empty() {
                let _ = writeln!(out, "\t{name}: {}", list.join(", "));
            }
        }
        if u.routes.is_empty() {
            out.push_str("\tRoutes: defaultroute\n");
        } else {
            let _ = writeln!(out, "\tRoutes: {}", u.routes.join(", "));
        }
        for (name, list) in [("No-routes", &u.no_routes), ("iRoutes", &u.iroutes)] {
            if !list.is_empty() {
                let _ = writeln!(out, "\t{name}: {}", list.join(", "));
            }
        }
        let _ = writeln!(
            out,
            "\tRestricted to routes: {}",
            if u.restrict_to_routes.unwrap_or(false) {
                "True"
            } else {
                "False"
            }
        );
        out.push('\n');
    }
    out
}

fn group(u: &UserInfoRep) -> &str {
    match text(&u.groupname) {
        "" => "(none)",
        g => g,
    }
}

fn short_session(full: &str) -> String {
    full.chars().take(6).collect()
}

/// `occtl --json show users` (and `show user`, `show id`): the array of session objects.
pub fn users_json(users: &[UserInfoRep], now: i64, counters: &dyn Fn(&str) -> Counters) -> String {
    let objects = users
        .iter()
        .map(|u| {
            let conn = u.conn_time.unwrap_or(0) as i64;
            let age = (now - conn).max(1) as u64;
            let c = counters(text(&u.tun));
            let full = session_id(u);
            let mut e: Vec<(&str, Value)> = vec![
                ("ID", Value::Num(i64::from(u.id.unwrap_or(0)))),
                ("Username", s(text(&u.username))),
                ("Groupname", s(group(u))),
                ("State", s(state(u.status))),
                ("vhost", s(text(&u.vhost))),
                ("Device", s(text(&u.tun))),
                ("MTU", s(u.mtu.unwrap_or(0).to_string())),
                ("Remote IP", s(text(&u.ip))),
                ("Location", s("unknown")),
                ("Local Device IP", s(text(&u.local_dev_ip))),
            ];
            if !text(&u.local_ip).is_empty() {
                e.push(("IPv4", s(text(&u.local_ip))));
                e.push(("P-t-P IPv4", s(text(&u.remote_ip))));
            }
            if !text(&u.local_ip6).is_empty() {
                e.push(("IPv6", s(text(&u.local_ip6))));
                e.push(("P-t-P IPv6", s(text(&u.remote_ip6))));
            }
            e.extend([
                ("User-Agent", s(text(&u.user_agent))),
                ("RX", s(c.rx.to_string())),
                ("TX", s(c.tx.to_string())),
                ("_RX", s(human_bytes(c.rx))),
                ("_TX", s(human_bytes(c.tx))),
                ("Average RX", s(format!("{}/sec", human_bytes(c.rx / age)))),
                ("Average TX", s(format!("{}/sec", human_bytes(c.tx / age)))),
                ("DPD", s(u.dpd.unwrap_or(0).to_string())),
                ("KeepAlive", s(u.keepalive.unwrap_or(0).to_string())),
                ("Hostname", s(text(&u.hostname))),
                ("Connected at", s(local_time(conn))),
                ("_Connected at", s(interval(now - conn))),
                ("raw_connected_at", Value::Num(conn)),
                ("Full session", s(full.clone())),
                ("Session", s(short_session(&full))),
                ("TLS ciphersuite", s(text(&u.tls_ciphersuite))),
            ]);
            if !text(&u.dtls_ciphersuite).is_empty() {
                e.push(("DTLS cipher", s(text(&u.dtls_ciphersuite))));
            }
            e.extend([
                ("DNS", Value::List(u.dns.clone())),
                ("NBNS", Value::List(u.nbns.clone())),
                ("Split-DNS-Domains", Value::List(u.domains.clone())),
                (
                    "Routes",
                    if u.routes.is_empty() {
                        s("defaultroute")
                    } else {
                        Value::List(u.routes.clone())
                    },
                ),
                ("No-routes", Value::List(u.no_routes.clone())),
                ("iRoutes", Value::List(u.iroutes.clone())),
                (
                    "Restricted to routes",
                    s(if u.restrict_to_routes.unwrap_or(false) {
                        "True"
                    } else {
                        "False"
                    }),
                ),
                (
                    "Restricted to ports",
                    Value::List(
                        u.fw_ports
                            .iter()
                            .map(|p| {
                                let proto = match p.proto.unwrap_or(0) {
                                    6 => "tcp",
                                    17 => "udp",
                                    1 => "icmp",
                                    _ => "?",
                                };
                                let neg = if p.negate.unwrap_or(0) != 0 { "!" } else { "" };
                                format!("{neg}{proto}({})", p.port.unwrap_or(0))
                            })
                            .collect(),
                    ),
                ),
            ]);
            object(&e)
        })
        .collect();
    array(objects)
}

/// `occtl show status`.
pub fn status_text(st: &StatusRep, now: i64) -> String {
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
        interval(now - start)
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
    let (median, stdev) = latency(st);
    let _ = writeln!(out, "\tMedian latency: {}", latency_text(median));
    let _ = writeln!(out, "\tSTDEV latency: {}", latency_text(stdev));
    out.push_str("\nCurrent stats period:\n");
    let _ = writeln!(
        out,
        "\tLast stats reset: {} ({})",
        local_time(reset),
        interval(now - reset)
    );
    let _ = writeln!(
        out,
        "\tSessions handled: {}",
        st.sessions_closed.unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "\tTimed out sessions: {}",
        st.session_timeouts.unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "\tTimed out (idle) sessions: {}",
        st.session_idle_timeouts.unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "\tClosed due to error sessions: {}",
        st.session_errors.unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "\tAuthentication failures: {}",
        st.auth_failures.unwrap_or(0)
    );
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
        human_bytes(st.kbytes_in.unwrap_or(0) * 1000)
    );
    let _ = writeln!(
        out,
        "\tTX: {}",
        human_bytes(st.kbytes_out.unwrap_or(0) * 1000)
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
pub fn status_json(st: &StatusRep, now: i64) -> String {
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
        ("_Up since", s(interval(now - start))),
        ("raw_up_since", Value::Num(start)),
        ("uptime", Value::Num(now - start)),
        ("Active sessions", n(st.active_clients)),
        ("Total sessions", big(st.total_sessions_closed)),
        ("Total authentication failures", big(st.total_auth_failures)),
        ("IPs in ban list", n(st.banned_ips)),
        ("Median latency", s(latency_text(median))),
        ("raw_median_latency", Value::Num(median as i64)),
        ("STDEV latency", s(latency_text(stdev))),
        ("raw_stdev_latency", Value::Num(stdev as i64)),
        ("Last stats reset", s(local_time(reset))),
        ("_Last stats reset", s(interval(now - reset))),
        ("raw_last_stats_reset", Value::Num(reset)),
        ("Sessions handled", n(st.sessions_closed)),
        ("Timed out sessions", n(st.session_timeouts)),
        ("Timed out (idle) sessions", n(st.session_idle_timeouts)),
        ("Closed due to error sessions", n(st.session_errors)),
        ("Authentication failures", big(st.auth_failures)),
        ("Average auth time", s(interval(avg_auth.1))),
        ("raw_avg_auth_time", Value::Num(avg_auth.1)),
        ("Max auth time", s(interval(max_auth.1))),
        ("raw_max_auth_time", Value::Num(max_auth.1)),
        ("Average session time", s(interval(avg_session.1))),
        ("raw_avg_session_time", Value::Num(avg_session.1)),
        ("Max session time", s(interval(max_session.1))),
        ("raw_max_session_time", Value::Num(max_session.1)),
    ];
    if st.max_mtu.unwrap_or(0) > 0 {
        e.push(("Max MTU", n(st.max_mtu)));
    }
    e.extend([
        ("RX", s(human_bytes(rx))),
        ("raw_rx", Value::Num(rx.min(i64::MAX as u64) as i64)),
        ("TX", s(human_bytes(tx))),
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
            interval(expires - now)
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
                    ("_Since", s(interval(expires - now))),
                    ("Score", Value::Num(i64::from(b.score.unwrap_or(0)))),
                ])
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The session occtl 1.1.6 printed in the e2e environment (values from the wire).
    fn alice() -> UserInfoRep {
        UserInfoRep {
            id: Some(24780),
            username: Some("alice".into()),
            groupname: Some("staff".into()),
            ip: Some("10.199.0.2".into()),
            tun: Some("vpns0".into()),
            remote_ip: Some("192.168.77.1".into()),
            local_ip: Some("192.168.77.50".into()),
            conn_time: Some(1_795_700_622),
            hostname: Some("vm".into()),
            user_agent: Some("Open AnyConnect VPN Agent v9.01-3".into()),
            status: Some(4),
            tls_ciphersuite: Some("(TLS1.3)-(AES-256-GCM)".into()),
            mtu: Some(1472),
            local_dev_ip: Some("10.199.0.1".into()),
            dpd: Some(60),
            keepalive: Some(300),
            safe_id: Some(b"ObrPy3bf1v+uwVzvx+G+bFp4sHU=\0".to_vec()),
            vhost: Some("default".into()),
            ..UserInfoRep::default()
        }
    }

    #[test]
    fn the_users_table_matches_occtl_byte_for_byte() {
        let table = users_table(&[alice()], 1_795_700_625);
        assert_eq!(
            table,
            "      id     user    vhost             ip         vpn-ip device   since    dtls-cipher    status\n   24780    alice  default     10.199.0.2  192.168.77.50  vpns0     3s      (no-dtls) connected\n"
        );
        assert_eq!(users_table(&[], 0), "");
    }

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

    #[test]
    fn json_is_valid_and_keyed_like_occtl() {
        let counters = |dev: &str| {
            assert_eq!(dev, "vpns0");
            Counters { rx: 216, tx: 520 }
        };
        let mut u = alice();
        u.username = Some("al\"ice\n".into());
        let json = users_json(&[u], 1_795_700_625, &counters);
        for key in [
            "\"ID\": 24780,",
            "\"Username\": \"al\\\"ice\\n\",",
            "\"IPv4\": \"192.168.77.50\",",
            "\"P-t-P IPv4\": \"192.168.77.1\",",
            "\"RX\": \"216\",",
            "\"_TX\": \"520 bytes\",",
            "\"Average RX\": \"72 bytes/sec\",",
            "\"Session\": \"ObrPy3\",",
            "\"Full session\": \"ObrPy3bf1v+uwVzvx+G+bFp4sHU=\",",
            "\"Routes\": \"defaultroute\",",
            "\"DNS\": [],",
            "\"Restricted to ports\": []\n",
        ] {
            assert!(json.contains(key), "{key} missing in {json}");
        }
        assert_eq!(json.matches("\"Routes\"").count(), 1);
        assert_eq!(users_json(&[], 0, &counters), "[\n]\n");
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
        let json = status_json(&st, 1_795_700_625);
        assert!(json.contains("\"Server PID\": 23189,"), "{json}");
        assert!(json.contains("\"Sec-mod PID\": 23193,"), "{json}");
        assert!(json.contains("\"uptime\": 38,"), "{json}");
        assert!(json.contains("\"Total sessions\": 4,"), "{json}");
        let text = status_text(&st, 1_795_700_625);
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
