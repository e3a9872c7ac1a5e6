//! Authorization of VPN sessions: the decision input (request.rs), the local rules (policy.rs),
//! the sessions the agent admitted (sessions.rs), the portal's part of a decision (gate.rs)
//! and the decision itself (engine.rs, decision.rs).

pub mod decision;
pub mod engine;
pub mod gate;
pub mod live;
pub mod policy;
pub mod request;
pub mod sessions;

/// Drops cached decisions of a user (`Some`) or of everyone (`None`); returns how many. Handed
/// to whatever ends sessions or is told to forget (DisconnectUser, ValidateSession sweeps, the
/// control stream, `ocserv-agent cache clear`) so that a revoked user's next connect is put to
/// the portal again.
pub type Revoke = std::rc::Rc<dyn Fn(Option<&str>) -> u32>;
