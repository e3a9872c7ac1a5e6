//! What a decision is: allow or deny, where it came from, and why.

/// Where a decision came from (for the reply, logs, status and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Local,
    Portal,
    Cache,
    Stale,
    FailOpen,
    FailClose,
    /// The portal answered a status that refuses (PERMISSION_DENIED, UNAUTHENTICATED, ...):
    /// always a deny, counted apart because it usually means the agent's credentials or the
    /// portal's configuration are wrong.
    Refused,
    /// The decision's time ran out (`agent.hook_timeout` less a margin): a deny.
    Budget,
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
            Source::Refused => "portal-refused",
            Source::Budget => "budget",
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

impl Decision {
    /// A deny from `source`.
    pub fn deny(source: Source, reason: String) -> Decision {
        Decision {
            allow: false,
            source,
            reason,
        }
    }
}
