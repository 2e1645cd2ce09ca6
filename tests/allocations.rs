//! A run of no-op services with no journal makes no heap allocation: the plan is one state
//! machine, outputs live in it, and dependents borrow them. Exact, so an ordinary test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;

use orch::prelude::*;

struct CountingAllocator;

thread_local! {
    /// Allocations made by this thread while counting; `None` when not counting.
    static ALLOCATIONS: Cell<Option<u64>> = const { Cell::new(None) };
}

// SAFETY: every call is forwarded to `System` unchanged; counting only touches a `const`
// thread-local `Cell`, which neither allocates nor unwinds.
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
    let _ = ALLOCATIONS.try_with(|allocations| {
        if let Some(n) = allocations.get() {
            allocations.set(Some(n + 1));
        }
    });
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Allocations made on this thread while `future` runs.
async fn allocations_of<F: std::future::Future>(future: F) -> (F::Output, u64) {
    ALLOCATIONS.with(|allocations| allocations.set(Some(0)));
    let output = future.await;
    let allocations = ALLOCATIONS
        .with(|allocations| allocations.replace(None))
        .unwrap_or(0);
    (output, allocations)
}

// The layered graph of the benchmarks: 1 -> 4 -> 4 -> 1, each node depending on every node of
// the layer before.
#[service]
async fn source(ctx: &Context<u64>) -> Result<u64, Infallible> {
    Ok(*ctx.payload())
}

#[service(depends_on = [source])]
async fn a1(_ctx: &Context<u64>, source: &u64) -> Result<u64, Infallible> {
    Ok(*source)
}

#[service(depends_on = [source])]
async fn a2(_ctx: &Context<u64>, source: &u64) -> Result<u64, Infallible> {
    Ok(*source)
}

#[service(depends_on = [source])]
async fn a3(_ctx: &Context<u64>, source: &u64) -> Result<u64, Infallible> {
    Ok(*source)
}

#[service(depends_on = [source])]
async fn a4(_ctx: &Context<u64>, source: &u64) -> Result<u64, Infallible> {
    Ok(*source)
}

#[service(depends_on = [a1, a2, a3, a4])]
async fn b1(
    _ctx: &Context<u64>,
    a1: &u64,
    a2: &u64,
    a3: &u64,
    a4: &u64,
) -> Result<u64, Infallible> {
    Ok(a1 + a2 + a3 + a4)
}

#[service(depends_on = [a1, a2, a3, a4])]
async fn b2(
    _ctx: &Context<u64>,
    a1: &u64,
    a2: &u64,
    a3: &u64,
    a4: &u64,
) -> Result<u64, Infallible> {
    Ok(a1 + a2 + a3 + a4)
}

#[service(depends_on = [a1, a2, a3, a4])]
async fn b3(
    _ctx: &Context<u64>,
    a1: &u64,
    a2: &u64,
    a3: &u64,
    a4: &u64,
) -> Result<u64, Infallible> {
    Ok(a1 + a2 + a3 + a4)
}

#[service(depends_on = [a1, a2, a3, a4])]
async fn b4(
    _ctx: &Context<u64>,
    a1: &u64,
    a2: &u64,
    a3: &u64,
    a4: &u64,
) -> Result<u64, Infallible> {
    Ok(a1 + a2 + a3 + a4)
}

#[service(depends_on = [b1, b2, b3, b4])]
async fn sink(
    _ctx: &Context<u64>,
    b1: &u64,
    b2: &u64,
    b3: &u64,
    b4: &u64,
) -> Result<u64, Infallible> {
    Ok(b1 + b2 + b3 + b4)
}

orchestration! {
    layered(u64) { source, a1, a2, a3, a4, b1, b2, b3, b4, sink }
}

// Counted from inside the task: how the caller holds the orchestrate future is its own choice
// (tokio's `block_on` boxes futures over 2 KiB in debug builds, for one).
#[tokio::test(flavor = "current_thread")]
async fn a_successful_run_without_a_journal_allocates_nothing() {
    let request = || Request::new("evt", "tenant", "org", 1);
    // The first run registers tracing's call sites, once per process.
    let warm_up = layered::orchestrate(&request(), &NoJournal).await;
    assert_eq!(warm_up.sink.output(), Some(&16));

    let request = request();
    let (report, allocations) = allocations_of(layered::orchestrate(&request, &NoJournal)).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(report.sink.output(), Some(&16));
    assert_eq!(allocations, 0, "heap allocations in one orchestration");
}

#[tokio::test(flavor = "current_thread")]
async fn the_counter_sees_allocations() {
    let (_, allocations) = allocations_of(async { drop(std::hint::black_box(vec![1_u8])) }).await;
    assert_eq!(allocations, 1);
}
