//! The sessions the agent admitted, keyed by ocserv's session `ID` (a user has several:
//! phone and laptop, or a cookie reconnect that arrives before the old session's disconnect).
//!
//! `max_sessions` counts a user's entries here until the ocserv control client can count live
//! sessions. Disconnects for IDs never admitted are harmless (ocserv sends some, see
//! `shared/spec/ocserv.md` §1). The table is bounded: if disconnects were missed (an agent
//! restart, a crashed worker), the oldest entries make room rather than memory growing forever.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Instant;

/// One admitted session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: u32,
    pub username: String,
    pub groupname: String,
    pub ip_real: Option<IpAddr>,
    pub vpn_ip: Option<IpAddr>,
    pub device: String,
    pub since: Instant,
    /// The trace its connect decision started: its reports and ValidateSession calls go on
    /// with it.
    pub trace: Option<crate::trace::TraceId>,
}

/// Sessions by ID, at most `capacity` of them.
#[derive(Debug)]
pub struct Sessions {
    by_id: HashMap<u32, Session>,
    capacity: usize,
    evicted: u32,
}

impl Sessions {
    pub fn new(capacity: usize) -> Sessions {
        Sessions {
            by_id: HashMap::new(),
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    /// Records an admitted session (replacing one with the same ID: ocserv reuses worker pids).
    pub fn admit(&mut self, session: Session) {
        if !self.by_id.contains_key(&session.id) && self.by_id.len() >= self.capacity {
            if let Some(oldest) = self.by_id.values().min_by_key(|s| s.since).map(|s| s.id) {
                self.by_id.remove(&oldest);
                self.evicted = self.evicted.saturating_add(1);
            }
        }
        self.by_id.insert(session.id, session);
    }

    /// Forgets a session; `None` if it was not known.
    pub fn end(&mut self, id: u32) -> Option<Session> {
        self.by_id.remove(&id)
    }

    /// The trace of session `id`, if it is known.
    pub fn trace(&self, id: u32) -> Option<crate::trace::TraceId> {
        self.by_id.get(&id)?.trace
    }

    /// How many sessions `username` has.
    pub fn count_user(&self, username: &str) -> u32 {
        self.by_id
            .values()
            .filter(|s| s.username == username)
            .count() as u32
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn session(id: u32, user: &str, since: Instant) -> Session {
        Session {
            id,
            username: user.into(),
            groupname: String::new(),
            ip_real: None,
            vpn_ip: None,
            device: String::new(),
            since,
            trace: None,
        }
    }

    #[test]
    fn counts_by_user_and_forgets_on_end() {
        let now = Instant::now();
        let mut t = Sessions::new(100);
        t.admit(session(1, "alice", now));
        t.admit(session(2, "alice", now));
        t.admit(session(3, "bob", now));
        assert_eq!(t.count_user("alice"), 2);
        assert_eq!(t.count_user("carol"), 0);
        assert_eq!(t.end(1).unwrap().username, "alice");
        assert_eq!(t.count_user("alice"), 1);
        // Unknown and repeated disconnects are harmless.
        assert_eq!(t.end(1), None);
        assert_eq!(t.end(999), None);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn the_same_id_replaces_and_the_oldest_make_room() {
        let t0 = Instant::now();
        let mut t = Sessions::new(2);
        t.admit(session(1, "a", t0));
        t.admit(session(1, "b", t0 + Duration::from_secs(1)));
        assert_eq!(t.len(), 1);
        assert_eq!(t.by_id.get(&1).unwrap().username, "b");
        t.admit(session(2, "c", t0 + Duration::from_secs(2)));
        t.admit(session(3, "d", t0 + Duration::from_secs(3)));
        assert_eq!(t.len(), 2);
        assert!(!t.by_id.contains_key(&1), "the oldest went");
        assert_eq!(t.evicted, 1);
    }
}
