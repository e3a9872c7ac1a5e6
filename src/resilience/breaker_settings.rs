//! The circuit breaker's settings: when it trips and how long it stays open (the `breaker_*`
//! options of `config resilience` fill them in). Re-exported by [`super::breaker`].

use std::time::Duration;

/// How the breaker decides; see the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// Closed-state counter reset period; zero never resets.
    pub interval: Duration,
    /// Open duration after the first trip.
    pub timeout: Duration,
    /// Longest open duration after repeated trips.
    pub max_timeout: Duration,
    /// Calls allowed in flight while half-open, and successes needed to close.
    pub max_requests: u32,
    /// An additional trip on the failure rate, if set.
    pub rate: Option<RateTrip>,
}

/// Trip when, within `window`, at least `min_calls` calls ended and `failure_percent` of them
/// failed. Catches a portal that fails every other call, which never makes a long streak.
#[derive(Clone, Debug, PartialEq)]
pub struct RateTrip {
    /// How far back calls count.
    pub window: Duration,
    /// Calls ended within the window before the rate is judged.
    pub min_calls: u32,
    /// Failed share, in percent, that trips.
    pub failure_percent: u8,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            failure_threshold: 5,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            max_timeout: Duration::from_secs(300),
            max_requests: 1,
            rate: None,
        }
    }
}
