//! The daemon's answer to the hook: a request on the local socket (an event, `status`,
//! `cache clear`) to the engine's decision, logged and reported; the same path for events told
//! over gRPC (NotifyConnect / NotifyDisconnect), and revocation for whatever ends sessions.

use super::Daemon;
use crate::authz::engine::Budget;
use crate::decision::{Decision, Source};
use crate::ipc::messages::{Cleared, Reply, Request};
use crate::ipc::server::{Peer, Service};
use crate::session::{Reason, SessionEvent};
use crate::trace::{self, TraceId};
use std::rc::Rc;
use std::time::Duration;

impl Daemon {
    /// Decides an event within `budget`, logs the decision and reports it to the portal (an
    /// allow comes back from the engine only while its asker still waits).
    async fn event(&self, mut event: SessionEvent, budget: &Budget<'_>) -> Decision {
        // A connect starts a trace (unless its NotifyConnect brought one); the session's later
        // events go on with the trace its connect started.
        let known = (event.reason != Reason::Connect)
            .then(|| self.engine.session_trace(event.id))
            .flatten();
        event.trace = known.or(event.trace).or_else(|| Some(TraceId::random()));
        let event = &event;
        let mut d = self.engine.decide(event, budget).await;
        d.trace = event.trace;
        if self.report(event, d.allow) {
            // The answer waits (within the budget) until the report is in the journal: the
            // disk thread runs its jobs in order, so an empty job behind the append is done
            // when the append is. A daemon killed right after answering then loses no report
            // of an event the hook was answered for.
            // (A full disk queue has the journal rewritten later instead: nothing to wait for.)
            let written = async {
                let _ = crate::offload::run(|| ()).await;
                true
            };
            let late = async {
                async_io::Timer::at(budget.deadline).await;
                false
            };
            if !futures_lite::future::or(written, late).await {
                log::warn!(
                    "outbox: the report of session {} is not in the journal yet; answering anyway{}",
                    event.id,
                    trace::note(event.trace)
                );
            }
        }
        let from = event
            .ip_real
            .map_or_else(|| "an unknown address".to_string(), |ip| ip.to_string());
        if event.reason == Reason::Connect {
            // As the hook prints it: the source says whether the portal, the cache or a fail
            // mode decided.
            log::info!(
                "connect of '{}' (session {}) from {from}: {} ({}): {}{}",
                event.username,
                event.id,
                if d.allow { "allowed" } else { "denied" },
                d.source.as_str(),
                d.reason,
                trace::note(event.trace)
            );
        } else {
            log::debug!(
                "{} of '{}' (session {}): {}{}",
                event.reason.as_str(),
                event.username,
                event.id,
                d.reason,
                trace::note(event.trace)
            );
        }
        d
    }
}

impl Service for Daemon {
    /// The configured uids, and the daemon's own (such a peer could read our memory anyway).
    fn peer_allowed(&self, uid: u32) -> bool {
        uid == self.own_uid || self.config.borrow().agent.allowed_uid.contains(&uid)
    }

    /// The hook's own deadline and a second more: the daemon never gives up on a connection
    /// before the hook does (a slow portal is bounded by portal.timeout < hook_timeout).
    fn deadline(&self) -> Option<Duration> {
        Some(self.config.borrow().agent.hook_timeout + Duration::from_secs(1))
    }

    fn replied(&self, reply: &Reply, took: Duration) {
        if let Reply::Decision(d) = reply {
            self.latencies.borrow_mut().decision(d.source, took);
        }
    }

    async fn handle(&self, request: Request, peer: &Peer<'_>) -> Reply {
        match request {
            Request::Status => Reply::Status(Box::new(self.status())),
            Request::Event(event) => {
                let timeout = self.config.borrow().agent.hook_timeout;
                let waiting = || peer.waiting();
                let budget = Budget::within(timeout, &waiting);
                // Read and checked where it entered (`ipc::messages`); typed from here on.
                Reply::Decision(self.event(*event, &budget).await)
            }
            Request::CacheClear(c) => {
                // The same rule for a user name as DisconnectUser's.
                let checked = match c.username.as_deref() {
                    Some("") => Err(String::from("'' is not a user name")),
                    Some(user) => crate::services::vpn::check_username(user).map_err(|s| s.message),
                    None => Ok(()),
                };
                match checked {
                    Ok(()) => Reply::Cleared(Cleared {
                        dropped: self.engine.revoke(c.username.as_deref()),
                    }),
                    Err(why) => Reply::Error(why),
                }
            }
        }
    }
}

/// The hook's decision path, for events told over gRPC (NotifyConnect / NotifyDisconnect).
pub(super) fn decider(daemon: &Rc<Daemon>) -> crate::services::notify::Decide {
    let daemon = Rc::downgrade(daemon);
    Rc::new(move |event| {
        let daemon = daemon.clone();
        Box::pin(async move {
            match daemon.upgrade() {
                Some(d) => {
                    // The caller's own deadline cancels this future; the engine keeps to the
                    // hook's budget too, so a gRPC-told connect is decided as a hook's would be.
                    let waiting = || true;
                    let budget = Budget::within(d.config().agent.hook_timeout, &waiting);
                    d.event(event, &budget).await
                }
                None => Decision::deny(Source::Local, "the daemon is stopping".into()),
            }
        })
    })
}

/// Revocation of cached decisions, for whatever ends sessions or is told to forget.
pub(super) fn revoker(daemon: &std::rc::Weak<Daemon>) -> crate::authz::Revoke {
    let daemon = daemon.clone();
    Rc::new(move |user| daemon.upgrade().map_or(0, |d| d.engine.revoke(user)))
}
