//! The daemon's state as `ocserv-agent status` shows it.

use super::Daemon;
use crate::authz::engine::Engine;
use crate::config::keyword_str;
use crate::ipc::messages::StatusReply;

impl Daemon {
    /// Everything `status` prints, taken now.
    pub(super) fn status(&self) -> StatusReply {
        let config = self.config();
        StatusReply {
            version: env!("CARGO_PKG_VERSION").to_string(),
            pid: std::process::id(),
            uptime_secs: self.started.elapsed().as_secs(),
            config_path: self.config_path.display().to_string(),
            config_age_secs: self.loaded.get().elapsed().as_secs(),
            reloads: self.reloads.get(),
            reload_failures: self.reload_failures.get(),
            last_reload_error: self.last_reload_error.borrow().clone(),
            agent_id: config.agent.id.clone(),
            log_level: keyword_str(config.agent.log_level).to_string(),
            portal_enabled: config.portal.enabled,
            fail_mode: keyword_str(config.resilience.fail_mode).to_string(),
            policy_default: keyword_str(config.policy.default).to_string(),
            policy_rules: config.policy.rules.len() as u32,
            breaker_state: self.engine.breaker().state().as_str().to_string(),
            decisions: decision_counts(&self.engine),
            cache_entries: self.engine.cache_stats().size,
            sessions: self.engine.sessions() as u32,
            breaker: {
                let b = self.engine.breaker().stats();
                format!(
                    "calls={} successes={} failures={} ignored={} rejected={} trips={}",
                    b.requests, b.successes, b.failures, b.ignored, b.rejections, b.trips
                )
            },
            cache: {
                let c = self.engine.cache_stats();
                format!(
                    "hits={} misses={} stale-hits={} evictions={} capacity={}",
                    c.hits, c.misses, c.stale_hits, c.evictions, c.capacity
                )
            },
            outbox_depth: self.outbox.borrow().as_ref().map_or(0, |o| o.stats().depth),
            outbox: self
                .outbox
                .borrow()
                .as_ref()
                .map_or_else(String::new, |o| outbox_counts(&o.stats())),
        }
    }
}

/// The engine's counters as `status` lists them: `name=count` pairs.
fn decision_counts(engine: &Engine) -> String {
    let c = engine.counters();
    format!(
        "allowed={} denied={} local={} portal={} cache={} stale={} fail-open={} fail-close={} portal-refused={} budget={} disconnects={}",
        c.allowed, c.denied, c.local, c.portal, c.cache, c.stale, c.fail_open, c.fail_close, c.refused, c.budget, c.disconnects
    )
}

/// The outbox's counters as `status` lists them.
fn outbox_counts(s: &crate::events::outbox::Stats) -> String {
    format!(
        "delivered={} refused={} dropped={} duplicates={} retries={} journal-errors={}",
        s.delivered, s.refused, s.dropped, s.duplicates, s.retries, s.journal_errors
    )
}
