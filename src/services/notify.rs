//! `VPNAgentService/NotifyConnect` and `NotifyDisconnect`: a session event told over gRPC
//! instead of by ocserv's script. It takes the very path the hook's events take (the same
//! session event, checked the same way, the same decision engine, session table and outbox), so a
//! connect reported both ways is decided twice but admitted and reported once (the outbox
//! drops the repeat). Both change the session table, so only allow-listed clients may call.

use crate::decision::Decision;
use crate::grpc::server::Router;
use crate::grpc::{Code, Status};
use crate::proto::agent::v1::{
    NotifyConnectRequest, NotifyConnectResponse, NotifyDisconnectRequest, NotifyDisconnectResponse,
};
use crate::session::{parse_ip, EnvError, Reason, SessionEvent, Stats};
use bytes::Bytes;
use prost::Message;
use std::collections::HashMap;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;

pub const NOTIFY_CONNECT: &str = "/agent.v1.VPNAgentService/NotifyConnect";
pub const NOTIFY_DISCONNECT: &str = "/agent.v1.VPNAgentService/NotifyDisconnect";

/// Decides a session event (the daemon's hook path).
pub type Decide = Rc<dyn Fn(SessionEvent) -> Pin<Box<dyn Future<Output = Decision>>>>;

pub fn register(router: &mut Router, decide: Decide) {
    let on_connect = decide.clone();
    router.unary(NOTIFY_CONNECT, move |call, message| {
        let decide = on_connect.clone();
        async move {
            call.require_allowed()?;
            let req = NotifyConnectRequest::decode(message)
                .map_err(|e| Status::new(Code::Internal, format!("undecodable request: {e}")))?;
            let d = decide(traced(connect_event(&req)?, &call)).await;
            let reply = NotifyConnectResponse {
                allowed: d.allow,
                should_disconnect: false,
                deny_reason: if d.allow {
                    String::new()
                } else {
                    d.reason.clone()
                },
                routes: Vec::new(),
                dns_servers: Vec::new(),
                config_params: HashMap::from([
                    ("source".to_string(), d.source.as_str().to_string()),
                    ("reason".to_string(), d.reason),
                ]),
            };
            Ok(Bytes::from(reply.encode_to_vec()))
        }
    });
    router.unary(NOTIFY_DISCONNECT, move |call, message| {
        let decide = decide.clone();
        async move {
            call.require_allowed()?;
            let req = NotifyDisconnectRequest::decode(message)
                .map_err(|e| Status::new(Code::Internal, format!("undecodable request: {e}")))?;
            let d = decide(traced(disconnect_event(&req)?, &call)).await;
            let reply = NotifyDisconnectResponse {
                acknowledged: true,
                message: d.reason,
            };
            Ok(Bytes::from(reply.encode_to_vec()))
        }
    });
}

/// The event with the caller's trace (its `traceparent`), which the decision's log lines, the
/// portal calls and the reports continue (a disconnect goes on with its session's trace when
/// the agent admitted it).
fn traced(mut event: SessionEvent, call: &crate::grpc::server::Call) -> SessionEvent {
    event.trace = crate::trace::incoming(&call.metadata).map(|t| t.trace);
    event
}

/// The request read into a session event once, here where it enters, and checked as the hook's
/// events are ([`SessionEvent::checked`]); a bad request is INVALID_ARGUMENT, not a denial,
/// naming the value by the variable of ocserv's script it stands for (as for the hook).
fn event(
    reason: Reason,
    session_id: &str,
    username: &str,
    fill: impl FnOnce(&mut SessionEvent) -> Result<(), EnvError>,
) -> Result<SessionEvent, Status> {
    let invalid = |e: EnvError| Status::new(Code::InvalidArgument, e.to_string());
    let id = session_id.parse::<u32>().map_err(|_| {
        invalid(EnvError {
            variable: "ID",
            problem: format!("'{session_id}' is not a session id"),
        })
    })?;
    let mut event = SessionEvent::new(reason, id, username);
    fill(&mut event).map_err(invalid)?;
    event.checked().map_err(invalid)
}

/// NotifyConnect's session event. `metadata` may carry `groupname`; `vpn_ip` is the client's
/// tunnel address of either family.
pub fn connect_event(req: &NotifyConnectRequest) -> Result<SessionEvent, Status> {
    event(Reason::Connect, &req.session_id, &req.username, |e| {
        if !req.client_ip.is_empty() {
            e.ip_real = Some(parse_ip("IP_REAL", &req.client_ip)?);
        }
        if !req.vpn_ip.is_empty() {
            match parse_ip("IP_REMOTE", &req.vpn_ip)? {
                IpAddr::V6(ip) => e.ipv6_remote = Some(ip),
                ip => e.ip_remote = Some(ip),
            }
        }
        e.device = req.device_id.clone();
        e.groupname = req.metadata.get("groupname").cloned().unwrap_or_default();
        Ok(())
    })
}

/// NotifyDisconnect's session event, with its counters.
pub fn disconnect_event(req: &NotifyDisconnectRequest) -> Result<SessionEvent, Status> {
    event(Reason::Disconnect, &req.session_id, &req.username, |e| {
        e.stats = Some(Stats {
            bytes_in: req.bytes_in,
            bytes_out: req.bytes_out,
            duration_secs: req.duration_seconds,
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(session: &str, user: &str, vpn_ip: &str) -> NotifyConnectRequest {
        NotifyConnectRequest {
            username: user.into(),
            client_ip: "192.0.2.7".into(),
            vpn_ip: vpn_ip.into(),
            session_id: session.into(),
            device_id: "vpns0".into(),
            connect_time: None,
            metadata: HashMap::from([("groupname".to_string(), "staff".to_string())]),
        }
    }

    #[test]
    fn a_connect_becomes_a_session_event() {
        let e = connect_event(&connect("15202", "alice", "10.10.0.2")).unwrap();
        assert_eq!(e.reason, Reason::Connect);
        assert_eq!(e.id, 15202);
        assert_eq!(e.ip_remote, Some("10.10.0.2".parse().unwrap()));
        assert_eq!(e.ip_real, Some("192.0.2.7".parse().unwrap()));
        assert_eq!(e.groupname, "staff");
        assert_eq!(e.device, "vpns0");
        let e = connect_event(&connect("1", "alice", "fd00::2")).unwrap();
        assert_eq!(e.ipv6_remote, Some("fd00::2".parse().unwrap()));
        assert_eq!(e.ip_remote, None);
    }

    #[test]
    fn what_the_hook_would_refuse_is_invalid_argument() {
        for (session, user, ip) in [
            ("abc", "alice", ""),
            ("", "alice", ""),
            ("1", "", ""),
            ("1", "a\nb", ""),
            ("1", "alice", "not-an-ip"),
        ] {
            let e = connect_event(&connect(session, user, ip)).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{session:?} {user:?} {ip:?}");
        }
        let mut bad_group = connect("1", "alice", "");
        bad_group
            .metadata
            .insert("groupname".into(), "g\u{0}".into());
        assert_eq!(
            connect_event(&bad_group).unwrap_err().code,
            Code::InvalidArgument
        );
        let d = NotifyDisconnectRequest {
            username: "alice".into(),
            session_id: "7".into(),
            disconnect_time: None,
            disconnect_reason: String::new(),
            bytes_in: u64::MAX,
            bytes_out: 2,
            duration_seconds: 3,
        };
        let e = disconnect_event(&d).unwrap();
        assert_eq!(e.stats.map(|s| s.bytes_in), Some(u64::MAX));
    }
}
