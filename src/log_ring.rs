//! The agent's recent log lines in memory, for `StreamLogs`: the portal can read what the agent
//! said without shell access to the router, and follow it live.
//!
//! Bounded two ways (lines and bytes), oldest dropped first. Each line has a sequence number,
//! so a follower that falls behind learns how many lines it missed instead of silently
//! skipping them. Sequence numbers are `u64` behind the mutex (no 64-bit atomics on MIPS).

use log::Level;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;

/// One log line.
#[derive(Clone, Debug)]
pub struct Line {
    pub seq: u64,
    pub time: SystemTime,
    pub level: Level,
    /// The module that logged it (`ocserv_agent::grpc::server`).
    pub target: String,
    pub text: String,
}

/// Lines from a read, and how many the reader missed.
#[derive(Debug, Default)]
pub struct Batch {
    pub lines: Vec<Line>,
    /// Lines that were dropped from the ring before this reader got them.
    pub missed: u64,
    /// Where the next read continues.
    pub next: u64,
}

/// A bounded ring of recent lines.
pub struct LogRing {
    inner: Mutex<Inner>,
    max_lines: usize,
    max_bytes: usize,
}

struct Inner {
    lines: VecDeque<Line>,
    bytes: usize,
    /// The sequence number of the next line pushed.
    next: u64,
    waiters: Vec<Waker>,
}

/// Longest text kept per line; longer lines are cut (on a character boundary).
const MAX_LINE: usize = 2048;

impl LogRing {
    pub const fn new(max_lines: usize, max_bytes: usize) -> LogRing {
        LogRing {
            inner: Mutex::new(Inner {
                lines: VecDeque::new(),
                bytes: 0,
                next: 0,
                waiters: Vec::new(),
            }),
            max_lines,
            max_bytes,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a line, dropping the oldest beyond the bounds, and wakes followers.
    pub fn push(&self, level: Level, target: &str, text: &str) {
        let mut cut = text.len().min(MAX_LINE);
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let line = Line {
            seq: 0,
            time: SystemTime::now(),
            level,
            target: target.to_string(),
            text: text[..cut].to_string(),
        };
        let size = line.text.len() + line.target.len();
        let waiters = {
            let mut inner = self.lock();
            let seq = inner.next;
            inner.next += 1;
            inner.bytes += size;
            inner.lines.push_back(Line { seq, ..line });
            while inner.lines.len() > self.max_lines || inner.bytes > self.max_bytes {
                match inner.lines.pop_front() {
                    Some(old) => inner.bytes -= old.text.len() + old.target.len(),
                    None => break,
                }
            }
            std::mem::take(&mut inner.waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }

    /// Lines from sequence number `from` on that are not older than `since`, at most `limit`.
    pub fn read(&self, from: u64, since: Option<SystemTime>, limit: usize) -> Batch {
        let inner = self.lock();
        let oldest = inner.lines.front().map_or(inner.next, |l| l.seq);
        let missed = oldest.saturating_sub(from);
        let lines: Vec<Line> = inner
            .lines
            .iter()
            .filter(|l| l.seq >= from && since.map_or(true, |t| l.time >= t))
            .take(limit)
            .cloned()
            .collect();
        let next = lines.last().map_or(inner.next.max(from), |l| l.seq + 1);
        Batch {
            lines,
            missed,
            next,
        }
    }

    /// Ready once a line with sequence number `seq` or later exists.
    pub fn poll_beyond(&self, seq: u64, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.lock();
        if inner.next > seq {
            return Poll::Ready(());
        }
        if !inner.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            inner.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The daemon's ring: 500 lines or 64 KiB, whichever is reached first.
pub static RECENT: LogRing = LogRing::new(500, 64 * 1024);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keeps_the_newest_within_both_bounds() {
        let ring = LogRing::new(3, 1 << 20);
        for i in 0..5 {
            ring.push(Level::Info, "t", &format!("line {i}"));
        }
        let b = ring.read(0, None, 100);
        let texts: Vec<_> = b.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["line 2", "line 3", "line 4"]);
        assert_eq!(b.missed, 2);
        assert_eq!(b.next, 5);

        let ring = LogRing::new(100, 25);
        ring.push(Level::Info, "t", "0123456789");
        ring.push(Level::Info, "t", "0123456789");
        ring.push(Level::Info, "t", "0123456789");
        assert_eq!(ring.read(0, None, 100).lines.len(), 2);
    }

    #[test]
    fn reads_continue_where_they_left_off() {
        let ring = LogRing::new(100, 1 << 20);
        let b = ring.read(0, None, 100);
        assert!(b.lines.is_empty());
        assert_eq!((b.next, b.missed), (0, 0));
        for i in 0..10 {
            ring.push(Level::Warn, "t", &i.to_string());
        }
        let b = ring.read(0, None, 4);
        assert_eq!(b.lines.len(), 4);
        let b = ring.read(b.next, None, 100);
        assert_eq!(b.lines[0].text, "4");
        assert_eq!(b.lines.len(), 6);
        assert_eq!(b.missed, 0);
        let b = ring.read(b.next, None, 100);
        assert!(b.lines.is_empty());
        assert_eq!(b.next, 10);
    }

    #[test]
    fn since_filters_by_time() {
        let ring = LogRing::new(100, 1 << 20);
        ring.push(Level::Info, "t", "old");
        std::thread::sleep(Duration::from_millis(20));
        let cut = SystemTime::now();
        ring.push(Level::Info, "t", "new");
        let b = ring.read(0, Some(cut), 100);
        assert_eq!(b.lines.len(), 1);
        assert_eq!(b.lines[0].text, "new");
    }

    #[test]
    fn long_lines_are_cut_on_a_character_boundary() {
        let ring = LogRing::new(10, 1 << 20);
        ring.push(Level::Info, "t", &"é".repeat(MAX_LINE));
        let text = &ring.read(0, None, 1).lines[0].text;
        assert!(text.len() <= MAX_LINE && text.len() >= MAX_LINE - 1);
    }

    #[test]
    fn followers_are_woken_by_new_lines() {
        let ring: &'static LogRing = Box::leak(Box::new(LogRing::new(10, 1 << 20)));
        let waiter = std::thread::spawn(move || {
            async_io::block_on(futures_lite::future::poll_fn(|cx| ring.poll_beyond(0, cx)))
        });
        std::thread::sleep(Duration::from_millis(50));
        ring.push(Level::Info, "t", "wake up");
        waiter.join().unwrap();
    }
}
