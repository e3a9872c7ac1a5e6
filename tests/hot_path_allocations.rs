//! The cache hit path and the breaker's closed path must not touch the allocator: on a router
//! under a connect storm, every allocation is a chance to fragment a small heap.
//!
//! A counting global allocator, in this test binary only; the count is per thread, so other
//! tests' threads cannot disturb it. It also counts live bytes, for the cache's memory per
//! entry that docs/tuning.md quotes.

use ocserv_agent::resilience::breaker::{Breaker, Settings as BreakerSettings};
use ocserv_agent::resilience::cache::{CacheKey, DecisionCache, Kind, Settings};
use ocserv_agent::resilience::clock::SystemClock;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::{Duration, Instant};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    /// Bytes allocated and not freed by this thread (requested sizes, without the allocator's
    /// own headers).
    static LIVE: Cell<isize> = const { Cell::new(0) };
}

fn live_bytes(delta: isize) {
    // `try_with`: the thread-local may be gone while a thread's last values are freed.
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        live_bytes(layout.size() as isize);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live_bytes(-(layout.size() as isize));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        live_bytes(new_size as isize - layout.size() as isize);
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

/// What the daemon caches per key: a stand-in of the same shape as the portal's answer
/// (`portal::auth::Answer`: allowed, reason, TTL cap, revoke).
#[allow(dead_code)]
struct Answer(bool, String, Option<Duration>, bool);

/// The cache's memory for `resilience.cache_max_size` entries, measured: what it reserves at
/// start and what a full cache of typical keys (user, group, address) holds. docs/tuning.md
/// quotes the numbers (x86_64 and armv7 under qemu); the bound catches a layout change that
/// would make its advice wrong.
#[test]
fn cache_memory_per_entry() {
    const N: u32 = 2000;
    let before = LIVE.with(Cell::get);
    let mut cache = DecisionCache::new(Settings {
        capacity: N,
        allow_ttl: Duration::from_secs(300),
        deny_ttl: Duration::from_secs(30),
        stale_ttl: Duration::from_secs(1800),
    });
    let reserved = LIVE.with(Cell::get) - before;
    let keys: Vec<CacheKey> = (0..N).map(|i| key(&format!("user{i:05}"))).collect();
    let now = Instant::now();
    let filled = {
        let start = LIVE.with(Cell::get);
        for (i, k) in keys.iter().enumerate() {
            // One in four a deny with a reason, as a portal gives them.
            let reason = if i % 4 == 0 { "account suspended" } else { "" };
            let answer = Answer(i % 4 != 0, reason.into(), None, false);
            cache.insert(k, answer, Kind::Allow, None, now);
        }
        LIVE.with(Cell::get) - start
    };
    let per_entry = (reserved + filled) / N as isize;
    println!(
        "cache of {N}: {reserved} bytes reserved at start, {filled} more when full: {per_entry} bytes per entry ({} bits)",
        usize::BITS
    );
    let bound = if usize::BITS == 64 { 256 } else { 200 };
    assert!(
        per_entry <= bound,
        "{per_entry} bytes per entry: update docs/tuning.md"
    );
}
