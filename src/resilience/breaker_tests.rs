//! Breaker tests: every transition on a fake clock, no sleeping.

use super::*;
use crate::resilience::clock::FakeClock;
use std::cell::RefCell;
use std::rc::Rc;

fn settings() -> Settings {
    Settings {
        failure_threshold: 3,
        interval: Duration::from_secs(60),
        timeout: Duration::from_secs(30),
        max_timeout: Duration::from_secs(300),
        max_requests: 1,
        rate: None,
    }
}

fn breaker(s: Settings) -> (Breaker<Rc<FakeClock>>, Rc<FakeClock>) {
    let clock = Rc::new(FakeClock::new());
    (Breaker::new(s, clock.clone()), clock)
}

fn fail(b: &Breaker<Rc<FakeClock>>, n: u32) {
    for _ in 0..n {
        b.allow().expect("allowed").failure();
    }
}

fn succeed(b: &Breaker<Rc<FakeClock>>, n: u32) {
    for _ in 0..n {
        b.allow().expect("allowed").success();
    }
}

#[test]
fn consecutive_failures_open_the_breaker() {
    let (b, _) = breaker(settings());
    fail(&b, 2);
    assert_eq!(b.state(), State::Closed);
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.allow().err(), Some(Rejected::Open));
    let s = b.stats();
    assert_eq!((s.failures, s.rejections, s.trips), (3, 1, 1));
}

#[test]
fn a_success_resets_the_failure_streak() {
    let (b, _) = breaker(settings());
    fail(&b, 2);
    succeed(&b, 1);
    fail(&b, 2);
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.stats().consecutive_failures, 2);
}

#[test]
fn the_counting_interval_resets_closed_counts() {
    let (b, clock) = breaker(settings());
    fail(&b, 2);
    clock.advance(Duration::from_secs(61));
    fail(&b, 2);
    assert_eq!(
        b.state(),
        State::Closed,
        "old failures must not count after the interval"
    );
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_zero_interval_never_resets() {
    let (b, clock) = breaker(Settings {
        interval: Duration::ZERO,
        ..settings()
    });
    fail(&b, 2);
    clock.advance(Duration::from_secs(86_400));
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn open_becomes_half_open_after_the_timeout() {
    let (b, clock) = breaker(settings());
    fail(&b, 3);
    clock.advance(Duration::from_secs(29));
    assert_eq!(b.allow().err(), Some(Rejected::Open));
    clock.advance(Duration::from_secs(1));
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn half_open_allows_max_requests_probes_then_rejects() {
    let (b, clock) = breaker(Settings {
        max_requests: 2,
        ..settings()
    });
    fail(&b, 3);
    clock.advance(Duration::from_secs(30));
    let p1 = b.allow().unwrap();
    let p2 = b.allow().unwrap();
    assert_eq!(b.allow().err(), Some(Rejected::TooManyRequests));
    p1.success();
    // One probe reported: its slot is free again, but the breaker is still half-open.
    assert_eq!(b.state(), State::HalfOpen);
    let p3 = b.allow().unwrap();
    p2.success();
    assert_eq!(
        b.state(),
        State::Closed,
        "max_requests consecutive successes close"
    );
    // p3 belongs to the half-open generation: its late result is ignored.
    p3.failure();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_half_open_failure_reopens() {
    let (b, clock) = breaker(settings());
    fail(&b, 3);
    clock.advance(Duration::from_secs(30));
    b.allow().unwrap().failure();
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_dropped_probe_frees_its_slot_and_counts_as_neither() {
    let (b, clock) = breaker(settings());
    fail(&b, 3);
    clock.advance(Duration::from_secs(30));
    drop(b.allow().unwrap());
    assert_eq!(b.state(), State::HalfOpen);
    let s = b.stats();
    assert_eq!((s.successes, s.failures, s.ignored), (0, 3, 0));
    // Not wedged: the next probe is allowed.
    b.allow().unwrap().success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn ignored_outcomes_count_as_neither() {
    let (b, clock) = breaker(settings());
    fail(&b, 2);
    b.allow().unwrap().ignore();
    fail(&b, 1);
    assert_eq!(
        b.state(),
        State::Open,
        "an ignored call must not break the streak"
    );
    clock.advance(Duration::from_secs(30));
    b.allow().unwrap().ignore();
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.stats().ignored, 2);
}

#[test]
fn late_results_from_an_old_generation_are_ignored() {
    let (b, clock) = breaker(settings());
    let slow = b.allow().unwrap();
    fail(&b, 3);
    assert_eq!(b.state(), State::Open);
    // The slow call started while closed; its success must not close or count.
    slow.success();
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.stats().successes, 0);

    // A probe admitted while half-open reports after the breaker closed: ignored too.
    clock.advance(Duration::from_secs(30));
    let probe = b.allow().unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    b.set_override(Override::None); // an operator closes it meanwhile
    probe.failure();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.stats().consecutive_failures, 0);
}

#[test]
fn an_interval_reset_is_not_a_state_change() {
    let (b, clock) = breaker(settings());
    let slow = b.allow().unwrap();
    fail(&b, 2);
    clock.advance(Duration::from_secs(61));
    // The streak of two is forgotten; the slow call ended in the new interval and counts there.
    slow.failure();
    assert_eq!(b.stats().consecutive_failures, 1);
    fail(&b, 1);
    assert_eq!(b.state(), State::Closed);
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_quiet_period_does_not_swallow_the_first_failure() {
    let (b, clock) = breaker(settings());
    succeed(&b, 5);
    clock.advance(Duration::from_secs(600));
    fail(&b, 3);
    assert_eq!(
        b.state(),
        State::Open,
        "all three failures after the quiet period count"
    );
}

#[test]
fn repeated_trips_back_off_with_jitter_up_to_the_cap_and_reset_on_close() {
    let (b, clock) = breaker(settings());
    let open_for =
        |b: &Breaker<Rc<FakeClock>>, clock: &FakeClock| b.stats().open_until.unwrap() - clock.now();
    fail(&b, 3);
    assert_eq!(open_for(&b, &clock), Duration::from_secs(30));
    let mut previous = Duration::from_secs(30);
    for trip in 2..=6u32 {
        clock.advance(open_for(&b, &clock));
        b.allow().unwrap().failure(); // the probe fails: open again, longer
        let d = open_for(&b, &clock);
        let base = Duration::from_secs(30) * (1 << (trip - 1));
        let (low, high) = (base * 9 / 10, base * 11 / 10);
        let cap = Duration::from_secs(300);
        assert!(d <= cap, "trip {trip}: {d:?} over the cap");
        assert!(
            d >= low.min(cap) && d <= high.min(cap),
            "trip {trip}: {d:?} not within 10% of {base:?}"
        );
        assert!(d >= previous.min(cap) * 9 / 10);
        previous = d;
    }
    assert_eq!(open_for(&b, &clock), Duration::from_secs(300));
    clock.advance(Duration::from_secs(300));
    b.allow().unwrap().success();
    assert_eq!(b.state(), State::Closed);
    fail(&b, 3);
    assert_eq!(
        open_for(&b, &clock),
        Duration::from_secs(30),
        "backoff resets on close"
    );
}

#[test]
fn the_portal_heard_elsewhere_cuts_a_grown_open_time_back_to_timeout() {
    let (b, clock) = breaker(settings());
    assert!(!b.portal_answered(), "closed: nothing to bring forward");
    fail(&b, 3);
    assert!(!b.portal_answered(), "first trip: already `timeout`");
    for _ in 0..4 {
        clock.advance(b.stats().open_until.unwrap() - clock.now());
        b.allow().unwrap().failure();
    }
    let opened = clock.now();
    assert!(b.stats().open_until.unwrap() - opened >= Duration::from_secs(216));
    // Heard from 10 s into the open period: the probe is due 30 s after it opened, not sooner.
    clock.advance(Duration::from_secs(10));
    assert!(b.portal_answered());
    assert_eq!(b.stats().open_until, Some(opened + Duration::from_secs(30)));
    assert!(
        !b.portal_answered(),
        "once brought forward, nothing more to do"
    );
    clock.advance(Duration::from_secs(19));
    assert_eq!(b.allow().err(), Some(Rejected::Open));
    clock.advance(Duration::from_secs(1));
    let probe = b.allow().expect("the probe, 30 s after the trip");
    // The probe fails: the next open time grows again, and is cut again when heard from.
    probe.failure();
    let reopened = clock.now();
    assert!(b.stats().open_until.unwrap() - reopened > Duration::from_secs(30));
    clock.advance(Duration::from_secs(45));
    assert!(b.portal_answered());
    assert_eq!(b.state(), State::HalfOpen, "overdue: at once");
    b.allow().expect("probe").success();
    assert_eq!(b.state(), State::Closed);
    // An operator's forced open stays open.
    b.set_override(Override::ForceOpen);
    assert!(!b.portal_answered());
    assert_eq!(b.allow().err(), Some(Rejected::ForcedOpen));
}

#[test]
fn the_failure_rate_trips_without_a_streak() {
    let (b, clock) = breaker(Settings {
        failure_threshold: 100,
        rate: Some(RateTrip {
            window: Duration::from_secs(10),
            min_calls: 10,
            failure_percent: 50,
        }),
        ..settings()
    });
    // Alternating success and failure: never three in a row, but half fail.
    for _ in 0..4 {
        succeed(&b, 1);
        fail(&b, 1);
    }
    assert_eq!(b.state(), State::Closed, "below min_calls");
    succeed(&b, 1);
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);

    // Failures that fell out of the window do not count.
    clock.advance(Duration::from_secs(30));
    succeed(&b, 1); // closes
    for _ in 0..5 {
        fail(&b, 1);
        succeed(&b, 1);
        clock.advance(Duration::from_secs(3));
    }
    assert_eq!(b.state(), State::Closed, "old slices should have expired");
}

#[test]
fn operator_overrides() {
    let (b, _) = breaker(settings());
    b.set_override(Override::ForceOpen);
    assert_eq!(b.allow().err(), Some(Rejected::ForcedOpen));
    assert_eq!(b.stats().forced, Override::ForceOpen);
    b.set_override(Override::ForceClosed);
    fail(&b, 10);
    assert_eq!(b.state(), State::Closed, "forced closed never trips");
    b.set_override(Override::None);
    fail(&b, 3);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn forced_open_never_half_opens() {
    let (b, clock) = breaker(settings());
    b.set_override(Override::ForceOpen);
    clock.advance(Duration::from_secs(3600));
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.allow().err(), Some(Rejected::ForcedOpen));
}

#[test]
fn the_callback_sees_every_transition_in_order() {
    let (b, clock) = breaker(settings());
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    b.set_on_change(move |t| sink.borrow_mut().push((t.from, t.to)));
    fail(&b, 3);
    clock.advance(Duration::from_secs(30));
    b.allow().unwrap().failure();
    clock.advance(Duration::from_secs(300));
    b.allow().unwrap().success();
    assert_eq!(
        *seen.borrow(),
        [
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed),
        ]
    );
}

#[test]
fn stats_track_generation_and_transition_time() {
    let (b, clock) = breaker(settings());
    let g0 = b.stats().generation;
    let t0 = b.stats().last_transition;
    clock.advance(Duration::from_secs(5));
    fail(&b, 3);
    let s = b.stats();
    assert!(s.generation > g0);
    assert_eq!(s.last_transition - t0, Duration::from_secs(5));
    assert_eq!(s.requests, 3);
    assert_eq!(
        s.consecutive_failures, 0,
        "a new generation starts with clean counts"
    );
}

#[test]
fn settings_can_change_at_run_time() {
    let (b, _) = breaker(settings());
    fail(&b, 2);
    b.update_settings(Settings {
        failure_threshold: 10,
        ..settings()
    });
    fail(&b, 5);
    assert_eq!(b.state(), State::Closed);
}
