//! The dial-out control stream's place in the daemon: started when `control.enabled` (at start
//! or by a reload), with the configuration in force read afresh for every order.

use super::Daemon;
use crate::config::Config;
use crate::control::dispatch::Handlers;
use crate::services::command::Setup;
use std::rc::Rc;

impl Daemon {
    /// Starts the control stream task if the configuration asks for it and it is not running.
    pub(super) fn start_control(self: &Rc<Self>) {
        if !self.config().control.enabled || self.control_running.get() {
            return;
        }
        self.control_running.set(true);
        let config = {
            let daemon = Rc::downgrade(self);
            move || daemon.upgrade().map(|d| d.config())
        };
        let handlers = {
            let daemon = Rc::downgrade(self);
            let revoke = super::decide::revoker(&daemon);
            move || {
                let config = daemon.upgrade().map(|d| d.config());
                Handlers {
                    command: command_setup(config.as_deref()),
                    ocserv: config.map(|c| c.ocserv.clone()).unwrap_or_default(),
                    revoke: revoke.clone(),
                }
            }
        };
        // The stream opening to the portal's own address says the portal is up.
        let opened = {
            let daemon = Rc::downgrade(self);
            move || {
                let Some(d) = daemon.upgrade() else { return };
                let config = d.config();
                if config.portal.enabled && config.control.address == config.portal.address {
                    d.portal_answered("the control stream");
                }
            }
        };
        let daemon = Rc::downgrade(self);
        let executor = self.executor;
        let seen = self.control_seen.take();
        self.executor
            .spawn(async move {
                let seen = crate::control::run(executor, config, handlers, opened, seen).await;
                if let Some(d) = daemon.upgrade() {
                    d.control_seen.replace(seen);
                    d.control_running.set(false);
                }
            })
            .detach();
    }
}

/// What ExecuteCommand (unary or over the control stream) runs with.
pub(super) fn command_setup(config: Option<&Config>) -> Setup {
    Setup {
        ctl_socket: crate::ocserv::conf::ctl_socket(
            &config.map(|c| c.ocserv.clone()).unwrap_or_default(),
        ),
        allowed: config
            .map(|c| c.grpc.allowed_command.clone())
            .unwrap_or_default(),
    }
}
