//! `vpn.v1.AuthService/CheckPolicy`: the question for one connect, the answer, and whether a
//! failed call counts against the portal (`shared/spec/portal-protocol.md`, "What counts as a
//! portal failure").

use crate::grpc::client::{CallOptions, Channel};
use crate::grpc::{Code, Status};
use crate::proto::vpn::v1::{CheckPolicyRequest, CheckPolicyResponse};
use crate::session::SessionEvent;
use prost::Message;
use std::time::{Duration, SystemTime};

pub const CHECK_POLICY: &str = "/vpn.v1.AuthService/CheckPolicy";

/// The portal's decision, as the agent keeps it (and caches it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub allowed: bool,
    /// Why not, in the portal's words (empty when allowed).
    pub reason: String,
    /// The portal's `cache_ttl_seconds`: it may only shorten the configured cache time.
    /// `Some(ZERO)` (do not cache) also when the value was malformed.
    pub ttl_cap: Option<Duration>,
    /// The portal said `should_disconnect`: every cached decision of the user goes, not only
    /// this key's.
    pub revoke: bool,
}

/// A call that gave no decision, by what it means for the connect (README, "How a connect is
/// decided"). The rule is [`classify`]'s.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The portal cannot be reached or is broken (UNAVAILABLE, DEADLINE_EXCEEDED,
    /// RESOURCE_EXHAUSTED, INTERNAL, UNKNOWN, transport and TLS errors, an undecodable reply):
    /// counts for the breaker; the fail mode decides.
    Broken(Status),
    /// The breaker is open and no call was made: the fail mode decides; counts for nothing.
    BreakerOpen(String),
    /// The portal answered with any other status (PERMISSION_DENIED, UNAUTHENTICATED,
    /// NOT_FOUND, ...): a portal that answers and refuses. Deny: never stale, never open.
    Refused(Status),
}

impl Failure {
    /// What a log line or a decision's reason says about it.
    pub fn describe(&self) -> String {
        match self {
            Failure::Broken(s) | Failure::Refused(s) => s.to_string(),
            Failure::BreakerOpen(why) => why.clone(),
        }
    }
}

/// The request with all seven fields.
pub fn request(event: &SessionEvent) -> CheckPolicyRequest {
    let text = |ip: Option<std::net::IpAddr>| ip.map(|i| i.to_string()).unwrap_or_default();
    CheckPolicyRequest {
        username: event.username.clone(),
        groupname: event.groupname.clone(),
        client_ip: text(event.ip_real),
        vpn_ip: event
            .ip_remote
            .map(|i| i.to_string())
            .or_else(|| event.ipv6_remote.map(|i| i.to_string()))
            .unwrap_or_default(),
        session_id: event.id.to_string(),
        device: event.device.clone(),
        request_time: Some(crate::proto::timestamp(SystemTime::now())),
    }
}

/// Asks the portal about `event`, within `timeout`.
pub async fn check_policy(
    channel: &Channel,
    event: &SessionEvent,
    timeout: Duration,
) -> Result<Answer, Failure> {
    let options = CallOptions {
        timeout: Some(timeout),
        metadata: crate::trace::metadata(event.trace),
    };
    let reply = channel
        .call(CHECK_POLICY, &request(event).encode_to_vec(), &options)
        .await
        .map_err(classify)?;
    answer(&reply.message)
}

/// Reads a reply; one that does not decode is the portal's failure. One that decodes decides:
/// `allowed: false` is a deny whatever else it carries, and a malformed `cache_ttl_seconds`
/// only means "do not cache" (with a warning).
pub fn answer(message: &[u8]) -> Result<Answer, Failure> {
    let reply = CheckPolicyResponse::decode(message).map_err(|e| {
        Failure::Broken(Status::new(
            Code::Internal,
            format!("malformed CheckPolicyResponse: {e}"),
        ))
    })?;
    let ttl_cap = reply.metadata.get("cache_ttl_seconds").map(|text| {
        ttl_seconds(text).unwrap_or_else(|| {
            crate::log_limit::warn(
                &MALFORMED_TTL,
                format_args!(
                    "portal: cache_ttl_seconds '{}' is not a whole number of seconds; the decision is not cached",
                    text.escape_default()
                ),
            );
            Duration::ZERO
        })
    });
    if reply.allowed && reply.should_disconnect {
        // Allowed, but to be disconnected: at connect time that is a session that must not
        // come up at all, and no earlier allow of the user may stand.
        let why = if reply.deny_reason.is_empty() {
            "the portal asked to disconnect the session".to_string()
        } else {
            format!(
                "the portal asked to disconnect the session: {}",
                reply.deny_reason
            )
        };
        return Ok(Answer {
            allowed: false,
            reason: why,
            ttl_cap,
            revoke: true,
        });
    }
    Ok(Answer {
        allowed: reply.allowed,
        reason: reply.deny_reason,
        ttl_cap,
        revoke: false,
    })
}

static MALFORMED_TTL: crate::log_limit::Limit = crate::log_limit::Limit::per_minute();

/// `cache_ttl_seconds`: decimal digits only (surrounding blanks allowed), at most 10 of them.
fn ttl_seconds(text: &str) -> Option<Duration> {
    let t = text.trim();
    let digits = !t.is_empty() && t.len() <= 10 && t.bytes().all(|b| b.is_ascii_digit());
    digits
        .then(|| t.parse::<u64>().ok())
        .flatten()
        .map(Duration::from_secs)
}

/// The one rule for a call that ended with a status: the portal failing (the fail mode
/// decides) or the portal refusing (deny). Connection and TLS errors arrive as UNAVAILABLE.
pub fn classify(status: Status) -> Failure {
    match status.code {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Internal
        | Code::Unknown => Failure::Broken(status),
        _ => Failure::Refused(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Reason;

    #[test]
    fn the_request_carries_all_seven_fields() {
        let mut e = SessionEvent::new(Reason::Connect, 4242, "alice");
        e.groupname = "eng".into();
        e.ip_real = "198.51.100.7".parse().ok();
        e.ip_remote = "10.10.0.5".parse().ok();
        e.device = "vpns0".into();
        let r = request(&e);
        assert_eq!(r.username, "alice");
        assert_eq!(r.groupname, "eng");
        assert_eq!(r.client_ip, "198.51.100.7");
        assert_eq!(r.vpn_ip, "10.10.0.5");
        assert_eq!(r.session_id, "4242");
        assert_eq!(r.device, "vpns0");
        assert!(r.request_time.unwrap().seconds > 1_700_000_000);
        // IPv6-only tunnels report the IPv6 address.
        e.ip_remote = None;
        e.ipv6_remote = "fd00::5".parse().ok();
        assert_eq!(request(&e).vpn_ip, "fd00::5");
    }

    #[test]
    fn answers_and_malformed_replies() {
        let mut reply = CheckPolicyResponse {
            allowed: false,
            deny_reason: "not today".into(),
            ..CheckPolicyResponse::default()
        };
        let a = answer(&reply.encode_to_vec()).unwrap();
        assert_eq!(
            (a.allowed, a.reason.as_str(), a.ttl_cap),
            (false, "not today", None)
        );
        reply
            .metadata
            .insert("cache_ttl_seconds".into(), "30".into());
        assert_eq!(
            answer(&reply.encode_to_vec()).unwrap().ttl_cap,
            Some(Duration::from_secs(30))
        );
        assert!(matches!(answer(b"\xff\xff"), Err(Failure::Broken(_))));
    }

    #[test]
    fn a_malformed_ttl_never_turns_a_decision_into_a_failure() {
        for allowed in [false, true] {
            for bad in [
                "soon",
                "30s",
                "-1",
                "1.5",
                "",
                " ",
                "99999999999",
                "+5",
                "0x10",
            ] {
                let mut reply = CheckPolicyResponse {
                    allowed,
                    ..CheckPolicyResponse::default()
                };
                reply
                    .metadata
                    .insert("cache_ttl_seconds".into(), bad.into());
                let a = answer(&reply.encode_to_vec()).unwrap();
                assert_eq!(a.allowed, allowed, "{bad:?}");
                assert_eq!(a.ttl_cap, Some(Duration::ZERO), "{bad:?}: do not cache");
            }
        }
        let mut reply = CheckPolicyResponse::default();
        reply
            .metadata
            .insert("cache_ttl_seconds".into(), " 45 ".into());
        assert_eq!(
            answer(&reply.encode_to_vec()).unwrap().ttl_cap,
            Some(Duration::from_secs(45))
        );
    }

    #[test]
    fn allowed_but_should_disconnect_is_a_deny() {
        let mut reply = CheckPolicyResponse {
            allowed: true,
            should_disconnect: true,
            ..CheckPolicyResponse::default()
        };
        let a = answer(&reply.encode_to_vec()).unwrap();
        assert!(!a.allowed && a.revoke);
        assert_eq!(a.reason, "the portal asked to disconnect the session");
        reply.deny_reason = "account suspended".into();
        let a = answer(&reply.encode_to_vec()).unwrap();
        assert_eq!(
            a.reason,
            "the portal asked to disconnect the session: account suspended"
        );
    }

    /// Each of the 16 non-OK codes: five are the portal failing, the other eleven a portal
    /// that answers and refuses.
    #[test]
    fn every_status_code_has_its_class() {
        let broken = [
            Code::Unknown,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
            Code::Internal,
            Code::Unavailable,
        ];
        let mut refused = 0;
        for n in 1..=16 {
            let code = Code::from_number(n);
            assert_eq!(code.number(), n);
            match classify(Status::new(code, "x")) {
                Failure::Broken(s) => assert!(broken.contains(&s.code), "{code} is not a failure"),
                Failure::Refused(s) => {
                    assert!(!broken.contains(&s.code), "{code} is a failure");
                    refused += 1;
                }
                Failure::BreakerOpen(_) => unreachable!(),
            }
        }
        assert_eq!(refused, 11);
    }
}
