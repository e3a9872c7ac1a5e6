//! The decision for one ocserv event: local rules → (portal enabled) fresh cache → one portal
//! call per key at a time → circuit breaker → CheckPolicy → the gate (outcome rule, cache,
//! fail mode). Disconnects and host updates are never denied.
//!
//! A connect has a budget ([`Budget`]): `agent.hook_timeout` less a margin, shared by counting
//! the user's sessions, the portal call and ending old sessions for `replace_oldest`. Its
//! effects (ending old sessions, recording the new one; the daemon's report follows) come last
//! and only while the asker still waits: a decision that can no longer be delivered changes
//! nothing and is a deny.
//!
//! Everything here runs on the daemon's one thread; state sits in `RefCell`s that are never
//! borrowed across an `.await`.

use super::gate::{Gate, Outcome};
use super::policy::{self, Local};
use super::sessions::{Session, Sessions};
use crate::config::{Config, Verdict};
use crate::grpc::client::Channel;
use crate::ocserv::conf::ctl_socket;
use crate::ocserv::ctl::Client;
use crate::ocserv::live::{self, Limit};
use crate::portal::auth::{self, Failure};
use crate::resilience::breaker::{Breaker, Transition};
use crate::resilience::cache::CacheKey;
use crate::resilience::cache::KeyTooLong;
use crate::resilience::clock::SystemClock;
use crate::resilience::failmode::FailOpenRefused;
use crate::resilience::singleflight::SingleFlight;
use crate::session::{Reason, SessionEvent};
use async_io::Timer;
use futures_lite::future;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::decision::{Decision, Source};

/// Decision counters (wrapping u32: no 64-bit atomics on MIPS, and none needed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub allowed: u32,
    pub denied: u32,
    pub local: u32,
    pub portal: u32,
    pub cache: u32,
    pub stale: u32,
    pub fail_open: u32,
    pub fail_close: u32,
    pub refused: u32,
    pub budget: u32,
    pub disconnects: u32,
}

/// How long a decision may take, and whether the one who asked still waits for it.
pub struct Budget<'a> {
    /// When the answer is no longer of use.
    pub deadline: Instant,
    /// Whether the asker is still there (the hook's connection is open).
    pub waiting: &'a dyn Fn() -> bool,
}

impl Budget<'_> {
    /// The budget for an asker that waits `timeout` from now: a margin is kept for the reply
    /// to travel and the asker to act on it (a fifth of the time, at most 500 ms).
    pub fn within(timeout: Duration, waiting: &dyn Fn() -> bool) -> Budget<'_> {
        let margin = (timeout / 5).min(Duration::from_millis(500));
        Budget {
            deadline: Instant::now() + (timeout - margin),
            waiting,
        }
    }

    /// Time left, zero when spent.
    pub fn left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Whether an answer can still reach the asker in time.
    pub fn deliverable(&self) -> bool {
        !self.left().is_zero() && (self.waiting)()
    }
}

/// The engine and everything it remembers between events.
pub struct Engine {
    config: RefCell<Rc<Config>>,
    portal: RefCell<Option<Rc<Channel>>>,
    gate: RefCell<Gate>,
    flights: SingleFlight<Vec<u8>, Outcome>,
    breaker: Breaker<SystemClock>,
    sessions: RefCell<Sessions>,
    counters: Cell<Counters>,
}

/// The longest a connect waits for ocserv's session count (less when the budget is shorter).
const CTL_TIMEOUT: Duration = Duration::from_secs(2);

/// Most sessions remembered (a router serves far fewer; this only bounds a leak).
const MAX_SESSIONS: usize = 16 * 1024;

static REFUSALS: crate::log_limit::Limit = crate::log_limit::Limit::per_minute();

impl Engine {
    /// An engine for `config`, asking the portal through `portal` when there is one.
    pub fn new(config: Rc<Config>, portal: Option<Channel>) -> Result<Engine, FailOpenRefused> {
        let gate = Gate::new(&config.resilience)?;
        let breaker = Breaker::new(config.resilience.breaker(), SystemClock);
        breaker.set_on_change(|t: Transition| {
            log::warn!(
                "portal circuit breaker: {} -> {}",
                t.from.as_str(),
                t.to.as_str()
            )
        });
        Ok(Engine {
            gate: RefCell::new(gate),
            config: RefCell::new(config),
            portal: RefCell::new(portal.map(Rc::new)),
            flights: SingleFlight::new(),
            breaker,
            sessions: RefCell::new(Sessions::new(MAX_SESSIONS)),
            counters: Cell::new(Counters::default()),
        })
    }

    /// Takes a reloaded configuration (and a new portal channel when the portal settings
    /// changed; `None` keeps the current one). New TTLs and capacity apply to cached decisions
    /// at once; all of them are dropped when the portal moved.
    pub fn update(
        &self,
        config: Rc<Config>,
        portal: Option<Option<Channel>>,
    ) -> Result<(), FailOpenRefused> {
        self.gate.borrow_mut().reconfigure(&config.resilience)?;
        self.breaker.update_settings(config.resilience.breaker());
        if let Some(channel) = portal {
            *self.portal.borrow_mut() = channel.map(Rc::new);
            self.gate.borrow_mut().revoke(None);
        }
        *self.config.borrow_mut() = config;
        Ok(())
    }

    /// Drops the cached decisions of `username` (every key, stale copies too), or all of them
    /// with `None`, so the next connect asks the portal; returns how many were dropped.
    pub fn revoke(&self, username: Option<&str>) -> u32 {
        let n = self.gate.borrow_mut().revoke(username);
        match username {
            Some(user) => log::info!("cache: dropped {n} decision(s) of '{user}'"),
            None => log::info!("cache: dropped all {n} decision(s)"),
        }
        n
    }

    /// Drops expired decisions, a bounded number of slots per call (the daemon's timer).
    pub fn sweep_cache(&self, max_slots: u32) -> u32 {
        self.gate.borrow_mut().sweep(Instant::now(), max_slots)
    }

    /// Decides one event within `budget`.
    pub async fn decide(&self, event: &SessionEvent, budget: &Budget<'_>) -> Decision {
        let decision = match event.reason {
            Reason::Connect => self.connect(event, budget).await,
            Reason::Disconnect => {
                let known = self.sessions.borrow_mut().end(event.id).is_some();
                self.bump(|c| c.disconnects = c.disconnects.wrapping_add(1));
                return Decision {
                    allow: true,
                    source: Source::Local,
                    reason: if known {
                        "session ended".into()
                    } else {
                        "session ended (not one the agent admitted)".into()
                    },
                    trace: None,
                };
            }
            Reason::HostUpdate => {
                return Decision {
                    allow: true,
                    source: Source::Local,
                    reason: "host update noted".into(),
                    trace: None,
                }
            }
        };
        self.bump(|c| {
            if decision.allow {
                c.allowed = c.allowed.wrapping_add(1);
            } else {
                c.denied = c.denied.wrapping_add(1);
            }
            let n = match decision.source {
                Source::Local => &mut c.local,
                Source::Portal => &mut c.portal,
                Source::Cache => &mut c.cache,
                Source::Stale => &mut c.stale,
                Source::FailOpen => &mut c.fail_open,
                Source::FailClose => &mut c.fail_close,
                Source::Refused => &mut c.refused,
                Source::Budget => &mut c.budget,
            };
            *n = n.wrapping_add(1);
        });
        if decision.allow {
            self.sessions.borrow_mut().admit(Session {
                id: event.id,
                username: event.username.clone(),
                groupname: event.groupname.clone(),
                ip_real: event.ip_real,
                vpn_ip: event.ip_remote.or(event.ipv6_remote.map(Into::into)),
                device: event.device.clone(),
                since: Instant::now(),
                trace: event.trace,
            });
        }
        decision
    }

    /// A connect: the decision first, then its effects, only if it can still be delivered.
    async fn connect(&self, event: &SessionEvent, budget: &Budget<'_>) -> Decision {
        let config = self.config.borrow().clone();
        let local = policy::evaluate(&config.policy, event);
        let mut replace = Vec::new();
        match &local {
            Local::Denied { rule } => {
                return Decision::deny(Source::Local, format!("denied by {rule}"))
            }
            Local::Allowed {
                rule,
                max_sessions: Some(max),
                replace_oldest,
            } => {
                let client =
                    Client::new(ctl_socket(&config.ocserv), CTL_TIMEOUT.min(budget.left()));
                let own = || self.sessions.borrow().count_user(&event.username);
                let plan = live::plan(
                    &client,
                    &event.username,
                    event.id,
                    own,
                    rule,
                    *max,
                    *replace_oldest,
                );
                match within(budget, plan).await {
                    None => return undeliverable(budget, "nothing was changed"),
                    Some(Limit::Room) => {}
                    Some(Limit::Full(reason)) => return Decision::deny(Source::Local, reason),
                    Some(Limit::Replace(ids)) => replace = ids,
                }
            }
            _ => {}
        }
        let portal = self.portal.borrow().clone();
        let decision = match portal {
            Some(portal) => self.ask_portal(&portal, event, &config, budget).await,
            None => match &local {
                Local::Allowed { rule, .. } => Decision {
                    allow: true,
                    source: Source::Local,
                    reason: format!("allowed by {rule}"),
                    trace: None,
                },
                Local::NoMatch {
                    default: Verdict::Allow,
                } => Decision {
                    allow: true,
                    source: Source::Local,
                    reason: "allowed by policy.default".into(),
                    trace: None,
                },
                _ => Decision::deny(Source::Local, "denied by policy.default".into()),
            },
        };
        if !decision.allow {
            return decision;
        }
        if !budget.deliverable() {
            return undeliverable(budget, "nothing was changed");
        }
        if !replace.is_empty() {
            if let Some(why) = self.replace_oldest(&config, event, &replace, budget).await {
                return Decision::deny(Source::Local, why);
            }
            if !budget.deliverable() {
                return undeliverable(
                    budget,
                    "the user's oldest session(s) were ended already; the new one is not admitted",
                );
            }
        }
        decision
    }

    /// Ends `ids` (the user's oldest sessions) for the connect being admitted; the reason to
    /// deny instead when one cannot be ended, or the asker left or the time ran out.
    async fn replace_oldest(
        &self,
        config: &Config,
        event: &SessionEvent,
        ids: &[i32],
        budget: &Budget<'_>,
    ) -> Option<String> {
        for &id in ids {
            if !budget.deliverable() {
                return Some(format!(
                    "replace_oldest: no time left to end session {id}; nothing more was ended"
                ));
            }
            let client = Client::new(ctl_socket(&config.ocserv), budget.left());
            match within(budget, live::end(&client, id)).await {
                Some(Ok(true)) => log::info!(
                    "replace_oldest: ended session {id} of '{}' for the new one{}",
                    event.username,
                    crate::trace::note(event.trace)
                ),
                Some(Ok(false)) => return Some(format!("could not end the oldest session {id}")),
                Some(Err(e)) => return Some(format!("could not end the oldest session {id}: {e}")),
                None => {
                    return Some(format!(
                        "replace_oldest: ending session {id} ran out of time"
                    ))
                }
            }
        }
        None
    }

    async fn ask_portal(
        &self,
        portal: &Channel,
        event: &SessionEvent,
        config: &Config,
        budget: &Budget<'_>,
    ) -> Decision {
        let key = match cache_key(event) {
            Ok(key) => key,
            Err(e) => return Decision::deny(Source::Local, format!("cannot ask the portal: {e}")),
        };
        if let Some(d) = self.gate.borrow_mut().cached(&key, Instant::now()) {
            log::debug!(
                "cache: hit for '{}'{}",
                event.username,
                crate::trace::note(event.trace)
            );
            return d;
        }
        log::debug!(
            "cache: miss for '{}'{}",
            event.username,
            crate::trace::note(event.trace)
        );
        let configured = config.portal.timeout;
        let flight = self.flights.run(key.as_bytes().to_vec(), || async {
            let epoch = self.gate.borrow().epoch();
            let timeout = configured.min(budget.left());
            let outcome = match self.breaker.allow() {
                // No call made: says nothing new about the portal.
                Err(rejected) => Err(Failure::BreakerOpen(rejected.to_string())),
                Ok(permit) => {
                    let outcome = auth::check_policy(portal, event, timeout).await;
                    match &outcome {
                        Ok(_) | Err(Failure::Refused(_)) => permit.success(),
                        // A deadline we shortened to fit the budget says little of the portal.
                        Err(Failure::Broken(s))
                            if timeout < configured
                                && s.code == crate::grpc::Code::DeadlineExceeded =>
                        {
                            permit.ignore()
                        }
                        Err(Failure::Broken(_)) => permit.failure(),
                        Err(Failure::BreakerOpen(_)) => permit.ignore(),
                    }
                    outcome
                }
            };
            self.gate.borrow_mut().record(
                &key,
                &event.username,
                event.trace,
                &outcome,
                epoch,
                Instant::now(),
            );
            outcome
        });
        let Some((outcome, _role)) = within(budget, flight).await else {
            return Decision::deny(
                Source::Budget,
                "the portal did not answer within agent.hook_timeout (less its margin)".into(),
            );
        };
        let decision = self
            .gate
            .borrow_mut()
            .decide(&key, &outcome, Instant::now());
        match &outcome {
            Ok(_) => {}
            Err(Failure::Refused(status)) => crate::log_limit::error(
                &REFUSALS,
                format_args!(
                    "portal refused CheckPolicy with {status}: users are denied; check the agent's certificate and the portal's configuration{}",
                    crate::trace::note(event.trace)
                ),
            ),
            Err(failure) => log::info!(
                "portal failed ({}); '{}' {} by {}{}",
                failure.describe(),
                event.username,
                if decision.allow { "allowed" } else { "denied" },
                decision.source.as_str(),
                crate::trace::note(event.trace)
            ),
        }
        decision
    }

    /// The trace of a session the agent admitted, if it still knows it.
    pub fn session_trace(&self, id: u32) -> Option<crate::trace::TraceId> {
        self.sessions.borrow().trace(id)
    }

    /// The channel to the portal, if one is configured (the outbox reports on it too).
    pub fn portal(&self) -> Option<Rc<Channel>> {
        self.portal.borrow().clone()
    }

    pub fn counters(&self) -> Counters {
        self.counters.get()
    }

    pub fn breaker(&self) -> &Breaker<SystemClock> {
        &self.breaker
    }

    pub fn cache_stats(&self) -> crate::resilience::cache::Stats {
        self.gate.borrow().cache_stats()
    }

    pub fn sessions(&self) -> usize {
        self.sessions.borrow().len()
    }

    fn bump(&self, f: impl FnOnce(&mut Counters)) {
        let mut c = self.counters.get();
        f(&mut c);
        self.counters.set(c);
    }
}

/// The deny for an allow that can no longer be delivered; `changed` says what was done.
fn undeliverable(budget: &Budget<'_>, changed: &str) -> Decision {
    let why = if (budget.waiting)() {
        "no decision within agent.hook_timeout (less its margin)"
    } else {
        "the hook stopped waiting"
    };
    Decision::deny(Source::Budget, format!("{why}; {changed}"))
}

/// `work`'s output, or `None` when the budget's deadline comes first (`work` is then dropped).
async fn within<T>(budget: &Budget<'_>, work: impl std::future::Future<Output = T>) -> Option<T> {
    future::or(async { Some(work.await) }, async {
        Timer::at(budget.deadline).await;
        None
    })
    .await
}

/// What a decision depends on: user, group and the client's address.
fn cache_key(event: &SessionEvent) -> Result<CacheKey, KeyTooLong> {
    let mut key = CacheKey::new(event.username.as_bytes())?;
    key.push(event.groupname.as_bytes())?;
    let ip = event.ip_real.map(|i| i.to_string()).unwrap_or_default();
    key.push(ip.as_bytes())?;
    Ok(key)
}

#[cfg(test)]
#[path = "engine_tests.rs"]
mod tests;
