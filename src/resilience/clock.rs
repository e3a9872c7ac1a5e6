//! Time as the resilience modules see it, injectable so tests can move it by hand.
//!
//! Everything here compares [`Instant`]s from one [`Clock`]; nothing reads the system clock
//! directly, so a test can walk a breaker through its states without sleeping.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// A monotonic time source.
pub trait Clock {
    /// The current instant; never goes back.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct FakeClock {
    start: Instant,
    offset: Cell<Duration>,
}

impl FakeClock {
    /// A clock standing at the moment it was made.
    pub fn new() -> FakeClock {
        FakeClock {
            start: Instant::now(),
            offset: Cell::new(Duration::ZERO),
        }
    }

    /// Moves time forward.
    pub fn advance(&self, by: Duration) {
        self.offset.set(self.offset.get() + by);
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + self.offset.get()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    #[inline]
    fn now(&self) -> Instant {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for std::rc::Rc<C> {
    #[inline]
    fn now(&self) -> Instant {
        (**self).now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_clock_moves_only_when_told() {
        let c = FakeClock::new();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.advance(Duration::from_millis(1500));
        assert_eq!(c.now() - t0, Duration::from_millis(1500));
    }
}
