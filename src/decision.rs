//! What a decision is: allow or deny, where it came from, and why. A bottom-layer type: the
//! engine (`authz`) makes it, the hook's socket (`ipc`) carries it typed, and only the edges
//! (the hook's message, logs, metrics, gRPC replies) turn it into words.

/// Where a decision came from (for the reply, logs, status and metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Local rules decided (or a local refusal: a bad event, a stopping daemon).
    Local,
    /// The portal answered CheckPolicy for this event.
    Portal,
    /// A fresh cached portal decision.
    Cache,
    /// A stale cached portal decision, served because the portal failed (fail mode `stale`).
    Stale,
    /// The portal failed and fail mode `open` admits.
    FailOpen,
    /// The portal failed and fail mode `close` (or `stale` without a cached decision) denies.
    FailClose,
    /// The portal answered a status that refuses (PERMISSION_DENIED, UNAUTHENTICATED, ...):
    /// always a deny, counted apart because it usually means the agent's credentials or the
    /// portal's configuration are wrong.
    Refused,
    /// The decision's time ran out (`agent.hook_timeout` less a margin): a deny.
    Budget,
}

impl Source {
    /// Every source, for [`Source::from_name`] and tests.
    pub const ALL: [Source; 8] = [
        Source::Local,
        Source::Portal,
        Source::Cache,
        Source::Stale,
        Source::FailOpen,
        Source::FailClose,
        Source::Refused,
        Source::Budget,
    ];

    /// The source's name in replies, logs, status and metric labels.
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

    /// The source named `name` (as [`Source::as_str`] writes it); `None` for any other word.
    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// The answer for one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Only `true` admits a connect.
    pub allow: bool,
    /// Which step decided.
    pub source: Source,
    /// Why, in words for ocserv's log and the operator.
    pub reason: String,
    /// The trace the daemon decided under, for the hook's line in ocserv's log (`None` from
    /// the engine; the daemon sets it).
    pub trace: Option<crate::trace::TraceId>,
}

impl Decision {
    /// A deny from `source`.
    pub fn deny(source: Source, reason: String) -> Decision {
        Decision {
            allow: false,
            source,
            reason,
            trace: None,
        }
    }
}
