//! `agent.v1.AgentService/StreamLogs`: the agent's own recent log lines (from
//! [`crate::log_ring`]), from `start_time` on, and with `follow` the new ones as they are
//! logged, until the client cancels.
//!
//! Source `ocserv` (syslog / logread) needs the ocserv management layer and is not in this
//! version: it answers UNIMPLEMENTED, as does `system`.

use crate::grpc::reply::{Requests, Responses};
use crate::grpc::server::{Call, Router};
use crate::grpc::status::{Code, Status};
use crate::log_ring::{Line, LogRing};
use crate::proto::agent::v1::{LogEntry, LogStreamRequest};
use crate::proto::timestamp;
use futures_lite::future;
use prost::Message;
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const STREAM_LOGS: &str = "/agent.v1.AgentService/StreamLogs";

/// Lines read from the ring per round; they go out batched in DATA frames.
const BATCH: usize = 128;

/// Registers StreamLogs, reading `ring`.
pub fn register(router: &mut Router, ring: &'static LogRing) {
    router.streaming(STREAM_LOGS, move |call, requests, responses| {
        stream_logs(call, requests, responses, ring)
    });
}

async fn stream_logs(
    call: Call,
    requests: Requests,
    responses: Responses,
    ring: &'static LogRing,
) -> Result<(), Status> {
    // Logs name users and addresses: only allow-listed clients read them.
    call.require_allowed()?;
    let request = LogStreamRequest::decode(requests.single().await?)
        .map_err(|e| Status::new(Code::Internal, format!("undecodable LogStreamRequest: {e}")))?;
    match request.log_source.as_str() {
        "" | "agent" => {}
        "ocserv" | "system" => {
            return Err(Status::new(
                Code::Unimplemented,
                format!(
                    "log source {:?} needs the ocserv management layer, which this version does not have",
                    request.log_source
                ),
            ))
        }
        other => {
            return Err(Status::new(
                Code::InvalidArgument,
                format!("log_source must be agent, ocserv or system, not {other:?}"),
            ))
        }
    }
    let since = match request.start_time {
        Some(t) => Some(system_time(t)?),
        None => None,
    };
    let mut from = 0;
    loop {
        let batch = ring.read(from, since, BATCH);
        // At the start `missed` counts lines the ring dropped before this call: not news.
        if from > 0 && batch.missed > 0 {
            let note = format!(
                "{} log lines were dropped before this stream could send them (it read too slowly)",
                batch.missed
            );
            responses.feed(&gap(&note).encode_to_vec()).await?;
        }
        for line in &batch.lines {
            responses.feed(&entry(line).encode_to_vec()).await?;
        }
        responses.flush().await?;
        from = batch.next;
        if batch.lines.len() < BATCH {
            if !request.follow {
                return Ok(());
            }
            future::poll_fn(|cx| ring.poll_beyond(from, cx)).await;
        }
    }
}

fn entry(line: &Line) -> LogEntry {
    let mut fields = HashMap::new();
    fields.insert("target".to_string(), line.target.clone());
    fields.insert("seq".to_string(), line.seq.to_string());
    LogEntry {
        timestamp: Some(timestamp(line.time)),
        level: line.level.as_str().to_ascii_lowercase(),
        source: "agent".to_string(),
        message: line.text.clone(),
        fields,
    }
}

fn gap(note: &str) -> LogEntry {
    LogEntry {
        timestamp: Some(timestamp(SystemTime::now())),
        level: "warn".to_string(),
        source: "agent".to_string(),
        message: note.to_string(),
        fields: HashMap::new(),
    }
}

fn system_time(t: prost_types::Timestamp) -> Result<SystemTime, Status> {
    if t.seconds < 0 || !(0..1_000_000_000).contains(&t.nanos) {
        return Err(Status::new(
            Code::InvalidArgument,
            format!(
                "start_time {}s {}ns is not a valid time after 1970",
                t.seconds, t.nanos
            ),
        ));
    }
    UNIX_EPOCH
        .checked_add(Duration::new(t.seconds as u64, t.nanos as u32))
        .ok_or_else(|| Status::new(Code::InvalidArgument, "start_time is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_carry_level_source_and_order() {
        let line = Line {
            seq: 7,
            time: UNIX_EPOCH + Duration::new(1_800_000_000, 5),
            level: log::Level::Warn,
            target: "ocserv_agent::daemon".into(),
            text: "portal unreachable".into(),
        };
        let e = entry(&line);
        assert_eq!(e.level, "warn");
        assert_eq!(e.source, "agent");
        assert_eq!(e.message, "portal unreachable");
        assert_eq!(e.fields["seq"], "7");
        assert_eq!(e.fields["target"], "ocserv_agent::daemon");
        let ts = e.timestamp.unwrap();
        assert_eq!((ts.seconds, ts.nanos), (1_800_000_000, 5));
    }

    #[test]
    fn start_times_are_validated() {
        let t = |seconds, nanos| system_time(prost_types::Timestamp { seconds, nanos });
        assert!(t(0, 0).is_ok());
        assert!(t(1_800_000_000, 999_999_999).is_ok());
        for (s, n) in [(-1, 0), (0, -1), (0, 1_000_000_000)] {
            assert_eq!(t(s, n).unwrap_err().code, Code::InvalidArgument, "{s} {n}");
        }
    }
}
