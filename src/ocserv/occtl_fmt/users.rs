//! Sessions: `show users` (table), `show user` / `show id` (detail), and their JSON.

use super::json::{array, object, s, Value};
use super::{interval, local_time, state, Counters, Dialect};
use crate::proto::ocserv::ctl::UserInfoRep;
use std::fmt::Write;

pub(super) fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// The client's VPN address: ocserv calls it `local_ip` (and the server's `remote_ip`).
pub(super) fn vpn_ip(u: &UserInfoRep) -> &str {
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
        let conn = super::secs(u.conn_time);
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
            interval(now.saturating_sub(conn)),
            dtls,
            state(u.status)
        );
    }
    out
}

/// `occtl show user NAME` / `show id ID`: one block per session.
pub fn user_detail(
    users: &[UserInfoRep],
    now: i64,
    counters: &dyn Fn(&str) -> Counters,
    dialect: Dialect,
) -> String {
    let mut out = String::new();
    for (i, u) in users.iter().enumerate() {
        if i > 0 {
            out.push('\n'); // occtl's blank line between sessions
        }
        let conn = super::secs(u.conn_time);
        let age = (now.saturating_sub(conn)).max(1) as u64;
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
        match &limits(u, dialect)[..] {
            [(a, x), (b, y)] => {
                let _ = writeln!(out, "\t{a}: {x}   {b}: {y}");
            }
            [(a, x)] => {
                let _ = writeln!(out, "\t{a}: {x}");
            }
            _ => {}
        }
        let _ = writeln!(
            out,
            "\tRX: {} ({})   TX: {} ({})",
            c.rx,
            dialect.bytes(c.rx),
            c.tx,
            dialect.bytes(c.tx)
        );
        let _ = writeln!(
            out,
            "\tAverage bandwidth RX: {}{per}  TX: {}{per}",
            dialect.bytes(c.rx / age),
            dialect.bytes(c.tx / age),
            per = dialect.per_second
        );
        let _ = writeln!(
            out,
            "\tDPD: {}   KeepAlive: {}",
            u.dpd.unwrap_or(0),
            u.keepalive.unwrap_or(0)
        );
        let _ = writeln!(out, "\tHostname: {}", text(&u.hostname));
        for (label, _, at) in connected_at(u, dialect) {
            let _ = writeln!(
                out,
                "\t{label}: {} ({})",
                local_time(at),
                interval(now.saturating_sub(at))
            );
        }
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

/// The session's bandwidth limits (`rx-data-per-sec`, `tx-data-per-sec`) as occtl prints them,
/// the ones that are set.
fn limits(u: &UserInfoRep, dialect: Dialect) -> Vec<(&'static str, String)> {
    [("Limit RX", u.rx_per_sec), ("Limit TX", u.tx_per_sec)]
        .into_iter()
        .filter_map(|(label, v)| match v {
            Some(n) if n > 0 => Some((label, dialect.bytes(u64::from(n)) + dialect.per_second)),
            _ => None,
        })
        .collect()
}

/// The session's times as occtl labels them (text label, JSON key of the interval beside it,
/// the time): "Connected at" (`conn_time`), or from ocserv 1.4.1 "Last connected at"
/// (`conn_time`, the last reconnect) and "Session started at".
fn connected_at(u: &UserInfoRep, dialect: Dialect) -> Vec<(&'static str, &'static str, i64)> {
    let conn = super::secs(u.conn_time);
    if dialect.session_start || u.session_start_time.is_some() {
        let started = super::secs(Some(crate::ocserv::session_start(u)));
        vec![
            ("Last connected at", "_Last connected at", conn),
            ("Session started at", "_Session started at", started),
        ]
    } else {
        vec![("Connected at", "_Connected at", conn)]
    }
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
pub fn users_json(
    users: &[UserInfoRep],
    now: i64,
    counters: &dyn Fn(&str) -> Counters,
    dialect: Dialect,
) -> String {
    let objects = users
        .iter()
        .map(|u| {
            let conn = super::secs(u.conn_time);
            let age = (now.saturating_sub(conn)).max(1) as u64;
            let c = counters(text(&u.tun));
            let rate = |n: u64| format!("{}{}", dialect.bytes(n), dialect.per_second);
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
            e.push(("User-Agent", s(text(&u.user_agent))));
            e.extend(limits(u, dialect).into_iter().map(|(k, v)| (k, s(v))));
            e.extend([
                ("RX", s(c.rx.to_string())),
                ("TX", s(c.tx.to_string())),
                ("_RX", s(dialect.bytes(c.rx))),
                ("_TX", s(dialect.bytes(c.tx))),
                ("Average RX", s(rate(c.rx / age))),
                ("Average TX", s(rate(c.tx / age))),
                ("DPD", s(u.dpd.unwrap_or(0).to_string())),
                ("KeepAlive", s(u.keepalive.unwrap_or(0).to_string())),
                ("Hostname", s(text(&u.hostname))),
            ]);
            let times = connected_at(u, dialect);
            for &(label, key, at) in &times {
                e.push((label, s(local_time(at))));
                e.push((key, s(interval(now.saturating_sub(at)))));
            }
            e.push(("raw_connected_at", Value::Num(conn)));
            if let [_, (_, _, started)] = times[..] {
                e.push(("raw_session_started_at", Value::Num(started)));
            }
            e.extend([
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ocserv::version::Version;

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
    fn json_is_valid_and_keyed_like_occtl() {
        let counters = |dev: &str| {
            assert_eq!(dev, "vpns0");
            Counters { rx: 216, tx: 520 }
        };
        let mut u = alice();
        u.username = Some("al\"ice\n".into());
        let old = Dialect::of(Some(Version(1, 1, 6)));
        let json = users_json(&[u], 1_795_700_625, &counters, old);
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
        assert_eq!(users_json(&[], 0, &counters, old), "[\n]\n");
    }

    /// What occtl 1.5.0 printed for a session in the e2e environment (its lines for the
    /// times and rates), and what 1.3.0's prints for the same session.
    #[test]
    fn each_version_gets_its_own_occtls_words() {
        let counters = |_: &str| Counters { rx: 300, tx: 604 };
        let mut u = alice();
        u.conn_time = Some(1_796_103_465);
        let now = 1_796_103_467;
        let v150 = Dialect::of(Some(Version(1, 5, 0)));
        let text = user_detail(&[u.clone()], now, &counters, v150);
        assert!(text.contains(
            "\tAverage bandwidth RX: 150 bytes/s  TX: 302 bytes/s\n\tDPD: 60   KeepAlive: 300\n"
        ));
        assert!(text.contains(
            "\tHostname: vm\n\tLast connected at: 2026-12-01 05:37 (    2s)\n\tSession started at: 2026-12-01 05:37 (    2s)\n\tSession: ObrPy3\n"
        ), "{text}");
        let json = users_json(&[u.clone()], now, &counters, v150);
        assert!(json.contains(
            "\"Hostname\": \"vm\",\n    \"Last connected at\": \"2026-12-01 05:37\",\n    \"_Last connected at\": \"    2s\",\n    \"Session started at\": \"2026-12-01 05:37\",\n    \"_Session started at\": \"    2s\",\n    \"raw_connected_at\": 1796103465,\n    \"raw_session_started_at\": 1796103465,\n"
        ), "{json}");
        assert!(json.contains("\"Average RX\": \"150 bytes/s\","));

        let v130 = Dialect::of(Some(Version(1, 3, 0)));
        let text = user_detail(&[u.clone()], now, &counters, v130);
        assert!(text.contains("RX: 150 bytes/s  TX: 302 bytes/s\n"));
        assert!(text.contains("\tConnected at: 2026-12-01 05:37 (    2s)\n"));
        assert!(!text.contains("Session started"));

        // A reconnect on 1.4.1+: the session started before its last connect; a reply with
        // session_start_time is printed that way even when the version is unknown.
        u.session_start_time = Some(1_796_103_465 - 3600);
        let json = users_json(&[u.clone()], now, &counters, Dialect::of(None));
        assert!(json.contains("\"_Last connected at\": \"    2s\","));
        assert!(
            json.contains("\"Session started at\": \"2026-12-01 04:37\","),
            "{json}"
        );
        assert!(json.contains("\"_Session started at\": \" 1h:00m\","));
        assert!(json.contains("\"raw_session_started_at\": 1796099865,"));
        let text = user_detail(&[u], now, &counters, Dialect::of(None));
        assert!(text.contains("\tSession started at: 2026-12-01 04:37 ( 1h:00m)\n"));
    }

    /// occtl 1.3.0's lines for `rx-data-per-sec` / `tx-data-per-sec`, and its blank line
    /// between two sessions (seen from 1.5.0's occtl in the e2e test).
    #[test]
    fn limits_and_several_sessions_print_as_occtl_prints_them() {
        let counters = |_: &str| Counters::default();
        let d = Dialect::of(Some(Version(1, 3, 0)));
        let mut u = alice();
        u.rx_per_sec = Some(100_000);
        u.tx_per_sec = Some(50_000);
        let text = user_detail(&[u.clone()], 1_795_700_625, &counters, d);
        assert!(text.contains("\tUser-Agent: Open AnyConnect VPN Agent v9.01-3\n\tLimit RX: 100.0 kB/s   Limit TX: 50.0 kB/s\n\tRX: 0"), "{text}");
        let json = users_json(&[u.clone()], 1_795_700_625, &counters, d);
        assert!(json.contains(
            "\"Limit RX\": \"100.0 kB/s\",\n    \"Limit TX\": \"50.0 kB/s\",\n    \"RX\""
        ));
        u.rx_per_sec = Some(0);
        let text = user_detail(&[u.clone()], 1_795_700_625, &counters, d);
        assert!(text.contains("\tLimit TX: 50.0 kB/s\n") && !text.contains("Limit RX"));

        let two = user_detail(&[alice(), alice()], 1_795_700_625, &counters, d);
        assert!(
            two.contains("\tRestricted to routes: False\n\n\n\tID: 24780\n"),
            "{two}"
        );
        assert!(two.ends_with("\tRestricted to routes: False\n\n"));
    }

    #[test]
    fn a_connect_time_past_i64_is_clamped_not_wrapped() {
        let mut u = alice();
        u.conn_time = Some(u64::MAX);
        let counters = |_: &str| Counters::default();
        for now in [i64::MIN, 0, i64::MAX] {
            assert!(users_table(&[u.clone()], now).contains("alice"));
            let d = Dialect::of(None);
            assert!(user_detail(&[u.clone()], now, &counters, d).contains("alice"));
            assert!(users_json(&[u.clone()], now, &counters, d).contains("alice"));
        }
    }
}
