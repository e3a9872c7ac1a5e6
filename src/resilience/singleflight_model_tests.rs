//! Single-flight against a model of who leads and who waits: random histories of calls
//! starting on a few keys, leaders finishing, and calls cancelled (leaders among them, which
//! hands the lead to the earliest caller still waiting). After every step each call has the
//! result, or is still waiting, as the model says; the work ran once per leader; the counters
//! and the keys in flight agree.

use super::*;
use proptest::prelude::*;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug)]
enum Op {
    Start(u8),
    /// Finishes the n-th leader (modulo the leaders running) with this value.
    Finish(usize, u32),
    /// Drops the n-th call still waiting or leading.
    Cancel(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..3).prop_map(Op::Start),
        3 => (any::<usize>(), any::<u32>()).prop_map(|(n, v)| Op::Finish(n, v)),
        2 => any::<usize>().prop_map(Op::Cancel),
    ]
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Status {
    Leading,
    Following,
    Done(u32, Role),
    Cancelled,
}

/// The work a leader runs: ready once its gate holds a value.
struct Gate(Rc<Cell<Option<u32>>>);

impl Future for Gate {
    type Output = u32;

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        match self.0.get() {
            Some(v) => Poll::Ready(v),
            None => Poll::Pending,
        }
    }
}

/// A waker that does nothing: every step polls every call itself.
fn noop_waker() -> Waker {
    use std::task::{RawWaker, RawWakerVTable};
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: every function of the table ignores its pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

type Call<'a> = Pin<Box<dyn Future<Output = (u32, Role)> + 'a>>;

/// A call under test: its key, its future (`None` once it ended or was dropped), its gate.
type Held<'a> = (u8, Option<Call<'a>>, Rc<Cell<Option<u32>>>);

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let group: SingleFlight<u8, u32> = SingleFlight::new();
    let runs = Cell::new(0u32);
    let waker = noop_waker();
    let mut cx = Context::from_waker(&waker);
    let mut calls: Vec<Held<'_>> = Vec::new();
    let mut model: Vec<Status> = Vec::new();
    let mut leader: HashMap<u8, usize> = HashMap::new();
    let (mut model_runs, mut abandoned, mut coalesced) = (0u32, 0u32, 0u32);
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Start(key) => {
                let gate = Rc::new(Cell::new(None));
                let g = gate.clone();
                let runs = &runs;
                let call: Call<'_> = Box::pin(group.run(key, move || {
                    runs.set(runs.get() + 1);
                    Gate(g)
                }));
                calls.push((key, Some(call), gate));
                if let std::collections::hash_map::Entry::Vacant(e) = leader.entry(key) {
                    e.insert(model.len());
                    model.push(Status::Leading);
                    model_runs += 1;
                } else {
                    model.push(Status::Following);
                }
            }
            Op::Finish(n, value) => {
                let leading: Vec<usize> = (0..model.len())
                    .filter(|&i| model[i] == Status::Leading)
                    .collect();
                if leading.is_empty() {
                    continue;
                }
                let id = leading[n % leading.len()];
                let key = calls[id].0;
                calls[id].2.set(Some(value));
                model[id] = Status::Done(value, Role::Leader);
                for i in 0..model.len() {
                    if calls[i].0 == key && model[i] == Status::Following {
                        model[i] = Status::Done(value, Role::Follower);
                        coalesced += 1;
                    }
                }
                leader.remove(&key);
            }
            Op::Cancel(n) => {
                let live: Vec<usize> = (0..model.len())
                    .filter(|&i| matches!(model[i], Status::Leading | Status::Following))
                    .collect();
                if live.is_empty() {
                    continue;
                }
                let id = live[n % live.len()];
                let key = calls[id].0;
                calls[id].1 = None;
                if model[id] == Status::Leading {
                    abandoned += 1;
                    leader.remove(&key);
                    let next = (0..model.len())
                        .find(|&i| calls[i].0 == key && model[i] == Status::Following);
                    if let Some(next) = next {
                        model[next] = Status::Leading;
                        leader.insert(key, next);
                        model_runs += 1;
                    }
                }
                model[id] = Status::Cancelled;
            }
        }
        // Every call polled, earliest first, until none moves.
        let mut got: Vec<Option<(u32, Role)>> = vec![None; calls.len()];
        loop {
            let mut moved = false;
            for (i, (_, call, _)) in calls.iter_mut().enumerate() {
                if let Some(f) = call {
                    if let Poll::Ready(result) = f.as_mut().poll(&mut cx) {
                        got[i] = Some(result);
                        *call = None;
                        moved = true;
                    }
                }
            }
            if !moved {
                break;
            }
        }
        for (i, status) in model.iter().enumerate() {
            match *status {
                Status::Done(v, role) if got[i].is_some() => {
                    prop_assert_eq!(got[i], Some((v, role)), "call {} at step {}", i, step)
                }
                Status::Done(..) | Status::Cancelled => prop_assert!(calls[i].1.is_none()),
                Status::Leading | Status::Following => prop_assert!(
                    calls[i].1.is_some() && got[i].is_none(),
                    "call {} ended at step {} {:?}: {:?}",
                    i,
                    step,
                    op,
                    got[i]
                ),
            }
        }
        prop_assert_eq!(runs.get(), model_runs, "work runs at step {}", step);
        prop_assert_eq!(group.in_flight(), leader.len());
        let stats = group.stats();
        prop_assert_eq!(
            (stats.leaders, stats.abandoned, stats.coalesced),
            (model_runs, abandoned, coalesced),
            "at step {}",
            step
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn single_flight_hands_the_lead_on_and_shares_each_result(
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        run(ops)?;
    }
}
