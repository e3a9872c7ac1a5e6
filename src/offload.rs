//! Blocking file work (fsync'ed writes, journal compaction) on a thread of its own, so that the
//! executor thread, which answers hooks, never waits for flash.
//!
//! One worker thread, started on first use, runs jobs in the order they were handed over (two
//! writes of one file land in that order). At most [`QUEUE`] jobs wait; one more is refused
//! with [`Busy`] rather than queued without bound. Should the thread fail to start (no memory
//! for its stack), jobs run where they are called: late, but done.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

/// Jobs waiting for the worker at most: a burst of 256 logins' journal records, a few dozen
/// KiB at most.
pub const QUEUE: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

struct Worker {
    jobs: Mutex<VecDeque<Job>>,
    ready: Condvar,
}

static WORKER: OnceLock<Option<&'static Worker>> = OnceLock::new();

fn worker() -> Option<&'static Worker> {
    *WORKER.get_or_init(|| {
        let w: &'static Worker = Box::leak(Box::new(Worker {
            jobs: Mutex::new(VecDeque::new()),
            ready: Condvar::new(),
        }));
        let started = std::thread::Builder::new()
            .name("disk".into())
            .stack_size(128 * 1024)
            .spawn(move || loop {
                let job = {
                    let mut jobs = w.jobs.lock().unwrap_or_else(|e| e.into_inner());
                    loop {
                        match jobs.pop_front() {
                            Some(job) => break job,
                            None => jobs = w.ready.wait(jobs).unwrap_or_else(|e| e.into_inner()),
                        }
                    }
                };
                job();
            });
        match started {
            Ok(_) => Some(w),
            Err(e) => {
                log::warn!("no disk thread ({e}): file writes run on the daemon's thread");
                None
            }
        }
    })
}

/// The worker's queue was full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Busy;

impl fmt::Display for Busy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{QUEUE} file writes are already waiting; try again")
    }
}

/// Where a job's result waits for its future.
struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// Hands `job` to the worker thread without waiting for it (its own code reports how it went).
pub fn submit(job: impl FnOnce() + Send + 'static) -> Result<(), Busy> {
    let Some(w) = worker() else {
        job();
        return Ok(());
    };
    let mut jobs = w.jobs.lock().unwrap_or_else(|e| e.into_inner());
    if jobs.len() >= QUEUE {
        return Err(Busy);
    }
    jobs.push_back(Box::new(job));
    w.ready.notify_one();
    Ok(())
}

/// Runs `job` on the worker thread; resolves to its result. Dropping the future does not
/// cancel a job already handed over: a write, once started, finishes.
pub fn run<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> impl Future<Output = Result<T, Busy>> {
    let slot = Arc::new(Mutex::new(Slot {
        value: None,
        waker: None,
    }));
    let theirs = slot.clone();
    let queued = submit(move || {
        let value = job();
        let mut s = theirs.lock().unwrap_or_else(|e| e.into_inner());
        s.value = Some(value);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    });
    Done { slot, queued }
}

/// The future of [`run`].
struct Done<T> {
    slot: Arc<Mutex<Slot<T>>>,
    queued: Result<(), Busy>,
}

impl<T> Future for Done<T> {
    type Output = Result<T, Busy>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T, Busy>> {
        self.queued?;
        let mut s = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        match s.value.take() {
            Some(v) => Poll::Ready(Ok(v)),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    #[test]
    fn jobs_run_off_the_calling_thread_in_order() {
        let caller = std::thread::current().id();
        let order = Arc::new(Mutex::new(Vec::new()));
        let futures: Vec<_> = (0..5)
            .map(|i| {
                let order = order.clone();
                run(move || {
                    order.lock().unwrap().push(i);
                    std::thread::current().id()
                })
            })
            .collect();
        for f in futures {
            assert_ne!(futures_lite::future::block_on(f).unwrap(), caller);
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_full_queue_refuses_rather_than_grows() {
        // Hold the worker on one job, fill the queue, and one more is Busy.
        let release = Arc::new((Mutex::new(false), Condvar::new()));
        let started = Arc::new(AtomicU32::new(0));
        let (r, s) = (release.clone(), started.clone());
        let blocker = run(move || {
            s.store(1, Ordering::SeqCst);
            let (lock, cv) = &*r;
            let mut go = lock.lock().unwrap();
            while !*go {
                go = cv.wait(go).unwrap();
            }
        });
        while started.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        // Other tests may share the worker: fill until refused, at most QUEUE + a margin.
        let mut queued = Vec::new();
        let refused = loop {
            let f = run(|| ());
            match futures_lite::future::block_on(futures_lite::future::poll_once(&mut Box::pin(f)))
            {
                Some(Err(Busy)) => break true,
                Some(Ok(())) => {}
                None => queued.push(()),
            }
            if queued.len() > QUEUE + 8 {
                break false;
            }
        };
        *release.0.lock().unwrap() = true;
        release.1.notify_all();
        futures_lite::future::block_on(blocker).unwrap();
        assert!(refused, "the queue grew past {QUEUE}");
        assert!(queued.len() <= QUEUE);
    }
}
