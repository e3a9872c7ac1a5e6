//! `VPNAgentService/NotifyConnect` and `NotifyDisconnect`: a session event told over gRPC
//! instead of by ocserv's script. It takes the very path the hook's events take (the same
//! variables, validated the same way, the same decision engine, session table and outbox), so a
//! connect reported both ways is decided twice but admitted and reported once (the outbox
//! drops the repeat). Both change the session table, so only allow-listed clients may call.

use crate::authz::decision::Decision;
use crate::grpc::server::Router;
use crate::grpc::{Code, Status};
use crate::proto::agent::v1::{
    NotifyConnectRequest, NotifyConnectResponse, NotifyDisconnectRequest, NotifyDisconnectResponse,
};
use crate::session::SessionEvent;
use bytes::Bytes;
use prost::Message;
use std::collections::{BTreeMap, HashMap};
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
            let d = decide(connect_event(&req)?).await;
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
            let d = decide(disconnect_event(&req)?).await;
            let reply = NotifyDisconnectResponse {
                acknowledged: true,
                message: d.reason,
            };
            Ok(Bytes::from(reply.encode_to_vec()))
        }
    });
}

/// The session event the variables describe, read and checked once, here where the request
/// enters (the hook's events are read where they enter, the daemon's socket): a bad request
/// is INVALID_ARGUMENT, not a denial.
fn event(env: BTreeMap<String, String>) -> Result<SessionEvent, Status> {
    SessionEvent::from_env(|name| env.get(name).map(Into::into))
        .map_err(|e| Status::new(Code::InvalidArgument, e.to_string()))
}

/// NotifyConnect's session event.
pub fn connect_event(req: &NotifyConnectRequest) -> Result<SessionEvent, Status> {
    event(connect_vars(req))
}

/// NotifyDisconnect's session event.
pub fn disconnect_event(req: &NotifyDisconnectRequest) -> Result<SessionEvent, Status> {
    event(disconnect_vars(req))
}

/// NotifyConnect as ocserv's connect-script variables. `metadata` may carry `groupname`.
fn connect_vars(req: &NotifyConnectRequest) -> BTreeMap<String, String> {
    let mut env = BTreeMap::from([
        ("REASON".to_string(), "connect".to_string()),
        ("ID".to_string(), req.session_id.clone()),
        ("USERNAME".to_string(), req.username.clone()),
    ]);
    let mut set = |k: &str, v: &str| {
        if !v.is_empty() {
            env.insert(k.to_string(), v.to_string());
        }
    };
    set("IP_REAL", &req.client_ip);
    set("DEVICE", &req.device_id);
    if let Some(g) = req.metadata.get("groupname") {
        set("GROUPNAME", g);
    }
    match req.vpn_ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => set("IPV6_REMOTE", &req.vpn_ip),
        _ => set("IP_REMOTE", &req.vpn_ip),
    }
    env
}

/// NotifyDisconnect as ocserv's disconnect-script variables, with its counters.
fn disconnect_vars(req: &NotifyDisconnectRequest) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("REASON".to_string(), "disconnect".to_string()),
        ("ID".to_string(), req.session_id.clone()),
        ("USERNAME".to_string(), req.username.clone()),
        ("STATS_BYTES_IN".to_string(), req.bytes_in.to_string()),
        ("STATS_BYTES_OUT".to_string(), req.bytes_out.to_string()),
        (
            "STATS_DURATION".to_string(),
            req.duration_seconds.to_string(),
        ),
    ])
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
    fn a_connect_becomes_the_scripts_variables() {
        let env = connect_vars(&connect("15202", "alice", "10.10.0.2"));
        connect_event(&connect("15202", "alice", "10.10.0.2")).unwrap();
        assert_eq!(env["REASON"], "connect");
        assert_eq!(env["ID"], "15202");
        assert_eq!(env["IP_REMOTE"], "10.10.0.2");
        assert_eq!(env["GROUPNAME"], "staff");
        let env = connect_vars(&connect("1", "alice", "fd00::2"));
        connect_event(&connect("1", "alice", "fd00::2")).unwrap();
        assert_eq!(env["IPV6_REMOTE"], "fd00::2");
        assert!(!env.contains_key("IP_REMOTE"));
    }

    #[test]
    fn what_the_hook_would_refuse_is_invalid_argument() {
        for (session, user, ip) in [
            ("abc", "alice", ""),
            ("", "alice", ""),
            ("1", "", ""),
            ("1", "alice", "not-an-ip"),
        ] {
            let e = connect_event(&connect(session, user, ip)).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{session:?} {user:?} {ip:?}");
        }
        let d = NotifyDisconnectRequest {
            username: "alice".into(),
            session_id: "7".into(),
            disconnect_time: None,
            disconnect_reason: String::new(),
            bytes_in: u64::MAX,
            bytes_out: 2,
            duration_seconds: 3,
        };
        let env = disconnect_vars(&d);
        disconnect_event(&d).unwrap();
        assert_eq!(env["STATS_BYTES_IN"], u64::MAX.to_string());
    }
}
