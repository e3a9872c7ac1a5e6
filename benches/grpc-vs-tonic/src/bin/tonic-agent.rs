//! A minimal tonic server for agent.v1 HealthCheck tier 1 over mutual TLS: the same answer as
//! ocserv-agent's (healthy, uptime, timestamp), everything else UNIMPLEMENTED.
//!
//! Usage: tonic-agent ADDRESS CERT_DIR

use grpc_vs_tonic::agent::v1::agent_service_server::{AgentService, AgentServiceServer};
use grpc_vs_tonic::agent::v1::*;
use grpc_vs_tonic::pem;
use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

struct Agent {
    started: Instant,
}

/// The streaming methods' response type (they are not served here).
type Stream<T> =
    Pin<Box<dyn tonic::codegen::tokio_stream::Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl AgentService for Agent {
    type AgentStreamStream = Stream<ServerMessage>;
    type StreamLogsStream = Stream<LogEntry>;

    async fn agent_stream(
        &self,
        _: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::AgentStreamStream>, Status> {
        Err(Status::unimplemented("not in this benchmark"))
    }

    async fn execute_command(
        &self,
        _: Request<CommandRequest>,
    ) -> Result<Response<CommandResponse>, Status> {
        Err(Status::unimplemented("not in this benchmark"))
    }

    async fn update_config(
        &self,
        _: Request<ConfigUpdateRequest>,
    ) -> Result<Response<ConfigUpdateResponse>, Status> {
        Err(Status::unimplemented("not in this benchmark"))
    }

    async fn stream_logs(
        &self,
        _: Request<LogStreamRequest>,
    ) -> Result<Response<Self::StreamLogsStream>, Status> {
        Err(Status::unimplemented("not in this benchmark"))
    }

    async fn health_check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        if request.get_ref().tier != 1 {
            return Err(Status::invalid_argument("tier must be 1"));
        }
        let mut checks = HashMap::new();
        checks.insert("agent".to_string(), "ok".to_string());
        checks.insert(
            "uptime_seconds".to_string(),
            self.started.elapsed().as_secs().to_string(),
        );
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        Ok(Response::new(HealthCheckResponse {
            healthy: true,
            status_message: "tonic-agent running".to_string(),
            checks,
            timestamp: Some(prost_types::Timestamp {
                seconds: now.as_secs() as i64,
                nanos: now.subsec_nanos() as i32,
            }),
        }))
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (address, dir) = (args[1].parse().expect("ADDRESS"), PathBuf::from(&args[2]));
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(
            pem(&dir, "server.pem"),
            pem(&dir, "server.key"),
        ))
        .client_ca_root(Certificate::from_pem(pem(&dir, "ca.pem")));
    Server::builder()
        .tls_config(tls)
        .expect("TLS")
        .add_service(AgentServiceServer::new(Agent {
            started: Instant::now(),
        }))
        .serve(address)
        .await
        .expect("serve");
}
