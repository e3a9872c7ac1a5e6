//! `agent.v1.VPNAgentService`, the parts that read and act on ocserv live through its control
//! socket: `GetActiveSessions` (LIST / USER_INFO) and `DisconnectUser` (TERMINATE when the
//! server has it, so the cookie cannot reconnect; DISCONNECT on older servers, said in the
//! reply). The other methods arrive with the management work of #7 and answer UNIMPLEMENTED.

use crate::grpc::server::Router;
use crate::grpc::{Code, Status};
use crate::ocserv::ctl::{Client, CtlError};
use crate::proto::agent::v1::{
    DisconnectUserRequest, DisconnectUserResponse, GetActiveSessionsRequest,
    GetActiveSessionsResponse, VpnSession,
};
use crate::proto::ocserv::ctl::UserInfoRep;
use crate::trace::{self, TraceParent};
use bytes::Bytes;
use prost::Message;
use std::collections::HashMap;
use std::rc::Rc;

pub const GET_ACTIVE_SESSIONS: &str = "/agent.v1.VPNAgentService/GetActiveSessions";
use crate::authz::Revoke;

pub const DISCONNECT_USER: &str = "/agent.v1.VPNAgentService/DisconnectUser";

/// A session's tun counters: (received from the client, sent to it).
pub type Counters = Rc<dyn Fn(&str) -> (u64, u64)>;

/// Registers the methods; `ctl` gives the control client for the configuration in force,
/// `revoke` drops a disconnected user's cached decisions.
pub fn register(
    router: &mut Router,
    ctl: Rc<dyn Fn() -> Client>,
    counters: Counters,
    revoke: Revoke,
) {
    let sessions_ctl = ctl.clone();
    router.unary(GET_ACTIVE_SESSIONS, move |_call, message| {
        let (client, counters) = (sessions_ctl(), counters.clone());
        async move { get_active_sessions(&client, &message, &*counters).await }
    });
    router.unary(DISCONNECT_USER, move |call, message| {
        let (client, revoke) = (ctl(), revoke.clone());
        async move {
            call.require_allowed()?;
            disconnect_user(&client, &message, &revoke, trace::incoming(&call.metadata)).await
        }
    });
}

/// A control-socket failure as the portal should see it.
fn status(e: CtlError) -> Status {
    let code = match e {
        CtlError::NotSupported(_) => Code::Unimplemented,
        CtlError::BadReply(_) => Code::Internal,
        CtlError::RequestTooLarge(_) => Code::InvalidArgument,
        CtlError::Timeout(_) => Code::DeadlineExceeded,
        CtlError::Connect(..) | CtlError::Io(_) => Code::Unavailable,
    };
    Status::new(code, e.to_string())
}

/// A user name as it may be asked about: printable, no spaces, not too long.
pub fn check_username(name: &str) -> Result<(), Status> {
    if name.len() > 200 || name.starts_with('-') || name.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(Status::new(
            Code::InvalidArgument,
            format!("'{}' is not a user name", name.escape_default()),
        ));
    }
    Ok(())
}

fn decode<M: Message + Default>(message: &[u8], what: &str) -> Result<M, Status> {
    M::decode(message).map_err(|e| Status::new(Code::Internal, format!("undecodable {what}: {e}")))
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

/// One ocserv session as the portal's VPNSession; `session_id` is ocserv's ID, the same the
/// hook reports.
pub fn session(u: &UserInfoRep, stats: Option<(u64, u64)>) -> VpnSession {
    let mut metadata = HashMap::new();
    for (k, v) in [
        ("groupname", &u.groupname),
        ("vhost", &u.vhost),
        ("user_agent", &u.user_agent),
        ("hostname", &u.hostname),
    ] {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            metadata.insert(k.to_string(), v.clone());
        }
    }
    let (bytes_in, bytes_out) = stats.unwrap_or((0, 0));
    VpnSession {
        session_id: u.id.unwrap_or(0).to_string(),
        username: text(&u.username),
        client_ip: text(&u.ip),
        // ocserv's local_ip is the client's VPN address.
        vpn_ip: match text(&u.local_ip) {
            v4 if !v4.is_empty() => v4,
            _ => text(&u.local_ip6),
        },
        // When the session started (a reconnect on ocserv 1.4.1+ moves conn_time, not this).
        connected_at: (u.session_start_time.is_some() || u.conn_time.is_some())
            .then(|| crate::proto::timestamp_secs(crate::ocserv::session_start(u))),
        bytes_in,
        bytes_out,
        device_id: text(&u.tun),
        metadata,
    }
}

pub async fn get_active_sessions(
    client: &Client,
    message: &[u8],
    counters: &dyn Fn(&str) -> (u64, u64),
) -> Result<Bytes, Status> {
    let req: GetActiveSessionsRequest = decode(message, "GetActiveSessionsRequest")?;
    let list = if req.username_filter.is_empty() {
        client.list().await
    } else {
        check_username(&req.username_filter)?;
        client.user_info(&req.username_filter).await
    }
    .map_err(status)?;
    let sessions: Vec<VpnSession> = list
        .user
        .iter()
        .map(|u| {
            let stats = req
                .include_stats
                .then(|| counters(u.tun.as_deref().unwrap_or("")));
            session(u, stats)
        })
        .collect();
    let response = GetActiveSessionsResponse {
        total_count: sessions.len() as u32,
        sessions,
    };
    Ok(Bytes::from(response.encode_to_vec()))
}

/// Ends the user's newest session, or all of them. The user's cached decisions are dropped
/// first, whatever ocserv then says: whoever disconnects a user means the next connect to be
/// put to the portal again, not admitted from the cache.
/// `trace` is the caller's `traceparent`, continued in the log lines.
pub async fn disconnect_user(
    client: &Client,
    message: &[u8],
    revoke: &Revoke,
    trace: Option<TraceParent>,
) -> Result<Bytes, Status> {
    let req: DisconnectUserRequest = decode(message, "DisconnectUserRequest")?;
    if req.username.is_empty() {
        return Err(Status::new(Code::InvalidArgument, "username is required"));
    }
    check_username(&req.username)?;
    revoke(Some(&req.username));
    let sessions = client.user_info(&req.username).await.map_err(status)?.user;
    let reply = |success: bool, n: u32, error: String| {
        Ok(Bytes::from(
            DisconnectUserResponse {
                success,
                sessions_disconnected: n,
                error_message: error,
            }
            .encode_to_vec(),
        ))
    };
    if sessions.is_empty() {
        return reply(false, 0, format!("'{}' has no session", req.username));
    }
    let reason = if req.reason.is_empty() {
        String::new()
    } else {
        format!(" ({})", req.reason)
    };
    if req.disconnect_all_sessions {
        let n = sessions.len() as u32;
        let (ok, note) = match client.terminate_user(&req.username).await {
            Err(CtlError::NotSupported(_)) => (
                client.disconnect_user(&req.username).await.map_err(status)?,
                "this ocserv has no TERMINATE (before 1.4.2): disconnected; the client may reconnect with its cookie".to_string(),
            ),
            other => (other.map_err(status)?, String::new()),
        };
        log::info!(
            "grpc: disconnected all {n} session(s) of '{}'{reason}{}",
            req.username,
            trace::note(trace.map(|t| t.trace))
        );
        return reply(ok, if ok { n } else { 0 }, note);
    }
    let newest = newest(&sessions);
    let (ok, note) = match client.terminate_id(newest).await {
        Err(CtlError::NotSupported(_)) => (
            client.disconnect_id(newest).await.map_err(status)?,
            "this ocserv has no TERMINATE (before 1.4.2): disconnected; the client may reconnect with its cookie".to_string(),
        ),
        other => (other.map_err(status)?, String::new()),
    };
    log::info!(
        "grpc: disconnected session {newest} of '{}'{reason}{}",
        req.username,
        trace::note(trace.map(|t| t.trace))
    );
    reply(ok, u32::from(ok), note)
}

/// The session "newest only" ends: the latest start (not the latest reconnect, which on ocserv
/// 1.4.1+ moves `conn_time`), then the highest ID.
fn newest(sessions: &[UserInfoRep]) -> i32 {
    sessions
        .iter()
        .max_by_key(|u| (crate::ocserv::session_start(u), u.id.unwrap_or(0)))
        .and_then(|u| u.id)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_newest_session_is_the_last_started_not_the_last_reconnected() {
        let u = |id, started: Option<i64>, last: u64| UserInfoRep {
            id: Some(id),
            conn_time: Some(last),
            session_start_time: started,
            ..UserInfoRep::default()
        };
        // ocserv 1.4.1+: 11 started first and reconnected last; 12 is the newest session.
        assert_eq!(newest(&[u(11, Some(100), 900), u(12, Some(200), 200)]), 12);
        // Before 1.4.1 there is no session_start_time: conn_time is the start.
        assert_eq!(newest(&[u(11, None, 900), u(12, None, 200)]), 11);
        // GetActiveSessions reports the start too.
        let s = session(&u(11, Some(100), 900), None);
        assert_eq!(s.connected_at.unwrap().seconds, 100);
    }

    /// A `conn_time` from ocserv at or past 2^63 seconds aborted the daemon (`UNIX_EPOCH +
    /// Duration` overflows, and `panic = "abort"`); now it is clamped to Timestamp's range.
    #[test]
    fn absurd_connect_times_from_ocserv_never_panic() {
        for t in [1u64 << 63, u64::MAX, 253_402_300_800] {
            let u = UserInfoRep {
                id: Some(1),
                conn_time: Some(t),
                ..UserInfoRep::default()
            };
            let s = session(&u, None);
            assert_eq!(s.connected_at.unwrap().seconds, 253_402_300_799, "{t}");
        }
    }

    /// A revoke that records whom it was asked about.
    fn recorder() -> (Revoke, Rc<std::cell::RefCell<Vec<String>>>) {
        let seen: Rc<std::cell::RefCell<Vec<String>>> = Rc::default();
        let log = seen.clone();
        let revoke: Revoke = Rc::new(move |user: Option<&str>| {
            log.borrow_mut().push(user.unwrap_or("*").to_string());
            1
        });
        (revoke, seen)
    }
    use crate::proto::ocserv::ctl::UserListRep;
    use std::path::PathBuf;

    /// A scripted control socket in a fresh directory (see `ocserv::ctl_fake`).
    fn scripted(
        name: &str,
        replies: Vec<Option<(u8, Vec<u8>)>>,
    ) -> (PathBuf, std::thread::JoinHandle<Vec<u8>>) {
        let path = crate::testutil::fresh_dir(&format!("vpn-{name}")).join("s");
        let server = crate::ocserv::ctl_fake::scripted(&path, replies);
        (path, server)
    }

    fn two_sessions() -> Vec<u8> {
        let s = |id, t, tun: &str| UserInfoRep {
            id: Some(id),
            username: Some("alice".into()),
            ip: Some("192.0.2.7".into()),
            local_ip: Some(format!("10.10.0.{id}")),
            tun: Some(tun.into()),
            conn_time: Some(t),
            groupname: Some("staff".into()),
            ..UserInfoRep::default()
        };
        UserListRep {
            user: vec![s(11, 1000, "vpns0"), s(12, 2000, "vpns1")],
        }
        .encode_to_vec()
    }

    const TRUE: [u8; 2] = [0x08, 0x01];

    /// DisconnectUser for alice against the stand-in ocserv at `path`; checks that her cached
    /// decisions were revoked.
    fn disconnect_alice(path: &std::path::Path, all: bool) -> DisconnectUserResponse {
        let client = Client::new(path, Duration::from_secs(5));
        let msg = DisconnectUserRequest {
            username: "alice".into(),
            reason: "test".into(),
            disconnect_all_sessions: all,
        }
        .encode_to_vec();
        let (revoke, revoked) = recorder();
        let reply = async_io::block_on(disconnect_user(&client, &msg, &revoke, None)).unwrap();
        assert_eq!(*revoked.borrow(), ["alice"]);
        DisconnectUserResponse::decode(reply).unwrap()
    }

    #[test]
    fn sessions_come_from_ocserv_with_their_counters() {
        let (path, server) = scripted("list", vec![Some((104, two_sessions()))]);
        let client = Client::new(&path, Duration::from_secs(5));
        let msg = GetActiveSessionsRequest {
            username_filter: String::new(),
            include_stats: true,
        }
        .encode_to_vec();
        let counters = |dev: &str| if dev == "vpns1" { (5, 6) } else { (1, 2) };
        let reply = async_io::block_on(get_active_sessions(&client, &msg, &counters)).unwrap();
        let r = GetActiveSessionsResponse::decode(reply).unwrap();
        assert_eq!(r.total_count, 2);
        let s = &r.sessions[1];
        assert_eq!(
            (
                s.session_id.as_str(),
                s.vpn_ip.as_str(),
                s.bytes_in,
                s.bytes_out
            ),
            ("12", "10.10.0.12", 5, 6)
        );
        assert_eq!(s.connected_at.as_ref().unwrap().seconds, 2000);
        assert_eq!(s.metadata["groupname"], "staff");
        assert_eq!(server.join().unwrap(), [4]);
    }

    #[test]
    fn disconnecting_the_newest_uses_terminate_or_falls_back_and_says_so() {
        // USER_INFO, then TERMINATE_ID gets no reply (old ocserv), then DISCONNECT_ID.
        let (path, server) = scripted(
            "newest",
            vec![
                Some((104, two_sessions())),
                None,
                Some((106, TRUE.to_vec())),
            ],
        );
        let r = disconnect_alice(&path, false);
        assert!(r.success);
        assert_eq!(r.sessions_disconnected, 1);
        assert!(
            r.error_message.contains("no TERMINATE"),
            "{}",
            r.error_message
        );
        assert_eq!(server.join().unwrap(), [5, 14, 8]);
    }

    #[test]
    fn disconnecting_all_counts_the_sessions_and_terminates() {
        let (path, server) = scripted(
            "all",
            vec![Some((104, two_sessions())), Some((111, TRUE.to_vec()))],
        );
        let r = disconnect_alice(&path, true);
        assert_eq!((r.success, r.sessions_disconnected), (true, 2));
        assert_eq!(r.error_message, "");
        assert_eq!(server.join().unwrap(), [5, 13]);
    }

    #[test]
    fn bad_requests_and_a_missing_ocserv_map_to_grpc_codes() {
        let client = Client::new("/nonexistent/occtl.socket", Duration::from_secs(1));
        let (revoke, revoked) = recorder();
        let ask = |req: DisconnectUserRequest| {
            async_io::block_on(disconnect_user(
                &client,
                &req.encode_to_vec(),
                &revoke,
                None,
            ))
            .unwrap_err()
        };
        let req = |name: &str| DisconnectUserRequest {
            username: name.into(),
            reason: String::new(),
            disconnect_all_sessions: true,
        };
        assert_eq!(ask(req("")).code, Code::InvalidArgument);
        assert_eq!(ask(req("-rf")).code, Code::InvalidArgument);
        assert_eq!(ask(req("a\nb")).code, Code::InvalidArgument);
        assert_eq!(ask(req("alice")).code, Code::Unavailable);
        // Refused names revoke nothing; a user ocserv could not be asked about is revoked.
        assert_eq!(*revoked.borrow(), ["alice"]);
        let e = async_io::block_on(get_active_sessions(&client, b"\xff", &|_| (0, 0))).unwrap_err();
        assert_eq!(e.code, Code::Internal);
    }
}
