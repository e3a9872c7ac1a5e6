//! Delivery: takes the outbox's oldest event, sends it to `vpn.v1.EventService` and settles
//! it; on failure waits (steps of 1 s doubling to `outbox.retry_max`, each wait half a step to
//! a whole one so that routers that lost the portal together do not return together) and sends
//! the same event again. One event
//! at a time keeps the order the portal sees: a session's disconnect never overtakes its connect.

use super::journal::{Event, Kind};
use super::outbox::{Outbox, Settled};
use crate::backoff::spread_backoff;
use crate::grpc::client::{CallOptions, Channel};
use crate::grpc::{Code, Status};
use crate::proto::vpn::v1::{
    ReportConnectRequest, ReportConnectResponse, ReportDisconnectRequest, ReportDisconnectResponse,
    SessionStats,
};
use async_io::Timer;
use prost::Message;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

pub const REPORT_CONNECT: &str = "/vpn.v1.EventService/ReportConnect";
pub const REPORT_DISCONNECT: &str = "/vpn.v1.EventService/ReportDisconnect";

/// The first wait after a failed attempt.
const RETRY_MIN: Duration = Duration::from_secs(1);

/// Where and how to deliver, read afresh for every attempt (a reload may change it).
pub struct Target {
    pub channel: Rc<Channel>,
    /// Deadline of one call (`portal.timeout`).
    pub timeout: Duration,
    /// `agent.id`, sent in each event's metadata.
    pub agent_id: String,
    pub retry_max: Duration,
}

/// How one attempt ended.
#[derive(Debug)]
enum Attempt {
    Settled(Settled),
    Retry(Status),
}

/// Delivers events until the daemon stops. `target` returns `None` while the portal is
/// disabled; events then wait in the outbox. `answered` is told each time the portal answered
/// a report (it is up: the decision path's breaker need not wait out its open time).
pub async fn run(outbox: Rc<Outbox>, target: impl Fn() -> Option<Target>, answered: impl Fn()) {
    let mut failures: u32 = 0;
    loop {
        let event = outbox.next().await;
        let Some(target) = target() else {
            Timer::after(Duration::from_secs(5)).await;
            continue;
        };
        match attempt(&target, &event).await {
            Attempt::Settled(how) => {
                if failures > 0 {
                    log::info!(
                        "outbox: the portal takes events again ({} waiting)",
                        outbox.stats().depth.saturating_sub(1)
                    );
                }
                failures = 0;
                outbox.settle(event.seq, how);
                answered();
            }
            Attempt::Retry(status) => {
                failures = failures.saturating_add(1);
                outbox.retrying();
                let wait = spread_backoff(failures, RETRY_MIN, target.retry_max, fastrand::u32(..));
                let text = format!(
                    "outbox: cannot report the {} of session {}: {status}; retrying in {} ms{}",
                    event.kind.as_str(),
                    event.session,
                    wait.as_millis(),
                    trace_note(&event)
                );
                // The first failure of an outage is news; the rest of it is not.
                if failures == 1 {
                    log::warn!("{text}");
                } else {
                    log::debug!("{text}");
                }
                Timer::after(wait).await;
            }
        }
    }
}

async fn attempt(target: &Target, event: &Event) -> Attempt {
    let (path, request) = match event.kind {
        Kind::Connect => (
            REPORT_CONNECT,
            connect_request(event, &target.agent_id).encode_to_vec(),
        ),
        Kind::Disconnect => (
            REPORT_DISCONNECT,
            disconnect_request(event, &target.agent_id).encode_to_vec(),
        ),
    };
    let options = CallOptions {
        timeout: Some(target.timeout),
        metadata: crate::trace::metadata(crate::trace::TraceId::from_hex(&event.trace)),
    };
    let reply = match target.channel.call(path, &request, &options).await {
        Ok(reply) => reply.message,
        // The portal says the event itself is wrong: sending it again cannot help.
        Err(status) if status.code == Code::InvalidArgument => {
            log::warn!(
                "outbox: the portal refused the {} of session {}: {status}{}",
                event.kind.as_str(),
                event.session,
                trace_note(event)
            );
            return Attempt::Settled(Settled::Refused);
        }
        Err(status) => return Attempt::Retry(status),
    };
    let answer = match event.kind {
        Kind::Connect => ReportConnectResponse::decode(reply).map(|r| (r.success, r.message)),
        Kind::Disconnect => ReportDisconnectResponse::decode(reply).map(|r| (r.success, r.message)),
    };
    match answer {
        Ok((true, _)) => Attempt::Settled(Settled::Delivered),
        Ok((false, message)) => {
            log::warn!(
                "outbox: the portal did not accept the {} of session {}: {message}{}",
                event.kind.as_str(),
                event.session,
                trace_note(event)
            );
            Attempt::Settled(Settled::Refused)
        }
        // A reply that does not decode is the portal failing, like a dropped connection.
        Err(e) => Attempt::Retry(Status::new(
            Code::Internal,
            format!("malformed reply from the portal: {e}"),
        )),
    }
}

/// ` trace=<id>` for a log line about `event`.
fn trace_note(event: &Event) -> String {
    crate::trace::note(crate::trace::TraceId::from_hex(&event.trace))
}

/// Metadata on every report: who sent it, and a key the portal can drop repeats by (delivery
/// is at least once).
fn metadata(event: &Event, agent_id: &str) -> HashMap<String, String> {
    HashMap::from([
        ("agent_id".to_string(), agent_id.to_string()),
        (
            "event_id".to_string(),
            format!(
                "{agent_id}/{}/{}/{}",
                event.session,
                event.kind.as_str(),
                event.at
            ),
        ),
    ])
}

fn at(event: &Event) -> prost_types::Timestamp {
    crate::proto::timestamp_secs(event.at)
}

pub fn connect_request(event: &Event, agent_id: &str) -> ReportConnectRequest {
    ReportConnectRequest {
        username: event.user.clone(),
        session_id: event.session.to_string(),
        client_ip: event.client_ip.clone(),
        vpn_ip: event.vpn_ip.clone(),
        device: event.device.clone(),
        connected_at: Some(at(event)),
        groupname: event.group.clone(),
        metadata: metadata(event, agent_id),
    }
}

/// ocserv's STATS_BYTES_IN is what the server received from the client: `bytes_received`.
/// ocserv does not say why a session ended, so the reason is UNSPECIFIED.
pub fn disconnect_request(event: &Event, agent_id: &str) -> ReportDisconnectRequest {
    ReportDisconnectRequest {
        username: event.user.clone(),
        session_id: event.session.to_string(),
        disconnected_at: Some(at(event)),
        reason: 0,
        stats: Some(SessionStats {
            duration_seconds: i64::try_from(event.duration).unwrap_or(i64::MAX),
            bytes_received: event.bytes_in,
            bytes_sent: event.bytes_out,
            packets_received: 0,
            packets_sent: 0,
        }),
        metadata: metadata(event, agent_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: Kind) -> Event {
        Event {
            seq: 4,
            kind,
            session: 15202,
            user: "alice".into(),
            group: "eng".into(),
            client_ip: "192.0.2.1".into(),
            vpn_ip: "10.0.0.2".into(),
            device: "vpns0".into(),
            at: 1_700_000_000,
            bytes_in: 216,
            bytes_out: 520,
            duration: 3,
            trace: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        }
    }

    /// The journal is a file: a record with an absurd time (a damaged or hand-edited line)
    /// is reported with the latest time a Timestamp can hold, never a panic.
    #[test]
    fn an_absurd_time_from_the_journal_never_panics() {
        let e = Event {
            at: u64::MAX,
            ..event(Kind::Connect)
        };
        assert_eq!(at(&e).seconds, 253_402_300_799);
        assert_eq!(at(&event(Kind::Connect)).seconds, 1_700_000_000);
    }

    #[test]
    fn a_disconnect_carries_ocservs_counters() {
        let r = disconnect_request(&event(Kind::Disconnect), "gw");
        let stats = r.stats.unwrap();
        assert_eq!(
            (
                stats.bytes_received,
                stats.bytes_sent,
                stats.duration_seconds
            ),
            (216, 520, 3)
        );
        assert_eq!(r.session_id, "15202");
        assert_eq!(r.disconnected_at.unwrap().seconds, 1_700_000_000);
        assert_eq!(r.metadata["event_id"], "gw/15202/disconnect/1700000000");
    }

    #[test]
    fn a_connect_carries_every_field() {
        let r = connect_request(&event(Kind::Connect), "gw");
        assert_eq!(
            (
                r.username.as_str(),
                r.groupname.as_str(),
                r.client_ip.as_str(),
                r.vpn_ip.as_str(),
                r.device.as_str()
            ),
            ("alice", "eng", "192.0.2.1", "10.0.0.2", "vpns0")
        );
        assert_eq!(r.metadata["agent_id"], "gw");
    }

    #[test]
    fn huge_durations_do_not_wrap_negative() {
        let mut e = event(Kind::Disconnect);
        e.duration = u64::MAX;
        let r = disconnect_request(&e, "gw");
        assert_eq!(r.stats.unwrap().duration_seconds, i64::MAX);
    }
}
