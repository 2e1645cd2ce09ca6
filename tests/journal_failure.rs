//! A journal that fails interrupts the run: no service starts after the failed write, the error
//! reaches the caller in the report, and `into_result` says the run was interrupted.
//!
//! Every test runs twice: with a journal whose writes are awaited, and with one that writes
//! before `record` returns (as `InMemoryJournal` does), which a run writes inline.

mod common;

use std::convert::Infallible;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{Timeline, ms, request};
use orch::prelude::*;
use orch::{Event, Interruption, JournalEntry, JournalError, Outcome, RunError, RunStatus, Skip};

/// Which writes fail.
#[derive(Clone, Copy, Debug)]
enum Fails {
    /// The `n`-th write (from 1) and every one after it: a full disk.
    From(usize),
    /// Only the `n`-th write: a transient error.
    Only(usize),
}

/// A journal that keeps the entries it accepted, and fails some writes with "disk full".
/// `NOW`: it writes at once, and says so (`Journal::WRITES_NOW`).
struct FailingJournal<const NOW: bool> {
    fails: Fails,
    writes: AtomicUsize,
    kept: Mutex<Vec<JournalEntry>>,
}

impl<const NOW: bool> FailingJournal<NOW> {
    fn new(fails: Fails) -> Self {
        FailingJournal {
            fails,
            writes: AtomicUsize::new(0),
            kept: Mutex::new(Vec::new()),
        }
    }

    fn kept(&self) -> Vec<Event> {
        self.kept
            .lock()
            .unwrap()
            .iter()
            .map(|entry| entry.event.clone())
            .collect()
    }

    fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }

    fn write(&self, entry: JournalEntry) -> Result<(), JournalError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        let fail = match self.fails {
            Fails::From(from) => n >= from,
            Fails::Only(only) => n == only,
        };
        if fail {
            Err(JournalError::new("disk full"))
        } else {
            self.kept.lock().unwrap().push(entry);
            Ok(())
        }
    }
}

impl<const NOW: bool> Journal for FailingJournal<NOW> {
    const WRITES_NOW: bool = NOW;

    fn record(&self, entry: JournalEntry) -> impl Future<Output = Result<(), JournalError>> + Send {
        let result = self.write(entry);
        // A real journal would await its write here.
        async move {
            if !NOW {
                tokio::task::yield_now().await;
            }
            result
        }
    }

    fn record_now(&self, entry: impl FnOnce() -> JournalEntry) -> Result<(), JournalError> {
        assert!(NOW, "record_now is called only if WRITES_NOW");
        self.write(entry())
    }
}

/// Runs the test `$name` (an `async fn` generic over `NOW`) with each kind of journal.
macro_rules! with_each_journal {
    ($name:ident) => {
        mod $name {
            #[tokio::test(start_paused = true)]
            async fn awaited() {
                super::$name::<false>().await;
            }

            #[tokio::test(start_paused = true)]
            async fn written_at_once() {
                super::$name::<true>().await;
            }
        }
    };
}

fn disk_full() -> Interruption {
    Interruption::Journal(JournalError::new("disk full"))
}

/// A chain where at most one service runs at a time, so that the order of writes is fixed:
/// 1 run_started, 2 one started, 3 one succeeded (at 10 ms), 4 two started, 5 two succeeded,
/// 6 three started, 7 three succeeded, 8 run_finished.
mod chain {
    use super::*;

    #[service]
    pub async fn one(ctx: &Context<Timeline>) -> Result<u32, Infallible> {
        ctx.payload().mark("one", "start");
        tokio::time::sleep(ms(10)).await;
        Ok(1)
    }

    #[service(depends_on = [one])]
    pub async fn two(ctx: &Context<Timeline>, one: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("two", "start");
        Ok(one + 1)
    }

    #[service(depends_on = [two])]
    pub async fn three(ctx: &Context<Timeline>, two: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("three", "start");
        Ok(two + 1)
    }

    /// Needs nothing of `one` but that it has finished.
    #[service(depends_on = [one])]
    pub async fn tolerant(ctx: &Context<Timeline>, one: Option<&u32>) -> Result<bool, Infallible> {
        ctx.payload().mark("tolerant", "start");
        Ok(one.is_some())
    }

    orchestration! {
        pub chain(Timeline) { one, two, three }
    }

    orchestration! {
        pub fan(Timeline) { one, two, tolerant }
    }
}

with_each_journal!(the_chain_writes_eight_entries_when_the_journal_works);
async fn the_chain_writes_eight_entries_when_the_journal_works<const NOW: bool>() {
    // The premise of the tests below.
    let journal = FailingJournal::<NOW>::new(Fails::From(usize::MAX));
    let report = chain::chain::orchestrate(&request(Timeline::new()), &journal).await;
    assert!(report.is_success());
    assert_eq!(journal.writes(), 8);
    let kept = journal.kept();
    assert!(matches!(kept[2], Event::AttemptSucceeded { ref service, .. } if service == "one"));
    assert!(matches!(kept[3], Event::AttemptStarted { ref service, .. } if service == "two"));
}

with_each_journal!(a_failed_write_stops_the_run_from_starting_services_and_reaches_the_caller);
async fn a_failed_write_stops_the_run_from_starting_services_and_reaches_the_caller<
    const NOW: bool,
>() {
    let request = request(Timeline::new());
    // Write 3, `one`'s success, fails; so does every later write.
    let journal = FailingJournal::<NOW>::new(Fails::From(3));
    let report = chain::chain::orchestrate(&request, &journal).await;
    let timeline = &request.payload;

    // `one` ran and succeeded; nothing started after the failed write.
    assert_eq!(report.one.output(), Some(&1));
    assert_eq!(timeline.who("start"), ["one"]);
    assert_eq!(report.two, Outcome::Cancelled(disk_full()));
    // `three` needs `two`, which was cancelled.
    assert_eq!(
        report.three,
        Outcome::Skipped(Skip {
            dependency: "two",
            cause: "two"
        })
    );
    assert_eq!(report.summary().cancelled, 1);
    assert_eq!(report.interruption(), Some(&disk_full()));
    assert!(!report.is_success());
    // The run did not wait for anything after the interruption.
    assert_eq!(timeline.elapsed(), ms(10));

    match report.into_result() {
        Err(RunError::Interrupted(why)) => {
            assert_eq!(why, disk_full());
            assert_eq!(why.to_string(), "the journal failed: disk full");
            let source = std::error::Error::source(&why).expect("the journal error");
            assert_eq!(source.to_string(), "disk full");
        }
        Err(other) => panic!("expected an interruption, got {other}"),
        Ok(_) => panic!("expected an interruption, got outputs"),
    }
}

with_each_journal!(
    after_a_transient_write_error_the_journal_records_the_cancellations_and_the_interruption
);
async fn after_a_transient_write_error_the_journal_records_the_cancellations_and_the_interruption<
    const NOW: bool,
>() {
    let request = request(Timeline::new());
    let journal = FailingJournal::<NOW>::new(Fails::Only(3));
    let report = chain::chain::orchestrate(&request, &journal).await;
    assert_eq!(report.interruption(), Some(&disk_full()));
    assert_eq!(request.payload.who("start"), ["one"]);

    let kept = journal.kept();
    assert!(
        kept.contains(&Event::ServiceCancelled {
            service: "two".into(),
            attempt: None,
            reason: "the journal failed: disk full".to_owned(),
        }),
        "{kept:?}"
    );
    assert!(kept.contains(&Event::ServiceSkipped {
        service: "three".into(),
        dependency: "two".into(),
        cause: "two".into(),
    }));
    match kept.last() {
        Some(Event::RunFinished {
            status,
            summary,
            reason,
        }) => {
            assert_eq!(reason.as_deref(), Some("the journal failed: disk full"));
            assert_eq!(*status, RunStatus::Interrupted);
            assert_eq!(
                (
                    summary.succeeded,
                    summary.failed,
                    summary.skipped,
                    summary.cancelled
                ),
                (1, 0, 1, 1)
            );
        }
        other => panic!("expected run_finished last, got {other:?}"),
    }
}

with_each_journal!(a_failed_run_start_write_cancels_every_service_before_any_is_called);
async fn a_failed_run_start_write_cancels_every_service_before_any_is_called<const NOW: bool>() {
    let request = request(Timeline::new());
    let journal = FailingJournal::<NOW>::new(Fails::From(1));
    let report = chain::fan::orchestrate(&request, &journal).await;

    assert!(request.payload.who("start").is_empty(), "no service runs");
    assert_eq!(report.one, Outcome::Cancelled(disk_full()));
    // Required dependents of a cancelled service are skipped with it as the cause; an optional
    // dependent is cancelled like any service that would start after the interruption.
    assert_eq!(
        report.two,
        Outcome::Skipped(Skip {
            dependency: "one",
            cause: "one"
        })
    );
    assert_eq!(report.tolerant, Outcome::Cancelled(disk_full()));
    assert!(matches!(
        report.into_result(),
        Err(RunError::Interrupted(Interruption::Journal(_)))
    ));
    assert!(journal.kept().is_empty());
}

with_each_journal!(a_failed_last_write_still_reaches_the_caller);
async fn a_failed_last_write_still_reaches_the_caller<const NOW: bool>() {
    // Write 8, run_finished, fails: every service succeeded, but the journal is incomplete.
    let journal = FailingJournal::<NOW>::new(Fails::From(8));
    let report = chain::chain::orchestrate(&request(Timeline::new()), &journal).await;
    assert_eq!(report.summary().succeeded, 3);
    assert_eq!(report.interruption(), Some(&disk_full()));
    assert!(!report.is_success());
    assert!(matches!(
        report.into_result(),
        Err(RunError::Interrupted(Interruption::Journal(_)))
    ));
}

with_each_journal!(a_service_whose_start_could_not_be_journaled_is_not_called);
async fn a_service_whose_start_could_not_be_journaled_is_not_called<const NOW: bool>() {
    let request = request(Timeline::new());
    // Write 2 is `one`'s attempt_started: the attempt cannot be recorded, so it must not run.
    let journal = FailingJournal::<NOW>::new(Fails::From(2));
    let report = chain::chain::orchestrate(&request, &journal).await;
    assert_eq!(report.interruption(), Some(&disk_full()));
    assert!(
        request.payload.who("start").is_empty(),
        "called although its start was not journaled: {:?}",
        request.payload.who("start")
    );
    assert_eq!(report.one, Outcome::Cancelled(disk_full()));
}

/// A service that retries: the journal fails while it waits.
mod retrying {
    use super::*;

    #[service(retry = RetryPolicy::DEFAULT.with_jitter(0.0))]
    pub async fn flaky(ctx: &Context<Timeline>) -> Result<u32, String> {
        ctx.payload().mark("flaky", "start");
        Err(format!("attempt {}", ctx.attempt()))
    }

    orchestration! {
        pub retrying(Timeline) { flaky }
    }
}

with_each_journal!(a_service_is_not_retried_after_the_journal_failed);
async fn a_service_is_not_retried_after_the_journal_failed<const NOW: bool>() {
    let request = request(Timeline::new());
    // 1 run_started, 2 started #1, 3 failed #1, 4 started #2 (100 ms), 5 failed #2: fails.
    let journal = FailingJournal::<NOW>::new(Fails::From(5));
    let report = retrying::retrying::orchestrate(&request, &journal).await;
    assert_eq!(request.payload.times("flaky", "start"), [ms(0), ms(100)]);
    assert_eq!(report.flaky, Outcome::Cancelled(disk_full()));
    assert!(matches!(
        report.into_result(),
        Err(RunError::Interrupted(Interruption::Journal(_)))
    ));
}

/// A service that warns, then succeeds; a dependent.
mod warning {
    use super::*;

    #[service]
    pub async fn careful(ctx: &Context<Timeline>) -> Result<u32, Infallible> {
        ctx.payload().mark("careful", "start");
        ctx.warn("upstream slow");
        Ok(1)
    }

    #[service(depends_on = [careful])]
    pub async fn after(ctx: &Context<Timeline>, careful: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("after", "start");
        Ok(careful + 1)
    }

    orchestration! {
        pub warning(Timeline) { careful, after }
    }
}

with_each_journal!(a_failed_warning_write_keeps_the_success_and_starts_nothing_after_it);
async fn a_failed_warning_write_keeps_the_success_and_starts_nothing_after_it<const NOW: bool>() {
    let request = request(Timeline::new());
    // 1 run_started, 2 careful started, 3 its warning: fails once, 4 careful succeeded.
    let journal = FailingJournal::<NOW>::new(Fails::Only(3));
    let report = warning::warning::orchestrate(&request, &journal).await;

    assert_eq!(request.payload.who("start"), ["careful"]);
    assert_eq!(report.interruption(), Some(&disk_full()));
    let kept = journal.kept();
    assert!(
        !kept
            .iter()
            .any(|event| matches!(event, Event::Warning { .. })),
        "{kept:?}"
    );
    assert!(
        matches!(kept[2], Event::AttemptSucceeded { ref service, attempt: 1, .. } if service == "careful"),
        "{kept:?}"
    );
    // The attempt succeeded: the success stands, although the run was interrupted (by the
    // failed warning) while its entry was written.
    assert_eq!(report.careful.output(), Some(&1));
    assert_eq!(report.after, Outcome::Cancelled(disk_full()));
}
