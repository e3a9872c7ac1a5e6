//! The breaker's failure-rate trip: outcomes counted per time slice over a sliding window, so
//! that a portal failing every other call (never a long streak) still opens the breaker.

use super::breaker::RateTrip;
use std::time::{Duration, Instant};

/// Outcomes per time slice, for the failure-rate trip.
pub(super) struct RateWindow {
    slice: Duration,
    slice_start: Instant,
    current: usize,
    calls: [u32; SLICES],
    failures: [u32; SLICES],
}

const SLICES: usize = 10;

impl RateWindow {
    pub(super) fn new(rate: Option<&RateTrip>, now: Instant) -> RateWindow {
        let window = rate.map_or(Duration::from_secs(1), |r| r.window);
        RateWindow {
            slice: (window / SLICES as u32).max(Duration::from_millis(1)),
            slice_start: now,
            current: 0,
            calls: [0; SLICES],
            failures: [0; SLICES],
        }
    }

    pub(super) fn clear(&mut self, now: Instant) {
        self.calls = [0; SLICES];
        self.failures = [0; SLICES];
        self.slice_start = now;
    }

    fn advance(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.slice_start);
        let steps = (elapsed.as_nanos() / self.slice.as_nanos()).min(SLICES as u128) as usize;
        for _ in 0..steps {
            self.current = (self.current + 1) % SLICES;
            self.calls[self.current] = 0;
            self.failures[self.current] = 0;
        }
        if steps > 0 {
            self.slice_start = if steps == SLICES {
                now
            } else {
                self.slice_start + self.slice * steps as u32
            };
        }
    }

    pub(super) fn record(&mut self, now: Instant, failed: bool) {
        self.advance(now);
        self.calls[self.current] = self.calls[self.current].saturating_add(1);
        if failed {
            self.failures[self.current] = self.failures[self.current].saturating_add(1);
        }
    }

    pub(super) fn tripped(&self, rate: Option<&RateTrip>) -> bool {
        let Some(rate) = rate else { return false };
        let calls: u64 = self.calls.iter().map(|&c| u64::from(c)).sum();
        let failures: u64 = self.failures.iter().map(|&c| u64::from(c)).sum();
        calls >= u64::from(rate.min_calls.max(1))
            && failures * 100 >= u64::from(rate.failure_percent) * calls
    }
}
