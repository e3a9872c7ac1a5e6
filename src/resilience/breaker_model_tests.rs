//! The breaker against gobreaker's state machine, written out plainly as the model: random
//! histories of calls asked for, their outcomes reported late or never (a permit dropped),
//! results of an older generation, clock steps past intervals and open periods, and operator
//! overrides. After every step the breaker's answer, state and counts are the model's.
//!
//! The open period is fixed (`max_timeout` = `timeout`): the backoff and its jitter have their
//! own tests in breaker_tests.rs; the failure-rate trip too.

use super::*;
use crate::resilience::clock::FakeClock;
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Op {
    Allow,
    /// Reports the permit at this index (modulo those held) with this outcome.
    Report(usize, Outcome),
    /// Drops that permit unreported.
    Drop(usize),
    Step(u64),
    Force(Override),
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop_oneof![
        Just(Outcome::Success),
        Just(Outcome::Failure),
        Just(Outcome::Ignored)
    ];
    let force = prop_oneof![
        Just(Override::None),
        Just(Override::ForceOpen),
        Just(Override::ForceClosed)
    ];
    prop_oneof![
        6 => Just(Op::Allow),
        6 => (any::<usize>(), outcome).prop_map(|(i, o)| Op::Report(i, o)),
        1 => any::<usize>().prop_map(Op::Drop),
        3 => prop_oneof![Just(0u64), Just(400), Just(1000), Just(2500), Just(6000)].prop_map(Op::Step),
        1 => force.prop_map(Op::Force),
    ]
}

/// gobreaker's states, counts and generations, plus the agent's overrides.
struct Model {
    settings: Settings,
    state: State,
    forced: Override,
    generation: u32,
    successes: u32,
    failures: u32,
    in_flight: u32,
    expiry: Option<Instant>,
}

impl Model {
    fn to(&mut self, state: State, now: Instant) {
        self.state = state;
        self.generation = self.generation.wrapping_add(1);
        (self.successes, self.failures, self.in_flight) = (0, 0, 0);
        self.expiry = match state {
            State::Closed => self.interval_end(now),
            State::Open => Some(now + self.settings.timeout),
            State::HalfOpen => None,
        };
    }

    fn interval_end(&self, now: Instant) -> Option<Instant> {
        (!self.settings.interval.is_zero()).then(|| now + self.settings.interval)
    }

    fn refresh(&mut self, now: Instant) {
        match (self.state, self.expiry) {
            (State::Closed, Some(end)) if end <= now => {
                (self.successes, self.failures) = (0, 0);
                self.expiry = self.interval_end(now);
            }
            (State::Open, Some(end)) if end <= now => self.to(State::HalfOpen, now),
            _ => {}
        }
    }

    fn allow(&mut self, now: Instant) -> Result<(u32, bool), Rejected> {
        if self.state != State::Closed {
            self.refresh(now);
        }
        match (self.state, self.forced) {
            (_, Override::ForceOpen) => Err(Rejected::ForcedOpen),
            (State::Open, _) => Err(Rejected::Open),
            (State::HalfOpen, _) if self.in_flight >= self.settings.max_requests => {
                Err(Rejected::TooManyRequests)
            }
            (State::HalfOpen, _) => {
                self.in_flight += 1;
                Ok((self.generation, true))
            }
            (State::Closed, _) => Ok((self.generation, false)),
        }
    }

    fn report(&mut self, (generation, half_open): (u32, bool), outcome: Outcome, now: Instant) {
        // A closed breaker applies its interval when a failure (or an ignored call) arrives.
        if !(outcome == Outcome::Success && self.state == State::Closed) {
            self.refresh(now);
        }
        if generation != self.generation {
            return;
        }
        if half_open {
            self.in_flight -= 1;
        }
        match outcome {
            Outcome::Ignored => {}
            Outcome::Success => {
                self.successes += 1;
                self.failures = 0;
                if self.state == State::HalfOpen && self.successes >= self.settings.max_requests {
                    self.to(State::Closed, now);
                }
            }
            Outcome::Failure => {
                self.failures += 1;
                self.successes = 0;
                let trip = match self.state {
                    State::HalfOpen => true,
                    State::Closed => {
                        self.forced != Override::ForceClosed
                            && self.failures >= self.settings.failure_threshold
                    }
                    State::Open => false,
                };
                if trip {
                    self.to(State::Open, now);
                }
            }
        }
    }

    fn release(&mut self, (generation, half_open): (u32, bool)) {
        if half_open && generation == self.generation {
            self.in_flight -= 1;
        }
    }

    fn force(&mut self, forced: Override, now: Instant) {
        self.forced = forced;
        match forced {
            Override::ForceOpen => {
                self.to(State::Open, now);
                self.expiry = None;
            }
            Override::ForceClosed | Override::None => self.to(State::Closed, now),
        }
    }
}

fn run(settings: Settings, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let clock = FakeClock::new();
    let breaker = Breaker::new(settings.clone(), &clock);
    let mut model = Model {
        expiry: None,
        settings,
        state: State::Closed,
        forced: Override::None,
        generation: 0,
        successes: 0,
        failures: 0,
        in_flight: 0,
    };
    model.expiry = model.interval_end(clock.now());
    // Permits held, each beside the model's (generation, half-open) for it.
    let mut held = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        let now = clock.now();
        match op {
            Op::Allow => {
                let got = breaker.allow();
                let want = model.allow(now);
                prop_assert_eq!(got.as_ref().err().copied(), want.err(), "step {}", step);
                if let (Ok(permit), Ok(m)) = (got, want) {
                    held.push((permit, m));
                }
            }
            Op::Report(i, outcome) if !held.is_empty() => {
                let (permit, m) = held.remove(i % held.len());
                permit.record(outcome);
                model.report(m, outcome, now);
            }
            Op::Drop(i) if !held.is_empty() => {
                let (permit, m) = held.remove(i % held.len());
                drop(permit);
                model.release(m);
            }
            Op::Report(..) | Op::Drop(_) => {}
            Op::Step(ms) => clock.advance(Duration::from_millis(ms)),
            Op::Force(forced) => {
                breaker.set_override(forced);
                model.force(forced, now);
            }
        }
        let stats = breaker.stats();
        model.refresh(clock.now());
        prop_assert_eq!(stats.state, model.state, "after step {} {:?}", step, op);
        prop_assert_eq!(
            stats.generation,
            model.generation,
            "after step {} {:?}",
            step,
            op
        );
        prop_assert_eq!(
            (stats.consecutive_successes, stats.consecutive_failures),
            (model.successes, model.failures),
            "after step {} {:?}",
            step,
            op
        );
    }
    Ok(())
}

fn settings() -> impl Strategy<Value = Settings> {
    (
        1u32..4,
        prop_oneof![Just(0u64), Just(5)],
        prop_oneof![Just(1u64), Just(3)],
        1u32..4,
    )
        .prop_map(
            |(failure_threshold, interval, timeout, max_requests)| Settings {
                failure_threshold,
                interval: Duration::from_secs(interval),
                timeout: Duration::from_secs(timeout),
                max_timeout: Duration::from_secs(timeout),
                max_requests,
                rate: None,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_breaker_follows_gobreakers_state_machine(
        settings in settings(),
        ops in proptest::collection::vec(op(), 1..150),
    ) {
        run(settings, ops)?;
    }
}
