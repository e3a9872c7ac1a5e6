//! The decision for one ocserv event: local rules → (portal enabled) fresh cache → one portal
//! call per key at a time → circuit breaker → CheckPolicy → cache; on portal failure the fail
//! mode (open / close / stale). Disconnects and host updates are never denied.
//!
//! Everything here runs on the daemon's one thread; state sits in `RefCell`s that are never
//! borrowed across an `.await`.

use super::live;
use super::policy::{self, Local};
use super::request::{Reason, SessionEvent};
use super::sessions::{Session, Sessions};
use crate::config::{Config, Verdict};
use crate::grpc::client::Channel;
use crate::grpc::status::{Code, Status};
use crate::ocserv::conf::ctl_socket;
use crate::ocserv::ctl::Client;
use crate::portal::auth::{self, Answer, Failure};
use crate::resilience::breaker::{Breaker, Transition};
use crate::resilience::cache::{CacheKey, DecisionCache, Kind};
use crate::resilience::clock::SystemClock;
use crate::resilience::failmode::{FailPolicy, Fallback};
use crate::resilience::singleflight::SingleFlight;
use crate::resilience::{breaker_settings, cache_settings};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

/// Where a decision came from (for the reply, logs, status and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Local,
    Portal,
    Cache,
    Stale,
    FailOpen,
    FailClose,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Local => "local",
            Source::Portal => "portal",
            Source::Cache => "cache",
            Source::Stale => "stale",
            Source::FailOpen => "fail-open",
            Source::FailClose => "fail-close",
        }
    }
}

/// The answer for one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    pub source: Source,
    /// Why, in words for ocserv's log and the operator.
    pub reason: String,
}

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
    pub disconnects: u32,
}

/// The engine and everything it remembers between events.
pub struct Engine {
    config: RefCell<Rc<Config>>,
    portal: RefCell<Option<Rc<Channel>>>,
    cache: RefCell<DecisionCache<Answer>>,
    flights: SingleFlight<Vec<u8>, Result<Answer, Failure>>,
    breaker: Breaker<SystemClock>,
    fail: RefCell<FailPolicy>,
    sessions: RefCell<Sessions>,
    counters: Cell<Counters>,
}

/// How long a connect may wait for ocserv's session count (well inside the hook's deadline).
const CTL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Most sessions remembered (a router serves far fewer; this only bounds a leak).
const MAX_SESSIONS: usize = 16 * 1024;

impl Engine {
    /// An engine for `config`, asking the portal through `portal` when there is one.
    pub fn new(config: Rc<Config>, portal: Option<Channel>) -> Result<Engine, String> {
        let fail = FailPolicy::new(&config.resilience).map_err(|e| e.to_string())?;
        let breaker = Breaker::new(breaker_settings(&config.resilience), SystemClock);
        breaker.set_on_change(|t: Transition| {
            log::warn!(
                "portal circuit breaker: {} -> {}",
                t.from.as_str(),
                t.to.as_str()
            )
        });
        Ok(Engine {
            cache: RefCell::new(DecisionCache::new(cache_settings(&config.resilience))),
            config: RefCell::new(config),
            portal: RefCell::new(portal.map(Rc::new)),
            flights: SingleFlight::new(),
            breaker,
            fail: RefCell::new(fail),
            sessions: RefCell::new(Sessions::new(MAX_SESSIONS)),
            counters: Cell::new(Counters::default()),
        })
    }

    /// Takes a reloaded configuration (and a new portal channel when the portal settings
    /// changed; `None` keeps the current one). Cached decisions stay unless the portal moved.
    pub fn update(
        &self,
        config: Rc<Config>,
        portal: Option<Option<Channel>>,
    ) -> Result<(), String> {
        self.fail
            .borrow_mut()
            .update(&config.resilience)
            .map_err(|e| e.to_string())?;
        self.breaker
            .update_settings(breaker_settings(&config.resilience));
        let c = cache_settings(&config.resilience);
        self.cache
            .borrow_mut()
            .update_ttls(c.allow_ttl, c.deny_ttl, c.stale_ttl);
        if let Some(channel) = portal {
            *self.portal.borrow_mut() = channel.map(Rc::new);
            self.cache.borrow_mut().clear();
        }
        *self.config.borrow_mut() = config;
        Ok(())
    }

    /// Decides one event.
    pub async fn decide(&self, event: &SessionEvent) -> Decision {
        let decision = match event.reason {
            Reason::Connect => self.connect(event).await,
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
                };
            }
            Reason::HostUpdate => {
                return Decision {
                    allow: true,
                    source: Source::Local,
                    reason: "host update noted".into(),
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
            });
        }
        decision
    }

    async fn connect(&self, event: &SessionEvent) -> Decision {
        let config = self.config.borrow().clone();
        let local = policy::evaluate(&config.policy, event);
        let deny = |source, reason: String| Decision {
            allow: false,
            source,
            reason,
        };
        match &local {
            Local::Denied { rule } => return deny(Source::Local, format!("denied by {rule}")),
            Local::Allowed {
                rule,
                max_sessions: Some(max),
                replace_oldest,
            } => {
                if let Some(reason) = self
                    .enforce_max_sessions(&config, event, rule, *max, *replace_oldest)
                    .await
                {
                    return deny(Source::Local, reason);
                }
            }
            _ => {}
        }
        let portal = self.portal.borrow().clone();
        let Some(portal) = portal else {
            return match local {
                Local::Allowed { rule, .. } => Decision {
                    allow: true,
                    source: Source::Local,
                    reason: format!("allowed by {rule}"),
                },
                Local::NoMatch {
                    default: Verdict::Allow,
                } => Decision {
                    allow: true,
                    source: Source::Local,
                    reason: "allowed by policy.default".into(),
                },
                _ => deny(Source::Local, "denied by policy.default".into()),
            };
        };
        self.ask_portal(&portal, event, &config).await
    }

    /// `max_sessions` for a rule that admits `event`: counts the user's other sessions in ocserv
    /// (the agent's own table if the control socket does not answer) and, at the limit, either
    /// refuses (the reason is returned) or with `replace_oldest` ends the oldest ones.
    async fn enforce_max_sessions(
        &self,
        config: &Config,
        event: &SessionEvent,
        rule: &str,
        max: u32,
        replace_oldest: bool,
    ) -> Option<String> {
        let client = Client::new(ctl_socket(&config.ocserv), CTL_TIMEOUT);
        let others = match live::others(&client, &event.username, event.id).await {
            Ok(others) => others,
            Err(e) => {
                let n = self.sessions.borrow().count_user(&event.username);
                log::debug!("max_sessions from the agent's own table ({n}): ocserv: {e}");
                return (n >= max).then(|| {
                    let mut why = format!("user has {n} session(s); {rule} allows {max}");
                    if replace_oldest {
                        why += &format!(" (cannot replace the oldest: {e})");
                    }
                    why
                });
            }
        };
        if others.len() < max as usize {
            return None;
        }
        if !replace_oldest {
            return Some(format!(
                "user has {} session(s) in ocserv; {rule} allows {max}",
                others.len()
            ));
        }
        let excess = others.len() + 1 - max as usize;
        for old in &others[..excess] {
            match live::end(&client, old.id).await {
                Ok(true) => log::info!(
                    "replace_oldest: ended session {} of '{}' for the new one ({rule} allows {max})",
                    old.id,
                    event.username
                ),
                Ok(false) => {
                    return Some(format!(
                        "could not end the oldest session {} ({rule} allows {max})",
                        old.id
                    ))
                }
                Err(e) => {
                    return Some(format!(
                        "could not end the oldest session {}: {e} ({rule} allows {max})",
                        old.id
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
    ) -> Decision {
        let key = match cache_key(event) {
            Ok(key) => key,
            Err(e) => {
                return Decision {
                    allow: false,
                    source: Source::Local,
                    reason: format!("cannot ask the portal: {e}"),
                }
            }
        };
        if let Some(answer) = self.cache.borrow_mut().get(&key, Instant::now()) {
            return from_answer(answer, Source::Cache);
        }
        let timeout = config.portal.timeout;
        let (result, _role) = self
            .flights
            .run(key.as_bytes().to_vec(), || async {
                let permit = match self.breaker.allow() {
                    Ok(permit) => permit,
                    Err(rejected) => {
                        // No call made: says nothing new about the portal.
                        return Err(Failure::Other(Status::new(
                            Code::Unavailable,
                            rejected.to_string(),
                        )));
                    }
                };
                let result = auth::check_policy(portal, event, timeout).await;
                match &result {
                    Ok(answer) => {
                        permit.success();
                        let kind = if answer.allowed {
                            Kind::Allow
                        } else {
                            Kind::Deny
                        };
                        self.cache.borrow_mut().insert(
                            &key,
                            answer.clone(),
                            kind,
                            answer.ttl_cap,
                            Instant::now(),
                        );
                    }
                    Err(Failure::Portal(_)) => permit.failure(),
                    Err(Failure::Other(_)) => permit.ignore(),
                }
                result
            })
            .await;
        match result {
            Ok(answer) => from_answer(&answer, Source::Portal),
            Err(failure) => self.fall_back(&key, failure),
        }
    }

    fn fall_back(&self, key: &CacheKey, failure: Failure) -> Decision {
        let why = failure.status().to_string();
        let fail = self.fail.borrow();
        let mut cache = self.cache.borrow_mut();
        let decision = match fail.decide(|| cache.get_stale(key, Instant::now())) {
            Fallback::Allow => Decision {
                allow: true,
                source: Source::FailOpen,
                reason: format!("allowed by fail_mode open: portal failed ({why})"),
            },
            Fallback::Deny(text) => Decision {
                allow: false,
                source: Source::FailClose,
                reason: format!("{text}: portal failed ({why})"),
            },
            Fallback::Stale(answer) => {
                let mut d = from_answer(answer, Source::Stale);
                d.reason = format!("{} (stale: portal failed, {why})", d.reason);
                d
            }
        };
        log::info!(
            "portal failed ({why}); {} by {}",
            if decision.allow { "allowed" } else { "denied" },
            decision.source.as_str()
        );
        decision
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
        self.cache.borrow().stats()
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

/// What a decision depends on: user, group and the client's address.
fn cache_key(event: &SessionEvent) -> Result<CacheKey, String> {
    let mut key = CacheKey::new(event.username.as_bytes()).map_err(|e| e.to_string())?;
    key.push(event.groupname.as_bytes())
        .map_err(|e| e.to_string())?;
    let ip = event.ip_real.map(|i| i.to_string()).unwrap_or_default();
    key.push(ip.as_bytes()).map_err(|e| e.to_string())?;
    Ok(key)
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn engine(text: &str) -> Engine {
        Engine::new(Rc::new(parse(text.as_bytes()).unwrap()), None).unwrap()
    }

    fn connect(id: u32, user: &str) -> SessionEvent {
        let mut e = SessionEvent::for_test(Reason::Connect, id, user);
        e.ip_real = "192.0.2.1".parse().ok();
        e
    }

    #[test]
    fn without_a_portal_local_policy_decides_and_is_counted() {
        let e = engine(
            "config policy 'local'\n option default deny\nconfig rule\n option action allow\n list user 'alice'\n option max_sessions 2\n",
        );
        async_io::block_on(async {
            for id in [1, 2] {
                let d = e.decide(&connect(id, "alice")).await;
                assert!(d.allow, "{d:?}");
                assert_eq!(d.source, Source::Local);
                assert_eq!(d.reason, "allowed by the rule at line 3");
            }
            let d = e.decide(&connect(3, "alice")).await;
            assert!(!d.allow);
            assert_eq!(
                d.reason,
                "user has 2 session(s); the rule at line 3 allows 2"
            );
            let d = e.decide(&connect(4, "bob")).await;
            assert_eq!(
                (d.allow, d.reason.as_str()),
                (false, "denied by policy.default")
            );
            let bye = SessionEvent::for_test(Reason::Disconnect, 1, "alice");
            assert!(e.decide(&bye).await.allow);
            assert!(e.decide(&connect(5, "alice")).await.allow);
            let c = e.counters();
            assert_eq!((c.allowed, c.denied, c.local, c.disconnects), (3, 2, 5, 1));
            assert_eq!(e.sessions(), 2);
        });
    }

    #[test]
    fn disconnects_and_host_updates_are_never_denied() {
        let e = engine("config policy 'local'\n option default deny\n");
        async_io::block_on(async {
            for reason in [Reason::Disconnect, Reason::HostUpdate] {
                let d = e.decide(&SessionEvent::for_test(reason, 9, "nobody")).await;
                assert!(d.allow, "{reason:?}");
            }
            assert_eq!(e.counters().denied, 0);
        });
    }

    #[test]
    fn a_reload_can_refuse_fail_open_in_production() {
        let e = engine("");
        let bad = parse(b"config resilience 'resilience'\n option fail_mode open\n option environment development\n")
            .unwrap();
        assert!(e.update(Rc::new(bad), None).is_ok());
        let mut refused = parse(b"").unwrap();
        refused.resilience.fail_mode = crate::config::FailMode::Open;
        refused.resilience.environment = crate::config::Environment::Production;
        assert!(e.update(Rc::new(refused), None).is_err());
    }
}
