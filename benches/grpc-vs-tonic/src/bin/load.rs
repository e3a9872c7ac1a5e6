//! Unary load over mutual TLS: HealthCheck tier 1 from N concurrent callers on one HTTP/2
//! connection for a fixed time; prints requests/s and p50 / p99 latency.
//!
//! Usage: load ADDRESS CERT_DIR CONCURRENCY SECONDS

use grpc_vs_tonic::agent::v1::agent_service_client::AgentServiceClient;
use grpc_vs_tonic::agent::v1::HealthCheckRequest;
use grpc_vs_tonic::pem;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let address = args[1].clone();
    let dir = PathBuf::from(&args[2]);
    let concurrency: usize = args[3].parse().expect("CONCURRENCY");
    let seconds: u64 = args[4].parse().expect("SECONDS");
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pem(&dir, "ca.pem")))
        .identity(Identity::from_pem(
            pem(&dir, "client.pem"),
            pem(&dir, "client.key"),
        ))
        .domain_name("localhost");
    let channel = Endpoint::from_shared(format!("https://{address}"))
        .expect("address")
        .tls_config(tls)
        .expect("TLS")
        .connect()
        .await
        .expect("connect");
    let client = AgentServiceClient::new(channel);
    // Warm up: connection, TLS, HPACK tables, the server's allocator.
    for _ in 0..200 {
        client
            .clone()
            .health_check(HealthCheckRequest { tier: 1 })
            .await
            .expect("warm-up call");
    }
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let mut client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let started = Instant::now();
                let r = client.health_check(HealthCheckRequest { tier: 1 }).await;
                assert!(r.expect("call").get_ref().healthy);
                latencies.push(started.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "concurrency {concurrency}: {} calls, {:.0} rps, p50 {:.0} us, p99 {:.0} us",
        all.len(),
        all.len() as f64 / seconds as f64,
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
    );
}
