//! `config resilience 'resilience'`, in one place: its type and defaults, how the file's options
//! are read and checked, its `uci show` form, and the settings each component takes from it
//! (breaker, cache, fail mode: they know nothing of config).

use super::from_uci::{duration_in, number_in};
use super::reader::SectionReader;
use super::schema::{keyword_str, SectionWriter};
use super::uci::Section;
use super::units::{format_bool, format_duration, parse_bool};
use super::{parse_keyword, Keyword};
use crate::resilience::{breaker, cache, failmode};
use std::time::Duration;

pub use failmode::{Environment, FailMode};

/// `config resilience 'resilience'`: circuit breaker, decision cache and fail mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Resilience {
    /// `option fail_mode`: open, close or stale.
    pub fail_mode: FailMode,
    /// `option environment`: production, staging or development.
    pub environment: Environment,
    /// `option allow_fail_open_in_production`.
    pub allow_fail_open_in_production: bool,
    /// Consecutive failures that open the breaker.
    pub breaker_failure_threshold: u32,
    /// Period after which closed-state counters reset; zero means never.
    pub breaker_interval: Duration,
    /// How long the breaker stays open before a probe (after the first trip).
    pub breaker_timeout: Duration,
    /// Longest open time after repeated trips (the open time doubles per trip up to this).
    pub breaker_max_timeout: Duration,
    /// Also trip when this percentage of calls failed within `breaker_rate_window`; 0 is off.
    pub breaker_failure_rate: u32,
    /// How far back `breaker_failure_rate` looks.
    pub breaker_rate_window: Duration,
    /// Calls within the window before the failure rate counts.
    pub breaker_rate_min_calls: u32,
    /// Probes allowed while half-open.
    pub breaker_max_requests: u32,
    /// How long a portal allow is cached.
    pub cache_ttl: Duration,
    /// How long a portal deny is cached.
    pub cache_deny_ttl: Duration,
    /// How long past expiry a decision may still be served, only while the portal fails.
    pub cache_stale_ttl: Duration,
    /// Entries; the cache allocates this many once at start.
    pub cache_max_size: u32,
}

impl Keyword for FailMode {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("open", FailMode::Open),
        ("close", FailMode::Close),
        ("stale", FailMode::Stale),
        ("fail-open", FailMode::Open),
        ("fail-close", FailMode::Close),
        ("fail-stale", FailMode::Stale),
    ];
    const WHAT: &'static str = "fail mode";
}

impl Keyword for Environment {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("production", Environment::Production),
        ("staging", Environment::Staging),
        ("development", Environment::Development),
    ];
    const WHAT: &'static str = "environment";
}

impl Default for Resilience {
    fn default() -> Resilience {
        Resilience {
            fail_mode: FailMode::Stale,
            environment: Environment::Production,
            allow_fail_open_in_production: false,
            breaker_failure_threshold: 5,
            breaker_interval: Duration::from_secs(60),
            breaker_timeout: Duration::from_secs(30),
            breaker_max_timeout: Duration::from_secs(300),
            breaker_failure_rate: 0,
            breaker_rate_window: Duration::from_secs(60),
            breaker_rate_min_calls: 20,
            breaker_max_requests: 1,
            cache_ttl: Duration::from_secs(300),
            cache_deny_ttl: Duration::from_secs(30),
            cache_stale_ttl: Duration::from_secs(1800),
            cache_max_size: 4096,
        }
    }
}

impl Resilience {
    /// The fail mode's settings; their `check` is the production rule.
    pub fn fail(&self) -> failmode::Settings {
        failmode::Settings {
            mode: self.fail_mode,
            environment: self.environment,
            allow_open_in_production: self.allow_fail_open_in_production,
        }
    }

    /// The breaker's settings.
    pub fn breaker(&self) -> breaker::Settings {
        breaker::Settings {
            failure_threshold: self.breaker_failure_threshold,
            interval: self.breaker_interval,
            timeout: self.breaker_timeout,
            max_timeout: self.breaker_max_timeout,
            max_requests: self.breaker_max_requests,
            rate: (self.breaker_failure_rate > 0).then_some(breaker::RateTrip {
                window: self.breaker_rate_window,
                min_calls: self.breaker_rate_min_calls,
                failure_percent: self.breaker_failure_rate as u8,
            }),
        }
    }

    /// The decision cache's settings.
    pub fn cache(&self) -> cache::Settings {
        cache::Settings {
            capacity: self.cache_max_size,
            allow_ttl: self.cache_ttl,
            deny_ttl: self.cache_deny_ttl,
            stale_ttl: self.cache_stale_ttl,
        }
    }
}

/// Reads the section; every problem goes to the reader.
pub(super) fn read(mut r: SectionReader) -> Resilience {
    let d = Resilience::default();
    let any = |s: &str| duration_in(s, Duration::ZERO, Duration::from_secs(7 * 86400));
    let positive = |s: &str| duration_in(s, Duration::from_millis(1), Duration::from_secs(86400));
    let resilience = Resilience {
        fail_mode: r.or("fail_mode", d.fail_mode, parse_keyword),
        environment: r.or("environment", d.environment, parse_keyword),
        allow_fail_open_in_production: r.or(
            "allow_fail_open_in_production",
            d.allow_fail_open_in_production,
            parse_bool,
        ),
        breaker_failure_threshold: r.or(
            "breaker_failure_threshold",
            d.breaker_failure_threshold,
            |s| number_in(s, 1, 10_000),
        ),
        breaker_interval: r.or("breaker_interval", d.breaker_interval, any),
        breaker_timeout: r.or("breaker_timeout", d.breaker_timeout, positive),
        breaker_max_timeout: r.or("breaker_max_timeout", d.breaker_max_timeout, positive),
        breaker_failure_rate: r.or("breaker_failure_rate", d.breaker_failure_rate, |s| {
            number_in(s, 0, 100)
        }),
        breaker_rate_window: r.or("breaker_rate_window", d.breaker_rate_window, |s| {
            duration_in(s, Duration::from_secs(1), Duration::from_secs(3600))
        }),
        breaker_rate_min_calls: r.or("breaker_rate_min_calls", d.breaker_rate_min_calls, |s| {
            number_in(s, 1, 100_000)
        }),
        breaker_max_requests: r.or("breaker_max_requests", d.breaker_max_requests, |s| {
            number_in(s, 1, 1000)
        }),
        cache_ttl: r.or("cache_ttl", d.cache_ttl, any),
        cache_deny_ttl: r.or("cache_deny_ttl", d.cache_deny_ttl, any),
        cache_stale_ttl: r.or("cache_stale_ttl", d.cache_stale_ttl, any),
        cache_max_size: r.or("cache_max_size", d.cache_max_size, |s| {
            number_in(s, 1, 1_000_000)
        }),
    };
    r.finish();
    resilience
}

/// The section in `uci show` form, every option spelled out.
pub(super) fn write(r: &Resilience) -> Section {
    let mut s = SectionWriter::new("resilience", Some("resilience"));
    s.set("fail_mode", keyword_str(r.fail_mode))
        .set("environment", keyword_str(r.environment))
        .set(
            "allow_fail_open_in_production",
            format_bool(r.allow_fail_open_in_production),
        )
        .set(
            "breaker_failure_threshold",
            r.breaker_failure_threshold.to_string(),
        )
        .set("breaker_interval", format_duration(r.breaker_interval))
        .set("breaker_timeout", format_duration(r.breaker_timeout))
        .set(
            "breaker_max_timeout",
            format_duration(r.breaker_max_timeout),
        )
        .set("breaker_failure_rate", r.breaker_failure_rate.to_string())
        .set(
            "breaker_rate_window",
            format_duration(r.breaker_rate_window),
        )
        .set(
            "breaker_rate_min_calls",
            r.breaker_rate_min_calls.to_string(),
        )
        .set("breaker_max_requests", r.breaker_max_requests.to_string())
        .set("cache_ttl", format_duration(r.cache_ttl))
        .set("cache_deny_ttl", format_duration(r.cache_deny_ttl))
        .set("cache_stale_ttl", format_duration(r.cache_stale_ttl))
        .set("cache_max_size", r.cache_max_size.to_string());
    s.0
}

/// The checks between options: (option, problem) for each one found.
pub(super) fn check(r: &Resilience, at: &mut dyn FnMut(&str, String)) {
    if r.breaker_max_timeout < r.breaker_timeout {
        at(
            "breaker_max_timeout",
            "breaker_max_timeout must not be shorter than breaker_timeout".into(),
        );
    }
    if r.fail().check().is_err() {
        at(
            "fail_mode",
            "fail_mode 'open' admits every user while the portal is unreachable; it is refused with environment 'production' unless option allow_fail_open_in_production '1' is set".into(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse, parse_keyword};

    #[test]
    fn settings_come_from_the_config() {
        let c = parse(b"config resilience 'resilience'\n option breaker_failure_rate 50\n option breaker_rate_min_calls 8\n option cache_max_size 10\n option cache_deny_ttl 5s\n").unwrap();
        let b = c.resilience.breaker();
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
        let k = c.resilience.cache();
        assert_eq!((k.capacity, k.deny_ttl), (10, Duration::from_secs(5)));
        assert_eq!(parse(b"").unwrap().resilience.breaker().rate, None);
    }

    #[test]
    fn fail_modes_parse_in_both_spellings_and_nothing_else() {
        for (text, mode) in [
            ("open", FailMode::Open),
            ("fail-open", FailMode::Open),
            ("close", FailMode::Close),
            ("fail-close", FailMode::Close),
            ("stale", FailMode::Stale),
            ("fail-stale", FailMode::Stale),
        ] {
            assert_eq!(parse_keyword(text), Ok(mode));
        }
        for bad in [
            "",
            "closed",
            "Open",
            "fail_open",
            "failopen",
            "allow",
            "deny",
        ] {
            assert!(
                parse_keyword::<FailMode>(bad).is_err(),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn max_timeout_below_timeout_is_a_config_error() {
        let p = parse(b"config resilience 'resilience'\n option breaker_timeout 1m\n option breaker_max_timeout 30s\n").unwrap_err();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, 3);
    }
}
