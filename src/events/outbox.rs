//! The outbox: session events the portal must see, in order, at least once.
//!
//! A bounded queue in memory, mirrored to the [`Journal`] so that an agent restart resends what
//! was not confirmed. When full, the oldest event is dropped and counted: an outage longer than
//! the queue loses the oldest reports, never the daemon's memory. The same session, user and
//! kind twice in a row (the hook and `NotifyConnect` reporting one connect, a disconnect
//! replayed) is queued once; a session's events alternate connect → disconnect, so a repeat is a
//! duplicate, while a recycled session ID (ocserv's IDs are worker pids) starts a new
//! alternation. The user is part of the key: after a missed disconnect ocserv may give the same
//! pid to another user's session, whose connect is not a repeat.
//!
//! A journal that cannot be written (disk full, directory gone) does not stop reporting: events
//! stay in memory, the failure is logged and counted, and the next compaction tries again.
//!
//! Journal writes run on the disk thread ([`crate::offload`]), in the order they were made, so
//! that a slow flash never delays a hook; memory is the truth they follow. When a write fails,
//! or cannot even be handed over (the disk thread's queue is full), the journal is rewritten
//! from memory before the next record.

use super::journal::{Event, Journal, Kind};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

/// Session/user/kind triples remembered for duplicate detection.
const RECENT: usize = 1024;

/// An event as the daemon hands it over, before it has a sequence number.
pub type NewEvent = Event;

/// What happened to a pushed event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The same kind was the last event queued for that session and user.
    Duplicate,
}

/// How a delivery attempt ended, for [`Outbox::settle`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    /// The portal answered but refused the event (`success: false`, INVALID_ARGUMENT):
    /// sending it again would not change that.
    Refused,
}

/// Counters for `status` and metrics (wrapping u32: no 64-bit atomics on MIPS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub depth: u32,
    pub delivered: u32,
    pub refused: u32,
    /// Dropped because the outbox was full.
    pub dropped: u32,
    pub duplicates: u32,
    /// Failed delivery attempts that will be retried.
    pub retries: u32,
    /// Journal writes that failed (the events stayed in memory).
    pub journal_errors: u32,
}

/// The queue, its journal and its counters; shared by the daemon (push) and the delivery task.
pub struct Outbox {
    inner: RefCell<Inner>,
    waiting: Cell<Option<Waker>>,
}

struct Inner {
    queue: VecDeque<Event>,
    max: usize,
    next_seq: u32,
    recent: VecDeque<(u32, String, Kind)>,
    journal: Option<Disk>,
    stats: Stats,
}

/// The journal, owned by the disk thread's jobs, and what they report back.
struct Disk {
    journal: Arc<Mutex<Journal>>,
    shared: Arc<Shared>,
    /// Records handed over since the last compaction, live or not.
    records: usize,
}

#[derive(Default)]
struct Shared {
    /// Journal writes that failed.
    errors: AtomicU32,
    /// The file no longer mirrors memory: rewrite it before the next record.
    resync: AtomicBool,
}

/// One thing for the disk thread to do to the journal.
enum Op {
    Append(Event),
    Ack(u32),
    Compact(Vec<Event>),
}

impl Outbox {
    /// An outbox of at most `max` events, journalled in `dir` (`None`: memory only). Events a
    /// previous run left in the journal are queued again. A journal that cannot be opened is
    /// logged and the outbox runs from memory.
    pub fn open(dir: Option<&Path>, max: usize) -> Outbox {
        let mut inner = Inner {
            queue: VecDeque::new(),
            max: max.max(1),
            next_seq: 1,
            recent: VecDeque::new(),
            journal: None,
            stats: Stats::default(),
        };
        if let Some(dir) = dir {
            match Journal::open(dir) {
                Ok((journal, loaded)) => {
                    if loaded.skipped > 0 {
                        log::warn!(
                            "outbox: skipped {} unreadable line(s) in {}",
                            loaded.skipped,
                            journal.path().display()
                        );
                    }
                    if !loaded.events.is_empty() {
                        log::info!(
                            "outbox: {} undelivered event(s) from {}",
                            loaded.events.len(),
                            journal.path().display()
                        );
                    }
                    for event in loaded.events {
                        inner.next_seq = inner.next_seq.max(event.seq.wrapping_add(1));
                        inner.remember(event.session, &event.user, event.kind);
                        inner.queue.push_back(event);
                    }
                    inner.journal = Some(Disk {
                        journal: Arc::new(Mutex::new(journal)),
                        shared: Arc::default(),
                        records: inner.queue.len(),
                    });
                    inner.trim();
                }
                Err(e) => {
                    inner.stats.journal_errors = inner.stats.journal_errors.wrapping_add(1);
                    log::error!(
                        "outbox: cannot use the journal in {}: {e}; events are kept in memory only",
                        dir.display()
                    );
                }
            }
        }
        Outbox {
            inner: RefCell::new(inner),
            waiting: Cell::new(None),
        }
    }

    /// Queues an event (its `seq` is assigned here) unless it repeats the session's last one.
    pub fn push(&self, mut event: NewEvent) -> Pushed {
        let mut inner = self.inner.borrow_mut();
        if inner.last_kind(event.session, &event.user) == Some(event.kind) {
            inner.stats.duplicates = inner.stats.duplicates.wrapping_add(1);
            return Pushed::Duplicate;
        }
        event.seq = inner.next_seq;
        inner.next_seq = inner.next_seq.wrapping_add(1);
        inner.remember(event.session, &event.user, event.kind);
        inner.queue.push_back(event.clone());
        inner.journal(Op::Append(event));
        inner.trim();
        drop(inner);
        if let Some(w) = self.waiting.take() {
            w.wake();
        }
        Pushed::Queued
    }

    /// The oldest event, waiting until there is one.
    pub async fn next(&self) -> Event {
        poll_fn(|cx| match self.inner.borrow().queue.front() {
            Some(e) => Poll::Ready(e.clone()),
            None => {
                self.waiting.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }

    /// Removes the event `seq` after its delivery attempt ended for good. An event dropped
    /// for space meanwhile is only counted.
    pub fn settle(&self, seq: u32, how: Settled) {
        let mut inner = self.inner.borrow_mut();
        let s = &mut inner.stats;
        match how {
            Settled::Delivered => s.delivered = s.delivered.wrapping_add(1),
            Settled::Refused => s.refused = s.refused.wrapping_add(1),
        }
        let Some(at) = inner.queue.iter().position(|e| e.seq == seq) else {
            return;
        };
        inner.queue.remove(at);
        inner.ack(seq);
    }

    /// Counts a failed attempt that will be retried.
    pub fn retrying(&self) {
        let s = &mut self.inner.borrow_mut().stats;
        s.retries = s.retries.wrapping_add(1);
    }

    pub fn stats(&self) -> Stats {
        let inner = self.inner.borrow();
        let disk_errors = inner
            .journal
            .as_ref()
            .map_or(0, |d| d.shared.errors.load(Ordering::Relaxed));
        Stats {
            depth: inner.queue.len() as u32,
            journal_errors: inner.stats.journal_errors.wrapping_add(disk_errors),
            ..inner.stats
        }
    }

    /// Blocks (up to `limit`) until the journal on disk mirrors memory: a rewrite that is due
    /// is handed over, then every write handed over is waited for. For the daemon's exit.
    pub fn flush(&self, limit: std::time::Duration) {
        let until = std::time::Instant::now() + limit;
        while std::time::Instant::now() < until {
            let resync = {
                let mut inner = self.inner.borrow_mut();
                let live: Vec<Event> = inner.queue.iter().cloned().collect();
                match inner.journal.as_mut() {
                    None => return,
                    Some(disk) => {
                        disk.shared.resync.swap(false, Ordering::Relaxed)
                            && !disk.hand_over(Op::Compact(live))
                    }
                }
            };
            let done = match resync {
                true => Err(crate::offload::Busy),
                false => async_io::block_on(futures_lite::future::or(
                    crate::offload::run(|| ()),
                    async {
                        async_io::Timer::at(until).await;
                        Ok(())
                    },
                )),
            };
            if done.is_ok() {
                return;
            }
            // The disk thread's queue is full: give it a moment.
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

impl Inner {
    fn last_kind(&self, session: u32, user: &str) -> Option<Kind> {
        self.recent
            .iter()
            .rev()
            .find(|(s, u, _)| *s == session && u == user)
            .map(|&(_, _, k)| k)
    }

    fn remember(&mut self, session: u32, user: &str, kind: Kind) {
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((session, user.to_string(), kind));
    }

    /// Drops the oldest events beyond `max`.
    fn trim(&mut self) {
        while self.queue.len() > self.max {
            let Some(old) = self.queue.pop_front() else {
                break;
            };
            self.stats.dropped = self.stats.dropped.wrapping_add(1);
            log::warn!(
                "outbox full ({} events): dropped the {} of '{}' (session {})",
                self.max,
                old.kind.as_str(),
                old.user,
                old.session
            );
            self.ack(old.seq);
        }
    }

    fn ack(&mut self, seq: u32) {
        self.journal(Op::Ack(seq));
        let Some(disk) = &self.journal else { return };
        // Counted on the records handed over to the disk thread.
        if super::journal::worth_compacting(disk.records, self.queue.len()) {
            let live = self.queue.iter().cloned().collect();
            self.journal(Op::Compact(live));
        }
    }

    /// Hands `op` to the disk thread; first a rewrite from memory if the file fell out of step.
    fn journal(&mut self, op: Op) {
        let Some(disk) = self.journal.as_mut() else {
            return;
        };
        if disk.shared.resync.swap(false, Ordering::Relaxed) && !matches!(op, Op::Compact(_)) {
            let live = self.queue.iter().cloned().collect();
            // The op itself is in `queue` (an append) or gone from it (an ack): the rewrite
            // covers it.
            if disk.hand_over(Op::Compact(live)) {
                return;
            }
        }
        disk.hand_over(op);
    }
}

impl Disk {
    /// Queues `op` on the disk thread; false (and a rewrite due) when it could not.
    fn hand_over(&mut self, op: Op) -> bool {
        self.records = match &op {
            Op::Compact(live) => live.len(),
            _ => self.records.saturating_add(1),
        };
        let (journal, shared) = (self.journal.clone(), self.shared.clone());
        let handed = crate::offload::submit(move || {
            let mut journal = journal.lock().unwrap_or_else(|e| e.into_inner());
            let (what, result) = match &op {
                Op::Append(event) => ("write", journal.append(event)),
                Op::Ack(seq) => ("update", journal.ack(*seq)),
                Op::Compact(live) => ("compact", journal.compact(live.iter())),
            };
            if let Err(e) = result {
                shared.errors.fetch_add(1, Ordering::Relaxed);
                // An ack that did not land would resend a delivered event after a restart;
                // the rewrite from memory, which is the truth, fixes that and a lost append.
                shared.resync.store(true, Ordering::Relaxed);
                log::error!(
                    "outbox: cannot {what} the journal: {e}; the events are kept in memory"
                );
            }
        })
        .is_ok();
        if !handed {
            self.shared.resync.store(true, Ordering::Relaxed);
        }
        handed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::journal::FILE_NAME;
    use std::path::PathBuf;
    use std::time::Duration;

    fn event(kind: Kind, session: u32) -> Event {
        Event {
            seq: 0,
            kind,
            session,
            user: format!("u{session}"),
            group: String::new(),
            client_ip: String::new(),
            vpn_ip: String::new(),
            device: String::new(),
            at: 1,
            bytes_in: 0,
            bytes_out: 0,
            duration: 0,
            trace: String::new(),
        }
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("outbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn sessions(o: &Outbox) -> Vec<(u32, Kind)> {
        o.inner
            .borrow()
            .queue
            .iter()
            .map(|e| (e.session, e.kind))
            .collect()
    }

    #[test]
    fn repeats_are_dropped_and_alternations_kept() {
        let o = Outbox::open(None, 100);
        assert_eq!(o.push(event(Kind::Connect, 7)), Pushed::Queued);
        assert_eq!(o.push(event(Kind::Connect, 7)), Pushed::Duplicate);
        assert_eq!(o.push(event(Kind::Disconnect, 7)), Pushed::Queued);
        assert_eq!(o.push(event(Kind::Disconnect, 7)), Pushed::Duplicate);
        // ocserv reused the pid: a new session with the same ID.
        assert_eq!(o.push(event(Kind::Connect, 7)), Pushed::Queued);
        // A disconnect for a session never seen is reported.
        assert_eq!(o.push(event(Kind::Disconnect, 8)), Pushed::Queued);
        assert_eq!(o.stats().duplicates, 2);
        assert_eq!(o.stats().depth, 4);
    }

    #[test]
    fn a_recycled_session_id_of_another_user_is_not_a_repeat() {
        let o = Outbox::open(None, 100);
        let of = |kind, session, user: &str| Event {
            user: user.into(),
            ..event(kind, session)
        };
        assert_eq!(o.push(of(Kind::Connect, 7, "alice")), Pushed::Queued);
        // Alice's disconnect was missed; ocserv gives pid 7 to bob's session.
        assert_eq!(o.push(of(Kind::Connect, 7, "bob")), Pushed::Queued);
        assert_eq!(o.push(of(Kind::Connect, 7, "bob")), Pushed::Duplicate);
        assert_eq!(o.push(of(Kind::Connect, 7, "alice")), Pushed::Duplicate);
        assert_eq!(o.stats().depth, 2);
    }

    #[test]
    fn a_delivered_event_is_still_a_duplicate_if_repeated() {
        let o = Outbox::open(None, 100);
        o.push(event(Kind::Connect, 1));
        let e = async_io::block_on(o.next());
        o.settle(e.seq, Settled::Delivered);
        assert_eq!(o.push(event(Kind::Connect, 1)), Pushed::Duplicate);
        assert_eq!(o.stats().delivered, 1);
    }

    #[test]
    fn when_full_the_oldest_is_dropped_and_counted() {
        let o = Outbox::open(None, 3);
        for s in 1..=5 {
            o.push(event(Kind::Connect, s));
        }
        assert_eq!(
            sessions(&o),
            vec![(3, Kind::Connect), (4, Kind::Connect), (5, Kind::Connect)]
        );
        assert_eq!(o.stats().dropped, 2);
    }

    #[test]
    fn undelivered_events_come_back_after_a_restart_in_order() {
        let dir = tmpdir("restart");
        let o = Outbox::open(Some(&dir), 100);
        for s in 1..=4 {
            o.push(event(Kind::Connect, s));
        }
        let first = async_io::block_on(o.next());
        o.settle(first.seq, Settled::Delivered);
        o.flush(Duration::from_secs(5));
        drop(o);
        let o = Outbox::open(Some(&dir), 100);
        assert_eq!(
            sessions(&o),
            vec![(2, Kind::Connect), (3, Kind::Connect), (4, Kind::Connect)]
        );
        // Sequence numbers continue, and duplicates of journalled events are still caught.
        assert_eq!(o.push(event(Kind::Connect, 2)), Pushed::Duplicate);
        o.push(event(Kind::Disconnect, 2));
        assert_eq!(o.inner.borrow().queue.back().unwrap().seq, 5);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_smaller_max_after_restart_drops_the_oldest() {
        let dir = tmpdir("shrink");
        let o = Outbox::open(Some(&dir), 100);
        for s in 1..=5 {
            o.push(event(Kind::Connect, s));
        }
        o.flush(Duration::from_secs(5));
        drop(o);
        let o = Outbox::open(Some(&dir), 2);
        assert_eq!(sessions(&o), vec![(4, Kind::Connect), (5, Kind::Connect)]);
        o.flush(Duration::from_secs(5));
        drop(o);
        // The drop was journalled too.
        let o = Outbox::open(Some(&dir), 100);
        assert_eq!(o.stats().depth, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unusable_journal_keeps_events_in_memory() {
        let dir = tmpdir("unusable");
        std::fs::create_dir_all(&dir).unwrap();
        // The journal's name is taken by a directory: it cannot be opened.
        std::fs::create_dir_all(dir.join(FILE_NAME)).unwrap();
        let o = Outbox::open(Some(&dir), 10);
        assert_eq!(o.push(event(Kind::Connect, 1)), Pushed::Queued);
        assert_eq!(o.stats().depth, 1);
        assert_eq!(o.stats().journal_errors, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_full_disk_mid_run_is_counted_and_the_event_kept() {
        let dir = tmpdir("enospc");
        let o = Outbox::open(Some(&dir), 10);
        o.inner
            .borrow()
            .journal
            .as_ref()
            .unwrap()
            .journal
            .lock()
            .unwrap()
            .use_file_for_test("/dev/full");
        assert_eq!(o.push(event(Kind::Connect, 1)), Pushed::Queued);
        o.flush(Duration::from_secs(5));
        assert_eq!(o.stats().journal_errors, 1);
        assert_eq!(async_io::block_on(o.next()).session, 1);
        // The next record first rewrites the journal from memory: the event is on disk.
        o.push(event(Kind::Connect, 2));
        o.flush(Duration::from_secs(5));
        drop(o);
        let o = Outbox::open(Some(&dir), 10);
        assert_eq!(sessions(&o), vec![(1, Kind::Connect), (2, Kind::Connect)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn settled_records_are_compacted_away_on_the_disk_thread() {
        let dir = tmpdir("compact");
        let o = Outbox::open(Some(&dir), 1000);
        for s in 1..=200 {
            o.push(event(Kind::Connect, s));
            let e = async_io::block_on(o.next());
            o.settle(e.seq, Settled::Delivered);
        }
        o.push(event(Kind::Connect, 999));
        o.flush(Duration::from_secs(5));
        let text = std::fs::read_to_string(dir.join(FILE_NAME)).unwrap();
        // 401 records were written; compactions left the live event and what followed.
        assert!(text.lines().count() < 2 * 64 + 8, "{text}");
        drop(o);
        let o = Outbox::open(Some(&dir), 1000);
        assert_eq!(sessions(&o), vec![(999, Kind::Connect)], "{text}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn next_waits_for_a_push() {
        use futures_lite::future;
        let o = Outbox::open(None, 10);
        let mut next = Box::pin(o.next());
        assert!(future::block_on(future::poll_once(&mut next)).is_none());
        o.push(event(Kind::Connect, 3));
        assert_eq!(future::block_on(next).session, 3);
    }
}
