//! A global allocator that counts allocations, in total and on the current thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct CountingAllocator;

/// Allocations by every thread since the process started.
pub static TOTAL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Allocations by this thread while counting; `None` when not counting.
    static ON_THIS_THREAD: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: every call is forwarded to `System` unchanged; counting only touches an atomic and a
// `const` thread-local `Cell`, which neither allocate nor unwind.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn count() {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    let _ = ON_THIS_THREAD.try_with(|count| {
        if let Some(n) = count.get() {
            count.set(Some(n + 1));
        }
    });
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations made on this thread while `future` runs (a current-thread runtime runs every
/// task on it).
#[allow(dead_code)] // Not every target that includes this module counts per thread.
pub async fn allocations_of<F: Future>(future: F) -> (F::Output, u64) {
    ON_THIS_THREAD.with(|count| count.set(Some(0)));
    let output = future.await;
    let count = ON_THIS_THREAD
        .with(|count| count.replace(None))
        .unwrap_or(0);
    (output, count)
}
