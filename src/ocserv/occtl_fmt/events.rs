//! `show events`: one line per TOP_UPDATE, as occtl 1.1.6 prints them (captured on a real
//! ocserv in the e2e setup):
//!
//! ```text
//! default: connected user 'carol' (22450) from 10.199.0.2 with IP 192.168.77.36
//! default: disconnect user 'carol' (22450) from 10.199.0.2 with IP 192.168.77.36 (reason: user disconnected, time:     1s)
//! ```
//! and, for `--json`, one JSON object per line with the same facts (occtl has no JSON form
//! for events).

use super::interval;
use super::json::quote;
use super::users::{text, vpn_ip};
use crate::proto::ocserv::ctl::TopUpdateRep;

/// ocserv's disconnect reasons, for an update without its own text.
fn reason(e: &TopUpdateRep) -> String {
    match e.discon_reason_txt.as_deref() {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => match e.discon_reason.unwrap_or(1) {
            2 => "user disconnected".into(),
            3 => "server disconnected".into(),
            4 => "idle timeout".into(),
            5 => "DPD timeout".into(),
            6 => "error".into(),
            7 => "session timeout".into(),
            8 => "temporary".into(),
            9 => "health probe".into(),
            _ => "unspecified".into(),
        },
    }
}

/// The event's line; `None` for an update without a session in it.
pub fn event_line(e: &TopUpdateRep, now: i64) -> Option<String> {
    let u = e.user.as_ref()?.user.first()?;
    let what = if e.connected == Some(1) {
        "connected"
    } else {
        "disconnect"
    };
    let line = format!(
        "{}: {what} user '{}' ({}) from {} with IP {}",
        text(&u.vhost),
        text(&u.username),
        u.id.unwrap_or(0),
        text(&u.ip),
        vpn_ip(u)
    );
    if e.connected == Some(1) {
        return Some(line);
    }
    let since = interval(now.saturating_sub(super::secs(u.conn_time)));
    Some(format!("{line} (reason: {}, time: {since})", reason(e)))
}

/// The event as one JSON object on one line.
pub fn event_json(e: &TopUpdateRep, now: i64) -> Option<String> {
    let u = e.user.as_ref()?.user.first()?;
    let connected = e.connected == Some(1);
    let mut out = format!(
        "{{\"event\":{},\"ID\":{},\"Username\":{},\"vhost\":{},\"Remote IP\":{},\"IPv4\":{}",
        quote(if connected { "connected" } else { "disconnect" }),
        u.id.unwrap_or(0),
        quote(text(&u.username)),
        quote(text(&u.vhost)),
        quote(text(&u.ip)),
        quote(vpn_ip(u))
    );
    if !connected {
        out += &format!(
            ",\"reason\":{},\"raw_time\":{}",
            quote(&reason(e)),
            now.saturating_sub(super::secs(u.conn_time))
        );
    }
    out.push('}');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ocserv::ctl::{UserInfoRep, UserListRep};

    fn carol(connected: u32) -> TopUpdateRep {
        TopUpdateRep {
            connected: Some(connected),
            discon_reason: (connected == 0).then_some(2),
            discon_reason_txt: (connected == 0).then(|| "user disconnected".to_string()),
            user: Some(UserListRep {
                user: vec![UserInfoRep {
                    id: Some(22450),
                    username: Some("carol".into()),
                    vhost: Some("default".into()),
                    ip: Some("10.199.0.2".into()),
                    local_ip: Some("192.168.77.36".into()),
                    conn_time: Some(1000),
                    ..UserInfoRep::default()
                }],
            }),
        }
    }

    #[test]
    fn lines_are_occtls() {
        assert_eq!(
            event_line(&carol(1), 1001).unwrap(),
            "default: connected user 'carol' (22450) from 10.199.0.2 with IP 192.168.77.36"
        );
        assert_eq!(
            event_line(&carol(0), 1001).unwrap(),
            "default: disconnect user 'carol' (22450) from 10.199.0.2 with IP 192.168.77.36 (reason: user disconnected, time:     1s)"
        );
        let mut bare = carol(0);
        bare.discon_reason_txt = None;
        bare.discon_reason = Some(5);
        assert!(event_line(&bare, 1001)
            .unwrap()
            .contains("(reason: DPD timeout,"));
        assert_eq!(event_line(&TopUpdateRep::default(), 0), None);
    }

    #[test]
    fn json_lines_carry_the_same_facts() {
        assert_eq!(
            event_json(&carol(0), 1001).unwrap(),
            r#"{"event":"disconnect","ID":22450,"Username":"carol","vhost":"default","Remote IP":"10.199.0.2","IPv4":"192.168.77.36","reason":"user disconnected","raw_time":1}"#
        );
    }
}
