//! The requests and replies exchanged on the daemon socket, and their mapping to frames.
//!
//! What crosses is typed: the hook sends the [`SessionEvent`] it read from ocserv's
//! environment, the daemon answers the engine's [`Decision`]. On the wire both are JSON with a
//! field per value (private `*Wire` types here); reading one back applies the same checks as
//! reading ocserv's environment ([`SessionEvent::checked`]), because a peer on the socket is
//! trusted with its uid, not with its parsing.

// nanoserde's derives expand to code that this lint flags; the lint is about style only.
#![allow(clippy::question_mark)]

use super::frame::{decode_json, encode, FrameError, Kind};
use crate::decision::{Decision, Source};
use crate::session::{parse_ip, parse_ipv6, Reason, SessionEvent, Stats};
use crate::trace::TraceId;
use nanoserde::{DeJson, SerJson};
use std::net::{IpAddr, Ipv6Addr};

/// What a client asks the daemon.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// `ocserv-agent status`.
    Status,
    /// The hook: the event ocserv's script environment describes, checked by the hook and
    /// checked again when the daemon reads it.
    Event(Box<SessionEvent>),
    /// `ocserv-agent cache clear [USER]`: drop cached decisions.
    CacheClear(CacheClear),
}

/// Whose cached decisions to drop: one user's, or everyone's without a name.
#[derive(Clone, Debug, Default, PartialEq, SerJson, DeJson)]
pub struct CacheClear {
    /// The user whose decisions to drop; `None` drops everyone's.
    pub username: Option<String>,
}

/// How many cached decisions a `cache clear` dropped.
#[derive(Clone, Debug, PartialEq, SerJson, DeJson)]
pub struct Cleared {
    /// Entries removed from the decision cache.
    pub dropped: u32,
}

/// A [`SessionEvent`] on the wire: addresses as text, the reason as ocserv's word.
#[derive(SerJson, DeJson)]
struct EventWire {
    reason: String,
    id: u32,
    username: String,
    groupname: String,
    vhost: String,
    device: String,
    ip_real: Option<String>,
    ip_real_local: Option<String>,
    ip_local: Option<String>,
    ip_remote: Option<String>,
    ipv6_local: Option<String>,
    ipv6_remote: Option<String>,
    ipv6_prefix: Option<u8>,
    hostname: String,
    user_agent: String,
    device_type: String,
    device_platform: String,
    stats: Option<StatsWire>,
}

#[derive(SerJson, DeJson)]
struct StatsWire {
    bytes_in: u64,
    bytes_out: u64,
    duration_secs: u64,
}

impl EventWire {
    fn from_event(e: &SessionEvent) -> EventWire {
        let text = |ip: Option<IpAddr>| ip.map(|ip| ip.to_string());
        let text6 = |ip: Option<Ipv6Addr>| ip.map(|ip| ip.to_string());
        EventWire {
            reason: e.reason.as_str().to_string(),
            id: e.id,
            username: e.username.clone(),
            groupname: e.groupname.clone(),
            vhost: e.vhost.clone(),
            device: e.device.clone(),
            ip_real: text(e.ip_real),
            ip_real_local: text(e.ip_real_local),
            ip_local: text(e.ip_local),
            ip_remote: text(e.ip_remote),
            ipv6_local: text6(e.ipv6_local),
            ipv6_remote: text6(e.ipv6_remote),
            ipv6_prefix: e.ipv6_prefix,
            hostname: e.hostname.clone(),
            user_agent: e.user_agent.clone(),
            device_type: e.device_type.clone(),
            device_platform: e.device_platform.clone(),
            stats: e.stats.map(|s| StatsWire {
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                duration_secs: s.duration_secs,
            }),
        }
    }

    /// The event, checked as ocserv's environment is: a bad value is an error naming the
    /// variable ocserv would have set.
    fn into_event(self) -> Result<SessionEvent, crate::session::EnvError> {
        let reason = Reason::from_word(&self.reason).ok_or_else(|| crate::session::EnvError {
            variable: "REASON",
            problem: format!("unknown reason '{}'", self.reason),
        })?;
        let ip = |variable, text: Option<String>| text.map(|t| parse_ip(variable, &t)).transpose();
        let ipv6 =
            |variable, text: Option<String>| text.map(|t| parse_ipv6(variable, &t)).transpose();
        SessionEvent {
            reason,
            id: self.id,
            username: self.username,
            groupname: self.groupname,
            vhost: self.vhost,
            device: self.device,
            ip_real: ip("IP_REAL", self.ip_real)?,
            ip_real_local: ip("IP_REAL_LOCAL", self.ip_real_local)?,
            ip_local: ip("IP_LOCAL", self.ip_local)?,
            ip_remote: ip("IP_REMOTE", self.ip_remote)?,
            ipv6_local: ipv6("IPV6_LOCAL", self.ipv6_local)?,
            ipv6_remote: ipv6("IPV6_REMOTE", self.ipv6_remote)?,
            ipv6_prefix: self.ipv6_prefix,
            hostname: self.hostname,
            user_agent: self.user_agent,
            device_type: self.device_type,
            device_platform: self.device_platform,
            stats: self.stats.map(|s| Stats {
                bytes_in: s.bytes_in,
                bytes_out: s.bytes_out,
                duration_secs: s.duration_secs,
            }),
            // The daemon's to set: a peer does not choose the trace it is logged under.
            trace: None,
        }
        .checked()
    }
}

/// A [`Decision`] on the wire: the source by its name.
#[derive(SerJson, DeJson)]
struct DecisionWire {
    allow: bool,
    source: String,
    reason: String,
    /// The trace id in hex; empty for none (and from daemons before traces).
    #[nserde(default)]
    trace: String,
}

impl DecisionWire {
    fn into_decision(self) -> Result<Decision, FrameError> {
        let source = Source::from_name(&self.source).ok_or_else(|| {
            FrameError::BadPayload(format!("unknown decision source '{}'", self.source))
        })?;
        let trace = match self.trace.as_str() {
            "" => None,
            hex => Some(TraceId::from_hex(hex).ok_or_else(|| {
                FrameError::BadPayload(format!("malformed trace id '{}'", hex.escape_default()))
            })?),
        };
        Ok(Decision {
            allow: self.allow,
            source,
            reason: self.reason,
            trace,
        })
    }
}

/// What the daemon answers.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Boxed: a status is much larger than the decisions the hot path sends.
    Status(Box<StatusReply>),
    /// The engine's decision on an event.
    Decision(Decision),
    /// What a `cache clear` dropped.
    Cleared(Cleared),
    /// The request was refused or could not be served; the text says why.
    Error(String),
}

/// The daemon's state as `ocserv-agent status` shows it.
#[derive(Clone, Debug, PartialEq, SerJson, DeJson)]
pub struct StatusReply {
    /// The daemon's package version.
    pub version: String,
    /// The daemon's process id.
    pub pid: u32,
    /// Seconds since the daemon started.
    pub uptime_secs: u64,
    /// The configuration file the daemon reads.
    pub config_path: String,
    /// Seconds since the configuration in force was loaded.
    pub config_age_secs: u64,
    /// Reloads put in force since start.
    pub reloads: u32,
    /// Reloads refused (the old configuration stayed).
    pub reload_failures: u32,
    /// Why the last reload was refused, if it was.
    pub last_reload_error: Option<String>,
    /// `agent.id`: how the portal knows this router.
    pub agent_id: String,
    /// The log level in force.
    pub log_level: String,
    /// Whether decisions ask the portal.
    pub portal_enabled: bool,
    /// open, close or stale.
    pub fail_mode: String,
    /// The local policy's answer when no rule matches.
    pub policy_default: String,
    /// Local rules configured (enabled or not).
    pub policy_rules: u32,
    /// closed, open or half-open.
    pub breaker_state: String,
    /// `name=count` pairs: allowed, denied, and by source.
    pub decisions: String,
    /// Decisions cached now (fresh or stale).
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

    /// A plausible status, for tests of what reads and prints it.
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
            Request::Event(e) => encode(
                Kind::EventRequest,
                &EventWire::from_event(e).serialize_json(),
            ),
            Request::CacheClear(c) => encode(Kind::CacheClearRequest, &c.serialize_json()),
        }
    }

    /// Reads a request from a decoded header's kind and its payload.
    pub fn decode(kind: Kind, payload: &[u8]) -> Result<Request, FrameError> {
        match kind {
            Kind::StatusRequest => decode_json::<EmptyPayload>(payload).map(|_| Request::Status),
            Kind::EventRequest => decode_json::<EventWire>(payload)?
                .into_event()
                .map(|e| Request::Event(Box::new(e)))
                .map_err(FrameError::BadEvent),
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
            Reply::Decision(d) => encode(
                Kind::DecisionReply,
                &DecisionWire {
                    allow: d.allow,
                    source: d.source.as_str().to_string(),
                    reason: d.reason.clone(),
                    trace: d.trace.map(|t| t.to_string()).unwrap_or_default(),
                }
                .serialize_json(),
            ),
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
            Kind::DecisionReply => decode_json::<DecisionWire>(payload)?
                .into_decision()
                .map(Reply::Decision),
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
        for source in Source::ALL {
            let decision = Reply::Decision(Decision {
                allow: source == Source::Portal,
                source,
                reason: "denied by the portal: \"not today\"".into(),
                trace: None,
            });
            assert_eq!(round_trip(decision.clone()), decision);
        }
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
        assert!(Request::decode(Kind::StatusRequest, b"[").is_err());
    }

    /// A disconnect with every field set, addresses of both families, counters at their
    /// largest and names with quotes, backslashes and non-ASCII.
    fn full_event() -> SessionEvent {
        let mut e = SessionEvent::new(Reason::Disconnect, u32::MAX, "a\"b\\c ✓");
        e.groupname = "eng/ops".into();
        e.vhost = "default".into();
        e.device = "vpns0".into();
        e.ip_real = Some("2001:db8::2".parse().unwrap());
        e.ip_real_local = Some("10.199.0.1".parse().unwrap());
        e.ip_local = Some("192.168.77.1".parse().unwrap());
        e.ip_remote = Some("192.168.77.50".parse().unwrap());
        e.ipv6_local = Some("fd00:77:1::1".parse().unwrap());
        e.ipv6_remote = Some("fd00:77:1::58ef".parse().unwrap());
        e.ipv6_prefix = Some(128);
        e.hostname = "vm\u{1}".into();
        e.user_agent = "Open AnyConnect VPN Agent v9.01-3".into();
        e.device_type = "linux-64".into();
        e.device_platform = "linux".into();
        e.stats = Some(Stats {
            bytes_in: u64::MAX,
            bytes_out: 0,
            duration_secs: 3,
        });
        e
    }

    fn decode_request(frame: &[u8]) -> Result<Request, FrameError> {
        let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
        let (kind, len) = decode_header(&header).unwrap();
        assert_eq!(len as usize, frame.len() - HEADER_LEN);
        Request::decode(kind, &frame[HEADER_LEN..])
    }

    #[test]
    fn events_cross_typed_and_whole() {
        for event in [
            full_event(),
            SessionEvent::new(Reason::Connect, 0, "u"),
            SessionEvent::new(Reason::HostUpdate, 7, "u"),
        ] {
            let request = Request::Event(Box::new(event));
            assert_eq!(decode_request(&request.encode()).unwrap(), request);
        }
    }

    /// The event as the wire carries it, with `field` set to the JSON text `value`.
    fn event_frame_with(field: &str, value: &str) -> Vec<u8> {
        let json = EventWire::from_event(&full_event()).serialize_json();
        let start = json.find(&format!("\"{field}\":")).unwrap() + field.len() + 3;
        // The totals are the last field, an object; every other value here has no , or }.
        let end = match field {
            "stats" => json.len() - 1,
            _ => start + json[start..].find([',', '}']).unwrap(),
        };
        let changed = format!("{}{value}{}", &json[..start], &json[end..]);
        assert_ne!(changed, json, "{field}");
        encode(Kind::EventRequest, &changed)
    }

    #[test]
    fn the_daemon_checks_an_event_again_as_it_reads_it() {
        // Each: a value the hook would never send, and the variable the error names.
        for (field, value, variable) in [
            ("reason", "\"reconnect\"", "REASON"),
            ("username", "\"\"", "USERNAME"),
            ("username", "\"a\\nb\"", "USERNAME"),
            ("groupname", "\"a\\u0000\"", "GROUPNAME"),
            ("ip_real", "\"10.0.0\"", "IP_REAL"),
            ("ip_remote", "\"\"", "IP_REMOTE"),
            ("ipv6_local", "\"10.0.0.1\"", "IPV6_LOCAL"),
            ("ipv6_prefix", "129", "IPV6_PREFIX"),
        ] {
            match decode_request(&event_frame_with(field, value)) {
                Err(FrameError::BadEvent(e)) => assert_eq!(e.variable, variable, "{field}"),
                other => panic!("{field} = {value}: {other:?}"),
            }
        }
        let long = format!("\"{}\"", "u".repeat(crate::session::MAX_NAME_LEN + 1));
        assert!(matches!(
            decode_request(&event_frame_with("username", &long)),
            Err(FrameError::BadEvent(_))
        ));
        // Not JSON of the event's shape: the frame's error, not an event's.
        for (field, value) in [
            ("id", "-1"),
            ("id", "4294967296"),
            ("ipv6_prefix", "256"),
            ("stats", "{\"bytes_in\":1}"),
            ("allow", "true"),
        ] {
            if field == "allow" {
                let frame = encode(Kind::EventRequest, r#"{"allow":true}"#);
                assert!(matches!(
                    decode_request(&frame),
                    Err(FrameError::BadPayload(_))
                ));
                continue;
            }
            assert!(
                matches!(
                    decode_request(&event_frame_with(field, value)),
                    Err(FrameError::BadPayload(_))
                ),
                "{field} = {value}"
            );
        }
    }

    #[test]
    fn the_daemon_cuts_long_text_and_normalises_totals_as_the_hook_does() {
        let long = format!("\"{}\"", "ü".repeat(300));
        let Request::Event(e) = decode_request(&event_frame_with("user_agent", &long)).unwrap()
        else {
            panic!("not an event")
        };
        assert!(e.user_agent.len() <= crate::session::MAX_INFO_LEN);
        assert!(e.user_agent.len() >= crate::session::MAX_INFO_LEN - 1);
        let Request::Event(e) = decode_request(&event_frame_with("stats", "null")).unwrap() else {
            panic!("not an event")
        };
        assert_eq!(
            e.stats.map(|s| s.bytes_in),
            Some(0),
            "a disconnect has totals"
        );
    }

    #[test]
    fn the_largest_event_fits_in_a_frame() {
        // Every text at its longest, of characters JSON writes as six bytes each.
        let mut e = full_event();
        let control = "\u{7}".repeat(crate::session::MAX_INFO_LEN);
        let name = "\"".repeat(crate::session::MAX_NAME_LEN);
        e.username = name.clone();
        e.groupname = name;
        for text in [
            &mut e.vhost,
            &mut e.device,
            &mut e.hostname,
            &mut e.user_agent,
            &mut e.device_type,
            &mut e.device_platform,
        ] {
            *text = control.clone();
        }
        let frame = Request::Event(Box::new(e)).encode();
        assert!(frame.len() - HEADER_LEN <= super::super::frame::MAX_PAYLOAD as usize);
        assert!(decode_request(&frame).is_ok());
    }

    #[test]
    fn a_decision_from_an_unknown_source_is_malformed() {
        let frame = encode(
            Kind::DecisionReply,
            r#"{"allow":true,"source":"portal2","reason":""}"#,
        );
        assert!(matches!(
            Reply::decode(Kind::DecisionReply, &frame[HEADER_LEN..]),
            Err(FrameError::BadPayload(_))
        ));
    }

    #[test]
    fn a_decisions_trace_crosses_and_a_bad_one_is_malformed() {
        let d = Decision {
            trace: Some(crate::trace::TraceId::random()),
            ..Decision::deny(Source::Portal, "no".into())
        };
        assert_eq!(round_trip(Reply::Decision(d.clone())), Reply::Decision(d));
        let decode = |json: &str| {
            let frame = encode(Kind::DecisionReply, json);
            Reply::decode(Kind::DecisionReply, &frame[HEADER_LEN..])
        };
        // A daemon from before traces sends none.
        assert!(matches!(
            decode(r#"{"allow":false,"source":"portal","reason":"no"}"#),
            Ok(Reply::Decision(Decision { trace: None, .. }))
        ));
        for bad in [
            "xyz",
            "00000000000000000000000000000000",
            "4BF92F3577B34DA6A3CE929D0E0E4736",
        ] {
            let json = format!(r#"{{"allow":true,"source":"portal","reason":"","trace":"{bad}"}}"#);
            assert!(
                matches!(decode(&json), Err(FrameError::BadPayload(_))),
                "{bad}"
            );
        }
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
