//! The cache hit path and the breaker's closed path must not touch the allocator: on a router
//! under a connect storm, every allocation is a chance to fragment a small heap.
//!
//! A counting global allocator, in this test binary only; the count is per thread, so other
//! tests' threads cannot disturb it.

use ocserv_agent::resilience::breaker::{Breaker, Settings as BreakerSettings};
use ocserv_agent::resilience::cache::{CacheKey, DecisionCache, Kind, Settings};
use ocserv_agent::resilience::clock::SystemClock;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

fn key(user: &str) -> CacheKey {
    let mut k = CacheKey::new(user.as_bytes()).unwrap();
    k.push(b"engineering").unwrap();
    k.push(b"203.0.113.7").unwrap();
    k
}

#[test]
fn cache_hits_and_misses_do_not_allocate() {
    let mut cache = DecisionCache::new(Settings {
        capacity: 1000,
        allow_ttl: Duration::from_secs(300),
        deny_ttl: Duration::from_secs(30),
        stale_ttl: Duration::from_secs(1800),
    });
    let now = Instant::now();
    let keys: Vec<CacheKey> = (0..1000).map(|i| key(&format!("user{i}"))).collect();
    for k in &keys {
        cache.insert(k, String::from("allowed by portal"), Kind::Allow, None, now);
    }
    let missing = key("nobody");
    let n = allocations_during(|| {
        for k in &keys {
            assert!(cache.get(k, now).is_some());
            assert!(cache.get_stale(k, now).is_some());
        }
        assert!(cache.get(&missing, now).is_none());
    });
    assert_eq!(n, 0, "the hit path allocated {n} times");
}

#[test]
fn a_warm_cache_reuses_key_storage_on_eviction() {
    let mut cache: DecisionCache<u32> = DecisionCache::new(Settings {
        capacity: 100,
        allow_ttl: Duration::from_secs(300),
        deny_ttl: Duration::from_secs(30),
        stale_ttl: Duration::from_secs(1800),
    });
    let now = Instant::now();
    let keys: Vec<CacheKey> = (0..400).map(|i| key(&format!("user{i:04}"))).collect();
    let cold = allocations_during(|| {
        for (i, k) in keys[..100].iter().enumerate() {
            cache.insert(k, i as u32, Kind::Allow, None, now);
        }
    });
    assert!(
        cold >= 100,
        "the counter must see the first key buffers ({cold})"
    );
    // Same-length keys evicting each other: the slot's key buffer is reused.
    let n = allocations_during(|| {
        for (i, k) in keys[100..].iter().enumerate() {
            cache.insert(k, i as u32, Kind::Allow, None, now);
        }
    });
    assert_eq!(n, 0, "inserts with eviction allocated {n} times");
}

#[test]
fn the_breaker_closed_path_does_not_allocate() {
    let breaker = Breaker::new(BreakerSettings::default(), SystemClock);
    breaker.allow().unwrap().success(); // warm up
    let n = allocations_during(|| {
        for i in 0..1000 {
            let permit = breaker.allow().unwrap();
            if i % 10 == 0 {
                permit.failure();
            } else {
                permit.success();
            }
        }
    });
    assert_eq!(n, 0, "allow+record allocated {n} times");
}
