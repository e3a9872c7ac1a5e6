//! The daemon's gRPC side: the agent.v1 services registered on a router with what each reads
//! from the daemon (the configuration in force, ocserv's control socket, the decision path,
//! revocation), served by the [`super::endpoint::Endpoint`]; and what a reload changes in it.

use super::endpoint::Endpoint;
use super::{control, decide, Daemon, StartError};
use crate::config::{self, Config};
use crate::grpc::server::Router;
use std::path::PathBuf;
use std::rc::Rc;

/// Registers every service and binds `grpc.listen`, when `grpc.enabled`.
pub(super) fn start(daemon: &Rc<Daemon>) -> Result<Option<Endpoint>, StartError> {
    if !daemon.config().grpc.enabled {
        return Ok(None);
    }
    let config = daemon.config();
    let mut router = Router::new();
    crate::services::agent::register(&mut router, daemon.started, health_probe(daemon));
    crate::services::logs::register(
        &mut router,
        &crate::log_ring::RECENT,
        ocserv_settings(daemon),
    );
    crate::services::vpn::register(
        &mut router,
        ctl_client(daemon),
        Rc::new(crate::ocserv::tun_counters),
        decide::revoker(&Rc::downgrade(daemon)),
    );
    crate::services::notify::register(&mut router, decide::decider(daemon));
    crate::services::command::register(&mut router, {
        let daemon = Rc::downgrade(daemon);
        Rc::new(move || control::command_setup(daemon.upgrade().map(|d| d.config()).as_deref()))
    });
    crate::services::routes::register(&mut router, ocserv_settings(daemon));
    crate::services::config::register(&mut router, ocserv_settings(daemon));
    let endpoint = Endpoint::bind(&config.grpc, router).map_err(StartError::Grpc)?;
    log::info!(
        "grpc: serving agent.v1 on {} (mutual TLS)",
        endpoint
            .local_addr()
            .map_or_else(|| config.grpc.listen.to_string(), |a| a.to_string())
    );
    Ok(Some(endpoint))
}

/// New certificates and allow-list for a running endpoint; enabling, disabling or moving it
/// needs a restart.
pub(super) fn reload(endpoint: Option<&Endpoint>, config: &Config) {
    match (endpoint, config.grpc.enabled) {
        (Some(e), true) => e.reload(&config.grpc),
        (None, false) => {}
        _ => log::warn!("grpc.enabled changes take effect after a restart"),
    }
}

/// The `config ocserv` section in force at the time of each call (a reload may change it).
pub(super) fn ocserv_settings(daemon: &Rc<Daemon>) -> Rc<dyn Fn() -> config::Ocserv> {
    let daemon = Rc::downgrade(daemon);
    Rc::new(move || {
        daemon
            .upgrade()
            .map(|d| d.config().ocserv.clone())
            .unwrap_or_default()
    })
}

/// Where the health check looks for ocserv, from the configuration in force.
fn health_probe(daemon: &Rc<Daemon>) -> Rc<dyn Fn() -> crate::services::agent::Probe> {
    let ocserv_now = ocserv_settings(daemon);
    Rc::new(move || {
        let ocserv = ocserv_now();
        crate::services::agent::Probe {
            ctl_socket: crate::ocserv::conf::ctl_socket(&ocserv),
            config_dirs: vec![
                ("per_user_dir", ocserv.per_user_dir),
                ("per_group_dir", ocserv.per_group_dir),
            ],
            proc_dir: PathBuf::from("/proc"),
        }
    })
}

/// A control client for the ocserv the configuration in force names.
fn ctl_client(daemon: &Rc<Daemon>) -> Rc<dyn Fn() -> crate::ocserv::ctl::Client> {
    let ocserv_now = ocserv_settings(daemon);
    Rc::new(move || {
        let ocserv = ocserv_now();
        crate::ocserv::ctl::Client::new(
            crate::ocserv::conf::ctl_socket(&ocserv),
            crate::ocserv::ctl::DEFAULT_TIMEOUT,
        )
    })
}
