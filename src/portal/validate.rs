//! `vpn.v1.AuthService/ValidateSession`: the portal's second look at sessions that are already
//! up (an account suspended after its user connected). Every `portal.validate_interval` the
//! agent asks about each session ocserv lists, and ends those the portal says are invalid or
//! must be disconnected: TERMINATE, so that the client's cookie cannot bring it back.
//!
//! Only a clear answer ends a session: a portal that is down, slow or lying leaves every
//! session as it is (the fail-safe side for users already admitted).

use crate::grpc::client::{CallOptions, Channel};
use crate::grpc::{Code, Status};
use crate::ocserv::ctl::Client;
use crate::proto::ocserv::ctl::UserInfoRep;
use crate::proto::vpn::v1::{ValidateSessionRequest, ValidateSessionResponse};
use crate::trace::TraceId;
use prost::Message;
use std::time::{Duration, SystemTime};

pub const VALIDATE_SESSION: &str = "/vpn.v1.AuthService/ValidateSession";

/// What one sweep did, for the log.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    pub checked: u32,
    pub ended: u32,
    /// Sessions the portal gave no usable answer for (left up).
    pub unanswered: u32,
}

/// The portal's verdict on one session: `Some(reason)` when it must end.
pub async fn verdict(
    channel: &Channel,
    session: &UserInfoRep,
    timeout: Duration,
    trace: TraceId,
) -> Result<Option<String>, Status> {
    let request = ValidateSessionRequest {
        username: session.username.clone().unwrap_or_default(),
        session_id: session.id.unwrap_or(0).to_string(),
        client_ip: session.ip.clone().unwrap_or_default(),
        request_time: Some(crate::proto::timestamp(SystemTime::now())),
    };
    let options = CallOptions {
        timeout: Some(timeout),
        metadata: crate::trace::metadata(Some(trace)),
    };
    let reply = channel
        .call(VALIDATE_SESSION, &request.encode_to_vec(), &options)
        .await?;
    judge(&reply.message)
}

/// Reads a ValidateSession reply: `Some(reason)` unless it says, decodably, that the session is
/// valid and not to be disconnected.
pub fn judge(message: &[u8]) -> Result<Option<String>, Status> {
    let reply = ValidateSessionResponse::decode(message).map_err(|e| {
        Status::new(
            Code::Internal,
            format!("malformed ValidateSessionResponse: {e}"),
        )
    })?;
    Ok(if !reply.valid || reply.force_disconnect {
        Some(if reply.invalid_reason.is_empty() {
            "no reason given".to_string()
        } else {
            reply.invalid_reason
        })
    } else {
        None
    })
}

/// Asks about every session ocserv lists, one at a time, and ends the ones the portal refuses;
/// their users' cached decisions are dropped (`revoke`) so that a reconnect is put to the
/// portal. Sessions not yet connected (their connect-script still running) are left to the
/// connect decision. Each call goes on with the trace of the session's connect (`trace_of`),
/// or starts one for a session the agent did not admit. Fails only when ocserv does not list
/// its sessions.
pub async fn sweep(
    channel: &Channel,
    ctl: &Client,
    timeout: Duration,
    revoke: &dyn Fn(Option<&str>) -> u32,
    trace_of: &dyn Fn(u32) -> Option<TraceId>,
) -> Result<Sweep, crate::ocserv::ctl::CtlError> {
    let list = ctl.list().await?;
    let mut done = Sweep::default();
    const CONNECTED: u32 = 4;
    let connected =
        |s: &&UserInfoRep| s.id.is_some() && s.status.map_or(true, |st| st == CONNECTED);
    for session in list.user.iter().filter(connected) {
        done.checked += 1;
        let id = session.id.unwrap_or(0);
        let user = session.username.as_deref().unwrap_or("");
        let trace = u32::try_from(id)
            .ok()
            .and_then(trace_of)
            .unwrap_or_else(TraceId::random);
        match verdict(channel, session, timeout, trace).await {
            Ok(None) => {}
            Ok(Some(reason)) => {
                revoke(Some(user));
                match crate::ocserv::live::end(ctl, id).await {
                    Ok(true) => {
                        done.ended += 1;
                        log::info!(
                            "validate: ended session {id} of '{user}': {reason} trace={trace}"
                        );
                    }
                    Ok(false) => log::warn!(
                        "validate: ocserv did not end session {id} of '{user}' trace={trace}"
                    ),
                    Err(e) => log::warn!(
                        "validate: cannot end session {id} of '{user}': {e} trace={trace}"
                    ),
                }
            }
            Err(status) => {
                done.unanswered += 1;
                log::debug!(
                    "validate: no verdict on session {id} of '{user}': {status} trace={trace}"
                );
            }
        }
    }
    Ok(done)
}
