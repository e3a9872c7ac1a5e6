//! The decision cache against a model that is only a list in recency order: random histories
//! of lookups (fresh and stale), stores (allow, deny, portal TTL caps, zero TTLs), revocations
//! (one key, one user, all), sweeps, clock steps (back as well), and reloads (new TTLs, new
//! capacity). After every step the cache answers what the model answers and holds as many.

use super::*;
use proptest::prelude::*;
use std::time::{Duration, Instant};

/// User names with a prefix in common, so that revoking one user must not touch the other.
const USERS: [&str; 3] = ["a", "ab", "b"];
const FIELDS: [&str; 2] = ["192.0.2.1", "192.0.2.10"];

#[derive(Clone, Debug)]
enum Op {
    Get(usize, usize),
    GetStale(usize, usize),
    Insert(usize, usize, u32, bool, Option<u64>),
    Invalidate(usize, usize),
    InvalidateUser(usize),
    Clear,
    Sweep,
    /// Moves the clock by this many seconds (negative: a clock that went back).
    Step(i64),
    /// A reload: TTLs in seconds (allow, deny, stale).
    Ttls(u64, u64, u64),
    Resize(u32),
}

fn op() -> impl Strategy<Value = Op> {
    let user = 0..USERS.len();
    let field = 0..FIELDS.len();
    let secs = prop_oneof![Just(0u64), 1u64..5, Just(30), Just(u64::MAX / 4)];
    prop_oneof![
        4 => (user.clone(), field.clone()).prop_map(|(u, f)| Op::Get(u, f)),
        2 => (user.clone(), field.clone()).prop_map(|(u, f)| Op::GetStale(u, f)),
        5 => (user.clone(), field.clone(), any::<u32>(), any::<bool>(), proptest::option::of(secs.clone()))
            .prop_map(|(u, f, v, allow, cap)| Op::Insert(u, f, v, allow, cap)),
        1 => (user.clone(), field).prop_map(|(u, f)| Op::Invalidate(u, f)),
        1 => user.prop_map(Op::InvalidateUser),
        1 => Just(Op::Clear),
        1 => Just(Op::Sweep),
        4 => (-3i64..12).prop_map(Op::Step),
        1 => (secs.clone(), secs.clone(), secs).prop_map(|(a, d, s)| Op::Ttls(a, d, s)),
        1 => (1u32..6).prop_map(Op::Resize),
    ]
}

#[derive(Clone, Debug)]
struct Entry {
    key: (usize, usize),
    value: u32,
    allow: bool,
    cap: Option<Duration>,
    at: Instant,
}

/// Most recently used first.
struct Model {
    entries: Vec<Entry>,
    capacity: usize,
    allow_ttl: Duration,
    deny_ttl: Duration,
    stale_ttl: Duration,
}

#[derive(PartialEq)]
enum Age {
    Fresh,
    Stale,
    Dead,
}

impl Model {
    fn age(&self, e: &Entry, now: Instant) -> Age {
        let configured = if e.allow {
            self.allow_ttl
        } else {
            self.deny_ttl
        };
        let ttl = e.cap.map_or(configured, |c| c.min(configured));
        let elapsed = now.saturating_duration_since(e.at);
        if ttl.is_zero() || elapsed >= ttl.saturating_add(self.stale_ttl) {
            Age::Dead
        } else if elapsed < ttl {
            Age::Fresh
        } else {
            Age::Stale
        }
    }

    fn find(&self, key: (usize, usize)) -> Option<usize> {
        self.entries.iter().position(|e| e.key == key)
    }

    /// A lookup that serves an entry of an age `serves` takes; dead entries are dropped.
    fn lookup(&mut self, key: (usize, usize), now: Instant, stale: bool) -> Option<u32> {
        let i = self.find(key)?;
        match self.age(&self.entries[i], now) {
            Age::Dead => {
                self.entries.remove(i);
                None
            }
            Age::Stale if !stale => None,
            _ => {
                let e = self.entries.remove(i);
                let value = e.value;
                self.entries.insert(0, e);
                Some(value)
            }
        }
    }
}

fn key(u: usize, f: usize) -> CacheKey {
    let mut k = CacheKey::new(USERS[u].as_bytes()).unwrap();
    k.push(FIELDS[f].as_bytes()).unwrap();
    k
}

fn run(capacity: u32, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let secs = Duration::from_secs;
    let start = Instant::now() + secs(1000);
    let mut now = start;
    let mut cache = DecisionCache::new(Settings {
        capacity,
        allow_ttl: secs(10),
        deny_ttl: secs(3),
        stale_ttl: secs(20),
    });
    let mut model = Model {
        entries: Vec::new(),
        capacity: capacity as usize,
        allow_ttl: secs(10),
        deny_ttl: secs(3),
        stale_ttl: secs(20),
    };
    for (step, op) in ops.into_iter().enumerate() {
        match op.clone() {
            Op::Get(u, f) => {
                let got = cache.get(&key(u, f), now).copied();
                prop_assert_eq!(
                    got,
                    model.lookup((u, f), now, false),
                    "step {} {:?}",
                    step,
                    op
                );
            }
            Op::GetStale(u, f) => {
                let got = cache.get_stale(&key(u, f), now).copied();
                prop_assert_eq!(
                    got,
                    model.lookup((u, f), now, true),
                    "step {} {:?}",
                    step,
                    op
                );
            }
            Op::Insert(u, f, value, allow, cap) => {
                let cap = cap.map(secs);
                let kind = if allow { Kind::Allow } else { Kind::Deny };
                cache.insert(&key(u, f), value, kind, cap, now);
                let configured = if allow {
                    model.allow_ttl
                } else {
                    model.deny_ttl
                };
                if let Some(i) = model.find((u, f)) {
                    model.entries.remove(i);
                }
                if !cap.map_or(configured, |c| c.min(configured)).is_zero() {
                    if model.entries.len() == model.capacity {
                        model.entries.pop();
                    }
                    let at = now;
                    model.entries.insert(
                        0,
                        Entry {
                            key: (u, f),
                            value,
                            allow,
                            cap,
                            at,
                        },
                    );
                }
            }
            Op::Invalidate(u, f) => {
                let was = model
                    .find((u, f))
                    .map(|i| model.entries.remove(i))
                    .is_some();
                prop_assert_eq!(cache.invalidate(&key(u, f)), was);
            }
            Op::InvalidateUser(u) => {
                let before = model.entries.len();
                model.entries.retain(|e| e.key.0 != u);
                let n = (before - model.entries.len()) as u32;
                prop_assert_eq!(cache.invalidate_user(USERS[u].as_bytes()), n);
            }
            Op::Clear => {
                cache.clear();
                model.entries.clear();
            }
            Op::Sweep => {
                let before = model.entries.len();
                let dead: Vec<bool> = model
                    .entries
                    .iter()
                    .map(|e| model.age(e, now) == Age::Dead)
                    .collect();
                let mut i = 0;
                model.entries.retain(|_| {
                    i += 1;
                    !dead[i - 1]
                });
                let n = (before - model.entries.len()) as u32;
                prop_assert_eq!(cache.sweep(now), n);
            }
            Op::Step(by) => {
                now = if by >= 0 {
                    now + secs(by as u64)
                } else {
                    now.checked_sub(secs(by.unsigned_abs()))
                        .unwrap_or(start)
                        .max(start)
                };
            }
            Op::Ttls(a, d, s) => {
                cache.update_ttls(secs(a), secs(d), secs(s));
                (model.allow_ttl, model.deny_ttl, model.stale_ttl) = (secs(a), secs(d), secs(s));
            }
            Op::Resize(c) => {
                cache.resize(c);
                model.capacity = c as usize;
                model.entries.truncate(c as usize);
            }
        }
        prop_assert_eq!(
            cache.len() as usize,
            model.entries.len(),
            "after step {} {:?}",
            step,
            op
        );
        prop_assert!(cache.len() <= cache.stats().capacity);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_cache_answers_as_its_model(capacity in 1u32..6, ops in proptest::collection::vec(op(), 1..120)) {
        run(capacity, ops)?;
    }
}
