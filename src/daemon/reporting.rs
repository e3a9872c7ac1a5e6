//! What the daemon tells the outside besides decisions: session reports to the portal (the
//! outbox and its delivery task) and the metrics (HTTP endpoint and textfile).

use super::Daemon;
use crate::events::outbox::{Outbox, Pushed};
use crate::session::SessionEvent;
use std::rc::Rc;
use std::time::Duration;

impl Daemon {
    /// Opens the outbox and starts its delivery task, if the configuration asks for reports
    /// and they are not running yet.
    pub(super) fn start_outbox(self: &Rc<Self>) {
        let config = self.config();
        if !(config.portal.enabled && config.outbox.enabled) || self.outbox.borrow().is_some() {
            return;
        }
        let outbox = Rc::new(Outbox::open(
            Some(&config.outbox.dir),
            config.outbox.max_events as usize,
        ));
        *self.outbox.borrow_mut() = Some(outbox.clone());
        let daemon = Rc::downgrade(self);
        let target = move || {
            let daemon = daemon.upgrade()?;
            let config = daemon.config();
            if !(config.portal.enabled && config.outbox.enabled) {
                return None;
            }
            Some(crate::events::report::Target {
                channel: daemon.engine.portal()?,
                timeout: config.portal.timeout,
                agent_id: config.agent.id.clone(),
                retry_max: config.outbox.retry_max,
            })
        };
        let daemon = Rc::downgrade(self);
        let answered = move || {
            if let Some(d) = daemon.upgrade() {
                d.portal_answered("a report");
            }
        };
        self.executor
            .spawn(crate::events::report::run(outbox, target, answered))
            .detach();
    }

    /// Queues the portal's report of an event, when reports are on; whether it was queued.
    pub(super) fn report(&self, event: &SessionEvent, allowed: bool) -> bool {
        let config = self.config();
        if !(config.portal.enabled && config.outbox.enabled) {
            return false;
        }
        let Some(outbox) = self.outbox.borrow().clone() else {
            return false;
        };
        let Some(e) = crate::events::from_session(event, allowed, std::time::SystemTime::now())
        else {
            return false;
        };
        if outbox.push(e) == Pushed::Duplicate {
            log::debug!(
                "outbox: the {} of session {} is already queued or sent{}",
                event.reason.as_str(),
                event.id,
                crate::trace::note(event.trace)
            );
            return false;
        }
        true
    }

    /// The numbers the metrics show.
    fn snapshot(&self) -> crate::metrics::Snapshot {
        let config = self.config();
        crate::metrics::Snapshot {
            version: env!("CARGO_PKG_VERSION"),
            agent_id: config.agent.id.clone(),
            uptime_secs: self.started.elapsed().as_secs(),
            reloads: self.reloads.get(),
            reload_failures: self.reload_failures.get(),
            log_dropped: crate::logger::dropped(),
            decisions: self.engine.counters(),
            sessions: self.engine.sessions() as u32,
            portal: config
                .portal
                .enabled
                .then(|| (self.engine.breaker().stats(), self.engine.cache_stats())),
            outbox: self.outbox.borrow().as_ref().map(|o| o.stats()),
            latencies: self.latencies.borrow().clone(),
        }
    }

    /// Starts the metrics endpoint and the textfile writer the configuration asks for. A port
    /// that cannot be bound is logged, not fatal: metrics are not worth the VPN's authorization.
    pub(super) fn start_metrics(self: &Rc<Self>) {
        let config = self.config();
        let render: Rc<dyn Fn() -> String> = {
            let daemon = Rc::downgrade(self);
            Rc::new(move || {
                daemon
                    .upgrade()
                    .map_or_else(String::new, |d| crate::metrics::render(&d.snapshot()))
            })
        };
        if config.metrics.enabled {
            match crate::metrics::http::Endpoint::bind(config.metrics.listen) {
                Ok(endpoint) => {
                    log::info!(
                        "metrics: serving /metrics on http://{}",
                        endpoint
                            .local_addr()
                            .map_or_else(|| config.metrics.listen.to_string(), |a| a.to_string())
                    );
                    let executor = self.executor;
                    let render = render.clone();
                    executor
                        .spawn(async move { endpoint.serve(executor, render).await })
                        .detach();
                }
                Err(e) => log::error!(
                    "metrics: cannot listen on {}: {e}; no HTTP metrics",
                    config.metrics.listen
                ),
            }
        }
        if let Some(path) = config.metrics.textfile.clone() {
            let daemon = Rc::downgrade(self);
            let interval = move || {
                daemon.upgrade().map_or(Duration::from_secs(15), |d| {
                    d.config().metrics.textfile_interval
                })
            };
            self.executor
                .spawn(crate::metrics::textfile::run(path, interval, move || {
                    render()
                }))
                .detach();
        }
    }
}
