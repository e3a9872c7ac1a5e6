//! The portal's part of a connect decision, with time passed in: the decision cache, the one
//! rule for portal outcomes, the fail mode, and revocation. The engine makes the call (through
//! the breaker and request coalescing) and hands the outcome here; keeping this free of I/O and
//! of the clock is what lets `gate_model_tests.rs` drive it through random histories.
//!
//! The rule (README, "How a connect is decided"):
//! - a reply that decodes decides: `allowed: true` admits, anything else denies (and is cached
//!   for `cache_deny_ttl`); `should_disconnect` also revokes every cached decision of the user;
//! - a refusal status (anything but the five failure codes) denies and forgets the key's
//!   cached decision: never stale, never open;
//! - only a broken portal (or an open breaker) goes to the fail mode: `open`, `close`, or
//!   `stale` (the last portal decision for the key within `cache_stale_ttl`, else deny).
//!
//! A revocation (DisconnectUser, a sweep that ends a session, `should_disconnect`, the control
//! stream, `ocserv-agent cache clear`) drops the user's decisions, stale copies included, and
//! an answer to a call that began before a revocation is used for that one connect but never
//! cached, so it cannot outlive the revocation.

use crate::config::Resilience;
use crate::decision::{Decision, Source};
use crate::portal::auth::{Answer, Failure};
use crate::resilience::cache::{CacheKey, DecisionCache, Kind, Stats};
use crate::resilience::failmode::{FailOpenRefused, FailPolicy, Fallback};
use crate::trace::TraceId;
use std::time::Instant;

/// A portal call's result, as [`Gate::record`] and [`Gate::decide`] take it.
pub type Outcome = Result<Answer, Failure>;

/// See the module docs.
pub struct Gate {
    cache: DecisionCache<Answer>,
    fail: FailPolicy,
    /// Counts revocations; a call remembers the count it began under.
    epoch: u32,
}

impl Gate {
    /// A gate for `settings`; refused when they ask for fail-open in production without consent.
    pub fn new(settings: &Resilience) -> Result<Gate, FailOpenRefused> {
        Ok(Gate {
            fail: FailPolicy::new(settings.fail())?,
            cache: DecisionCache::new(settings.cache()),
            epoch: 0,
        })
    }

    /// Reloaded settings: the fail mode, and TTLs and capacity that apply to what is cached
    /// already. A refused fail mode changes nothing.
    pub fn reconfigure(&mut self, settings: &Resilience) -> Result<(), FailOpenRefused> {
        self.fail.update(settings.fail())?;
        let c = settings.cache();
        self.cache.update_ttls(c.allow_ttl, c.deny_ttl, c.stale_ttl);
        self.cache.resize(c.capacity);
        Ok(())
    }

    /// A fresh cached decision for `key`, if there is one.
    pub fn cached(&mut self, key: &CacheKey, now: Instant) -> Option<Decision> {
        self.cache
            .get(key, now)
            .map(|answer| from_answer(answer, Source::Cache))
    }

    /// The revocation count, to pass to [`Gate::record`] for a call that begins now.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// What a call's outcome does to the cache; once per call (the coalesced waiters share it).
    /// `trace`: the call's, for the debug lines.
    pub fn record(
        &mut self,
        key: &CacheKey,
        username: &str,
        trace: Option<TraceId>,
        outcome: &Outcome,
        epoch: u32,
        now: Instant,
    ) {
        let trace = crate::trace::note(trace);
        match outcome {
            Ok(answer) => {
                if answer.revoke {
                    self.revoke(Some(username));
                }
                if epoch != self.epoch {
                    // Revoked while the call was out: this answer is not to outlive that.
                    self.cache.invalidate(key);
                    log::debug!("cache: not storing '{username}' (revoked during the call){trace}");
                    return;
                }
                let kind = if answer.allowed {
                    Kind::Allow
                } else {
                    Kind::Deny
                };
                log::debug!(
                    "cache: stored the portal's {} for '{username}'{trace}",
                    if answer.allowed { "allow" } else { "deny" }
                );
                self.cache
                    .insert(key, answer.clone(), kind, answer.ttl_cap, now);
            }
            // The portal's latest word on the key is no: nothing earlier may be served stale.
            Err(Failure::Refused(_)) => {
                if self.cache.invalidate(key) {
                    log::debug!("cache: dropped '{username}' (the portal refused the call){trace}");
                }
            }
            Err(Failure::Broken(_) | Failure::BreakerOpen(_)) => {}
        }
    }

    /// The decision a call's outcome gives for `key`.
    pub fn decide(&mut self, key: &CacheKey, outcome: &Outcome, now: Instant) -> Decision {
        match outcome {
            Ok(answer) => from_answer(answer, Source::Portal),
            Err(Failure::Refused(status)) => Decision::deny(
                Source::Refused,
                format!("denied: the portal refused the call ({status})"),
            ),
            Err(failure @ (Failure::Broken(_) | Failure::BreakerOpen(_))) => {
                let why = failure.describe();
                let cache = &mut self.cache;
                match self.fail.decide(|| cache.get_stale(key, now)) {
                    Fallback::Allow => Decision {
                        allow: true,
                        source: Source::FailOpen,
                        reason: format!("allowed by fail_mode open: portal failed ({why})"),
                        trace: None,
                    },
                    Fallback::Deny(text) => {
                        Decision::deny(Source::FailClose, format!("{text}: portal failed ({why})"))
                    }
                    Fallback::Stale(answer) => {
                        let mut d = from_answer(answer, Source::Stale);
                        d.reason = format!("{} (stale: portal failed, {why})", d.reason);
                        d
                    }
                }
            }
        }
    }

    /// Drops every cached decision of `username` (all of its keys, stale copies too), or of
    /// everyone with `None`; returns how many.
    pub fn revoke(&mut self, username: Option<&str>) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        match username {
            Some(user) => self.cache.invalidate_user(user.as_bytes()),
            None => {
                let n = self.cache.len();
                self.cache.clear();
                n
            }
        }
    }

    /// Drops dead entries, looking at no more than `max_slots`.
    pub fn sweep(&mut self, now: Instant, max_slots: u32) -> u32 {
        let n = self.cache.sweep_some(now, max_slots);
        if n > 0 {
            log::debug!("cache: {n} decision(s) past their stale time dropped");
        }
        n
    }

    pub fn cache_stats(&self) -> Stats {
        self.cache.stats()
    }
}

fn from_answer(answer: &Answer, source: Source) -> Decision {
    Decision {
        allow: answer.allowed,
        source,
        reason: if answer.allowed {
            "allowed by the portal".into()
        } else if answer.reason.is_empty() {
            "denied by the portal".into()
        } else {
            format!("denied by the portal: {}", answer.reason)
        },
        trace: None,
    }
}

#[cfg(test)]
#[path = "gate_model_tests.rs"]
mod model_tests;
