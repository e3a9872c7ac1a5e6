//! `agent.v1.AgentService/StreamLogs`: the agent's own recent log lines (from
//! [`crate::log_ring`]), from `start_time` on, and with `follow` the new ones as they are
//! logged, until the client cancels. Sources `ocserv` (ocserv's lines) and `system` (every
//! line) read syslog (`ocserv/syslog.rs`: logread on OpenWrt, else the syslog file); with no
//! syslog to read they answer UNAVAILABLE, saying what was looked for.

use crate::config::Ocserv;
use crate::grpc::server::{Call, Router};
use crate::grpc::server::{Requests, Responses};
use crate::grpc::{Code, Status};
use crate::log_ring::{Line, LogRing};
use crate::ocserv::syslog;
use crate::proto::agent::v1::{LogEntry, LogStreamRequest};
use crate::proto::timestamp;
use futures_lite::future;
use prost::Message;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub const STREAM_LOGS: &str = "/agent.v1.AgentService/StreamLogs";

/// Lines read from the ring per round; they go out batched in DATA frames.
const BATCH: usize = 128;

/// Registers StreamLogs, reading `ring`; `ocserv` gives the `config ocserv` section in force
/// (where syslog is).
pub fn register(router: &mut Router, ring: &'static LogRing, ocserv: Rc<dyn Fn() -> Ocserv>) {
    router.streaming(STREAM_LOGS, move |call, requests, responses| {
        stream_logs(call, requests, responses, ring, ocserv())
    });
}

async fn stream_logs(
    call: Call,
    requests: Requests,
    responses: Responses,
    ring: &'static LogRing,
    ocserv: Ocserv,
) -> Result<(), Status> {
    // Logs name users and addresses: only allow-listed clients read them.
    call.require_allowed()?;
    let request = LogStreamRequest::decode(requests.single().await?)
        .map_err(|e| Status::new(Code::Internal, format!("undecodable LogStreamRequest: {e}")))?;
    let since = match request.start_time {
        Some(t) => Some(system_time(t)?),
        None => None,
    };
    match request.log_source.as_str() {
        "" | "agent" => {}
        "ocserv" => return stream_syslog(&ocserv, true, since, request.follow, responses).await,
        "system" => return stream_syslog(&ocserv, false, since, request.follow, responses).await,
        other => {
            return Err(Status::new(
                Code::InvalidArgument,
                format!("log_source must be agent, ocserv or system, not {other:?}"),
            ))
        }
    }
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

/// Syslog's lines (only ocserv's when `only_ocserv`) from `since` on; a line whose time cannot
/// be read is sent. With `follow`, until the client cancels (which ends logread too).
async fn stream_syslog(
    ocserv: &Ocserv,
    only_ocserv: bool,
    since: Option<SystemTime>,
    follow: bool,
    responses: Responses,
) -> Result<(), Status> {
    let unavailable = |e: syslog::LogError| Status::new(Code::Unavailable, e.to_string());
    let source = syslog::source(ocserv).map_err(unavailable)?;
    let mut reader = syslog::Reader::open(&source, follow).map_err(unavailable)?;
    let year = crate::utc::parts(crate::utc::now()).0;
    while let Some(text) = reader.next().await {
        let Some(line) = syslog::parse(&text, year) else {
            continue;
        };
        if (only_ocserv && !line.is_ocserv()) || line.time.zip(since).is_some_and(|(t, s)| t < s) {
            continue;
        }
        let mut fields = HashMap::new();
        fields.insert("program".to_string(), line.program);
        let entry = LogEntry {
            timestamp: line.time.map(timestamp),
            level: line.level,
            source: if only_ocserv { "ocserv" } else { "system" }.to_string(),
            message: line.message,
            fields,
        };
        responses.send(&entry.encode_to_vec()).await?;
    }
    Ok(())
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
