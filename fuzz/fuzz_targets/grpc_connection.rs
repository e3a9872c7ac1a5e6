#![no_main]
//! A whole gRPC server connection over memory, its heap metered: see
//! `ocserv_agent::fuzzing::grpc_connection`.

use ocserv_agent::fuzzing::{grpc_connection, Meter};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counting the bytes in use and their peak since a start.
struct Counting {
    in_use: AtomicUsize,
    start: AtomicUsize,
    peak: AtomicUsize,
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = self.in_use.fetch_add(layout.size(), Relaxed) + layout.size();
            self.peak.fetch_max(now, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        self.in_use.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static HEAP: Counting = Counting {
    in_use: AtomicUsize::new(0),
    start: AtomicUsize::new(0),
    peak: AtomicUsize::new(0),
};

struct Heap;

impl Meter for Heap {
    fn start(&self) {
        let now = HEAP.in_use.load(Relaxed);
        HEAP.start.store(now, Relaxed);
        HEAP.peak.store(now, Relaxed);
    }

    fn peak(&self) -> usize {
        HEAP.peak
            .load(Relaxed)
            .saturating_sub(HEAP.start.load(Relaxed))
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| grpc_connection(data, Some(&Heap)));
