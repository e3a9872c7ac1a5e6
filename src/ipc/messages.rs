//! The requests and replies exchanged on the daemon socket, and their mapping to frames.

// nanoserde's derives expand to code that this lint flags; the lint is about style only.
#![allow(clippy::question_mark)]

use super::frame::{decode_json, encode, FrameError, Kind};
use nanoserde::{DeJson, SerJson};

/// What a client asks the daemon.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// `ocserv-agent status`.
    Status,
    /// The hook: ocserv's script environment, the variables ocserv sets and nothing else. The
    /// daemon validates it again (it trusts the peer's uid, not its data).
    Event(EventPayload),
    /// `ocserv-agent cache clear [USER]`: drop cached decisions.
    CacheClear(CacheClear),
}

/// Whose cached decisions to drop: one user's, or everyone's without a name.
#[derive(Clone, Debug, Default, PartialEq, SerJson, DeJson)]
pub struct CacheClear {
    pub username: Option<String>,
}

/// How many cached decisions a `cache clear` dropped.
#[derive(Clone, Debug, PartialEq, SerJson, DeJson)]
pub struct Cleared {
    pub dropped: u32,
}

/// ocserv's variables by name, as the hook found them.
#[derive(Clone, Debug, Default, PartialEq, SerJson, DeJson)]
pub struct EventPayload {
    pub env: std::collections::BTreeMap<String, String>,
}

/// The daemon's answer to an event.
#[derive(Clone, Debug, PartialEq, SerJson, DeJson)]
pub struct DecisionReply {
    pub allow: bool,
    /// local, portal, cache, stale, fail-open or fail-close.
    pub source: String,
    pub reason: String,
}

/// What the daemon answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Boxed: a status is much larger than the decisions the hot path sends.
    Status(Box<StatusReply>),
    Decision(DecisionReply),
    Cleared(Cleared),
    /// The request was refused or could not be served; the text says why.
    Error(String),
}

/// The daemon's state as `ocserv-agent status` shows it.
#[derive(Clone, Debug, PartialEq, SerJson, DeJson)]
pub struct StatusReply {
    pub version: String,
    pub pid: u32,
    pub uptime_secs: u64,
    pub config_path: String,
    /// Seconds since the configuration in force was loaded.
    pub config_age_secs: u64,
    pub reloads: u32,
    pub reload_failures: u32,
    /// Why the last reload was refused, if it was.
    pub last_reload_error: Option<String>,
    pub agent_id: String,
    pub log_level: String,
    pub portal_enabled: bool,
    pub fail_mode: String,
    pub policy_default: String,
    pub policy_rules: u32,
    /// closed, open or half-open.
    pub breaker_state: String,
    /// `name=count` pairs: allowed, denied, and by source.
    pub decisions: String,
    pub cache_entries: u32,
    /// Sessions the agent admitted and has not seen end.
    pub sessions: u32,
    /// `name=count` pairs: the breaker's calls, failures, rejections and trips.
    #[nserde(default)]
    pub breaker: String,
    /// `name=count` pairs: cache hits, misses, stale hits, evictions, capacity.
    #[nserde(default)]
    pub cache: String,
    /// Events waiting for the portal.
    #[nserde(default)]
    pub outbox_depth: u32,
    /// `name=count` pairs: delivered, refused, dropped, duplicates, retries, journal errors.
    #[nserde(default)]
    pub outbox: String,
}

/// A request that carries no data still has a payload: `{}`.
#[derive(SerJson, DeJson)]
struct EmptyPayload {}

#[derive(SerJson, DeJson)]
struct ErrorPayload {
    message: String,
}

impl StatusReply {
    /// JSON text, as `status --json` prints it.
    pub fn to_json(&self) -> String {
        self.serialize_json()
    }

    #[cfg(test)]
    pub fn default_for_test() -> StatusReply {
        StatusReply {
            version: "0.1.0".into(),
            pid: 1,
            uptime_secs: 2,
            config_path: "/etc/config/ocserv-agent".into(),
            config_age_secs: 2,
            reloads: 0,
            reload_failures: 1,
            last_reload_error: Some("x:1: bad \"quoted\"".into()),
            agent_id: "gw".into(),
            log_level: "info".into(),
            portal_enabled: false,
            fail_mode: "stale".into(),
            policy_default: "allow".into(),
            policy_rules: 0,
            breaker_state: "closed".into(),
            decisions: "allowed=3 denied=1".into(),
            cache_entries: 2,
            sessions: 1,
            breaker: String::new(),
            cache: String::new(),
            outbox_depth: 0,
            outbox: String::new(),
        }
    }
}

impl Request {
    /// The whole frame for this request.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Request::Status => encode(Kind::StatusRequest, "{}"),
            Request::Event(e) => encode(Kind::EventRequest, &e.serialize_json()),
            Request::CacheClear(c) => encode(Kind::CacheClearRequest, &c.serialize_json()),
        }
    }

    /// Reads a request from a decoded header's kind and its payload.
    pub fn decode(kind: Kind, payload: &[u8]) -> Result<Request, FrameError> {
        match kind {
            Kind::StatusRequest => decode_json::<EmptyPayload>(payload).map(|_| Request::Status),
            Kind::EventRequest => decode_json(payload).map(Request::Event),
            Kind::CacheClearRequest => decode_json(payload).map(Request::CacheClear),
            other => Err(FrameError::BadPayload(format!(
                "{other:?} is not a request"
            ))),
        }
    }
}

impl Reply {
    /// What kind of reply this is, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Reply::Status(_) => "a status",
            Reply::Decision(_) => "a decision",
            Reply::Cleared(_) => "a cache count",
            Reply::Error(_) => "an error",
        }
    }

    /// The whole frame for this reply.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Status(s) => encode(Kind::StatusReply, &s.serialize_json()),
            Reply::Decision(d) => encode(Kind::DecisionReply, &d.serialize_json()),
            Reply::Cleared(c) => encode(Kind::CacheClearReply, &c.serialize_json()),
            Reply::Error(message) => encode(
                Kind::ErrorReply,
                &ErrorPayload {
                    message: message.clone(),
                }
                .serialize_json(),
            ),
        }
    }

    /// Reads a reply from a decoded header's kind and its payload.
    pub fn decode(kind: Kind, payload: &[u8]) -> Result<Reply, FrameError> {
        match kind {
            Kind::StatusReply => decode_json(payload).map(|s| Reply::Status(Box::new(s))),
            Kind::DecisionReply => decode_json(payload).map(Reply::Decision),
            Kind::CacheClearReply => decode_json(payload).map(Reply::Cleared),
            Kind::ErrorReply => {
                decode_json::<ErrorPayload>(payload).map(|e| Reply::Error(e.message))
            }
            other => Err(FrameError::BadPayload(format!("{other:?} is not a reply"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::frame::{decode_header, HEADER_LEN};

    fn round_trip(reply: Reply) -> Reply {
        let frame = reply.encode();
        let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        let (kind, len) = decode_header(&header).unwrap();
        assert_eq!(len as usize, frame.len() - HEADER_LEN);
        Reply::decode(kind, &frame[HEADER_LEN..]).unwrap()
    }

    #[test]
    fn replies_round_trip() {
        let status = Reply::Status(Box::new(StatusReply::default_for_test()));
        assert_eq!(round_trip(status.clone()), status);
        let err = Reply::Error("uid 5 is not allowed \"x\"\n".into());
        assert_eq!(round_trip(err.clone()), err);
        let decision = Reply::Decision(DecisionReply {
            allow: false,
            source: "portal".into(),
            reason: "denied by the portal: \"not today\"".into(),
        });
        assert_eq!(round_trip(decision.clone()), decision);
        let cleared = Reply::Cleared(Cleared { dropped: 7 });
        assert_eq!(round_trip(cleared.clone()), cleared);
    }

    #[test]
    fn cache_clear_round_trips_with_and_without_a_user() {
        for username in [None, Some("alice".to_string())] {
            let request = Request::CacheClear(CacheClear { username });
            let frame = request.encode();
            let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
            let (kind, _) = decode_header(&header).unwrap();
            assert_eq!(
                Request::decode(kind, &frame[HEADER_LEN..]).unwrap(),
                request
            );
        }
    }

    #[test]
    fn requests_round_trip() {
        let frame = Request::Status.encode();
        let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        let (kind, _) = decode_header(&header).unwrap();
        assert_eq!(
            Request::decode(kind, &frame[HEADER_LEN..]).unwrap(),
            Request::Status
        );
        assert!(Request::decode(Kind::StatusReply, b"{}").is_err());
        let mut env = std::collections::BTreeMap::new();
        env.insert("REASON".to_string(), "connect".to_string());
        env.insert("USERNAME".to_string(), "a\"b\\c ✓".to_string());
        let event = Request::Event(EventPayload { env });
        let frame = event.encode();
        let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        let (kind, _) = decode_header(&header).unwrap();
        assert_eq!(Request::decode(kind, &frame[HEADER_LEN..]).unwrap(), event);
        assert!(Request::decode(Kind::StatusRequest, b"[").is_err());
    }

    #[test]
    fn extreme_numbers_in_integer_fields_are_errors_or_values_never_panics() {
        let valid = StatusReply::default_for_test().to_json();
        for n in [
            "99999999999999999999999999",
            "-1",
            "1e400",
            "-1e400",
            "1.5",
            "4294967296",
            "-0",
            "18446744073709551616",
        ] {
            let text = valid.replacen("\"pid\":1", &format!("\"pid\":{n}"), 1);
            assert_ne!(text, valid);
            let _ = Reply::decode(Kind::StatusReply, text.as_bytes());
        }
    }

    #[test]
    fn a_reply_with_a_missing_field_is_an_error_not_a_default() {
        assert!(Reply::decode(Kind::StatusReply, br#"{"version":"1"}"#).is_err());
    }
}
