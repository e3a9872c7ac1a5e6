//! Session events for the portal (`vpn.v1.EventService`): the journal that keeps them across
//! restarts, the bounded outbox that orders and deduplicates them, and the delivery task that
//! retries until the portal has them.

pub mod journal;
pub mod outbox;
pub mod report;

use crate::session::{Reason, SessionEvent};
use journal::{Event, Kind};
use std::time::SystemTime;

/// The event to report for a script invocation: a connect the agent allowed, or a disconnect.
/// `None` for what the portal is not told about (host updates, denied connects).
pub fn from_session(event: &SessionEvent, allowed: bool, now: SystemTime) -> Option<Event> {
    let kind = match (event.reason, allowed) {
        (Reason::Connect, true) => Kind::Connect,
        (Reason::Disconnect, _) => Kind::Disconnect,
        _ => return None,
    };
    let text = |ip: Option<std::net::IpAddr>| ip.map(|i| i.to_string()).unwrap_or_default();
    let stats = event.stats.unwrap_or(crate::session::Stats {
        bytes_in: 0,
        bytes_out: 0,
        duration_secs: 0,
    });
    Some(Event {
        seq: 0,
        kind,
        session: event.id,
        user: event.username.clone(),
        group: event.groupname.clone(),
        client_ip: text(event.ip_real),
        vpn_ip: event
            .ip_remote
            .or(event.ipv6_remote.map(Into::into))
            .map(|i| i.to_string())
            .unwrap_or_default(),
        device: event.device.clone(),
        at: now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        bytes_in: stats.bytes_in,
        bytes_out: stats.bytes_out,
        duration: stats.duration_secs,
        trace: event.trace.map(|t| t.to_string()).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_allowed_connects_and_all_disconnects_are_reported() {
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(9);
        let c = SessionEvent::new(Reason::Connect, 1, "alice");
        assert_eq!(from_session(&c, true, now).unwrap().kind, Kind::Connect);
        assert!(from_session(&c, false, now).is_none());
        let mut d = SessionEvent::new(Reason::Disconnect, 1, "alice");
        d.stats = Some(crate::session::Stats {
            bytes_in: 5,
            bytes_out: 6,
            duration_secs: 7,
        });
        let e = from_session(&d, true, now).unwrap();
        assert_eq!(
            (e.kind, e.bytes_in, e.bytes_out, e.duration, e.at),
            (Kind::Disconnect, 5, 6, 7, 9)
        );
        let h = SessionEvent::new(Reason::HostUpdate, 1, "alice");
        assert!(from_session(&h, true, now).is_none());
    }
}
