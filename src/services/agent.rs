//! `agent.v1.AgentService`. This version serves `HealthCheck` tier 1 (liveness); the other
//! tiers and methods need the ocserv control client and arrive with it.

use crate::grpc::server::Router;
use crate::grpc::status::{Code, Status};
use crate::proto::agent::v1::{HealthCheckRequest, HealthCheckResponse};
use bytes::Bytes;
use prost::Message;
use std::collections::HashMap;
use std::time::{Instant, SystemTime};

pub const HEALTH_CHECK: &str = "/agent.v1.AgentService/HealthCheck";

/// Registers this service's methods. `started` is when the daemon started (for uptime).
pub fn register(router: &mut Router, started: Instant) {
    router.unary(HEALTH_CHECK, move |_call, message| async move {
        health_check(&message, started)
    });
}

/// Tier 1: the agent answers, with its real uptime. Tiers 2 and 3 (ocserv process, control
/// socket, a real STATUS round trip) are not in this version; other tiers are invalid.
pub fn health_check(message: &[u8], started: Instant) -> Result<Bytes, Status> {
    let request = HealthCheckRequest::decode(message).map_err(|e| {
        Status::new(
            Code::Internal,
            format!("undecodable HealthCheckRequest: {e}"),
        )
    })?;
    match request.tier {
        1 => {}
        2 | 3 => {
            return Err(Status::new(
                Code::Unimplemented,
                format!(
                    "health check tier {} needs the ocserv control client, which this version does not have",
                    request.tier
                ),
            ))
        }
        other => {
            return Err(Status::new(
                Code::InvalidArgument,
                format!("tier must be 1, 2 or 3, not {other}"),
            ))
        }
    }
    let uptime = started.elapsed().as_secs();
    let mut checks = HashMap::new();
    checks.insert("agent".to_string(), "ok".to_string());
    checks.insert("uptime_seconds".to_string(), uptime.to_string());
    let response = HealthCheckResponse {
        healthy: true,
        status_message: format!("ocserv-agent {} running", env!("CARGO_PKG_VERSION")),
        checks,
        timestamp: Some(crate::proto::timestamp(SystemTime::now())),
    };
    Ok(Bytes::from(response.encode_to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(tier: i32) -> Result<HealthCheckResponse, Status> {
        let started = Instant::now() - std::time::Duration::from_secs(42);
        let msg = HealthCheckRequest { tier }.encode_to_vec();
        health_check(&msg, started).map(|b| HealthCheckResponse::decode(b).unwrap())
    }

    #[test]
    fn tier_one_reports_liveness_and_real_uptime() {
        let r = ask(1).unwrap();
        assert!(r.healthy);
        assert_eq!(r.checks["agent"], "ok");
        assert_eq!(r.checks["uptime_seconds"], "42");
        assert!(r.timestamp.unwrap().seconds > 1_700_000_000);
    }

    #[test]
    fn other_tiers() {
        assert_eq!(ask(2).unwrap_err().code, Code::Unimplemented);
        assert_eq!(ask(3).unwrap_err().code, Code::Unimplemented);
        for bad in [0, 4, -1, i32::MAX] {
            assert_eq!(
                ask(bad).unwrap_err().code,
                Code::InvalidArgument,
                "tier {bad}"
            );
        }
        let e = health_check(b"\xff\xff\xff", Instant::now()).unwrap_err();
        assert_eq!(e.code, Code::Internal);
    }
}
