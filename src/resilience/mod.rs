//! What keeps authorization working when the portal does not: a circuit breaker, a decision
//! cache, fail modes and request coalescing. Plain modules with an injectable clock; the
//! authorization engine wires them together.

pub mod breaker;
pub mod cache;
pub mod clock;
pub mod failmode;
pub mod singleflight;

use crate::config::Resilience;

/// The breaker settings a configuration asks for.
pub fn breaker_settings(r: &Resilience) -> breaker::Settings {
    breaker::Settings {
        failure_threshold: r.breaker_failure_threshold,
        interval: r.breaker_interval,
        timeout: r.breaker_timeout,
        max_timeout: r.breaker_max_timeout,
        max_requests: r.breaker_max_requests,
        rate: (r.breaker_failure_rate > 0).then_some(breaker::RateTrip {
            window: r.breaker_rate_window,
            min_calls: r.breaker_rate_min_calls,
            failure_percent: r.breaker_failure_rate as u8,
        }),
    }
}

/// The cache settings a configuration asks for.
pub fn cache_settings(r: &Resilience) -> cache::Settings {
    cache::Settings {
        capacity: r.cache_max_size,
        allow_ttl: r.cache_ttl,
        deny_ttl: r.cache_deny_ttl,
        stale_ttl: r.cache_stale_ttl,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;
    use std::time::Duration;

    #[test]
    fn settings_come_from_the_config() {
        let c = parse(b"config resilience 'resilience'\n option breaker_failure_rate 50\n option breaker_rate_min_calls 8\n option cache_max_size 10\n option cache_deny_ttl 5s\n").unwrap();
        let b = breaker_settings(&c.resilience);
        assert_eq!(b.failure_threshold, 5);
        assert_eq!(b.max_timeout, Duration::from_secs(300));
        assert_eq!(
            b.rate,
            Some(breaker::RateTrip {
                window: Duration::from_secs(60),
                min_calls: 8,
                failure_percent: 50
            })
        );
        let k = cache_settings(&c.resilience);
        assert_eq!((k.capacity, k.deny_ttl), (10, Duration::from_secs(5)));
        assert_eq!(breaker_settings(&parse(b"").unwrap().resilience).rate, None);
    }

    #[test]
    fn max_timeout_below_timeout_is_a_config_error() {
        let p = parse(b"config resilience 'resilience'\n option breaker_timeout 1m\n option breaker_max_timeout 30s\n").unwrap_err();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 3);
    }
}
