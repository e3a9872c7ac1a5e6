//! The heap each test thread has in use, so that `cargo test` checks the connection target's
//! heap bound as its fuzz binary does (whose allocator counts the whole process: it runs one
//! thread). Tests run side by side, hence a count per thread.

use crate::grpc::fuzz::Meter;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting per thread.
pub(crate) struct PerThread;

thread_local! {
    // `const` initialisers: the allocator must not allocate to reach them.
    static IN_USE: Cell<isize> = const { Cell::new(0) };
    static START: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: a thread's last frees come after its locals are gone.
    let _ = IN_USE.try_with(|in_use| {
        let now = in_use.get() + delta;
        in_use.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call goes to the system allocator unchanged; the counts are thread-local cells.
unsafe impl GlobalAlloc for PerThread {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }
}

#[global_allocator]
static HEAP: PerThread = PerThread;

/// This thread's heap, as a [`Meter`].
pub(crate) struct ThreadHeap;

impl Meter for ThreadHeap {
    fn start(&self) {
        let now = IN_USE.with(Cell::get);
        START.with(|s| s.set(now));
        PEAK.with(|p| p.set(now));
    }

    fn peak(&self) -> usize {
        (PEAK.with(Cell::get) - START.with(Cell::get)).max(0) as usize
    }
}
