//! A panic in the user's own trait impls (an error's `Display`, `Retryable`) stops nothing but
//! its service, and a journal failure during a retry's backoff ends the run at once.

use std::convert::Infallible;
use std::fmt;
use std::time::Duration;

use orch::prelude::*;
use orch::{Interruption, JournalEntry, JournalError, Outcome};

#[derive(Debug)]
pub struct Grumpy;

impl fmt::Display for Grumpy {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("Display is broken")
    }
}

impl Retryable for Grumpy {
    fn is_permanent(&self) -> bool {
        panic!("is_permanent is broken")
    }
}

#[service(retry = RetryPolicy::DEFAULT)]
async fn grumpy(_ctx: &Context<()>) -> Result<(), Grumpy> {
    Err(Grumpy)
}

#[service]
async fn healthy(_ctx: &Context<()>) -> Result<u32, Infallible> {
    Ok(7)
}

orchestration! {
    mixed(()) { grumpy, healthy }
}

#[tokio::test(start_paused = true)]
async fn a_panicking_display_or_retryable_fails_only_its_service() {
    let journal = InMemoryJournal::new();
    let started = tokio::time::Instant::now();
    let report = mixed::orchestrate(&Request::new("evt", "t", "o", ()), &journal).await;
    assert_eq!(report.healthy.output(), Some(&7));
    let failure = report.grumpy.failure().expect("grumpy fails");
    assert_eq!(
        failure.attempts(),
        1,
        "a panicking classification counts as permanent"
    );
    assert!(failure.is_permanent());
    assert_eq!(started.elapsed(), Duration::ZERO, "no retry, so no backoff");
    let failed = journal
        .entries()
        .into_iter()
        .find_map(|entry| match entry.event {
            orch::Event::AttemptFailed { error, .. } => Some(error),
            _ => None,
        });
    assert_eq!(
        failed.as_deref(),
        Some("<the error's description panicked: Display is broken>")
    );
}

/// Fails every write from the `fail_from`-th on (1-based).
struct FailingJournal {
    fail_from: usize,
    inner: InMemoryJournal,
}

impl Journal for FailingJournal {
    async fn record(&self, entry: JournalEntry) -> Result<(), JournalError> {
        if self.inner.entries().len() + 1 >= self.fail_from {
            return Err(JournalError::new("disk full"));
        }
        self.inner.record(entry).await
    }
}

#[service(retry = RetryPolicy::DEFAULT.with_initial_delay(Duration::from_secs(1)).with_max_delay(Duration::from_secs(1)))]
async fn flaky(_ctx: &Context<()>) -> Result<(), String> {
    Err("try again".to_owned())
}

orchestration! {
    retrying(()) { flaky }
}

#[tokio::test(start_paused = true)]
async fn a_journal_failure_during_a_backoff_ends_the_run_without_waiting() {
    // Writes: run_started, attempt_started, attempt_failed (fails).
    let journal = FailingJournal {
        fail_from: 3,
        inner: InMemoryJournal::new(),
    };
    let started = tokio::time::Instant::now();
    let report = retrying::orchestrate(&Request::new("evt", "t", "o", ()), &journal).await;
    assert_eq!(
        started.elapsed(),
        Duration::ZERO,
        "the 1 s backoff is not waited out"
    );
    assert!(
        matches!(report.flaky, Outcome::Cancelled(Interruption::Journal(_))),
        "{report:?}"
    );
    assert!(report.interruption().is_some());
}
