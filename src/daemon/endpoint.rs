//! The daemon's gRPC endpoint: the TCP listener on `grpc.listen`, the TLS configuration
//! (re-read on SIGHUP; a bad new certificate keeps the old one and says why), the allow-list
//! of client identities, and the accept loop.

use crate::config::Grpc;
use crate::grpc::server::admission::{self, Admission};
use crate::grpc::server::{accept_tls, serve_tls, InForce, Router, Settings, Shutdown};
use crate::grpc::{server_config, TlsError, TlsFiles};
use crate::grpc::{Budget, Share};
use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use rustls::ServerConfig;
use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Connections closed on arrival for their source's rate are logged once every 10 s.
static TOO_FAST: crate::log_limit::Limit = crate::log_limit::Limit::every(10);

/// Why the endpoint could not start.
#[derive(Debug)]
pub enum StartError {
    /// `grpc.enabled` without ca/cert/key (the config loader reports this first).
    MissingFiles,
    Tls(TlsError),
    Bind(SocketAddr, std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::MissingFiles => write!(f, "grpc: ca, cert and key must be set"),
            StartError::Tls(e) => write!(f, "grpc TLS: {e}"),
            StartError::Bind(addr, e) => write!(f, "grpc: cannot listen on {addr}: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A serving gRPC endpoint.
pub struct Endpoint {
    listener: Async<TcpListener>,
    /// Connections past their TLS handshake, against `grpc.max_connections`.
    active: Rc<Cell<u32>>,
    max_connections: Rc<Cell<u32>>,
    /// Rates per source and the pool of connections still in their handshakes.
    admission: Rc<Admission>,
    tls: RefCell<Arc<ServerConfig>>,
    in_force: Rc<InForce>,
    /// Request bytes buffered, across connections (`grpc.request_budget`).
    budget: Rc<Budget>,
    router: Rc<Router>,
    shutdown: Rc<Shutdown>,
}

fn files(config: &Grpc) -> Result<(PathBuf, PathBuf, PathBuf), StartError> {
    match (&config.ca, &config.cert, &config.key) {
        (Some(ca), Some(cert), Some(key)) => Ok((ca.clone(), cert.clone(), key.clone())),
        _ => Err(StartError::MissingFiles),
    }
}

fn tls(config: &Grpc) -> Result<Arc<ServerConfig>, StartError> {
    let (ca, cert, key) = files(config)?;
    server_config(
        TlsFiles {
            ca: &ca,
            cert: &cert,
            key: &key,
        },
        config.allow_tls12,
    )
    .map_err(StartError::Tls)
}

/// Identifies the certificate files' contents, to tell a reload that changed them (connections
/// made under the old ones are then sent GOAWAY) from one that did not.
fn tls_files(config: &Grpc) -> u64 {
    let mut all = Vec::new();
    for path in [&config.ca, &config.cert, &config.key]
        .into_iter()
        .flatten()
    {
        all.extend_from_slice(&std::fs::read(path).unwrap_or_default());
        all.push(0);
    }
    xxhash_rust::xxh3::xxh3_64(&all)
}

fn settings(config: &Grpc) -> Rc<Settings> {
    Rc::new(Settings {
        allowed_clients: config.allowed_client.clone(),
        max_message: config.max_message_size as usize,
        ..Settings::default()
    })
}

impl Endpoint {
    /// Loads TLS and binds `config.listen`.
    pub fn bind(config: &Grpc, router: Router) -> Result<Endpoint, StartError> {
        let tls = tls(config)?;
        let listener = Async::<TcpListener>::bind(config.listen)
            .map_err(|e| StartError::Bind(config.listen, e))?;
        Ok(Endpoint {
            listener,
            active: Rc::new(Cell::new(0)),
            max_connections: Rc::new(Cell::new(config.max_connections)),
            admission: Admission::new(),
            tls: RefCell::new(tls),
            in_force: Rc::new(InForce::new(settings(config), tls_files(config))),
            budget: Budget::new(config.request_budget as usize),
            router: Rc::new(router),
            shutdown: Rc::new(Shutdown::new()),
        })
    }

    /// The bound address (the port is known even when `listen` asked for port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.get_ref().local_addr().ok()
    }

    /// Re-reads certificates and the allow-list; on a TLS error the old configuration stays.
    /// They apply to every call from then on, on open connections too (see [`InForce`]).
    pub fn reload(&self, config: &Grpc) {
        match tls(config) {
            Ok(new) => {
                *self.tls.borrow_mut() = new;
                self.in_force.replace(settings(config), tls_files(config));
                self.max_connections.set(config.max_connections);
                self.budget.set_limit(config.request_budget as usize);
                log::info!("grpc: certificates and allowed clients reloaded");
            }
            Err(e) => log::error!("grpc: reload refused, the previous certificates stay: {e}"),
        }
    }

    /// Sends GOAWAY on every connection; calls in flight may finish.
    pub fn shut_down(&self) {
        self.shutdown.request();
    }

    /// Connections still open.
    pub fn open_connections(&self) -> u32 {
        self.active.get()
    }

    /// Accepts connections until dropped; each runs as its own task. A connection goes
    /// through [`Admission`] (its source's rate, then the handshake pool), then its TLS
    /// handshake, and only then counts against `grpc.max_connections`.
    pub async fn serve(&self, executor: &'static LocalExecutor<'static>) {
        loop {
            match self.listener.accept().await {
                Ok((tcp, remote)) => {
                    if !self.admission.allow(remote.ip(), Instant::now()) {
                        crate::log_limit::info(
                            &TOO_FAST,
                            format_args!(
                                "grpc: {} opens more than {} connections a second; closing one",
                                remote.ip(),
                                admission::RATE
                            ),
                        );
                        continue;
                    }
                    let handshaking = self.admission.enter();
                    let tls = self.tls.borrow().clone();
                    let in_force = self.in_force.clone();
                    let share = Share::new(self.budget.clone());
                    let router = self.router.clone();
                    let (active, max) = (self.active.clone(), self.max_connections.clone());
                    let shutdown = self.shutdown.clone();
                    executor
                        .spawn(async move {
                            let timeout = in_force.settings().handshake_timeout;
                            let dropped = handshaking.dropped();
                            let Some(tls) = accept_tls(tcp, tls, timeout, dropped).await else {
                                return;
                            };
                            drop(handshaking);
                            if active.get() >= max.get() {
                                log::warn!(
                                    "grpc: {} connections open (grpc.max_connections); closing one from {remote}",
                                    active.get()
                                );
                                return;
                            }
                            active.set(active.get() + 1);
                            serve_tls(tls, router, in_force, share, executor, shutdown).await;
                            active.set(active.get() - 1);
                        })
                        .detach();
                }
                Err(e) => {
                    log::warn!("grpc accept: {e}");
                    Timer::after(Duration::from_millis(100)).await;
                }
            }
        }
    }
}
