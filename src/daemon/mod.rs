//! The long-running daemon: start-up, signals, configuration reload and shutdown.
//!
//! - SIGHUP re-reads the configuration file. A file with problems is logged (file:line) and the
//!   configuration already in force stays, so a typo never takes the VPN's authorization down.
//! - SIGTERM and SIGINT stop accepting, let open requests finish for a moment, remove the socket
//!   and exit 0; procd then sees a clean stop.
//!
//! Everything runs on one thread (an `async-executor` LocalExecutor): on a router the work is
//! small and a second core is better left to ocserv.
//!
//! Its parts: the hook's requests to decisions (decide.rs), the gRPC services and their
//! endpoint (grpc.rs, endpoint.rs), reports and metrics (reporting.rs), the control stream
//! (control.rs), ValidateSession sweeps (validate.rs) and `status` (status.rs).

mod control;
mod decide;
mod endpoint;
mod grpc;
mod reporting;
mod status;
mod validate;

use crate::authz::engine::Engine;
use crate::config::{self, keyword_str, Config, LoadError};
use crate::events::outbox::Outbox;
use crate::ipc::server::{BindError, Limits, SocketServer};
use crate::logger;
use crate::metrics::latency::Latencies;
use async_executor::LocalExecutor;
use async_io::Timer;
use async_signal::{Signal, Signals};
use endpoint::Endpoint;
use futures_lite::{future, StreamExt};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// How long a stopping daemon waits for requests in progress.
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// Why the daemon could not start.
#[derive(Debug)]
pub enum StartError {
    Config(LoadError),
    Signals(std::io::Error),
    Socket(BindError),
    Grpc(endpoint::StartError),
    /// The portal client could not be set up (its TLS files).
    Portal(crate::portal::LinkError),
    /// `fail_mode open` in production without leave (the config loader refuses it first).
    FailMode(crate::resilience::failmode::FailOpenRefused),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(e) => write!(f, "{e}"),
            StartError::Signals(e) => write!(f, "cannot install signal handlers: {e}"),
            StartError::Socket(e) => write!(f, "cannot listen: {e}"),
            StartError::Grpc(e) => write!(f, "{e}"),
            StartError::Portal(e) => write!(f, "{e}"),
            StartError::FailMode(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The daemon's shared state, and the service behind its socket.
pub struct Daemon {
    config_path: PathBuf,
    config: RefCell<Rc<Config>>,
    started: Instant,
    loaded: Cell<Instant>,
    reloads: Cell<u32>,
    reload_failures: Cell<u32>,
    last_reload_error: RefCell<Option<String>>,
    own_uid: u32,
    engine: Engine,
    /// Connect/disconnect reports for the portal; opened once the portal and the outbox are
    /// both enabled.
    outbox: RefCell<Option<Rc<Outbox>>>,
    /// The control stream task runs (it ends itself when `control.enabled` goes off).
    control_running: Cell<bool>,
    /// The answers of recent control orders, kept while the stream is off.
    control_seen: RefCell<crate::control::dispatch::Seen>,
    /// The ValidateSession sweep runs (it ends itself when turned off).
    validation_running: Cell<bool>,
    /// Where the portal channel's connection tasks run.
    executor: &'static LocalExecutor<'static>,
    /// Hook decisions and portal calls, timed (for /metrics).
    latencies: Rc<RefCell<Latencies>>,
}

impl Daemon {
    fn new(
        config_path: PathBuf,
        config: Config,
        executor: &'static LocalExecutor<'static>,
    ) -> Result<Daemon, StartError> {
        let now = Instant::now();
        let config = Rc::new(config);
        let latencies = Rc::new(RefCell::new(Latencies::default()));
        let portal = portal_channel(&config, executor, &latencies).map_err(StartError::Portal)?;
        let engine = Engine::new(config.clone(), portal).map_err(StartError::FailMode)?;
        Ok(Daemon {
            config_path,
            config: RefCell::new(config),
            started: now,
            loaded: Cell::new(now),
            reloads: Cell::new(0),
            reload_failures: Cell::new(0),
            last_reload_error: RefCell::new(None),
            own_uid: rustix::process::geteuid().as_raw(),
            engine,
            outbox: RefCell::new(None),
            control_running: Cell::new(false),
            control_seen: RefCell::default(),
            validation_running: Cell::new(false),
            executor,
            latencies,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> Rc<Config> {
        self.config.borrow().clone()
    }

    /// Re-reads the file; keeps the current configuration if the new one has problems.
    /// Returns whether the new configuration was taken.
    fn reload(&self) -> bool {
        match config::load(&self.config_path)
            .map_err(|e| e.to_string())
            .and_then(|new| {
                let new = Rc::new(new);
                let old = self.config();
                // A new channel only when the portal link changed: an unchanged one keeps its
                // connection and the cached decisions (validate_interval is not the link).
                let link = |c: &Config| config::Portal {
                    validate_interval: std::time::Duration::ZERO,
                    ..c.portal.clone()
                };
                let portal =
                    if link(&new) != link(&old) || new.grpc.allow_tls12 != old.grpc.allow_tls12 {
                        Some(
                            portal_channel(&new, self.executor, &self.latencies)
                                .map_err(|e| e.to_string())?,
                        )
                    } else {
                        None
                    };
                self.engine
                    .update(new.clone(), portal)
                    .map_err(|e| e.to_string())?;
                Ok(new)
            }) {
            Ok(new) => {
                let old = self.config();
                if new.agent.socket != old.agent.socket
                    || new.agent.socket_mode != old.agent.socket_mode
                {
                    log::warn!(
                        "agent.socket and agent.socket_mode changes take effect after a restart"
                    );
                }
                if new.metrics != old.metrics || new.outbox.dir != old.outbox.dir {
                    log::warn!(
                        "metrics and outbox.dir changes take effect after a restart (the textfile interval at once)"
                    );
                }
                logger::configure(new.agent.log_target, new.agent.log_level);
                *self.config.borrow_mut() = new;
                self.loaded.set(Instant::now());
                self.reloads.set(self.reloads.get().saturating_add(1));
                *self.last_reload_error.borrow_mut() = None;
                log::info!("configuration reloaded from {}", self.config_path.display());
                true
            }
            Err(e) => {
                self.reload_failures
                    .set(self.reload_failures.get().saturating_add(1));
                log::error!("reload refused; the previous configuration stays in force:");
                for line in e.lines() {
                    log::error!("{line}");
                }
                *self.last_reload_error.borrow_mut() = Some(e);
                false
            }
        }
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub fn run(config_path: &Path) -> Result<(), StartError> {
    let config = config::load(config_path).map_err(StartError::Config)?;
    logger::init(config.agent.log_target, config.agent.log_level);
    if let Err(e) = logger::start_writer() {
        log::warn!("no log writer thread ({e}): log lines are written by the daemon's thread");
    }
    // Handlers first: once the socket exists, a SIGHUP must reload, not kill.
    let mut signals =
        Signals::new([Signal::Term, Signal::Int, Signal::Hup]).map_err(StartError::Signals)?;
    let server = Rc::new(
        SocketServer::bind(&config.agent.socket, config.agent.socket_mode)
            .map_err(StartError::Socket)?,
    );
    log::info!(
        "ocserv-agent {} started (pid {}), config {}, socket {}, {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        config_path.display(),
        server.path().display(),
        describe_decisions(&config),
    );
    // Tasks spawned from tasks (gRPC streams, portal connections) need an executor that
    // outlives them all: the daemon's one executor lives as long as the process, so it is
    // leaked on purpose.
    let executor: &'static LocalExecutor<'static> = Box::leak(Box::new(LocalExecutor::new()));
    let daemon = Rc::new(Daemon::new(config_path.to_path_buf(), config, executor)?);
    daemon.start_outbox();
    daemon.start_cache_sweep();
    daemon.start_metrics();
    daemon.start_control();
    daemon.start_validation();
    let grpc = Rc::new(grpc::start(&daemon)?);
    let active = Rc::new(Cell::new(0u32));

    let stopped_by = async_io::block_on(executor.run(async {
        // The listeners and the signal stream run as tasks of their own, polled only when they
        // are woken: futures polled inside the main future are polled on every wakeup of any
        // task, and async-io then retries accept() or read() each time (measured: three
        // failed syscalls per gRPC call, ~10% of the server's throughput).
        let serving = executor.spawn({
            let (server, daemon, active, grpc) =
                (server.clone(), daemon.clone(), active.clone(), grpc.clone());
            async move {
                let local = server.serve(executor, daemon, Limits::default(), active);
                match &*grpc {
                    Some(endpoint) => future::zip(local, endpoint.serve(executor)).await,
                    None => (local.await, ()),
                };
                None
            }
        });
        let control = executor.spawn({
            let (daemon, grpc) = (daemon.clone(), grpc.clone());
            async move {
                while let Some(signal) = signals.next().await {
                    match signal {
                        Ok(Signal::Hup) => {
                            if daemon.reload() {
                                daemon.start_outbox();
                                daemon.start_control();
                                daemon.start_validation();
                                grpc::reload(grpc.as_ref().as_ref(), &daemon.config());
                            }
                        }
                        Ok(other) => return Some(other),
                        Err(e) => log::warn!("signal stream: {e}"),
                    }
                }
                None
            }
        });
        let (mut serving, mut control) = (serving, control);
        let stopped_by = future::or(&mut serving, &mut control).await;
        // Cancel the other and wait until its future is dropped: it holds the socket server,
        // whose drop removes the socket file.
        serving.cancel().await;
        control.cancel().await;
        if let Some(endpoint) = &*grpc {
            endpoint.shut_down();
        }
        drain(&active, grpc.as_ref().as_ref()).await;
        stopped_by
    }));
    log::info!(
        "stopping ({})",
        match stopped_by {
            Some(Signal::Int) => "SIGINT",
            _ => "SIGTERM",
        }
    );
    drop(server);
    // Journal writes handed to the disk thread land before the process ends.
    if let Some(outbox) = daemon.outbox.borrow().as_ref() {
        outbox.flush(Duration::from_secs(5));
    }
    log::logger().flush();
    Ok(())
}

/// How often, and how many cache slots each time, the sweep looks at: a full default cache
/// (4096) is gone through every 4 s, a 1,000,000-entry one in about 16 minutes, and no tick
/// costs more than a few microseconds.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
const SWEEP_SLOTS: u32 = 1024;

impl Daemon {
    /// Drops expired decisions on a timer, so `cache_entries` counts live ones and memory of
    /// keys nobody asks for again is returned.
    fn start_cache_sweep(self: &Rc<Self>) {
        let daemon = Rc::downgrade(self);
        self.executor
            .spawn(async move {
                loop {
                    Timer::after(SWEEP_EVERY).await;
                    let Some(d) = daemon.upgrade() else { return };
                    d.engine.sweep_cache(SWEEP_SLOTS);
                }
            })
            .detach();
    }

    /// The portal answered outside the decision path (`what`): an open breaker probes as soon
    /// as its first open time allows, instead of after the time it grew to during an outage.
    fn portal_answered(&self, what: &str) {
        if self.engine.breaker().portal_answered() {
            log::info!(
                "breaker: the portal answered {what}; its next policy check is the probe (not \
                 waiting out the open time an outage grew)"
            );
        }
    }
}

/// The portal channel of `config` (`None` when the portal is off), its calls timed into
/// `latencies`.
fn portal_channel(
    config: &Config,
    executor: &'static LocalExecutor<'static>,
    latencies: &Rc<RefCell<Latencies>>,
) -> Result<Option<crate::grpc::client::Channel>, crate::portal::LinkError> {
    let channel = crate::portal::channel(config, executor)?;
    if let Some(channel) = &channel {
        let latencies = Rc::downgrade(latencies);
        channel.observe(Rc::new(move |path, code, took| {
            if let Some(l) = latencies.upgrade() {
                l.borrow_mut().portal_call(path, code, took);
            }
        }));
    }
    Ok(channel)
}

/// Waits until no local request and no gRPC connection is open, or [`DRAIN_TIME`] has passed.
async fn drain(active: &Cell<u32>, grpc: Option<&Endpoint>) {
    let open = || active.get() + grpc.map_or(0, Endpoint::open_connections);
    let give_up = Instant::now() + DRAIN_TIME;
    while open() > 0 && Instant::now() < give_up {
        Timer::after(Duration::from_millis(10)).await;
    }
    if open() > 0 {
        log::warn!(
            "{} request(s) and {} gRPC connection(s) still open at shutdown",
            active.get(),
            grpc.map_or(0, Endpoint::open_connections)
        );
    }
}

/// One phrase for the start-up log: who decides.
fn describe_decisions(config: &Config) -> String {
    let local = format!(
        "local policy (default {}, {} rule(s))",
        keyword_str(config.policy.default),
        config.policy.rules.len()
    );
    if config.portal.enabled {
        format!(
            "portal {} (fail mode {}) after {local}",
            config.portal.address.as_deref().unwrap_or("?"),
            keyword_str(config.resilience.fail_mode)
        )
    } else {
        local
    }
}
