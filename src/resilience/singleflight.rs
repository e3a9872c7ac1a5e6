//! Request coalescing: concurrent lookups of one key share a single portal call.
//!
//! During a connect storm (a router reboots, every client reconnects) many hooks ask about the
//! same user at once; only the first (the *leader*) calls the portal, the others wait for its
//! result and get a clone of it, whether a decision or a failure, so the fail mode is applied the
//! same way to all of them. If the leader is cancelled (its hook gave up), a waiting request
//! takes over as leader instead of waiting forever.
//!
//! Built for the daemon's single-threaded executor (`Rc`, `RefCell`; not `Send`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// Whether a call ran the work itself or shared another's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Ran the work; its result goes to every follower.
    Leader,
    /// Waited for a leader's result.
    Follower,
}

/// Counters for status and metrics (wrapping).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Calls that did the work.
    pub leaders: u32,
    /// Calls that shared a leader's result.
    pub coalesced: u32,
    /// Leaders cancelled before finishing (a follower then took over).
    pub abandoned: u32,
}

/// A group of in-flight calls keyed by `K`.
pub struct SingleFlight<K, V> {
    flights: RefCell<HashMap<K, Rc<Flight<V>>>>,
    stats: Cell<Stats>,
}

struct Flight<V> {
    state: RefCell<FlightState<V>>,
    waiters: RefCell<Vec<Waker>>,
}

enum FlightState<V> {
    Running,
    Done(V),
    Abandoned,
}

impl<K: Hash + Eq + Clone, V: Clone> SingleFlight<K, V> {
    /// A group with no call in flight.
    pub fn new() -> Self {
        SingleFlight {
            flights: RefCell::new(HashMap::new()),
            stats: Cell::new(Stats::default()),
        }
    }

    /// Runs `work` for `key`, unless a call for `key` is already running: then waits for that
    /// call's result instead.
    pub async fn run<F, Fut>(&self, key: K, work: F) -> (V, Role)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let mut work = Some(work);
        loop {
            let running = self.flights.borrow().get(&key).cloned();
            if let Some(flight) = running {
                match (Wait { flight }).await {
                    Some(value) => {
                        self.bump(|s| s.coalesced = s.coalesced.wrapping_add(1));
                        return (value, Role::Follower);
                    }
                    None => continue, // the leader was cancelled: try to lead
                }
            }
            let flight = Rc::new(Flight {
                state: RefCell::new(FlightState::Running),
                waiters: RefCell::new(Vec::new()),
            });
            self.flights
                .borrow_mut()
                .insert(key.clone(), flight.clone());
            self.bump(|s| s.leaders = s.leaders.wrapping_add(1));
            let mut guard = LeaderGuard {
                group: self,
                key: &key,
                flight,
                finished: false,
            };
            let work = work.take().expect("work runs at most once");
            let value = work().await;
            guard.finish(FlightState::Done(value.clone()));
            return (value, Role::Leader);
        }
    }

    /// Keys with a call in flight.
    pub fn in_flight(&self) -> usize {
        self.flights.borrow().len()
    }

    /// Counters since the group was made.
    pub fn stats(&self) -> Stats {
        self.stats.get()
    }

    fn bump(&self, f: impl FnOnce(&mut Stats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Default for SingleFlight<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

/// Publishes the leader's result, or its abandonment if it is dropped unfinished.
struct LeaderGuard<'a, K: Hash + Eq + Clone, V: Clone> {
    group: &'a SingleFlight<K, V>,
    key: &'a K,
    flight: Rc<Flight<V>>,
    finished: bool,
}

impl<K: Hash + Eq + Clone, V: Clone> LeaderGuard<'_, K, V> {
    fn finish(&mut self, state: FlightState<V>) {
        self.finished = true;
        // Later calls start a new flight: a result is shared only by calls that overlapped.
        self.group.flights.borrow_mut().remove(self.key);
        *self.flight.state.borrow_mut() = state;
        for waker in self.flight.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Drop for LeaderGuard<'_, K, V> {
    fn drop(&mut self) {
        if !self.finished {
            self.group
                .bump(|s| s.abandoned = s.abandoned.wrapping_add(1));
            self.finish(FlightState::Abandoned);
        }
    }
}

/// Resolves to the flight's value, or `None` if its leader was cancelled.
struct Wait<V> {
    flight: Rc<Flight<V>>,
}

impl<V: Clone> Future for Wait<V> {
    type Output = Option<V>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<V>> {
        match &*self.flight.state.borrow() {
            FlightState::Done(v) => return Poll::Ready(Some(v.clone())),
            FlightState::Abandoned => return Poll::Ready(None),
            FlightState::Running => {}
        }
        let mut waiters = self.flight.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
#[path = "singleflight_model_tests.rs"]
mod model_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use async_executor::LocalExecutor;
    use async_io::Timer;
    use std::time::Duration;

    #[test]
    fn concurrent_calls_share_one_run() {
        let ex = LocalExecutor::new();
        let group: Rc<SingleFlight<String, Result<u32, String>>> = Rc::new(SingleFlight::new());
        let runs = Rc::new(Cell::new(0u32));
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let (group, runs) = (group.clone(), runs.clone());
                ex.spawn(async move {
                    group
                        .run("alice".to_string(), || async move {
                            runs.set(runs.get() + 1);
                            Timer::after(Duration::from_millis(20)).await;
                            Ok(42)
                        })
                        .await
                })
            })
            .collect();
        let results = async_io::block_on(ex.run(async {
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await);
            }
            out
        }));
        assert_eq!(runs.get(), 1, "one portal call for 100 concurrent requests");
        assert!(results.iter().all(|(v, _)| *v == Ok(42)));
        assert_eq!(
            results.iter().filter(|(_, r)| *r == Role::Leader).count(),
            1
        );
        assert_eq!(
            group.stats(),
            Stats {
                leaders: 1,
                coalesced: 99,
                abandoned: 0
            }
        );
        assert_eq!(group.in_flight(), 0);
    }

    #[test]
    fn followers_share_a_failure_too() {
        let ex = LocalExecutor::new();
        let group: Rc<SingleFlight<u8, Result<u32, &'static str>>> = Rc::new(SingleFlight::new());
        let a = ex.spawn({
            let g = group.clone();
            async move {
                g.run(1, || async {
                    Timer::after(Duration::from_millis(10)).await;
                    Err("portal unavailable")
                })
                .await
            }
        });
        let b = ex.spawn({
            let g = group.clone();
            async move { g.run(1, || async { Ok(1) }).await }
        });
        let (ra, rb) = async_io::block_on(ex.run(futures_lite::future::zip(a, b)));
        assert_eq!(ra, (Err("portal unavailable"), Role::Leader));
        assert_eq!(rb, (Err("portal unavailable"), Role::Follower));
    }

    #[test]
    fn different_keys_do_not_wait_for_each_other() {
        let group: SingleFlight<u8, u8> = SingleFlight::new();
        let (a, b) = async_io::block_on(futures_lite::future::zip(
            group.run(1, || async { 1 }),
            group.run(2, || async { 2 }),
        ));
        assert_eq!((a, b), ((1, Role::Leader), (2, Role::Leader)));
    }

    #[test]
    fn a_cancelled_leader_hands_over_to_a_follower() {
        let ex = LocalExecutor::new();
        let group: Rc<SingleFlight<u8, u32>> = Rc::new(SingleFlight::new());
        let runs = Rc::new(Cell::new(0u32));
        let work = |runs: Rc<Cell<u32>>| {
            move || async move {
                runs.set(runs.get() + 1);
                Timer::after(Duration::from_millis(20)).await;
                7
            }
        };
        let leader = ex.spawn({
            let (g, r) = (group.clone(), runs.clone());
            async move { g.run(9, work(r)).await }
        });
        let follower = ex.spawn({
            let (g, r) = (group.clone(), runs.clone());
            async move { g.run(9, work(r)).await }
        });
        let result = async_io::block_on(ex.run(async {
            Timer::after(Duration::from_millis(5)).await;
            drop(leader); // the leader's hook gave up
            follower.await
        }));
        assert_eq!(result, (7, Role::Leader), "the follower took over");
        assert_eq!(runs.get(), 2);
        assert_eq!(group.stats().abandoned, 1);
        assert_eq!(group.in_flight(), 0);
    }

    #[test]
    fn a_later_call_starts_a_new_flight() {
        let group: SingleFlight<u8, u32> = SingleFlight::new();
        let runs = Cell::new(0);
        for _ in 0..3 {
            async_io::block_on(group.run(1, || async {
                runs.set(runs.get() + 1);
                1
            }));
        }
        assert_eq!(
            runs.get(),
            3,
            "results are shared only between overlapping calls"
        );
    }
}
