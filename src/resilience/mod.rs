//! What keeps authorization working when the portal does not: a circuit breaker, a decision
//! cache, fail modes and request coalescing. Plain modules with an injectable clock and
//! settings of their own (config/ fills them in; nothing here reads the configuration); the
//! authorization engine wires them together.

pub mod breaker;
mod breaker_settings;
pub mod cache;
pub mod clock;
pub mod failmode;
mod rate_window;
pub mod singleflight;
