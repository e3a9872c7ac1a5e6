//! Authorization of VPN sessions, from a [`crate::session::SessionEvent`] to a decision: the
//! local rules (policy.rs), the sessions the agent admitted (sessions.rs), the portal's part of
//! a decision behind the cache, coalescing and breaker (gate.rs), and the decision with its
//! budget and effects (engine.rs). Counting a user's sessions in ocserv is
//! [`crate::ocserv::live`]; the [`crate::decision::Decision`] it returns is a bottom-layer type,
//! because it crosses the hook's socket.

pub mod engine;
pub mod gate;
pub mod policy;
pub mod sessions;

/// Drops cached decisions of a user (`Some`) or of everyone (`None`); returns how many. Handed
/// to whatever ends sessions or is told to forget (DisconnectUser, ValidateSession sweeps, the
/// control stream, `ocserv-agent cache clear`) so that a revoked user's next connect is put to
/// the portal again.
pub type Revoke = std::rc::Rc<dyn Fn(Option<&str>) -> u32>;
