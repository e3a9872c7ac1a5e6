//! Rate-limited log lines: a condition that can repeat on every connect (a portal refusing the
//! agent's credentials, a malformed field in every reply) is logged once per interval, with a
//! count of the lines held back, so the operator sees it without it flooding logd.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::Instant;

/// One kind of line's limiter, usually a `static`.
pub struct Limit {
    interval_secs: u32,
    /// Process-monotonic second from which the next line may be logged; 0 before the first.
    next: AtomicU32,
    /// Lines held back since the last one logged.
    held: AtomicU32,
}

impl Limit {
    /// At most one line a minute.
    pub const fn per_minute() -> Limit {
        Limit::every(60)
    }

    /// At most one line every `interval_secs` seconds.
    pub const fn every(interval_secs: u32) -> Limit {
        Limit {
            interval_secs,
            next: AtomicU32::new(0),
            held: AtomicU32::new(0),
        }
    }

    /// Whether a line may be logged now; `Some(n)` with the number of lines held back since
    /// the last one.
    fn admit(&self, now: u32) -> Option<u32> {
        if now < self.next.load(Relaxed) {
            self.held.fetch_add(1, Relaxed);
            return None;
        }
        self.next
            .store(now.saturating_add(self.interval_secs), Relaxed);
        Some(self.held.swap(0, Relaxed))
    }
}

/// Seconds since this process first asked, plus one (so that 0 means "never").
fn now_secs() -> u32 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    let secs = BASE.get_or_init(Instant::now).elapsed().as_secs();
    u32::try_from(secs).unwrap_or(u32::MAX - 1) + 1
}

/// Logs at error level through `limit`.
pub fn error(limit: &Limit, line: fmt::Arguments<'_>) {
    emit(limit, log::Level::Error, line);
}

/// Logs at info level through `limit`.
pub fn info(limit: &Limit, line: fmt::Arguments<'_>) {
    emit(limit, log::Level::Info, line);
}

/// Logs at warn level through `limit`.
pub fn warn(limit: &Limit, line: fmt::Arguments<'_>) {
    emit(limit, log::Level::Warn, line);
}

fn emit(limit: &Limit, level: log::Level, line: fmt::Arguments<'_>) {
    match limit.admit(now_secs()) {
        None => {}
        Some(0) => log::log!(level, "{line}"),
        Some(n) => log::log!(level, "{line} ({n} more like this not logged)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_held_back() {
        let l = Limit::every(60);
        assert_eq!(l.admit(1), Some(0));
        assert_eq!(l.admit(1), None);
        assert_eq!(l.admit(60), None);
        assert_eq!(l.admit(61), Some(2));
        assert_eq!(l.admit(62), None);
        // No overflow near the end of the counter's range.
        assert_eq!(l.admit(u32::MAX - 10), Some(1));
        assert_eq!(l.admit(u32::MAX - 5), None);
    }
}
