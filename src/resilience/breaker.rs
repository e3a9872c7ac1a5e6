//! A compact circuit breaker in front of the portal.
//!
//! States and rules follow sony/gobreaker:
//! - **Closed**: calls pass. `failure_threshold` consecutive failures (or, if configured, a
//!   failure rate over a time window) open the breaker. With a non-zero `interval`, the counts
//!   start afresh every `interval`.
//! - **Open**: calls are rejected at once. After the open duration the next call finds the
//!   breaker **half-open**.
//! - **HalfOpen**: at most `max_requests` calls are in flight (more are rejected as "too many
//!   requests"); `max_requests` consecutive successes close the breaker, any failure re-opens it.
//!
//! Every state change starts a new *generation*; a result that arrives for an older generation
//! (a slow call that started before the breaker opened, say) is ignored. Unlike gobreaker, the
//! closed-state `interval` only clears the counts and is applied when a failure is recorded (the
//! only moment an old streak could matter), not on every call: a closed breaker then never reads
//! the clock for a call that succeeds, and a call that ends after the reset counts in the new
//! interval.
//!
//! Beyond gobreaker: calls take a [`Permit`] and report its [`Outcome`] later (a permit dropped
//! unreported counts as neither, and frees its half-open slot); repeated trips back off the open
//! duration exponentially, with jitter, up to `max_timeout`, reset when the breaker closes (and
//! cut back to `timeout` when the portal is heard from elsewhere); an operator can force the
//! breaker open or closed; a callback sees every transition.
//!
//! Counters are `u32` (MIPS has no 64-bit atomics, and nothing here needs them): lifetime totals
//! wrap, as monitoring counters may.

pub use super::breaker_settings::{RateTrip, Settings};
use super::clock::Clock;
use super::rate_window::RateWindow;
use std::cell::RefCell;
use std::fmt;
use std::time::{Duration, Instant};

/// Where the breaker stands: closed lets calls through, open rejects them, half-open lets a few
/// probes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are rejected until the open time is up.
    Open,
    /// Probes go through; their successes close the breaker, a failure opens it again.
    HalfOpen,
}

impl State {
    /// The state's name in status, logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
        }
    }
}

/// An operator's override of the breaker's own judgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Override {
    /// The breaker judges by itself.
    None,
    /// Reject every call until released (e.g. portal maintenance).
    ForceOpen,
    /// Let every call through and never trip (e.g. a known-flaky link).
    ForceClosed,
}

/// How a call ended, as far as the breaker is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The portal answered (an allow and a deny are both successes).
    Success,
    /// The portal failed (unavailable, deadline, malformed reply, TLS error, …).
    Failure,
    /// Says nothing about the portal (cancelled locally, say).
    Ignored,
}

/// Why a call was not allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// The breaker is open.
    Open,
    /// Half-open, and every probe slot is taken.
    TooManyRequests,
    /// The operator forced the breaker open.
    ForcedOpen,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejected::Open => "circuit breaker is open",
            Rejected::TooManyRequests => "circuit breaker is half-open and its probes are busy",
            Rejected::ForcedOpen => "circuit breaker is forced open by the operator",
        })
    }
}

impl std::error::Error for Rejected {}

/// A state change, as the callback sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The generation that starts with this transition.
    pub generation: u32,
    /// When, on the breaker's clock.
    pub at: Instant,
}

/// A snapshot for status and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// The state now (an open breaker whose time is up reads half-open).
    pub state: State,
    /// The operator's override in force.
    pub forced: Override,
    /// Bumped at every state change; a call reported from an older generation is not counted.
    pub generation: u32,
    /// Calls let through, since start.
    pub requests: u32,
    /// Calls that ended in success, since start.
    pub successes: u32,
    /// Calls that ended in failure, since start.
    pub failures: u32,
    /// Calls whose outcome said nothing of the portal, since start.
    pub ignored: u32,
    /// Calls refused by the breaker, since start.
    pub rejections: u32,
    /// Successes in a row in this generation.
    pub consecutive_successes: u32,
    /// Failures in a row in this generation.
    pub consecutive_failures: u32,
    /// Times the breaker opened.
    pub trips: u32,
    /// When the state last changed.
    pub last_transition: Instant,
    /// When an open breaker lets the next probe through.
    pub open_until: Option<Instant>,
}

type Callback = Box<dyn FnMut(Transition)>;

/// The breaker; see the module docs. Single-threaded: the daemon runs on one thread.
pub struct Breaker<C: Clock> {
    clock: C,
    inner: RefCell<Inner>,
    on_change: RefCell<Option<Callback>>,
}

struct Inner {
    settings: Settings,
    state: State,
    forced: Override,
    generation: u32,
    consecutive_successes: u32,
    consecutive_failures: u32,
    /// Half-open calls not yet reported.
    in_flight: u32,
    /// Closed: end of the counting interval. Open: end of the open duration.
    expiry: Option<Instant>,
    /// Trips since the breaker last closed, for the backoff.
    trips_in_row: u32,
    window: RateWindow,
    rng: u32,
    totals: Totals,
    last_transition: Instant,
}

#[derive(Default)]
struct Totals {
    requests: u32,
    successes: u32,
    failures: u32,
    ignored: u32,
    rejections: u32,
    trips: u32,
}

/// Transitions made during one call, handed to the callback once the state is consistent.
#[derive(Default)]
struct Changes([Option<Transition>; 2]);

impl Changes {
    fn push(&mut self, t: Transition) {
        if let Some(slot) = self.0.iter_mut().find(|s| s.is_none()) {
            *slot = Some(t);
        }
    }
}

impl<C: Clock> Breaker<C> {
    /// A closed breaker with `settings`, reading time from `clock`.
    pub fn new(settings: Settings, clock: C) -> Breaker<C> {
        let now = clock.now();
        let seed = seed_from(now);
        let mut inner = Inner {
            window: RateWindow::new(settings.rate.as_ref(), now),
            settings,
            state: State::Closed,
            forced: Override::None,
            generation: 0,
            consecutive_successes: 0,
            consecutive_failures: 0,
            in_flight: 0,
            expiry: None,
            trips_in_row: 0,
            rng: seed,
            totals: Totals::default(),
            last_transition: now,
        };
        inner.expiry = inner.closed_expiry(now);
        Breaker {
            clock,
            inner: RefCell::new(inner),
            on_change: RefCell::new(None),
        }
    }

    /// Calls `f` on every state change. It must not replace itself from inside the call.
    pub fn set_on_change(&self, f: impl FnMut(Transition) + 'static) {
        *self.on_change.borrow_mut() = Some(Box::new(f));
    }

    /// Asks to make a call. The permit must be told how the call ended.
    pub fn allow(&self) -> Result<Permit<'_, C>, Rejected> {
        let mut changes = Changes::default();
        let result = {
            let mut inner = self.inner.borrow_mut();
            // Closed needs no clock: its interval is applied when a failure is recorded.
            if inner.state != State::Closed {
                let now = self.clock.now();
                inner.refresh(now, &mut changes);
            }
            inner.admit()
        };
        self.notify(changes);
        result.map(|(generation, half_open)| Permit {
            breaker: self,
            generation,
            half_open,
            done: false,
        })
    }

    fn record(&self, generation: u32, half_open: bool, outcome: Outcome) {
        let mut changes = Changes::default();
        {
            let mut inner = self.inner.borrow_mut();
            // A closed-state success changes nothing time-dependent, so the hot path skips the
            // clock; an expired counting interval is applied by the next failure.
            let cheap = outcome == Outcome::Success
                && inner.state == State::Closed
                && inner.settings.rate.is_none();
            // (`now` is then unused: no transition and no rate window on this path.)
            let now = if cheap {
                inner.last_transition
            } else {
                let now = self.clock.now();
                inner.refresh(now, &mut changes);
                now
            };
            if half_open && generation == inner.generation {
                inner.in_flight = inner.in_flight.saturating_sub(1);
            }
            if generation == inner.generation {
                inner.on_outcome(outcome, now, &mut changes);
            }
        }
        self.notify(changes);
    }

    fn release(&self, generation: u32, half_open: bool) {
        let mut inner = self.inner.borrow_mut();
        if half_open && generation == inner.generation {
            inner.in_flight = inner.in_flight.saturating_sub(1);
        }
    }

    /// The current state (an open breaker whose time is up reports half-open).
    pub fn state(&self) -> State {
        self.stats().state
    }

    /// A snapshot of state and counters (moves an open breaker whose time is up to half-open).
    pub fn stats(&self) -> Stats {
        let mut changes = Changes::default();
        let stats = {
            let mut inner = self.inner.borrow_mut();
            inner.refresh(self.clock.now(), &mut changes);
            Stats {
                state: inner.state,
                forced: inner.forced,
                generation: inner.generation,
                requests: inner.totals.requests,
                successes: inner.totals.successes,
                failures: inner.totals.failures,
                ignored: inner.totals.ignored,
                rejections: inner.totals.rejections,
                consecutive_successes: inner.consecutive_successes,
                consecutive_failures: inner.consecutive_failures,
                trips: inner.totals.trips,
                last_transition: inner.last_transition,
                open_until: match inner.state {
                    State::Open => inner.expiry,
                    _ => None,
                },
            }
        };
        self.notify(changes);
        stats
    }

    /// Forces the breaker open or closed, or (with `Override::None`) hands judgement back,
    /// starting closed.
    pub fn set_override(&self, forced: Override) {
        let mut changes = Changes::default();
        {
            let mut inner = self.inner.borrow_mut();
            let now = self.clock.now();
            inner.forced = forced;
            let target = match forced {
                Override::ForceOpen => State::Open,
                Override::ForceClosed | Override::None => State::Closed,
            };
            inner.set_state(target, now, &mut changes);
            if forced == Override::ForceOpen {
                inner.expiry = None;
            }
        }
        self.notify(changes);
    }

    /// The portal answered a call the breaker does not guard (a report delivered, the control
    /// stream opened to it): an open breaker whose open time grew during a long outage (up to
    /// `max_timeout`) lets its probe through `timeout` after it opened, as after a first trip,
    /// rather than keep deciding by the fail mode for minutes after the portal came back. It
    /// never probes sooner than that, so a portal whose other services answer while its policy
    /// checks fail is probed no more often than once per `timeout`. Whether it brought the
    /// probe forward.
    pub fn portal_answered(&self) -> bool {
        let mut inner = self.inner.borrow_mut();
        if inner.state != State::Open || inner.forced != Override::None {
            return false;
        }
        let due = inner.last_transition + inner.settings.timeout;
        match inner.expiry {
            Some(end) if end > due => {
                inner.expiry = Some(due.max(self.clock.now()));
                true
            }
            _ => false,
        }
    }

    /// New settings (config reload); counts and state are kept.
    pub fn update_settings(&self, settings: Settings) {
        let mut inner = self.inner.borrow_mut();
        let now = self.clock.now();
        inner.window = RateWindow::new(settings.rate.as_ref(), now);
        inner.settings = settings;
    }

    fn notify(&self, changes: Changes) {
        if changes.0[0].is_none() {
            return;
        }
        if let Some(callback) = self.on_change.borrow_mut().as_mut() {
            for t in changes.0.into_iter().flatten() {
                callback(t);
            }
        }
    }
}

impl Inner {
    /// Moves time-driven state along: the end of an open period or a counting interval.
    fn refresh(&mut self, now: Instant, changes: &mut Changes) {
        match (self.state, self.expiry) {
            (State::Closed, Some(end)) if end <= now => {
                self.consecutive_successes = 0;
                self.consecutive_failures = 0;
                self.expiry = self.closed_expiry(now);
            }
            (State::Open, Some(end)) if end <= now => self.set_state(State::HalfOpen, now, changes),
            _ => {}
        }
    }

    fn admit(&mut self) -> Result<(u32, bool), Rejected> {
        let verdict = match (self.state, self.forced) {
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
        };
        match verdict {
            Ok(_) => self.totals.requests = self.totals.requests.wrapping_add(1),
            Err(_) => self.totals.rejections = self.totals.rejections.wrapping_add(1),
        }
        verdict
    }

    fn on_outcome(&mut self, outcome: Outcome, now: Instant, changes: &mut Changes) {
        match outcome {
            Outcome::Ignored => self.totals.ignored = self.totals.ignored.wrapping_add(1),
            Outcome::Success => {
                self.totals.successes = self.totals.successes.wrapping_add(1);
                self.consecutive_successes = self.consecutive_successes.saturating_add(1);
                self.consecutive_failures = 0;
                if self.settings.rate.is_some() {
                    self.window.record(now, false);
                }
                if self.state == State::HalfOpen
                    && self.consecutive_successes >= self.settings.max_requests
                {
                    self.set_state(State::Closed, now, changes);
                }
            }
            Outcome::Failure => {
                self.totals.failures = self.totals.failures.wrapping_add(1);
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.consecutive_successes = 0;
                if self.settings.rate.is_some() {
                    self.window.record(now, true);
                }
                let trip = match self.state {
                    State::HalfOpen => true,
                    State::Closed => {
                        self.forced != Override::ForceClosed
                            && (self.consecutive_failures >= self.settings.failure_threshold
                                || self.window.tripped(self.settings.rate.as_ref()))
                    }
                    State::Open => false,
                };
                if trip {
                    self.set_state(State::Open, now, changes);
                }
            }
        }
    }

    fn set_state(&mut self, to: State, now: Instant, changes: &mut Changes) {
        let from = self.state;
        self.state = to;
        self.new_generation(now);
        match to {
            State::Open => {
                self.totals.trips = self.totals.trips.wrapping_add(1);
                self.trips_in_row = self.trips_in_row.saturating_add(1);
                self.expiry = Some(now + self.open_duration());
            }
            State::Closed => self.trips_in_row = 0,
            State::HalfOpen => {}
        }
        if from != to {
            self.last_transition = now;
            changes.push(Transition {
                from,
                to,
                generation: self.generation,
                at: now,
            });
        }
    }

    fn new_generation(&mut self, now: Instant) {
        self.generation = self.generation.wrapping_add(1);
        self.consecutive_successes = 0;
        self.consecutive_failures = 0;
        self.in_flight = 0;
        self.window.clear(now);
        self.expiry = match self.state {
            State::Closed => self.closed_expiry(now),
            State::Open | State::HalfOpen => None,
        };
    }

    fn closed_expiry(&self, now: Instant) -> Option<Instant> {
        (!self.settings.interval.is_zero()).then(|| now + self.settings.interval)
    }

    /// `timeout` after the first trip; then doubling, ±10% jitter, capped at `max_timeout`.
    fn open_duration(&mut self) -> Duration {
        let s = &self.settings;
        let cap = s.max_timeout.max(s.timeout);
        if self.trips_in_row <= 1 {
            return s.timeout;
        }
        let base = crate::backoff::step(self.trips_in_row, s.timeout, Duration::MAX);
        // xorshift32: fine for spreading retries, and the same on every target.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 17;
        self.rng ^= self.rng << 5;
        crate::backoff::around(base, 100, self.rng).min(cap)
    }
}

/// A seed that differs between routers booted at different moments.
fn seed_from(now: Instant) -> u32 {
    let addr = &now as *const Instant as usize as u32;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    (addr ^ nanos.rotate_left(7)) | 1
}

/// Leave to make one call; report how it ended with [`Permit::success`], [`Permit::failure`] or
/// [`Permit::ignore`]. Dropping it unreported counts as neither and frees a half-open slot.
#[must_use = "report the call's outcome, or it counts as neither success nor failure"]
pub struct Permit<'a, C: Clock> {
    breaker: &'a Breaker<C>,
    generation: u32,
    half_open: bool,
    done: bool,
}

impl<C: Clock> Permit<'_, C> {
    /// The portal answered.
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// The portal failed.
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// The call says nothing of the portal (cancelled locally, say).
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }

    /// Reports `outcome`.
    pub fn record(mut self, outcome: Outcome) {
        self.done = true;
        self.breaker
            .record(self.generation, self.half_open, outcome);
    }
}

impl<C: Clock> Drop for Permit<'_, C> {
    fn drop(&mut self) {
        if !self.done {
            self.breaker.release(self.generation, self.half_open);
        }
    }
}

#[cfg(test)]
#[path = "breaker_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "breaker_model_tests.rs"]
mod model_tests;
