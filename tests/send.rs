//! The future `orchestrate` returns is `Send`: it can be spawned, and moved to another thread
//! between its creation and its run.
//!
//! tokio's `rt-multi-thread` feature is not among this package's dev-dependencies, so a
//! multi-thread runtime is not used; a scoped thread running its own runtime moves the future
//! across threads instead, and `tokio::spawn` (which demands `Send + 'static` on any runtime)
//! checks the rest.
//!
//! The assertions are compile-time: if a future stopped being `Send`, this file would not
//! compile, and the test run would fail.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use common::{ms, request};
use orch::RunOptions;
use orch::prelude::*;

fn assert_send<T: Send>(_: &T) {}

mod sendable {
    use super::*;

    #[service(retry = RetryPolicy::DEFAULT.with_jitter(0.0).with_max_retries(1))]
    pub async fn count(ctx: &Context<Arc<AtomicU32>>) -> Result<u32, String> {
        let n = ctx.payload().fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(ms(10)).await;
        if ctx.attempt() == 1 {
            ctx.warn("retrying");
            return Err("first attempt".to_owned());
        }
        Ok(n)
    }

    #[service]
    pub async fn double(ctx: &Context<Arc<AtomicU32>>) -> Result<u32, Infallible> {
        tokio::time::sleep(ms(115)).await;
        Ok(ctx.payload().load(Ordering::SeqCst) * 2)
    }

    orchestration! {
        pub sendable(Arc<AtomicU32>) { count, double }
    }
}

#[tokio::test]
async fn the_orchestrate_futures_are_send() {
    let request = request(Arc::new(AtomicU32::new(0)));
    let journal = InMemoryJournal::new();
    let with_journal = sendable::sendable::orchestrate(&request, &journal);
    assert_send(&with_journal);
    let without = sendable::sendable::orchestrate(&request, &NoJournal);
    assert_send(&without);
    let with_options =
        sendable::sendable::orchestrate_with(&request, &journal, RunOptions::new().with_seed(1));
    assert_send(&with_options);
}

#[tokio::test(start_paused = true)]
async fn a_run_can_be_spawned_as_a_task() {
    let handle = tokio::spawn(async move {
        let counter = Arc::new(AtomicU32::new(0));
        let request = request(counter.clone());
        let journal = InMemoryJournal::new();
        let start = tokio::time::Instant::now();
        let report = sendable::sendable::orchestrate(&request, &journal).await;
        (
            report.into_result().map(|o| o.double).ok(),
            counter.load(Ordering::SeqCst),
            journal.entries().len(),
            start.elapsed(),
        )
    });
    let (double, calls, entries, elapsed) = handle.await.expect("the task does not panic");
    assert_eq!(double, Some(4));
    assert_eq!(calls, 2);
    // run_started, 2 x (started, ended), 1 warning, double's started and succeeded, run_finished
    assert_eq!(entries, 9);
    // count: 10 ms, 100 ms backoff, 10 ms.
    assert_eq!(elapsed, ms(120));
}

#[test]
fn a_run_made_on_one_thread_runs_on_another() {
    let request = request(Arc::new(AtomicU32::new(0)));
    let journal = InMemoryJournal::new();
    let run = sendable::sendable::orchestrate(&request, &journal);
    let report = std::thread::scope(|scope| {
        scope
            .spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .start_paused(true)
                    .build()
                    .expect("a runtime")
                    .block_on(run)
            })
            .join()
            .expect("the thread does not panic")
    });
    assert_eq!(report.double.output(), Some(&4));
    assert_eq!(journal.entries().len(), 9);
}

mod with_dependencies {
    use super::*;

    #[service]
    pub async fn price(ctx: &Context<u32>) -> Result<u32, Infallible> {
        Ok(ctx.payload() * 100)
    }

    #[service(depends_on = [price])]
    pub async fn tax(_ctx: &Context<u32>, price: &u32) -> Result<u32, Infallible> {
        Ok(price / 5)
    }

    #[service(depends_on = [price])]
    pub async fn discount(_ctx: &Context<u32>, price: Option<&u32>) -> Result<u32, Infallible> {
        Ok(price.map_or(0, |p| p / 10))
    }
}

orchestration! {
    quote(u32) { with_dependencies::price, with_dependencies::tax, with_dependencies::discount }
}

#[tokio::test]
async fn an_orchestration_with_dependencies_is_send_and_can_be_spawned() {
    let request = Request::new("evt-1", "tenant", "org", 3);
    let run = quote::orchestrate(&request, &NoJournal);
    assert_send(&run);
    assert_eq!(run.await.into_result().expect("nothing fails").tax, 60);

    let spawned = tokio::spawn(async move {
        let journal = InMemoryJournal::new();
        quote::orchestrate(&request, &journal)
            .await
            .into_result()
            .map(|outputs| outputs.discount)
    });
    assert_eq!(spawned.await.expect("no panic").expect("nothing fails"), 30);
}

/// Services whose futures and outputs are not `Send`: their plan runs on a current-thread
/// runtime, through retries and timeouts, and its future is not `Send`.
mod local {
    use std::rc::Rc;

    use super::*;

    #[service(
        retry = RetryPolicy::DEFAULT.with_jitter(0.0).with_max_retries(1),
        timeout = std::time::Duration::from_millis(50)
    )]
    pub async fn shared(ctx: &Context<u32>) -> Result<Rc<u32>, String> {
        // Held across an await: the attempt's future is not `Send`.
        let value = Rc::new(*ctx.payload());
        tokio::time::sleep(ms(10)).await;
        if ctx.attempt() == 1 {
            return Err("first attempt".to_owned());
        }
        Ok(value)
    }

    #[service(depends_on = [shared])]
    pub async fn read(_ctx: &Context<u32>, shared: &Rc<u32>) -> Result<u32, Infallible> {
        Ok(**shared + 1)
    }

    orchestration! {
        pub local(u32) { shared, read }
    }
}

/// Implemented twice for a `Send` type, so that `assert_not_send` cannot infer `A` for it.
trait AmbiguousIfSend<A> {}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<u8> for T {}

/// Compiles only if `T` is not `Send`.
fn assert_not_send<T: ?Sized + AmbiguousIfSend<A>, A>(_: &T) {}

#[tokio::test(start_paused = true)]
async fn a_plan_of_services_that_are_not_send_runs_on_its_thread_and_is_not_send() {
    let request = Request::new("evt-local", "tenant", "org", 41);
    let journal = InMemoryJournal::new();
    let run = local::local::orchestrate(&request, &journal);
    assert_not_send(&run);
    let start = tokio::time::Instant::now();
    let report = run.await;
    assert_eq!(report.shared.output().map(|shared| **shared), Some(41));
    assert_eq!(report.read.output(), Some(&42));
    assert_eq!(report.shared.attempts(), 2);
    // shared: 10 ms, 100 ms backoff, 10 ms.
    assert_eq!(start.elapsed(), ms(120));
}
