//! Retries: exact backoff times under the paused clock, success on the last attempt, permanent
//! errors, seeded jitter and the cap after jitter, and cancellation by dropping the run.

mod common;

use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{Timeline, attempt_starts, ceil_ms, failures, ms, request};
use orch::prelude::*;
use orch::{AttemptError, JournalEntry, Outcome, RunError, RunOptions};

/// An error that carries the attempt it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt(pub u32);

impl fmt::Display for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {} failed", self.0)
    }
}

const NO_JITTER: RetryPolicy = RetryPolicy::DEFAULT.with_jitter(0.0);

mod backoff {
    use super::*;

    /// Fails on every attempt.
    #[service(retry = NO_JITTER)]
    pub async fn hopeless(ctx: &Context<Timeline>) -> Result<u32, Attempt> {
        ctx.payload().mark("hopeless", "start");
        Err(Attempt(ctx.attempt()))
    }

    orchestration! {
        pub hopeless_run(Timeline) { hopeless }
    }

    /// Fails on every attempt but the last allowed one.
    #[service(retry = NO_JITTER)]
    pub async fn stubborn(ctx: &Context<Timeline>) -> Result<String, Attempt> {
        ctx.payload().mark("stubborn", "start");
        if ctx.is_last_attempt() {
            Ok(format!("made it on attempt {}", ctx.attempt()))
        } else {
            Err(Attempt(ctx.attempt()))
        }
    }

    /// Needs `stubborn`'s output: starts the moment it finally succeeds.
    #[service(depends_on = [stubborn])]
    pub async fn grateful(ctx: &Context<Timeline>, stubborn: &String) -> Result<usize, Infallible> {
        ctx.payload().mark("grateful", "start");
        Ok(stubborn.len())
    }

    orchestration! {
        pub stubborn_run(Timeline) { stubborn, grateful }
    }

    /// No `retry`: one attempt.
    #[service]
    pub async fn once(ctx: &Context<Timeline>) -> Result<u32, Attempt> {
        ctx.payload().mark("once", "start");
        Err(Attempt(ctx.attempt()))
    }

    /// `max_retries(0)`: one attempt, and its success is a success.
    #[service(retry = RetryPolicy::DEFAULT.with_max_retries(0))]
    pub async fn zero_retries(ctx: &Context<Timeline>) -> Result<u32, Attempt> {
        ctx.payload().mark("zero_retries", "start");
        Ok(ctx.max_attempts())
    }

    orchestration! {
        pub single(Timeline) { once, zero_retries }
    }
}

#[tokio::test(start_paused = true)]
async fn default_policy_without_jitter_attempts_at_0_100_300_700_1500_3100_ms() {
    let request = request(Timeline::new());
    let report = backoff::hopeless_run::orchestrate(&request, &NoJournal).await;
    let timeline = &request.payload;

    assert_eq!(
        timeline.times("hopeless", "start"),
        [ms(0), ms(100), ms(300), ms(700), ms(1500), ms(3100)]
    );
    // The run ends with the last attempt: no delay after it.
    assert_eq!(timeline.elapsed(), ms(3100));

    let failure = report.hopeless.failure().expect("hopeless failed");
    assert_eq!(failure.attempts(), 6);
    assert_eq!(
        failure.errors(),
        (1..=6)
            .map(|n| AttemptError::Error(Attempt(n)))
            .collect::<Vec<_>>()
    );
    assert!(!failure.is_permanent());
    assert_eq!(failure.last_error().error(), Some(&Attempt(6)));
    assert_eq!(
        report.hopeless.to_string(),
        "failed after 6 attempts: attempt 6 failed"
    );
}

#[tokio::test(start_paused = true)]
async fn the_journal_records_each_delay_it_waits_before_the_next_attempt() {
    let journal = InMemoryJournal::new();
    let _report = backoff::hopeless_run::orchestrate(&request(Timeline::new()), &journal).await;
    let entries = journal.entries();
    assert_eq!(
        failures(&entries, "hopeless"),
        [
            (ms(0), Some(ms(100))),
            (ms(100), Some(ms(200))),
            (ms(300), Some(ms(400))),
            (ms(700), Some(ms(800))),
            (ms(1500), Some(ms(1600))),
            (ms(3100), None),
        ]
    );
    assert_eq!(
        attempt_starts(&entries, "hopeless"),
        [ms(0), ms(100), ms(300), ms(700), ms(1500), ms(3100)]
    );
}

#[tokio::test(start_paused = true)]
async fn success_on_the_last_allowed_attempt_is_a_success_with_its_output() {
    let request = request(Timeline::new());
    let report = backoff::stubborn_run::orchestrate(&request, &NoJournal).await;
    let timeline = &request.payload;

    match &report.stubborn {
        Outcome::Succeeded(success) => {
            assert_eq!(success.attempts, 6);
            assert_eq!(success.output, "made it on attempt 6");
        }
        other => panic!("expected a success, got {other:?}"),
    }
    assert_eq!(report.stubborn.to_string(), "succeeded on attempt 6");
    // The dependent starts when the last attempt succeeds, not before.
    assert_eq!(timeline.once("grateful", "start"), ms(3100));
    let outputs = report.into_result().expect("both succeed");
    assert_eq!(outputs.grateful, "made it on attempt 6".len());
}

#[tokio::test(start_paused = true)]
async fn without_a_retry_policy_a_service_is_called_exactly_once() {
    let request = request(Timeline::new());
    let report = backoff::single::orchestrate(&request, &NoJournal).await;
    let timeline = &request.payload;

    assert_eq!(timeline.times("once", "start"), [ms(0)]);
    assert_eq!(
        report.once.failure().map(orch::Failure::errors),
        Some(&[AttemptError::Error(Attempt(1))][..])
    );
    assert_eq!(
        report.once.to_string(),
        "failed after 1 attempt: attempt 1 failed"
    );
    // A policy with no retries still reports a success as a success.
    assert_eq!(timeline.times("zero_retries", "start"), [ms(0)]);
    assert_eq!(report.zero_retries.output(), Some(&1));
    assert_eq!(report.zero_retries.attempts(), 1);
    assert_eq!(timeline.elapsed(), ms(0));
}

/// A payment error whose `Declined` variant is permanent.
#[derive(Debug, Clone, PartialEq)]
pub enum PayError {
    Timeout,
    Declined(&'static str),
}

impl fmt::Display for PayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PayError::Timeout => f.write_str("gateway timeout"),
            PayError::Declined(why) => write!(f, "declined: {why}"),
        }
    }
}

impl std::error::Error for PayError {}

impl Retryable for PayError {
    fn is_permanent(&self) -> bool {
        matches!(self, PayError::Declined(_))
    }
}

mod permanent {
    use super::*;

    /// Times out once, then is declined.
    #[service(retry = NO_JITTER)]
    pub async fn pay(ctx: &Context<Timeline>) -> Result<u32, PayError> {
        ctx.payload().mark("pay", "start");
        match ctx.attempt() {
            1 => Err(PayError::Timeout),
            _ => Err(PayError::Declined("insufficient funds")),
        }
    }

    /// Declined at once.
    #[service(retry = NO_JITTER)]
    pub async fn refund(ctx: &Context<Timeline>) -> Result<u32, PayError> {
        ctx.payload().mark("refund", "start");
        Err(PayError::Declined("closed account"))
    }

    /// Times out always: retried, as `Timeout` is not permanent.
    #[service(retry = NO_JITTER.with_max_retries(2))]
    pub async fn poll(ctx: &Context<Timeline>) -> Result<u32, PayError> {
        ctx.payload().mark("poll", "start");
        Err(PayError::Timeout)
    }

    orchestration! {
        pub permanent(Timeline) { pay, refund, poll }
    }
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_ends_the_service_at_once_and_is_reported_not_swallowed() {
    let request = request(Timeline::new());
    let journal = InMemoryJournal::new();
    let report = permanent::permanent::orchestrate(&request, &journal).await;
    let timeline = &request.payload;

    // Retried after the transient error, not after the permanent one.
    assert_eq!(timeline.times("pay", "start"), [ms(0), ms(100)]);
    let pay = report.pay.failure().expect("pay failed");
    assert_eq!(
        pay.errors(),
        [
            AttemptError::Error(PayError::Timeout),
            AttemptError::Error(PayError::Declined("insufficient funds")),
        ]
    );
    assert!(pay.is_permanent());
    assert_eq!(
        report.pay.to_string(),
        "failed permanently after 2 attempts: declined: insufficient funds"
    );
    assert_eq!(
        failures(&journal.entries(), "pay"),
        [(ms(0), Some(ms(100))), (ms(100), None)]
    );

    assert_eq!(timeline.times("refund", "start"), [ms(0)]);
    let refund = report.refund.failure().expect("refund failed");
    assert_eq!(refund.attempts(), 1);
    assert!(refund.is_permanent());

    // Transient errors of the same type are retried as the policy says.
    assert_eq!(timeline.times("poll", "start"), [ms(0), ms(100), ms(300)]);
    assert!(!report.poll.failure().expect("poll failed").is_permanent());

    match report.into_result() {
        Err(RunError::Failed(permanent::permanent::Failed::pay(failure))) => {
            assert_eq!(
                failure.last_error().error(),
                Some(&PayError::Declined("insufficient funds"))
            );
        }
        Err(other) => panic!("expected pay's failure, got {other}"),
        Ok(_) => panic!("expected pay's failure, got outputs"),
    }
}

/// A jittery policy, used by two services at different positions of one orchestration.
const JITTERY: RetryPolicy = RetryPolicy::DEFAULT
    .with_jitter(0.5)
    .with_max_retries(4)
    .with_initial_delay(Duration::from_millis(40));

mod jitter {
    use super::*;

    #[service]
    pub async fn steady(_ctx: &Context<Timeline>) -> Result<(), Infallible> {
        Ok(())
    }

    #[service(retry = JITTERY)]
    pub async fn first(ctx: &Context<Timeline>) -> Result<(), Attempt> {
        ctx.payload().mark("first", "start");
        Err(Attempt(ctx.attempt()))
    }

    #[service(retry = JITTERY)]
    pub async fn second(ctx: &Context<Timeline>) -> Result<(), Attempt> {
        ctx.payload().mark("second", "start");
        Err(Attempt(ctx.attempt()))
    }

    orchestration! {
        pub jitter(Timeline) { steady, first, second }
    }

    /// Full jitter, capped low: the cap must hold after the jitter.
    pub const CAPPED: RetryPolicy = RetryPolicy::DEFAULT
        .with_jitter(1.0)
        .with_max_retries(6)
        .with_initial_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_millis(150));

    #[service(retry = CAPPED)]
    pub async fn capped(ctx: &Context<Timeline>) -> Result<(), Attempt> {
        ctx.payload().mark("capped", "start");
        Err(Attempt(ctx.attempt()))
    }

    orchestration! {
        pub capped_run(Timeline) { capped }
    }

    #[service]
    pub async fn src(_ctx: &Context<Timeline>) -> Result<u8, Infallible> {
        Ok(1)
    }

    /// Listed first, but runs second: its jitter follows its listing position.
    #[service(depends_on = [src], retry = JITTERY)]
    pub async fn consumer(ctx: &Context<Timeline>, _src: &u8) -> Result<(), Attempt> {
        Err(Attempt(ctx.attempt()))
    }

    orchestration! {
        pub listed(Timeline) { consumer, src }
    }
}

/// The retry delays a journal recorded for `service`.
fn delays(entries: &[JournalEntry], service: &str) -> Vec<Duration> {
    failures(entries, service)
        .into_iter()
        .filter_map(|(_, retry_in)| retry_in)
        .collect()
}

/// How long the run really waited between each failed attempt of `service` and the next start.
fn waits(entries: &[JournalEntry], service: &str) -> Vec<Duration> {
    let starts = attempt_starts(entries, service);
    failures(entries, service)
        .iter()
        .zip(starts.iter().skip(1))
        .map(|((failed_at, _), started_at)| *started_at - *failed_at)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_seeded_run_waits_exactly_the_delays_of_retry_policy_schedule() {
    const SEED: u64 = 0x5eed;
    let request = request(Timeline::new());
    let journal = InMemoryJournal::new();
    let options = RunOptions::new().with_seed(SEED);
    let report = jitter::jitter::orchestrate_with(&request, &journal, options).await;
    assert_eq!(report.first.attempts(), 5);
    assert_eq!(report.second.attempts(), 5);
    let entries = journal.entries();

    // `first` is listed at index 1, `second` at index 2.
    let first: Vec<Duration> = JITTERY.schedule(SEED, 1).collect();
    let second: Vec<Duration> = JITTERY.schedule(SEED, 2).collect();
    assert_eq!(first.len(), 4);
    assert_eq!(delays(&entries, "first"), first);
    assert_eq!(delays(&entries, "second"), second);
    // The jitter did something, and differently for the two services.
    let nominal: Vec<Duration> = (0..4).map(|n| JITTERY.base_delay(n)).collect();
    assert_ne!(first, nominal);
    assert_ne!(first, second);
    // Some delay is not a whole number of milliseconds, so the rounding below is exercised.
    assert!(
        first.iter().any(|d| d.subsec_nanos() % 1_000_000 != 0),
        "{first:?}"
    );

    // The delays were really waited for, to tokio's millisecond timer resolution.
    let expected_waits: Vec<Duration> = first.iter().copied().map(ceil_ms).collect();
    assert_eq!(waits(&entries, "first"), expected_waits);
    let mut at = Duration::ZERO;
    let mut expected_starts = vec![at];
    for wait in &expected_waits {
        at += *wait;
        expected_starts.push(at);
    }
    assert_eq!(request.payload.times("first", "start"), expected_starts);
    assert_eq!(
        waits(&entries, "second"),
        second.iter().copied().map(ceil_ms).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn the_jitter_of_a_service_follows_its_position_in_the_listing_not_in_the_run() {
    const SEED: u64 = 99;
    let journal = InMemoryJournal::new();
    let options = RunOptions::new().with_seed(SEED);
    let _report =
        jitter::listed::orchestrate_with(&request(Timeline::new()), &journal, options).await;
    let delays = delays(&journal.entries(), "consumer");
    assert_eq!(delays, JITTERY.schedule(SEED, 0).collect::<Vec<_>>());
    assert_ne!(delays, JITTERY.schedule(SEED, 1).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_gives_the_same_schedule_and_another_seed_another() {
    async fn run(seed: u64) -> (Vec<Duration>, Vec<Duration>, Vec<Duration>) {
        let journal = InMemoryJournal::new();
        let options = RunOptions::new().with_seed(seed);
        let _report =
            jitter::jitter::orchestrate_with(&request(Timeline::new()), &journal, options).await;
        let entries = journal.entries();
        (
            delays(&entries, "first"),
            delays(&entries, "second"),
            attempt_starts(&entries, "second"),
        )
    }
    let once = run(11).await;
    let again = run(11).await;
    assert_eq!(once, again);
    assert_eq!(once.0, JITTERY.schedule(11, 1).collect::<Vec<_>>());
    let other = run(12).await;
    assert_ne!(once.0, other.0);
    assert_eq!(other.0, JITTERY.schedule(12, 1).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn the_max_delay_cap_holds_after_jitter() {
    const SEED: u64 = 3;
    let cap = jitter::CAPPED.max_delay();
    let schedule: Vec<Duration> = jitter::CAPPED.schedule(SEED, 0).collect();
    assert_eq!(schedule.len(), 6);
    // For this seed, the jitter pushes at least one delay past the cap, which clamps it.
    assert!(schedule.contains(&cap), "{schedule:?}");
    assert!(schedule.iter().all(|d| *d <= cap), "{schedule:?}");

    let journal = InMemoryJournal::new();
    let options = RunOptions::new().with_seed(SEED);
    let _report =
        jitter::capped_run::orchestrate_with(&request(Timeline::new()), &journal, options).await;
    let entries = journal.entries();
    assert_eq!(delays(&entries, "capped"), schedule);
    let waits = waits(&entries, "capped");
    assert_eq!(
        waits,
        schedule.iter().copied().map(ceil_ms).collect::<Vec<_>>()
    );
    assert!(waits.iter().all(|w| *w <= cap), "{waits:?}");
}

#[tokio::test(start_paused = true)]
async fn unseeded_jitter_stays_within_the_policy_spread_and_is_waited_exactly() {
    let journal = InMemoryJournal::new();
    let _report = jitter::jitter::orchestrate(&request(Timeline::new()), &journal).await;
    let entries = journal.entries();
    let delays = delays(&entries, "first");
    assert_eq!(delays.len(), 4);
    for (n, delay) in delays.iter().enumerate() {
        // delay = base * (1 + 0.5 * (2u - 1)), u in [0, 1): within [0.5 base, 1.5 base).
        let base = JITTERY.base_delay(u32::try_from(n).unwrap());
        assert!(
            *delay >= base.mul_f64(0.5) && *delay <= base.mul_f64(1.5),
            "retry {n}: {delay:?} for base {base:?}"
        );
    }
    assert_eq!(
        waits(&entries, "first"),
        delays.iter().copied().map(ceil_ms).collect::<Vec<_>>()
    );
}

mod counted {
    use super::*;

    #[service(retry = NO_JITTER)]
    pub async fn forever(ctx: &Context<AtomicU32>) -> Result<(), Attempt> {
        ctx.payload().fetch_add(1, Ordering::SeqCst);
        Err(Attempt(ctx.attempt()))
    }

    orchestration! {
        pub counted(AtomicU32) { forever }
    }
}

#[tokio::test(start_paused = true)]
async fn dropping_the_run_stops_its_retries() {
    let request = request(AtomicU32::new(0));
    let start = tokio::time::Instant::now();
    let run = counted::counted::orchestrate(&request, &NoJournal);
    let result = tokio::time::timeout(ms(250), run).await;
    assert!(result.is_err(), "the run cannot finish in 250 ms");
    assert_eq!(start.elapsed(), ms(250));
    // Attempts at 0 and 100 ms; the one due at 300 ms never happens.
    assert_eq!(request.payload.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(request.payload.load(Ordering::SeqCst), 2);
}
