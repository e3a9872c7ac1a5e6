//! The decision cache against the `lru` crate (behind a Mutex, as one would share it) and
//! `quick_cache` (its single-threaded cache), single-threaded, at 1k and 10k entries:
//! get-hit, get-miss and insert-with-eviction. Keys are the same encoded bytes for all three;
//! each cache uses its own default hasher. Goal: ours at least as fast as both.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ocserv_agent::resilience::cache::{CacheKey, DecisionCache, Kind, Settings};
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A decision-sized value: the benchmark measures the cache, not string copies.
type Value = u64;

fn key(i: u32) -> CacheKey {
    let mut k = CacheKey::new(format!("user{i:06}").as_bytes()).unwrap();
    k.push(b"engineering").unwrap();
    k.push(format!("198.51.{}.{}", i / 256 % 256, i % 256).as_bytes())
        .unwrap();
    k
}

fn ours(capacity: u32, keys: &[CacheKey], now: Instant) -> DecisionCache<Value> {
    let mut c = DecisionCache::new(Settings {
        capacity,
        allow_ttl: Duration::from_secs(3600),
        deny_ttl: Duration::from_secs(30),
        stale_ttl: Duration::from_secs(1800),
    });
    for (i, k) in keys.iter().enumerate() {
        c.insert(k, i as Value, Kind::Allow, None, now);
    }
    c
}

fn lru_cache(capacity: u32, keys: &[CacheKey]) -> Mutex<lru::LruCache<Vec<u8>, Value>> {
    let mut c = lru::LruCache::new(NonZeroUsize::new(capacity as usize).unwrap());
    for (i, k) in keys.iter().enumerate() {
        c.put(k.as_bytes().to_vec(), i as Value);
    }
    Mutex::new(c)
}

fn quick(capacity: u32, keys: &[CacheKey]) -> quick_cache::unsync::Cache<Vec<u8>, Value> {
    let mut c = quick_cache::unsync::Cache::new(capacity as usize);
    for (i, k) in keys.iter().enumerate() {
        c.insert(k.as_bytes().to_vec(), i as Value);
    }
    c
}

fn bench(c: &mut Criterion) {
    let now = Instant::now();
    for capacity in [1_000u32, 10_000] {
        let keys: Vec<CacheKey> = (0..capacity).map(key).collect();
        let absent: Vec<CacheKey> = (capacity..capacity * 2).map(key).collect();
        let fresh: Vec<CacheKey> = (capacity * 2..capacity * 4).map(key).collect();
        let fresh_owned: Vec<Vec<u8>> = fresh.iter().map(|k| k.as_bytes().to_vec()).collect();

        let mut group = c.benchmark_group(format!("cache {capacity}"));
        group.measurement_time(Duration::from_secs(2));
        group.warm_up_time(Duration::from_millis(500));

        // get, hit
        let mut mine = ours(capacity, &keys, now);
        let mut i = 0usize;
        group.bench_function(BenchmarkId::new("get-hit", "ours"), |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(mine.get(&keys[i], now).copied())
            })
        });
        let theirs = lru_cache(capacity, &keys);
        group.bench_function(BenchmarkId::new("get-hit", "lru+Mutex"), |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(theirs.lock().unwrap().get(keys[i].as_bytes()).copied())
            })
        });
        let qc = quick(capacity, &keys);
        group.bench_function(BenchmarkId::new("get-hit", "quick_cache"), |b| {
            b.iter(|| {
                i = (i + 1) % keys.len();
                black_box(qc.get(keys[i].as_bytes()).copied())
            })
        });

        // get, miss
        group.bench_function(BenchmarkId::new("get-miss", "ours"), |b| {
            b.iter(|| {
                i = (i + 1) % absent.len();
                black_box(mine.get(&absent[i], now).copied())
            })
        });
        group.bench_function(BenchmarkId::new("get-miss", "lru+Mutex"), |b| {
            b.iter(|| {
                i = (i + 1) % absent.len();
                black_box(theirs.lock().unwrap().get(absent[i].as_bytes()).copied())
            })
        });
        group.bench_function(BenchmarkId::new("get-miss", "quick_cache"), |b| {
            b.iter(|| {
                i = (i + 1) % absent.len();
                black_box(qc.get(absent[i].as_bytes()).copied())
            })
        });

        // insert into a full cache: every insert evicts. The others take owned keys, so each
        // insert clones the key bytes, as a caller of those APIs must.
        group.bench_function(BenchmarkId::new("insert-evict", "ours"), |b| {
            b.iter(|| {
                i = (i + 1) % fresh.len();
                mine.insert(&fresh[i], i as Value, Kind::Allow, None, now)
            })
        });
        group.bench_function(BenchmarkId::new("insert-evict", "lru+Mutex"), |b| {
            b.iter(|| {
                i = (i + 1) % fresh_owned.len();
                black_box(
                    theirs
                        .lock()
                        .unwrap()
                        .push(fresh_owned[i].clone(), i as Value),
                );
            })
        });
        let mut qc = qc;
        group.bench_function(BenchmarkId::new("insert-evict", "quick_cache"), |b| {
            b.iter(|| {
                i = (i + 1) % fresh_owned.len();
                qc.insert(fresh_owned[i].clone(), i as Value)
            })
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
