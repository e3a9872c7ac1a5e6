//! Waits between retries, in one place: the portal channel's reconnects, the outbox's report
//! retries, the control stream's and ocserv's event stream's reopening, and the breaker's
//! open time all double from a first wait up to a cap, with jitter so that routers that lost
//! the portal together do not come back together.

use std::time::Duration;

/// The wait after `failures` failed attempts in a row: `min` doubling per failure, capped at
/// `max`, then ±20% by `random` so that routers restarted together do not retry together.
pub fn backoff(failures: u32, min: Duration, max: Duration, random: u32) -> Duration {
    around(step(failures, min, max), 200, random)
}

/// Like [`backoff`], but anywhere between half the step and the whole of it ("equal jitter"),
/// for the retries a whole fleet starts at one moment: the portal going away. With ±20% the
/// agents' retries stay bunched through an outage (after a minute, a third of a fleet retried
/// within the same 10 s and replayed its backlog at once, 3.6× the steady rate); spread over
/// half the step they arrive over the whole of it.
pub fn spread_backoff(failures: u32, min: Duration, max: Duration, random: u32) -> Duration {
    let step = step(failures, min, max);
    step / 2 + step.saturating_mul(random % 1001) / 2000
}

/// `first` doubled per failure after the first (at most 2^16 times), capped at `cap`.
pub fn step(failures: u32, first: Duration, cap: Duration) -> Duration {
    first
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(cap)
}

/// `d` moved by up to ±`permille`/1000 of itself, by `random`.
pub fn around(d: Duration, permille: u32, random: u32) -> Duration {
    let spread = permille.min(1000);
    d.saturating_mul(1000 - spread + random % (2 * spread + 1)) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let (min, max) = (Duration::from_millis(200), Duration::from_secs(30));
        let ms = |f, r| backoff(f, min, max, r).as_millis();
        // random % 401 == 200 is the middle: no jitter.
        assert_eq!(
            [ms(1, 200), ms(2, 200), ms(3, 200), ms(8, 200)],
            [200, 400, 800, 25600]
        );
        assert_eq!(ms(9, 200), 30_000, "capped");
        assert_eq!(ms(1000, 200), 30_000, "no overflow on long outages");
        // The extremes of the jitter: -20% and +20%.
        assert_eq!((ms(3, 0), ms(3, 400)), (640, 960));
        assert_eq!(ms(9, 400), 36_000, "jitter applies above the cap too");
    }

    #[test]
    fn spread_backoff_covers_half_the_step_to_all_of_it() {
        let (min, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let ms = |f, r| spread_backoff(f, min, max, r).as_millis();
        assert_eq!((ms(1, 0), ms(1, 500), ms(1, 1000)), (500, 750, 1000));
        assert_eq!((ms(7, 0), ms(7, 1000)), (30_000, 60_000), "capped step");
        assert_eq!(ms(1000, 1001), 30_000, "no overflow; random wraps");
        // Fleet-wide: after 7 failures the waits of 1,000 agents cover 30-60 s evenly.
        let waits: Vec<u128> = (0..1000u32)
            .map(|i| ms(7, i.wrapping_mul(2_654_435_761)))
            .collect();
        let early = waits.iter().filter(|&&w| w < 45_000).count();
        assert!(
            (400..=600).contains(&early),
            "{early} of 1000 in the first half"
        );
    }
}
