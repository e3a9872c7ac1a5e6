//! Authorization of VPN sessions: the decision input (request.rs), the local rules (policy.rs),
//! the sessions the agent admitted (sessions.rs) and the decision itself (engine.rs).

pub mod engine;
pub mod live;
pub mod policy;
pub mod request;
pub mod sessions;
