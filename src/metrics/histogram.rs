//! Latency histograms in Prometheus' cumulative form, for a single-threaded daemon: plain
//! integers (no atomics, so 32-bit MIPS pays nothing), counts that wrap like the counters, the
//! sum kept in microseconds as a u64 (a plain integer; only atomics of 64 bits are missing on
//! MIPS).

use std::time::Duration;

/// Upper bounds of the buckets in microseconds: 1 ms to 10 s, with their `le` labels. A hook's
/// whole budget is seconds; a portal answer on a LAN takes a millisecond or two.
pub const BUCKETS: [(u32, &str); 13] = [
    (1_000, "0.001"),
    (2_500, "0.0025"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
    (10_000_000, "10"),
];

/// Observations of one series: how many fell in each bucket (the last one past 10 s), and
/// their sum.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Histogram {
    counts: [u32; BUCKETS.len() + 1],
    sum_micros: u64,
}

impl Histogram {
    /// Counts one duration.
    pub fn observe(&mut self, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let slot = BUCKETS
            .iter()
            .position(|(bound, _)| micros <= u64::from(*bound))
            .unwrap_or(BUCKETS.len());
        self.counts[slot] = self.counts[slot].wrapping_add(1);
        self.sum_micros = self.sum_micros.wrapping_add(micros);
    }

    /// `(le, cumulative count)` for every bucket, `+Inf` last (which is the count).
    pub fn cumulative(&self) -> impl Iterator<Item = (&'static str, u32)> + '_ {
        let labels = BUCKETS.iter().map(|(_, le)| *le).chain(["+Inf"]);
        labels.zip(self.counts.iter().scan(0u32, |total, n| {
            *total = total.wrapping_add(*n);
            Some(*total)
        }))
    }

    /// How many durations were observed.
    pub fn count(&self) -> u32 {
        self.counts.iter().fold(0, |a, n| a.wrapping_add(*n))
    }

    /// Their sum in seconds, as exposition text: exact decimal microseconds from integers
    /// (`22.006001`, `0.006`, `0`). Not an f64's `Display`, which would link std's
    /// shortest-float formatter into the router binary for this one number.
    pub fn sum_seconds(&self) -> String {
        let (secs, micros) = (self.sum_micros / 1_000_000, self.sum_micros % 1_000_000);
        if micros == 0 {
            return secs.to_string();
        }
        let fraction = format!("{micros:06}");
        format!("{secs}.{}", fraction.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_duration_lands_in_the_first_bucket_that_holds_it() {
        let mut h = Histogram::default();
        for ms in [0, 1, 2, 3, 999, 1000, 20_000] {
            h.observe(Duration::from_millis(ms));
        }
        h.observe(Duration::from_micros(1_001));
        let c: Vec<_> = h.cumulative().collect();
        assert_eq!(c[0], ("0.001", 2), "0 and 1 ms");
        assert_eq!(c[1], ("0.0025", 4), "1.001 and 2 ms");
        assert_eq!(c[2], ("0.005", 5));
        assert_eq!(c[9], ("1", 7), "999 ms and 1 s");
        assert_eq!(c[12], ("10", 7));
        assert_eq!(c[13], ("+Inf", 8), "20 s");
        assert_eq!(h.count(), 8);
        assert_eq!(h.sum_seconds(), "22.006001");
        let mut h = Histogram::default();
        assert_eq!(h.sum_seconds(), "0");
        h.observe(Duration::from_millis(6));
        assert_eq!(h.sum_seconds(), "0.006");
        h.observe(Duration::from_micros(994_000));
        assert_eq!(h.sum_seconds(), "1");
    }

    #[test]
    fn absurd_durations_do_not_panic() {
        let mut h = Histogram::default();
        h.observe(Duration::MAX);
        h.observe(Duration::MAX);
        assert_eq!(h.count(), 2);
        assert_eq!(h.cumulative().last(), Some(("+Inf", 2)));
    }
}
