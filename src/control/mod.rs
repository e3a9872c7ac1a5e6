//! The dial-out control stream, for routers the portal cannot reach (behind NAT): the agent
//! connects to `control.address` with mutual TLS, opens `agent.v1.AgentService/AgentStream` as
//! the client, sends a heartbeat every `control.heartbeat_interval`, runs each order the portal
//! sends (dispatch.rs) and answers it on the same stream; heartbeats carry ocserv's state
//! (heartbeat.rs). A lost stream is reopened after a
//! jittered backoff; a configuration reload that changes the `control` section reopens it with
//! the new settings.

pub mod dispatch;
pub mod heartbeat;

use crate::backoff::backoff;
use crate::config::{Config, Control};
use crate::grpc::client::{CallOptions, Channel, Sender, Settings};
use crate::grpc::Metadata;
use crate::grpc::TlsFiles;
use crate::grpc::{Code, Status};
use crate::ocserv::ctl::Client;
use crate::proto::agent::v1::{agent_message, AgentMessage, ServerMessage};
use async_executor::LocalExecutor;
use async_io::Timer;
use dispatch::{Handlers, Seen};
use futures_lite::future;
use prost::Message;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

pub const AGENT_STREAM: &str = "/agent.v1.AgentService/AgentStream";

/// Waits between attempts: from 1 s, doubling to 1 min, ±20%.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(60);

/// A stream that lived this long was a success: the next loss starts the backoff afresh.
const STABLE: Duration = Duration::from_secs(60);

/// How long a heartbeat waits for ocserv's STATUS.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// Keeps the control stream up while `control.enabled`; returns when it is disabled or the
/// daemon is gone (`config` returns `None`), handing back the answers it remembers so that a
/// stream enabled again still knows which orders ran. `handlers` gives what orders run with,
/// read afresh for each one.
pub async fn run(
    executor: &'static LocalExecutor<'static>,
    config: impl Fn() -> Option<Rc<Config>>,
    handlers: impl Fn() -> Handlers,
    opened: impl Fn(),
    mut seen: Seen,
) -> Seen {
    let mut failures: u32 = 0;
    loop {
        let Some(now) = config() else { return seen };
        if !now.control.enabled {
            log::info!("control: disabled; the stream is closed");
            return seen;
        }
        let started = Instant::now();
        let ended = match settings(&now) {
            Ok(settings) => {
                let channel = Channel::new(settings, executor);
                let stream = Stream {
                    channel: &channel,
                    control: &now.control,
                    agent_id: &now.agent.id,
                    config: &config,
                    handlers: &handlers,
                    opened: &opened,
                };
                stream.run(&mut seen).await
            }
            Err(e) => Err(Status::new(Code::FailedPrecondition, e.to_string())),
        };
        if started.elapsed() >= STABLE {
            failures = 0;
        }
        failures = failures.saturating_add(1);
        let wait = backoff(failures, RETRY_MIN, RETRY_MAX, fastrand::u32(..));
        let address = now.control.address.as_deref().unwrap_or("?");
        match ended {
            Ok(why) => log::info!(
                "control: {why}; reconnecting to {address} in {} ms",
                wait.as_millis()
            ),
            Err(status) if failures == 1 => log::warn!(
                "control: stream to {address} lost: {status}; retrying in {} ms",
                wait.as_millis()
            ),
            Err(status) => log::debug!(
                "control: {address}: {status}; retrying in {} ms",
                wait.as_millis()
            ),
        }
        Timer::after(wait).await;
    }
}

/// Why the control stream cannot be set up.
#[derive(Debug)]
enum SetupError {
    /// An address or a TLS file is missing (the config loader refuses that when enabled).
    Incomplete,
    Link(crate::portal::LinkError),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Incomplete => f.write_str("control needs address, ca, cert and key"),
            SetupError::Link(e) => write!(f, "{e}"),
        }
    }
}

/// How to reach the control server; its TLS files fall back to the portal's (config/).
fn settings(config: &Config) -> Result<Settings, SetupError> {
    let c = &config.control;
    let (Some(address), Some(ca), Some(cert), Some(key)) = (&c.address, &c.ca, &c.cert, &c.key)
    else {
        return Err(SetupError::Incomplete);
    };
    let files = TlsFiles { ca, cert, key };
    let mut settings =
        crate::portal::link(config, "control", address, c.server_name.as_deref(), files)
            .map_err(SetupError::Link)?;
    settings.user_timeout = Some(user_timeout(c.heartbeat_interval));
    Ok(settings)
}

/// How long a heartbeat may go unacknowledged by the portal's TCP before the stream is given
/// up and reopened: a heartbeat interval, 10 s at least (a lossy uplink retransmits for a few
/// seconds). The portal sends nothing unasked, so its silence proves nothing; its TCP not
/// acknowledging our heartbeats does: the path is dead (a NAT mapping that expired, a
/// partition). A dead stream is noticed within two heartbeat intervals (+10 s).
fn user_timeout(heartbeat_interval: Duration) -> Duration {
    heartbeat_interval.max(Duration::from_secs(10))
}

/// One stream's worth of state.
struct Stream<'a, C, H> {
    channel: &'a Channel,
    control: &'a Control,
    agent_id: &'a str,
    config: &'a C,
    handlers: &'a H,
    /// Told when the stream opens: the portal is up, when it is the same server.
    opened: &'a dyn Fn(),
}

/// What woke the stream up.
enum Next {
    Beat,
    Message(Result<Option<bytes::Bytes>, Status>),
}

impl<C, H> Stream<'_, C, H>
where
    C: Fn() -> Option<Rc<Config>>,
    H: Fn() -> Handlers,
{
    /// Runs until the stream ends: `Ok` with the reason when it ended in order (the portal
    /// closed it, or the settings changed), the status otherwise.
    async fn run(&self, seen: &mut Seen) -> Result<&'static str, Status> {
        let mut metadata = Metadata::new();
        metadata
            .insert_ascii("x-agent-id", self.agent_id)
            .map_err(|e| Status::new(Code::InvalidArgument, format!("agent.id: {e}")))?;
        let options = CallOptions {
            timeout: None,
            metadata,
        };
        let (tx, mut rx) = self.channel.open(AGENT_STREAM, &options).await?;
        log::info!(
            "control: stream open to {}",
            self.control.address.as_deref().unwrap_or("?")
        );
        (self.opened)();
        let mut beats = Beats {
            at: Instant::now(),
            cpu: None,
        };
        loop {
            let next = future::or(
                async {
                    Timer::at(beats.at).await;
                    Next::Beat
                },
                async { Next::Message(rx.message().await) },
            )
            .await;
            match next {
                Next::Beat => {
                    if self.changed() {
                        return Ok("the control settings changed");
                    }
                    self.beat(&tx, &mut beats).await?;
                }
                Next::Message(Ok(Some(bytes))) => {
                    let Ok(message) = ServerMessage::decode(bytes) else {
                        return Err(Status::new(Code::Internal, "undecodable ServerMessage"));
                    };
                    log::info!("control: request {} from the portal", message.request_id);
                    let handlers = (self.handlers)();
                    let mut answer = std::pin::pin!(dispatch::answer(message, seen, &handlers));
                    // Heartbeats go on while an order runs (a command may take a minute).
                    let event = loop {
                        let step = future::or(async { Some(answer.as_mut().await) }, async {
                            Timer::at(beats.at).await;
                            None
                        })
                        .await;
                        match step {
                            Some(event) => break event,
                            None => self.beat(&tx, &mut beats).await?,
                        }
                    };
                    send(&tx, self.agent_id, agent_message::Payload::Event(event)).await?;
                }
                Next::Message(Ok(None)) => return Ok("the portal ended the stream"),
                Next::Message(Err(status)) => return Err(status),
            }
        }
    }

    /// The `control` section in force is not the one this stream was opened with.
    fn changed(&self) -> bool {
        (self.config)().map_or(true, |c| c.control != *self.control)
    }

    async fn beat(&self, tx: &Sender, beats: &mut Beats) -> Result<(), Status> {
        let ctl = Client::new((self.handlers)().command.ctl_socket, STATUS_TIMEOUT);
        let hb = heartbeat::heartbeat(&ctl, Path::new("/proc"), &mut beats.cpu).await;
        beats.at = Instant::now() + self.control.heartbeat_interval;
        send(tx, self.agent_id, agent_message::Payload::Heartbeat(hb)).await
    }
}

/// When the next heartbeat is due, and the CPU sample of the last one.
struct Beats {
    at: Instant,
    cpu: Option<heartbeat::CpuSample>,
}

async fn send(tx: &Sender, agent_id: &str, payload: agent_message::Payload) -> Result<(), Status> {
    let since = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let message = AgentMessage {
        agent_id: agent_id.to_string(),
        timestamp: Some(prost_types::Timestamp {
            seconds: since.as_secs() as i64,
            nanos: since.subsec_nanos() as i32,
        }),
        payload: Some(payload),
    };
    tx.send(&message.encode_to_vec()).await
}
