//! The breaker's hot path: allow + record on a closed breaker, with the real clock.
//! Goal: at most 50 ns per call on the development machine.

use criterion::{criterion_group, criterion_main, Criterion};
use ocserv_agent::resilience::breaker::{Breaker, Settings};
use ocserv_agent::resilience::clock::SystemClock;
use std::hint::black_box;
use std::time::Duration;

fn closed_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("breaker");
    group.measurement_time(Duration::from_secs(3));

    // The default settings: a 60 s counting interval, so allow() reads the clock.
    let breaker = Breaker::new(Settings::default(), SystemClock);
    group.bench_function("allow+success (interval 60s)", |b| {
        b.iter(|| black_box(breaker.allow().unwrap()).success())
    });

    let no_interval = Breaker::new(
        Settings {
            interval: Duration::ZERO,
            ..Settings::default()
        },
        SystemClock,
    );
    group.bench_function("allow+success (no interval)", |b| {
        b.iter(|| black_box(no_interval.allow().unwrap()).success())
    });

    // A failure reads the clock (it may trip); one in ten, as a flaky portal would.
    let flaky = Breaker::new(
        Settings {
            failure_threshold: 1_000_000,
            ..Settings::default()
        },
        SystemClock,
    );
    let mut i = 0u32;
    group.bench_function("allow+record (10% failures)", |b| {
        b.iter(|| {
            i = i.wrapping_add(1);
            let permit = black_box(flaky.allow().unwrap());
            if i % 10 == 0 {
                permit.failure()
            } else {
                permit.success()
            }
        })
    });
    group.finish();
}

criterion_group!(benches, closed_path);
criterion_main!(benches);
