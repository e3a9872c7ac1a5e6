//! `vpn.v1.AuthService/CheckPolicy`: the question for one connect, the answer, and whether a
//! failed call counts against the portal (`shared/spec/portal-protocol.md`, "What counts as a
//! portal failure").

use crate::authz::request::SessionEvent;
use crate::grpc::client::{CallOptions, Channel};
use crate::grpc::status::{Code, Status};
use crate::proto::vpn::v1::{CheckPolicyRequest, CheckPolicyResponse};
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
    pub ttl_cap: Option<Duration>,
}

/// How a call that gave no decision counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The portal is failing: counts for the breaker; the fail mode decides.
    Portal(Status),
    /// Says nothing about the portal's health (cancelled locally, a status outside the failure
    /// list such as PERMISSION_DENIED): the fail mode decides, the breaker does not count it.
    Other(Status),
}

impl Failure {
    pub fn status(&self) -> &Status {
        match self {
            Failure::Portal(s) | Failure::Other(s) => s,
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
        ..CallOptions::default()
    };
    let reply = channel
        .call(CHECK_POLICY, &request(event).encode_to_vec(), &options)
        .await
        .map_err(classify)?;
    answer(&reply.message)
}

/// Reads a reply; one that does not decode is the portal's failure.
pub fn answer(message: &[u8]) -> Result<Answer, Failure> {
    let reply = CheckPolicyResponse::decode(message).map_err(|e| {
        Failure::Portal(Status::new(
            Code::Internal,
            format!("malformed CheckPolicyResponse: {e}"),
        ))
    })?;
    let ttl_cap = match reply.metadata.get("cache_ttl_seconds") {
        None => None,
        Some(text) => Some(Duration::from_secs(text.trim().parse().map_err(|_| {
            Failure::Portal(Status::new(
                Code::Internal,
                format!("malformed cache_ttl_seconds {text:?} in CheckPolicyResponse"),
            ))
        })?)),
    };
    if reply.allowed && reply.should_disconnect {
        // Allowed, but to be disconnected: at connect time that is a session that must not
        // come up at all.
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
        });
    }
    Ok(Answer {
        allowed: reply.allowed,
        reason: reply.deny_reason,
        ttl_cap,
    })
}

/// The spec's list: these codes (connection and TLS errors arrive as UNAVAILABLE) are the
/// portal failing.
pub fn classify(status: Status) -> Failure {
    match status.code {
        Code::Unavailable
        | Code::DeadlineExceeded
        | Code::ResourceExhausted
        | Code::Internal
        | Code::Unknown => Failure::Portal(status),
        _ => Failure::Other(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::request::Reason;

    #[test]
    fn the_request_carries_all_seven_fields() {
        let mut e = SessionEvent::for_test(Reason::Connect, 4242, "alice");
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
        reply
            .metadata
            .insert("cache_ttl_seconds".into(), "soon".into());
        assert!(matches!(
            answer(&reply.encode_to_vec()),
            Err(Failure::Portal(_))
        ));
        assert!(matches!(answer(b"\xff\xff"), Err(Failure::Portal(_))));
    }

    #[test]
    fn allowed_but_should_disconnect_is_a_deny() {
        let mut reply = CheckPolicyResponse {
            allowed: true,
            should_disconnect: true,
            ..CheckPolicyResponse::default()
        };
        let a = answer(&reply.encode_to_vec()).unwrap();
        assert!(!a.allowed);
        assert_eq!(a.reason, "the portal asked to disconnect the session");
        reply.deny_reason = "account suspended".into();
        let a = answer(&reply.encode_to_vec()).unwrap();
        assert_eq!(
            a.reason,
            "the portal asked to disconnect the session: account suspended"
        );
    }

    #[test]
    fn which_statuses_count_against_the_portal() {
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::ResourceExhausted,
            Code::Internal,
            Code::Unknown,
        ] {
            assert!(
                matches!(classify(Status::new(code, "")), Failure::Portal(_)),
                "{code}"
            );
        }
        for code in [
            Code::Cancelled,
            Code::PermissionDenied,
            Code::InvalidArgument,
        ] {
            assert!(
                matches!(classify(Status::new(code, "")), Failure::Other(_)),
                "{code}"
            );
        }
    }
}
