//! The time and failure controls, exactly, on tokio's paused clock: per-attempt timeouts, run
//! deadlines (given and declared), cancellation handles, dropping the run, retry budgets,
//! `Retry-After` hints, fail-fast, the concurrency limit, and `RetryPolicy::worst_case`.
//!
//! Services record what they do in a [`Probe`] (a [`Timeline`] of virtual times, and a count of
//! their attempts alive right now, kept by a drop guard): a test can tell exactly when an attempt
//! started, when its future was dropped, and that nothing is left running.

mod common;

use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Timeline, attempt_starts, failures, ms, of_service, request};
use orch::prelude::*;
use orch::{
    AttemptError, Event, Failure, Interruption, JournalEntry, Outcome, RunError, RunStatus, Skip,
    Status, StopReason, Summary,
};
use tokio::time::Instant;

const HOUR: Duration = Duration::from_secs(3600);

/// The default policy without jitter: waits of exactly 100, 200, 400, 800, 1600 ms.
const NO_JITTER: RetryPolicy = RetryPolicy::DEFAULT.with_jitter(0.0);

const DEADLINE_PASSED: &str = "the run's deadline passed";
const CANCELLED: &str = "the run was cancelled";

/// What the services of these tests see and record.
#[derive(Debug, Default)]
pub struct Probe {
    /// `(service, "start" | "finished" | "dropped", virtual time)`.
    pub timeline: Timeline,
    /// Attempts whose future is alive right now.
    live: AtomicUsize,
    /// The most attempts alive at once.
    peak: AtomicUsize,
    /// A handle a service may cancel its own run with.
    pub cancellation: Cancellation,
}

/// Alive as long as one attempt's future: marks `dropped` when that future goes away, whether
/// it finished or was dropped half-way.
pub struct Live<'a> {
    probe: &'a Probe,
    service: &'static str,
}

impl Probe {
    /// Marks that `service` started an attempt, and counts it alive until the guard drops.
    pub fn enter(&self, service: &'static str) -> Live<'_> {
        let live = self.live.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(live, Ordering::SeqCst);
        self.timeline.mark(service, "start");
        Live {
            probe: self,
            service,
        }
    }

    pub fn mark(&self, service: &'static str, what: &'static str) {
        self.timeline.mark(service, what);
    }

    pub fn times(&self, service: &str, what: &str) -> Vec<Duration> {
        self.timeline.times(service, what)
    }

    /// Attempts alive right now.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }

    /// The most attempts that were alive at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }
}

impl Drop for Live<'_> {
    fn drop(&mut self) {
        self.probe.live.fetch_sub(1, Ordering::SeqCst);
        self.probe.timeline.mark(self.service, "dropped");
    }
}

/// A plain, retryable service error.
#[derive(Debug, Clone, PartialEq)]
pub struct Boom(pub &'static str);

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "boom: {}", self.0)
    }
}

/// An HTTP-like error that can ask for a wait, as a 429 does with `Retry-After`.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    TooManyRequests(Duration),
    Unavailable,
    BadRequest,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::TooManyRequests(after) => write!(f, "429, retry after {after:?}"),
            ApiError::Unavailable => f.write_str("503"),
            ApiError::BadRequest => f.write_str("400"),
        }
    }
}

impl Retryable for ApiError {
    fn is_permanent(&self) -> bool {
        matches!(self, ApiError::BadRequest)
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::TooManyRequests(after) => Some(*after),
            ApiError::Unavailable | ApiError::BadRequest => None,
        }
    }
}

/// The `attempt_failed` entries about `service`, with their offsets.
fn failed_attempts(entries: &[JournalEntry], service: &str) -> Vec<(Duration, Event)> {
    of_service(entries, service)
        .into_iter()
        .filter(|(_, event)| matches!(event, Event::AttemptFailed { .. }))
        .collect()
}

fn service_cancelled(service: &'static str, attempt: Option<u32>, reason: &str) -> Event {
    Event::ServiceCancelled {
        service: service.into(),
        attempt,
        reason: reason.into(),
    }
}

fn service_skipped(service: &'static str, dependency: &'static str, cause: &'static str) -> Event {
    Event::ServiceSkipped {
        service: service.into(),
        dependency: dependency.into(),
        cause: cause.into(),
    }
}

fn attempt_started(service: &'static str, attempt: u32) -> Event {
    Event::AttemptStarted {
        service: service.into(),
        attempt,
    }
}

/// The last entry of a journal, which must be the run's end.
fn run_finished(entries: &[JournalEntry]) -> (Duration, Event) {
    let last = entries.last().expect("the journal has entries");
    assert!(
        matches!(last.event, Event::RunFinished { .. }),
        "{:?}",
        last.event
    );
    (last.offset, last.event.clone())
}

// ---------------------------------------------------------------------------------------------
// Per-attempt timeouts
// ---------------------------------------------------------------------------------------------

mod timeouts {
    use super::*;

    /// Waits of 100 and 200 ms: attempts at 0, 30 + 100 = 130 and 130 + 30 + 200 = 360 ms when
    /// each runs into a 30 ms timeout.
    pub const TWO_RETRIES: RetryPolicy = NO_JITTER.with_max_retries(2);

    /// Never answers: every attempt runs into its 30 ms timeout.
    #[service(timeout = Duration::from_millis(30), retry = TWO_RETRIES)]
    pub async fn hung(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("hung");
        tokio::time::sleep(HOUR).await;
        ctx.payload().mark("hung", "finished");
        Ok(0)
    }

    /// Hangs on its first attempt, answers in 5 ms on the second.
    #[service(timeout = Duration::from_millis(30), retry = TWO_RETRIES)]
    pub async fn recovers(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("recovers");
        let takes = if ctx.attempt() == 1 { HOUR } else { ms(5) };
        tokio::time::sleep(takes).await;
        ctx.payload().mark("recovers", "finished");
        Ok(ctx.attempt())
    }

    /// Answers 1 ms before its timeout.
    #[service(timeout = Duration::from_millis(30))]
    pub async fn just_in_time(ctx: &Context<Probe>) -> Result<&'static str, Boom> {
        let _live = ctx.payload().enter("just_in_time");
        tokio::time::sleep(ms(29)).await;
        ctx.payload().mark("just_in_time", "finished");
        Ok("made it")
    }

    /// Needs `hung`'s output.
    #[service(depends_on = [hung])]
    pub async fn after_hung(ctx: &Context<Probe>, hung: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("after_hung", "start");
        Ok(*hung)
    }

    orchestration! {
        pub timeouts(Probe) { hung, recovers, just_in_time, after_hung }
    }

    /// Done at 100 ms.
    #[service]
    pub async fn blocker(ctx: &Context<Probe>) -> Result<(), Boom> {
        let _live = ctx.payload().enter("blocker");
        tokio::time::sleep(ms(100)).await;
        Ok(())
    }

    /// Waits 100 ms for `blocker`, then takes 20 ms of its 30.
    #[service(depends_on = [blocker], timeout = Duration::from_millis(30))]
    pub async fn timed_after(ctx: &Context<Probe>, _blocker: &()) -> Result<(), Boom> {
        let _live = ctx.payload().enter("timed_after");
        tokio::time::sleep(ms(20)).await;
        ctx.payload().mark("timed_after", "finished");
        Ok(())
    }

    /// Takes 20 ms of its 30.
    #[service(timeout = Duration::from_millis(30))]
    pub async fn timed_quick(ctx: &Context<Probe>) -> Result<(), Boom> {
        let _live = ctx.payload().enter("timed_quick");
        tokio::time::sleep(ms(20)).await;
        ctx.payload().mark("timed_quick", "finished");
        Ok(())
    }

    orchestration! {
        pub waiting(Probe) { blocker, timed_after, timed_quick }
    }
}

#[tokio::test(start_paused = true)]
async fn an_attempt_past_its_timeout_is_dropped_at_that_instant_and_retried_by_the_policy() {
    let request = request(Probe::default());
    let start = Instant::now();
    let report = timeouts::timeouts::orchestrate(&request, &NoJournal).await;
    let probe = &request.payload;

    // Each attempt's future is dropped exactly when its 30 ms are up, and never finishes.
    assert_eq!(probe.times("hung", "start"), [ms(0), ms(130), ms(360)]);
    assert_eq!(probe.times("hung", "dropped"), [ms(30), ms(160), ms(390)]);
    assert!(probe.times("hung", "finished").is_empty());
    assert_eq!(probe.live(), 0);
    assert_eq!(start.elapsed(), ms(390));

    let failure = report.hung.failure().expect("hung failed");
    assert_eq!(failure.errors(), vec![AttemptError::TimedOut(ms(30)); 3]);
    assert_eq!(failure.stop_reason(), StopReason::AttemptsExhausted);
    assert!(!failure.is_permanent(), "a timeout is a retryable failure");
    assert_eq!(failure.last_error().error(), None);
    assert_eq!(
        report.hung.to_string(),
        "failed after 3 attempts: timed out after 30ms"
    );
    // Its dependent is skipped, as for any failure.
    assert_eq!(
        report.after_hung,
        Outcome::Skipped(Skip {
            dependency: "hung",
            cause: "hung"
        })
    );
    assert!(probe.times("after_hung", "start").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_a_timeout_can_succeed_and_an_answer_before_the_timeout_is_a_success() {
    let request = request(Probe::default());
    let report = timeouts::timeouts::orchestrate(&request, &NoJournal).await;
    let probe = &request.payload;

    assert_eq!(probe.times("recovers", "start"), [ms(0), ms(130)]);
    assert_eq!(probe.times("recovers", "dropped"), [ms(30), ms(135)]);
    assert_eq!(probe.times("recovers", "finished"), [ms(135)]);
    assert_eq!(report.recovers.output(), Some(&2));
    assert_eq!(report.recovers.attempts(), 2);

    assert_eq!(probe.times("just_in_time", "finished"), [ms(29)]);
    assert_eq!(report.just_in_time.output(), Some(&"made it"));
    assert_eq!(report.just_in_time.attempts(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_timed_out_attempt_is_journaled_as_failed_with_timed_out_true_at_its_timeout() {
    let request = request(Probe::default());
    let journal = InMemoryJournal::new();
    let _report = timeouts::timeouts::orchestrate(&request, &journal).await;
    let entries = journal.entries();

    let timed_out = |attempt, retry_in, stop| Event::AttemptFailed {
        service: "hung".into(),
        attempt,
        error: "timed out after 30ms".into(),
        panicked: false,
        timed_out: true,
        retry_after: None,
        stop,
        retry_in,
    };
    assert_eq!(
        failed_attempts(&entries, "hung"),
        [
            (ms(30), timed_out(1, Some(ms(100)), None)),
            (ms(160), timed_out(2, Some(ms(200)), None)),
            (
                ms(390),
                timed_out(3, None, Some(StopReason::AttemptsExhausted))
            ),
        ]
    );
    assert_eq!(attempt_starts(&entries, "hung"), [ms(0), ms(130), ms(360)]);
    // In JSON, `timed_out` is there when true.
    let json = entries
        .iter()
        .find(|entry| matches!(&entry.event, Event::AttemptFailed { service, .. } if service == "hung"))
        .expect("hung failed")
        .to_json();
    assert!(json.contains(r#""timed_out":true"#), "{json}");
    assert_eq!(attempt_starts(&entries, "recovers"), [ms(0), ms(130)]);
}

#[tokio::test(start_paused = true)]
async fn the_timeout_counts_the_attempt_only_not_the_wait_for_dependencies_or_a_place() {
    // Without a limit: `timed_after` waits 100 ms for `blocker`, then has its 30 ms.
    let request = request(Probe::default());
    let report = timeouts::waiting::orchestrate(&request, &NoJournal).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(request.payload.times("timed_after", "start"), [ms(100)]);
    assert_eq!(request.payload.times("timed_after", "finished"), [ms(120)]);
    assert_eq!(request.payload.times("timed_quick", "finished"), [ms(20)]);

    // One at a time: `timed_quick` waits 120 ms for a place, then has its 30 ms.
    let request = common::request(Probe::default());
    let options = RunOptions::new().with_max_in_flight(1);
    let report = timeouts::waiting::orchestrate_with(&request, &NoJournal, options).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(request.payload.times("timed_after", "finished"), [ms(120)]);
    assert_eq!(request.payload.times("timed_quick", "start"), [ms(120)]);
    assert_eq!(request.payload.times("timed_quick", "finished"), [ms(140)]);
}

// ---------------------------------------------------------------------------------------------
// Run deadlines and cancellation
// ---------------------------------------------------------------------------------------------

/// A run with something in every state at 15-20 ms: `stuck` mid-attempt (for an hour), `quick`
/// done (at 5 ms), `flaky` waiting to retry (failed at 0 ms, next attempt at 100 ms), and the
/// dependents of `stuck`, one needing it and one taking it optionally.
mod scene {
    use super::*;

    /// Stuck for an hour.
    #[service]
    pub async fn stuck(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("stuck");
        tokio::time::sleep(HOUR).await;
        ctx.payload().mark("stuck", "finished");
        Ok(1)
    }

    /// Needs `stuck`'s output.
    #[service(depends_on = [stuck])]
    pub async fn needs_stuck(ctx: &Context<Probe>, stuck: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("needs_stuck", "start");
        Ok(stuck + 1)
    }

    /// Takes `stuck`'s output if there is one.
    #[service(depends_on = [stuck])]
    pub async fn tolerates_stuck(
        ctx: &Context<Probe>,
        stuck: Option<&u32>,
    ) -> Result<bool, Infallible> {
        ctx.payload().mark("tolerates_stuck", "start");
        Ok(stuck.is_some())
    }

    /// Done in 5 ms.
    #[service]
    pub async fn quick(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("quick");
        tokio::time::sleep(ms(5)).await;
        ctx.payload().mark("quick", "finished");
        Ok(5)
    }

    /// Fails at once on every attempt: attempts at 0, 100, 300, 700, .. ms.
    #[service(retry = NO_JITTER)]
    pub async fn flaky(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("flaky");
        Err(Boom("flaky"))
    }

    orchestration! {
        pub interruptible(Probe) { stuck, needs_stuck, tolerates_stuck, quick, flaky }
    }

    orchestration! {
        /// Every run ends 50 ms after it starts.
        #[orch(deadline = Duration::from_millis(50))]
        pub declared(Probe) { stuck, quick }
    }

    orchestration! {
        pub quick_only(Probe) { quick }
    }

    orchestration! {
        pub flaky_only(Probe) { flaky }
    }

    /// Done at exactly 20 ms.
    #[service]
    pub async fn gate(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("gate");
        tokio::time::sleep(ms(20)).await;
        Ok(20)
    }

    /// Would start at 20 ms, when `gate` is done.
    #[service(depends_on = [gate])]
    pub async fn after_gate(ctx: &Context<Probe>, gate: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("after_gate", "start");
        Ok(*gate)
    }

    orchestration! {
        pub gated(Probe) { gate, after_gate }
    }
}

/// What `scene::interruptible` must report when it is interrupted at 15-20 ms for `why`.
fn assert_interrupted_scene(report: &scene::interruptible::Report, why: &Interruption) {
    assert_eq!(report.stuck, Outcome::Cancelled(why.clone()));
    assert_eq!(
        report.needs_stuck,
        Outcome::Skipped(Skip {
            dependency: "stuck",
            cause: "stuck"
        })
    );
    assert_eq!(report.tolerates_stuck, Outcome::Cancelled(why.clone()));
    assert_eq!(report.quick.output(), Some(&5));
    assert_eq!(report.flaky, Outcome::Cancelled(why.clone()));
    assert_eq!(report.interruption(), Some(why));
    assert!(!report.is_success());
    assert_eq!(
        report.summary(),
        Summary {
            succeeded: 1,
            failed: 0,
            skipped: 1,
            cancelled: 3
        }
    );
}

/// What `scene::interruptible`'s probe must show when the run was interrupted at `at`.
fn assert_interrupted_probe(probe: &Probe, at: Duration) {
    // `stuck`'s attempt was dropped at that instant, not finished.
    assert_eq!(probe.times("stuck", "start"), [ms(0)]);
    assert_eq!(probe.times("stuck", "dropped"), [at]);
    assert!(probe.times("stuck", "finished").is_empty());
    // `flaky` was not retried: its next attempt was due at 100 ms.
    assert_eq!(probe.times("flaky", "start"), [ms(0)]);
    // No dependent of `stuck` ever started.
    assert!(probe.times("needs_stuck", "start").is_empty());
    assert!(probe.times("tolerates_stuck", "start").is_empty());
    assert_eq!(probe.live(), 0);
}

mod deadline {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_run_with_a_20ms_deadline_and_a_service_stuck_for_an_hour_returns_at_20ms() {
        let request = request(Probe::default());
        let start = Instant::now();
        let options = RunOptions::new().with_timeout(ms(20));
        let report = scene::interruptible::orchestrate_with(&request, &NoJournal, options).await;

        assert_eq!(start.elapsed(), ms(20));
        assert_interrupted_scene(&report, &Interruption::DeadlineExceeded);
        assert_interrupted_probe(&request.payload, ms(20));
        assert_eq!(report.stuck.attempts(), 0);
        match report.into_result() {
            Err(RunError::Interrupted(why)) => assert_eq!(why, Interruption::DeadlineExceeded),
            Err(RunError::Failed(failed)) => panic!("expected the deadline, got {failed}"),
            Ok(_) => panic!("expected the deadline, got outputs"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_is_journaled_closing_the_running_attempt_and_the_run_with_its_reason() {
        let request = request(Probe::default());
        let journal = InMemoryJournal::new();
        let options = RunOptions::new().with_timeout(ms(20));
        let report = scene::interruptible::orchestrate_with(&request, &journal, options).await;
        assert_interrupted_scene(&report, &Interruption::DeadlineExceeded);
        let entries = journal.entries();

        assert_eq!(
            of_service(&entries, "stuck"),
            [
                (ms(0), attempt_started("stuck", 1)),
                (ms(20), service_cancelled("stuck", Some(1), DEADLINE_PASSED)),
            ]
        );
        assert_eq!(
            of_service(&entries, "needs_stuck"),
            [(ms(20), service_skipped("needs_stuck", "stuck", "stuck"))]
        );
        assert_eq!(
            of_service(&entries, "tolerates_stuck"),
            [(
                ms(20),
                service_cancelled("tolerates_stuck", None, DEADLINE_PASSED)
            )]
        );
        // Waiting to retry: no attempt was running, and none started after.
        assert_eq!(attempt_starts(&entries, "flaky"), [ms(0)]);
        assert_eq!(failures(&entries, "flaky"), [(ms(0), Some(ms(100)))]);
        assert_eq!(
            of_service(&entries, "flaky").last(),
            Some(&(ms(20), service_cancelled("flaky", None, DEADLINE_PASSED)))
        );
        assert_eq!(
            run_finished(&entries),
            (
                ms(20),
                Event::RunFinished {
                    status: RunStatus::Interrupted,
                    summary: Summary {
                        succeeded: 1,
                        failed: 0,
                        skipped: 1,
                        cancelled: 3
                    },
                    reason: Some(DEADLINE_PASSED.into()),
                }
            )
        );
        // Nothing is journaled after 20 ms.
        assert!(entries.iter().all(|entry| entry.offset <= ms(20)));
    }

    #[tokio::test(start_paused = true)]
    async fn with_deadline_at_an_instant_ends_the_run_at_that_instant() {
        let request = request(Probe::default());
        let start = Instant::now();
        let options = RunOptions::new().with_deadline(start + ms(20));
        let report = scene::interruptible::orchestrate_with(&request, &NoJournal, options).await;
        assert_eq!(start.elapsed(), ms(20));
        assert_interrupted_scene(&report, &Interruption::DeadlineExceeded);
        assert_interrupted_probe(&request.payload, ms(20));
    }

    #[tokio::test(start_paused = true)]
    async fn a_declared_deadline_ends_every_run_without_options() {
        let request = request(Probe::default());
        let start = Instant::now();
        let report = scene::declared::orchestrate(&request, &NoJournal).await;
        assert_eq!(scene::declared::DEADLINE, Some(ms(50)));
        assert_eq!(start.elapsed(), ms(50));
        assert_eq!(
            report.stuck,
            Outcome::Cancelled(Interruption::DeadlineExceeded)
        );
        assert_eq!(report.quick.output(), Some(&5));
        assert_eq!(report.interruption(), Some(&Interruption::DeadlineExceeded));
        assert_eq!(request.payload.times("stuck", "dropped"), [ms(50)]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_earlier_of_the_declared_and_the_given_deadlines_ends_the_run() {
        type Options = fn(Instant) -> RunOptions;
        let cases: [(&str, Options, Duration); 6] = [
            ("declared only", |_| RunOptions::new(), ms(50)),
            (
                "timeout 20 < declared 50",
                |_| RunOptions::new().with_timeout(ms(20)),
                ms(20),
            ),
            (
                "timeout 80 > declared 50",
                |_| RunOptions::new().with_timeout(ms(80)),
                ms(50),
            ),
            (
                "deadline +10 < declared 50",
                |t| RunOptions::new().with_deadline(t + ms(10)),
                ms(10),
            ),
            (
                "timeout 20 < deadline +30 < declared 50",
                |t| {
                    RunOptions::new()
                        .with_deadline(t + ms(30))
                        .with_timeout(ms(20))
                },
                ms(20),
            ),
            (
                "deadline +30 < timeout 40 < declared 50",
                |t| {
                    RunOptions::new()
                        .with_timeout(ms(40))
                        .with_deadline(t + ms(30))
                },
                ms(30),
            ),
        ];
        for (case, options, ends_at) in cases {
            let request = request(Probe::default());
            let start = Instant::now();
            let report =
                scene::declared::orchestrate_with(&request, &NoJournal, options(start)).await;
            assert_eq!(start.elapsed(), ends_at, "{case}");
            assert_eq!(
                report.stuck,
                Outcome::Cancelled(Interruption::DeadlineExceeded),
                "{case}"
            );
            assert_eq!(
                request.payload.times("stuck", "dropped"),
                [ends_at],
                "{case}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_that_is_not_reached_neither_delays_nor_marks_the_run() {
        let request = request(Probe::default());
        let journal = InMemoryJournal::new();
        let start = Instant::now();
        let options = RunOptions::new().with_timeout(ms(20));
        let report = scene::quick_only::orchestrate_with(&request, &journal, options).await;
        // Done at 5 ms: the deadline at 20 ms does not hold the run.
        assert_eq!(start.elapsed(), ms(5));
        assert!(report.is_success());
        assert_eq!(report.interruption(), None);
        assert!(matches!(
            run_finished(&journal.entries()).1,
            Event::RunFinished {
                status: RunStatus::Succeeded,
                reason: None,
                ..
            }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_too_long_for_the_clock_means_no_deadline() {
        let request = request(Probe::default());
        let start = Instant::now();
        let options = RunOptions::new().with_timeout(Duration::MAX);
        let report = scene::quick_only::orchestrate_with(&request, &NoJournal, options).await;
        assert_eq!(start.elapsed(), ms(5));
        assert!(report.is_success());
    }

    #[tokio::test(start_paused = true)]
    async fn no_service_starts_at_the_deadline_instant_even_if_its_dependency_ends_then() {
        let request = request(Probe::default());
        let start = Instant::now();
        let options = RunOptions::new().with_timeout(ms(20));
        let report = scene::gated::orchestrate_with(&request, &NoJournal, options).await;
        assert_eq!(start.elapsed(), ms(20));
        assert!(request.payload.times("after_gate", "start").is_empty());
        assert_eq!(report.interruption(), Some(&Interruption::DeadlineExceeded));
        assert_eq!(report.after_gate.attempts(), 0);
        assert!(!report.after_gate.is_success());
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_passed_when_the_run_starts_calls_no_service() {
        for before in [ms(0), ms(5)] {
            let request = request(Probe::default());
            let journal = InMemoryJournal::new();
            let start = Instant::now();
            let options = RunOptions::new().with_deadline(start - before);
            let report = scene::interruptible::orchestrate_with(&request, &journal, options).await;
            assert_deadline_passed_at_start(start, &request.payload, &journal, &report);
        }
    }

    fn assert_deadline_passed_at_start(
        start: Instant,
        probe: &Probe,
        journal: &InMemoryJournal,
        report: &scene::interruptible::Report,
    ) {
        assert_eq!(start.elapsed(), ms(0));
        assert!(probe.timeline.marks().is_empty());
        assert_eq!(report.interruption(), Some(&Interruption::DeadlineExceeded));
        assert_eq!(
            report.statuses(),
            [
                ("stuck", Status::Cancelled),
                ("needs_stuck", Status::Skipped),
                ("tolerates_stuck", Status::Cancelled),
                ("quick", Status::Cancelled),
                ("flaky", Status::Cancelled),
            ]
        );
        assert!(
            !journal
                .entries()
                .iter()
                .any(|entry| matches!(entry.event, Event::AttemptStarted { .. }))
        );
    }
}

mod cancellation {
    use super::*;

    /// Cancels `cancellation` `after` the start.
    async fn cancel_after(cancellation: &Cancellation, after: Duration) {
        tokio::time::sleep(after).await;
        cancellation.cancel();
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_mid_attempt_ends_the_run_at_that_instant() {
        let request = request(Probe::default());
        let cancellation = Cancellation::new();
        let start = Instant::now();
        let options = RunOptions::new().with_cancellation(cancellation.clone());
        let (report, ()) = tokio::join!(
            scene::interruptible::orchestrate_with(&request, &NoJournal, options),
            cancel_after(&cancellation, ms(15)),
        );
        assert_eq!(start.elapsed(), ms(15));
        assert!(cancellation.is_cancelled());
        assert_interrupted_scene(&report, &Interruption::Cancelled);
        assert_interrupted_probe(&request.payload, ms(15));
        match report.into_result() {
            Err(RunError::Interrupted(why)) => assert_eq!(why, Interruption::Cancelled),
            Err(RunError::Failed(failed)) => panic!("expected the cancel, got {failed}"),
            Ok(_) => panic!("expected the cancel, got outputs"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_from_another_task_wakes_the_run_at_that_instant() {
        let request = request(Probe::default());
        let cancellation = Cancellation::new();
        let remote = cancellation.clone();
        let start = Instant::now();
        // The run is woken by the cancel alone: no future of its task is due at 15 ms.
        let canceller = tokio::spawn(async move { cancel_after(&remote, ms(15)).await });
        let options = RunOptions::new().with_cancellation(cancellation);
        let report = scene::interruptible::orchestrate_with(&request, &NoJournal, options).await;
        assert_eq!(start.elapsed(), ms(15));
        assert_interrupted_scene(&report, &Interruption::Cancelled);
        assert_interrupted_probe(&request.payload, ms(15));
        canceller.await.expect("the canceller completes");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_is_journaled_closing_the_running_attempt_and_the_run_with_its_reason() {
        let request = request(Probe::default());
        let journal = InMemoryJournal::new();
        let cancellation = Cancellation::new();
        let options = RunOptions::new().with_cancellation(cancellation.clone());
        let (report, ()) = tokio::join!(
            scene::interruptible::orchestrate_with(&request, &journal, options),
            cancel_after(&cancellation, ms(15)),
        );
        assert_interrupted_scene(&report, &Interruption::Cancelled);
        let entries = journal.entries();
        assert_eq!(
            of_service(&entries, "stuck"),
            [
                (ms(0), attempt_started("stuck", 1)),
                (ms(15), service_cancelled("stuck", Some(1), CANCELLED)),
            ]
        );
        assert_eq!(
            of_service(&entries, "needs_stuck"),
            [(ms(15), service_skipped("needs_stuck", "stuck", "stuck"))]
        );
        assert_eq!(
            of_service(&entries, "tolerates_stuck"),
            [(
                ms(15),
                service_cancelled("tolerates_stuck", None, CANCELLED)
            )]
        );
        assert_eq!(
            of_service(&entries, "flaky").last(),
            Some(&(ms(15), service_cancelled("flaky", None, CANCELLED)))
        );
        assert_eq!(
            run_finished(&entries),
            (
                ms(15),
                Event::RunFinished {
                    status: RunStatus::Interrupted,
                    summary: Summary {
                        succeeded: 1,
                        failed: 0,
                        skipped: 1,
                        cancelled: 3
                    },
                    reason: Some(CANCELLED.into()),
                }
            )
        );
    }

    /// A journal that cancels the run as it begins to write the entry `at` picks: the cancel
    /// lands while that entry is being written. `NOW`: it writes at once
    /// (`Journal::WRITES_NOW`, as the in-memory journal does); else its writes are awaited and,
    /// if `YIELDS`, keep their entry only once polled again after yielding to the runtime, as
    /// an `async fn record` writing to a database would.
    struct CancelsAt<const NOW: bool, const YIELDS: bool> {
        at: fn(&Event) -> bool,
        cancellation: Cancellation,
        kept: std::sync::Mutex<Vec<JournalEntry>>,
    }

    impl<const NOW: bool, const YIELDS: bool> CancelsAt<NOW, YIELDS> {
        fn new(at: fn(&Event) -> bool, cancellation: &Cancellation) -> Self {
            CancelsAt {
                at,
                cancellation: cancellation.clone(),
                kept: Default::default(),
            }
        }

        fn begin(&self, entry: &JournalEntry) {
            if (self.at)(&entry.event) {
                self.cancellation.cancel();
            }
        }

        fn keep(&self, entry: JournalEntry) {
            self.kept.lock().unwrap().push(entry);
        }
    }

    impl<const NOW: bool, const YIELDS: bool> Journal for CancelsAt<NOW, YIELDS> {
        const WRITES_NOW: bool = NOW;

        fn record(
            &self,
            entry: JournalEntry,
        ) -> impl Future<Output = Result<(), orch::JournalError>> + Send {
            self.begin(&entry);
            async move {
                if YIELDS {
                    tokio::task::yield_now().await;
                }
                self.keep(entry);
                Ok(())
            }
        }

        fn record_now(
            &self,
            entry: impl FnOnce() -> JournalEntry,
        ) -> Result<(), orch::JournalError> {
            let entry = entry();
            self.begin(&entry);
            self.keep(entry);
            Ok(())
        }
    }

    /// The attempt whose start was being written is not called, and the journal does not
    /// leave it open: the write finishes, and the service's cancellation names the attempt, at
    /// the same instant.
    async fn a_cancel_landing_as_a_start_is_written_ends_that_attempt_uncalled<
        const NOW: bool,
        const YIELDS: bool,
    >() {
        let request = request(Probe::default());
        let cancellation = Cancellation::new();
        let journal = CancelsAt::<NOW, YIELDS>::new(
            |event| matches!(event, Event::AttemptStarted { service, .. } if service == "after_gate"),
            &cancellation,
        );
        let start = Instant::now();
        let options = RunOptions::new().with_cancellation(cancellation);
        let report = scene::gated::orchestrate_with(&request, &journal, options).await;
        assert_eq!(start.elapsed(), ms(20));
        assert!(request.payload.times("after_gate", "start").is_empty());
        assert_eq!(report.gate.output(), Some(&20));
        assert_eq!(
            report.after_gate,
            Outcome::Cancelled(Interruption::Cancelled)
        );
        let entries = journal.kept.into_inner().unwrap();
        assert_eq!(
            of_service(&entries, "after_gate"),
            [
                (ms(20), attempt_started("after_gate", 1)),
                (ms(20), service_cancelled("after_gate", Some(1), CANCELLED)),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_landing_as_a_pending_start_write_ends_that_attempt_uncalled() {
        a_cancel_landing_as_a_start_is_written_ends_that_attempt_uncalled::<false, true>().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_landing_as_an_awaited_start_is_written_ends_that_attempt_uncalled() {
        a_cancel_landing_as_a_start_is_written_ends_that_attempt_uncalled::<false, false>().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_landing_as_a_start_is_written_at_once_ends_that_attempt_uncalled() {
        a_cancel_landing_as_a_start_is_written_ends_that_attempt_uncalled::<true, false>().await;
    }

    /// The failure stands: the write finishes, the report has the failure, and the journal its
    /// one outcome entry.
    async fn a_cancel_landing_as_a_final_failure_is_written_keeps_the_failure<
        const NOW: bool,
        const YIELDS: bool,
    >() {
        let request = request(Probe::default());
        let cancellation = Cancellation::new();
        let journal = CancelsAt::<NOW, YIELDS>::new(
            |event| matches!(event, Event::AttemptFailed { stop: Some(_), .. }),
            &cancellation,
        );
        let options = RunOptions::new().with_cancellation(cancellation);
        let report = scene::flaky_only::orchestrate_with(&request, &journal, options).await;
        let Outcome::Failed(failure) = &report.flaky else {
            panic!("expected flaky to fail, got {:?}", report.flaky);
        };
        assert_eq!(failure.stop_reason(), StopReason::AttemptsExhausted);
        assert_eq!(report.interruption(), Some(&Interruption::Cancelled));
        let entries = journal.kept.into_inner().unwrap();
        let flaky = of_service(&entries, "flaky");
        assert!(
            matches!(
                flaky.last(),
                Some((
                    _,
                    Event::AttemptFailed {
                        attempt: 6,
                        stop: Some(StopReason::AttemptsExhausted),
                        ..
                    }
                ))
            ),
            "{flaky:?}"
        );
        assert!(
            !flaky
                .iter()
                .any(|(_, event)| matches!(event, Event::ServiceCancelled { .. })),
            "{flaky:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_landing_as_a_pending_final_failure_write_keeps_the_failure() {
        a_cancel_landing_as_a_final_failure_is_written_keeps_the_failure::<false, true>().await;
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_landing_as_a_final_failure_is_written_at_once_keeps_the_failure() {
        a_cancel_landing_as_a_final_failure_is_written_keeps_the_failure::<true, false>().await;
    }

    #[tokio::test(start_paused = true)]
    async fn cancelling_mid_backoff_ends_the_wait_at_once_and_no_attempt_follows() {
        let request = request(Probe::default());
        let journal = InMemoryJournal::new();
        let cancellation = Cancellation::new();
        let start = Instant::now();
        let options = RunOptions::new().with_cancellation(cancellation.clone());
        // Attempts at 0 and 100 ms; at 150 ms `flaky` waits for its third, due at 300 ms.
        let (report, ()) = tokio::join!(
            scene::flaky_only::orchestrate_with(&request, &journal, options),
            cancel_after(&cancellation, ms(150)),
        );
        assert_eq!(start.elapsed(), ms(150));
        assert_eq!(report.flaky, Outcome::Cancelled(Interruption::Cancelled));
        assert_eq!(request.payload.times("flaky", "start"), [ms(0), ms(100)]);
        let entries = journal.entries();
        assert_eq!(
            failures(&entries, "flaky"),
            [(ms(0), Some(ms(100))), (ms(100), Some(ms(200)))]
        );
        assert_eq!(
            of_service(&entries, "flaky").last(),
            Some(&(ms(150), service_cancelled("flaky", None, CANCELLED)))
        );
        // Long after, still no other attempt: nothing was left running.
        tokio::time::sleep(HOUR).await;
        assert_eq!(request.payload.times("flaky", "start"), [ms(0), ms(100)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_handle_cancelled_before_the_run_starts_means_no_service_is_called() {
        let request = request(Probe::default());
        let journal = InMemoryJournal::new();
        let cancellation = Cancellation::new();
        cancellation.clone().cancel();
        let start = Instant::now();
        let options = RunOptions::new().with_cancellation(cancellation);
        let report = scene::interruptible::orchestrate_with(&request, &journal, options).await;

        assert_eq!(start.elapsed(), ms(0));
        assert!(request.payload.timeline.marks().is_empty());
        let cancelled = Outcome::Cancelled(Interruption::Cancelled);
        assert_eq!(report.stuck, cancelled);
        assert_eq!(
            report.needs_stuck,
            Outcome::Skipped(Skip {
                dependency: "stuck",
                cause: "stuck"
            })
        );
        assert_eq!(
            report.tolerates_stuck,
            Outcome::Cancelled(Interruption::Cancelled)
        );
        assert_eq!(report.quick, cancelled);
        assert_eq!(report.flaky, cancelled);
        assert_eq!(report.interruption(), Some(&Interruption::Cancelled));

        let entries = journal.entries();
        assert!(
            !entries
                .iter()
                .any(|entry| matches!(entry.event, Event::AttemptStarted { .. }))
        );
        assert_eq!(
            of_service(&entries, "quick"),
            [(ms(0), service_cancelled("quick", None, CANCELLED))]
        );
        assert_eq!(
            run_finished(&entries),
            (
                ms(0),
                Event::RunFinished {
                    status: RunStatus::Interrupted,
                    summary: Summary {
                        succeeded: 0,
                        failed: 0,
                        skipped: 1,
                        cancelled: 4
                    },
                    reason: Some(CANCELLED.into()),
                }
            )
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_after_the_run_ended_changes_nothing_and_the_handle_stays_cancelled() {
        let request = request(Probe::default());
        let cancellation = Cancellation::new();
        let options = RunOptions::new().with_cancellation(cancellation.clone());
        let report = scene::quick_only::orchestrate_with(&request, &NoJournal, options).await;
        cancellation.cancel();
        assert!(report.is_success());
        assert_eq!(report.interruption(), None);
        // Cancelling is permanent: a later run given the handle calls nothing.
        let later = common::request(Probe::default());
        let options = RunOptions::new().with_cancellation(cancellation.clone());
        let report = scene::quick_only::orchestrate_with(&later, &NoJournal, options).await;
        assert_eq!(report.quick, Outcome::Cancelled(Interruption::Cancelled));
        assert!(later.payload.timeline.marks().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_resolves_at_the_instant_of_the_cancel_for_every_clone() {
        let cancellation = Cancellation::new();
        let waiter = cancellation.clone();
        let start = Instant::now();
        let wait = async {
            waiter.cancelled().await;
            start.elapsed()
        };
        let (woken_at, ()) = tokio::join!(wait, cancel_after(&cancellation, ms(15)));
        assert_eq!(woken_at, ms(15));
        assert!(waiter.is_cancelled());
        // Once cancelled, it resolves at once.
        cancellation.cancelled().await;
        waiter.cancelled().await;
        assert_eq!(start.elapsed(), ms(15));
        assert_eq!(
            format!("{cancellation:?}"),
            "Cancellation { cancelled: true }"
        );
        assert!(!Cancellation::new().is_cancelled());
    }

    /// A service that cancels its own run, through the handle in the payload.
    mod from_inside {
        use super::*;

        /// Cancels the run at 10 ms, then returns.
        #[service]
        pub async fn canceller(ctx: &Context<Probe>) -> Result<u32, Boom> {
            let _live = ctx.payload().enter("canceller");
            tokio::time::sleep(ms(10)).await;
            ctx.payload().cancellation.cancel();
            Ok(10)
        }

        /// Would start right after `canceller`.
        #[service(depends_on = [canceller])]
        pub async fn after_canceller(
            ctx: &Context<Probe>,
            canceller: &u32,
        ) -> Result<u32, Infallible> {
            ctx.payload().mark("after_canceller", "start");
            Ok(*canceller)
        }

        /// Stuck for an hour.
        #[service]
        pub async fn bystander(ctx: &Context<Probe>) -> Result<u32, Boom> {
            let _live = ctx.payload().enter("bystander");
            tokio::time::sleep(HOUR).await;
            Ok(0)
        }

        orchestration! {
            pub self_cancelling(Probe) { canceller, after_canceller, bystander }
        }
    }

    /// Documented (`Cancellation`): "Cancelling stops a run at once: [..] no service starts
    /// afterwards". Here the cancel comes from a service of the run itself.
    ///
    /// BUG (fails as of ced1dce, left asserting the documented behaviour): the plan reads the
    /// handle only when it wakes up (`Watch`, before its services), so in the pass where
    /// `canceller` cancels and returns, `after_canceller` is started (and even succeeds) at
    /// 10 ms, after `cancel()` returned. Starting an attempt should check the handle too.
    #[tokio::test(start_paused = true)]
    async fn a_service_that_cancels_its_own_run_starts_no_service_after_the_cancel() {
        for journaled in [false, true] {
            let request = request(Probe::default());
            let journal = InMemoryJournal::new();
            let options = RunOptions::new().with_cancellation(request.payload.cancellation.clone());
            let start = Instant::now();
            let report = if journaled {
                from_inside::self_cancelling::orchestrate_with(&request, &journal, options).await
            } else {
                from_inside::self_cancelling::orchestrate_with(&request, &NoJournal, options).await
            };
            assert_eq!(start.elapsed(), ms(10), "journaled: {journaled}");
            assert_eq!(
                report.interruption(),
                Some(&Interruption::Cancelled),
                "journaled: {journaled}"
            );
            assert_eq!(
                report.bystander,
                Outcome::Cancelled(Interruption::Cancelled)
            );
            assert_eq!(request.payload.live(), 0);
            assert!(
                request.payload.times("after_canceller", "start").is_empty(),
                "journaled: {journaled}: a service started after the run was cancelled at 10 ms: {:?}",
                request.payload.timeline.marks()
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dropping the run
// ---------------------------------------------------------------------------------------------

mod dropping {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn dropping_the_run_mid_backoff_stops_all_work_and_drops_every_service_future() {
        let request = request(Probe::default());
        let probe = &request.payload;
        let journal = InMemoryJournal::new();
        let start = Instant::now();
        let run = scene::interruptible::orchestrate(&request, &journal);
        // At 150 ms `flaky` waits for its third attempt (due at 300 ms), `stuck` is mid-attempt.
        let result = tokio::time::timeout(ms(150), run).await;
        assert!(result.is_err(), "the run cannot finish in 150 ms");
        assert_eq!(start.elapsed(), ms(150));

        assert_eq!(
            probe.live(),
            0,
            "every service future was dropped with the run"
        );
        assert_eq!(probe.times("stuck", "dropped"), [ms(150)]);
        assert_eq!(probe.times("flaky", "start"), [ms(0), ms(100)]);
        let written = journal.entries();

        tokio::time::sleep(10 * HOUR).await;
        assert_eq!(probe.times("flaky", "start"), [ms(0), ms(100)]);
        assert!(probe.times("stuck", "finished").is_empty());
        assert!(probe.times("needs_stuck", "start").is_empty());
        assert_eq!(
            journal.entries(),
            written,
            "nothing was journaled after the drop"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn losing_a_select_mid_attempt_drops_the_attempt_at_that_instant() {
        let request = request(Probe::default());
        let probe = &request.payload;
        let start = Instant::now();
        tokio::select! {
            _ = timeouts::timeouts::orchestrate(&request, &NoJournal) => {
                panic!("the run cannot finish in 40 ms");
            }
            () = tokio::time::sleep(ms(40)) => {}
        }
        assert_eq!(start.elapsed(), ms(40));
        // `hung` timed out at 30 ms and waited for its retry (due at 130 ms); `recovers` too.
        assert_eq!(probe.times("hung", "start"), [ms(0)]);
        assert_eq!(probe.live(), 0);
        tokio::time::sleep(10 * HOUR).await;
        assert_eq!(probe.times("hung", "start"), [ms(0)]);
        assert_eq!(probe.times("recovers", "start"), [ms(0)]);
        assert!(probe.times("recovers", "finished").is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Retry budgets
// ---------------------------------------------------------------------------------------------

mod budget {
    use super::*;

    /// Fails at once on every attempt; waits would be 100, 200, 400 ms.
    #[service(retry = NO_JITTER.with_max_elapsed(Duration::from_millis(300)))]
    pub async fn within_300(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("within_300");
        Err(Boom("within_300"))
    }

    /// The same with 1 ms less: the attempt due at 300 ms is not made.
    #[service(retry = NO_JITTER.with_max_elapsed(Duration::from_millis(299)))]
    pub async fn within_299(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("within_299");
        Err(Boom("within_299"))
    }

    /// Each attempt takes 50 ms before it fails: attempts at 0, 150, 400 ms; the next would
    /// start at 450 + 400 = 850 ms.
    #[service(retry = NO_JITTER.with_max_elapsed(Duration::from_millis(400)))]
    pub async fn slow_attempts(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("slow_attempts");
        tokio::time::sleep(ms(50)).await;
        Err(Boom("slow_attempts"))
    }

    /// A budget larger than every wait: the attempts run out first.
    #[service(retry = NO_JITTER.with_max_retries(2).with_max_elapsed(Duration::from_secs(1)))]
    pub async fn roomy(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("roomy");
        Err(Boom("roomy"))
    }

    orchestration! {
        pub budgets(Probe) { within_300, within_299, slow_attempts, roomy }
    }

    /// Done at 1 s.
    #[service]
    pub async fn second(ctx: &Context<Probe>) -> Result<u32, Boom> {
        tokio::time::sleep(Duration::from_secs(1)).await;
        ctx.payload().mark("second", "finished");
        Ok(1)
    }

    /// Starts at 1 s: its budget counts from its own first attempt, not the run's start.
    #[service(depends_on = [second], retry = NO_JITTER.with_max_elapsed(Duration::from_millis(300)))]
    pub async fn late_budget(ctx: &Context<Probe>, _second: &u32) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("late_budget");
        Err(Boom("late_budget"))
    }

    orchestration! {
        pub late(Probe) { second, late_budget }
    }
}

#[tokio::test(start_paused = true)]
async fn no_attempt_starts_later_than_max_elapsed_after_the_first_one_started() {
    let request = request(Probe::default());
    let report = budget::budgets::orchestrate(&request, &NoJournal).await;
    let probe = &request.payload;

    // 300 ms: the attempt due at exactly 300 ms is within the budget.
    assert_eq!(
        probe.times("within_300", "start"),
        [ms(0), ms(100), ms(300)]
    );
    let failure = report.within_300.failure().expect("within_300 failed");
    assert_eq!(failure.stop_reason(), StopReason::BudgetExhausted);
    assert_eq!(failure.attempts(), 3);
    assert!(!failure.is_permanent());
    assert_eq!(
        report.within_300.to_string(),
        "failed (retry budget spent) after 3 attempts: boom: within_300"
    );

    // 299 ms: it is not.
    assert_eq!(probe.times("within_299", "start"), [ms(0), ms(100)]);
    let failure = report.within_299.failure().expect("within_299 failed");
    assert_eq!(failure.stop_reason(), StopReason::BudgetExhausted);
    assert_eq!(failure.attempts(), 2);

    // The attempts' own time counts: 50 + 100, then 150 + 50 + 200 = 400 ms.
    assert_eq!(
        probe.times("slow_attempts", "start"),
        [ms(0), ms(150), ms(400)]
    );
    assert_eq!(
        report.slow_attempts.failure().map(Failure::stop_reason),
        Some(StopReason::BudgetExhausted)
    );
    assert_eq!(report.slow_attempts.attempts(), 3);

    assert_eq!(probe.times("roomy", "start"), [ms(0), ms(100), ms(300)]);
    assert_eq!(
        report.roomy.failure().map(Failure::stop_reason),
        Some(StopReason::AttemptsExhausted)
    );
}

#[tokio::test(start_paused = true)]
async fn a_spent_budget_is_journaled_as_the_reason_the_service_stops() {
    let journal = InMemoryJournal::new();
    let start = Instant::now();
    let _report = budget::budgets::orchestrate(&request(Probe::default()), &journal).await;
    // The run ends with `slow_attempts`' last failure, not with the wait it did not make.
    assert_eq!(start.elapsed(), ms(450));
    let entries = journal.entries();
    assert_eq!(
        failures(&entries, "within_300"),
        [
            (ms(0), Some(ms(100))),
            (ms(100), Some(ms(200))),
            (ms(300), None)
        ]
    );
    let last = failed_attempts(&entries, "within_300")
        .pop()
        .expect("within_300 failed");
    assert!(
        matches!(
            last.1,
            Event::AttemptFailed {
                attempt: 3,
                stop: Some(StopReason::BudgetExhausted),
                retry_in: None,
                ..
            }
        ),
        "{last:?}"
    );
    let json = entries
        .iter()
        .rev()
        .find(|entry| entry.service() == Some("within_300"))
        .expect("within_300 is journaled")
        .to_json();
    assert!(
        json.contains(r#""stop":{"reason":"budget_exhausted"}"#),
        "{json}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_budget_counts_from_the_services_own_first_attempt() {
    let request = request(Probe::default());
    let report = budget::late::orchestrate(&request, &NoJournal).await;
    assert_eq!(
        request.payload.times("late_budget", "start"),
        [ms(1000), ms(1100), ms(1300)]
    );
    assert_eq!(
        report.late_budget.failure().map(Failure::stop_reason),
        Some(StopReason::BudgetExhausted)
    );
}

// ---------------------------------------------------------------------------------------------
// Retry-After hints
// ---------------------------------------------------------------------------------------------

mod hints {
    use super::*;

    /// 429 "in 250 ms" (backoff 100), 429 "in 50 ms" (backoff 200), 503 without a hint
    /// (backoff 400), then succeeds.
    #[service(retry = NO_JITTER.with_max_retries(3))]
    pub async fn throttled(ctx: &Context<Probe>) -> Result<u32, ApiError> {
        let _live = ctx.payload().enter("throttled");
        match ctx.attempt() {
            1 => Err(ApiError::TooManyRequests(ms(250))),
            2 => Err(ApiError::TooManyRequests(ms(50))),
            3 => Err(ApiError::Unavailable),
            n => Ok(n),
        }
    }

    /// Asked to come back in 5 s; the policy's `max_delay` is 3 s.
    #[service(retry = NO_JITTER)]
    pub async fn banned(ctx: &Context<Probe>) -> Result<u32, ApiError> {
        let _live = ctx.payload().enter("banned");
        Err(ApiError::TooManyRequests(Duration::from_secs(5)))
    }

    /// Asked to come back in exactly `max_delay` (3 s): it waits that long.
    #[service(retry = NO_JITTER)]
    pub async fn patient(ctx: &Context<Probe>) -> Result<u32, ApiError> {
        let _live = ctx.payload().enter("patient");
        match ctx.attempt() {
            1 => Err(ApiError::TooManyRequests(Duration::from_secs(3))),
            n => Ok(n),
        }
    }

    /// Asked for 250 ms with a budget of 200 ms: the retry would start past the budget.
    #[service(retry = NO_JITTER.with_max_elapsed(Duration::from_millis(200)))]
    pub async fn hurried(ctx: &Context<Probe>) -> Result<u32, ApiError> {
        let _live = ctx.payload().enter("hurried");
        Err(ApiError::TooManyRequests(ms(250)))
    }

    /// A permanent error is not retried, hint or no hint.
    #[service(retry = NO_JITTER)]
    pub async fn rejected(ctx: &Context<Probe>) -> Result<u32, ApiError> {
        let _live = ctx.payload().enter("rejected");
        Err(ApiError::BadRequest)
    }

    orchestration! {
        pub hinted(Probe) { throttled, banned, patient, hurried, rejected }
    }
}

#[tokio::test(start_paused = true)]
async fn the_next_attempt_waits_the_longer_of_the_retry_after_hint_and_the_backoff() {
    let request = request(Probe::default());
    let journal = InMemoryJournal::new();
    let report = hints::hinted::orchestrate(&request, &journal).await;

    // 0 + max(250, 100) = 250; 250 + max(50, 200) = 450; 450 + 400 = 850.
    assert_eq!(
        request.payload.times("throttled", "start"),
        [ms(0), ms(250), ms(450), ms(850)]
    );
    assert_eq!(report.throttled.output(), Some(&4));

    let entries = journal.entries();
    let journaled: Vec<_> = failed_attempts(&entries, "throttled")
        .into_iter()
        .map(|(at, event)| match event {
            Event::AttemptFailed {
                retry_after,
                retry_in,
                stop,
                timed_out,
                ..
            } => (at, retry_after, retry_in, stop, timed_out),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        journaled,
        [
            (ms(0), Some(ms(250)), Some(ms(250)), None, false),
            (ms(250), Some(ms(50)), Some(ms(200)), None, false),
            (ms(450), None, Some(ms(400)), None, false),
        ]
    );
    let json = entries
        .iter()
        .find(|entry| matches!(&entry.event, Event::AttemptFailed { service, .. } if service == "throttled"))
        .expect("throttled failed")
        .to_json();
    assert!(json.contains(r#""retry_after_ns":250000000"#), "{json}");
    assert!(!json.contains("timed_out"), "{json}");

    // A hint of exactly max_delay is waited for.
    assert_eq!(request.payload.times("patient", "start"), [ms(0), ms(3000)]);
    assert_eq!(report.patient.output(), Some(&2));
}

#[tokio::test(start_paused = true)]
async fn a_hint_longer_than_max_delay_ends_the_retries_with_retry_after_too_long() {
    let request = request(Probe::default());
    let journal = InMemoryJournal::new();
    let report = hints::hinted::orchestrate(&request, &journal).await;

    assert_eq!(request.payload.times("banned", "start"), [ms(0)]);
    let failure = report.banned.failure().expect("banned failed");
    assert_eq!(
        failure.stop_reason(),
        StopReason::RetryAfterTooLong {
            after: Duration::from_secs(5)
        }
    );
    assert_eq!(failure.attempts(), 1);
    assert!(!failure.is_permanent());
    assert_eq!(
        report.banned.to_string(),
        "failed (asked to retry later than max_delay) after 1 attempt: 429, retry after 5s"
    );

    let entries = journal.entries();
    assert_eq!(
        failed_attempts(&entries, "banned"),
        [(
            ms(0),
            Event::AttemptFailed {
                service: "banned".into(),
                attempt: 1,
                error: "429, retry after 5s".into(),
                panicked: false,
                timed_out: false,
                retry_after: Some(Duration::from_secs(5)),
                stop: Some(StopReason::RetryAfterTooLong {
                    after: Duration::from_secs(5)
                }),
                retry_in: None,
            }
        )]
    );
    let json = entries
        .iter()
        .find(|entry| matches!(&entry.event, Event::AttemptFailed { service, .. } if service == "banned"))
        .expect("banned failed")
        .to_json();
    assert!(
        json.contains(r#""stop":{"reason":"retry_after_too_long","after_ns":5000000000}"#),
        "{json}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_hint_counts_against_the_budget_and_does_not_make_a_permanent_error_retryable() {
    let request = request(Probe::default());
    let report = hints::hinted::orchestrate(&request, &NoJournal).await;

    assert_eq!(request.payload.times("hurried", "start"), [ms(0)]);
    assert_eq!(
        report.hurried.failure().map(Failure::stop_reason),
        Some(StopReason::BudgetExhausted)
    );

    assert_eq!(request.payload.times("rejected", "start"), [ms(0)]);
    let failure = report.rejected.failure().expect("rejected failed");
    assert_eq!(failure.stop_reason(), StopReason::Permanent);
    assert!(failure.is_permanent());
}

// ---------------------------------------------------------------------------------------------
// Fail-fast
// ---------------------------------------------------------------------------------------------

mod fail_fast {
    use super::*;

    /// Fails after 10 ms, once.
    #[service]
    pub async fn broken(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("broken");
        tokio::time::sleep(ms(10)).await;
        Err(Boom("broken"))
    }

    #[service(depends_on = [broken])]
    pub async fn needs_broken(ctx: &Context<Probe>, broken: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("needs_broken", "start");
        Ok(*broken)
    }

    #[service(depends_on = [broken])]
    pub async fn tolerates_broken(
        ctx: &Context<Probe>,
        broken: Option<&u32>,
    ) -> Result<bool, Infallible> {
        ctx.payload().mark("tolerates_broken", "start");
        Ok(broken.is_some())
    }

    /// Done at 30 ms.
    #[service]
    pub async fn slow(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("slow");
        tokio::time::sleep(ms(30)).await;
        ctx.payload().mark("slow", "finished");
        Ok(30)
    }

    #[service(depends_on = [slow])]
    pub async fn needs_slow(ctx: &Context<Probe>, slow: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("needs_slow", "start");
        Ok(*slow)
    }

    /// Fails at once, succeeds on its second attempt at 100 ms: a failed attempt that is
    /// retried is not a failed service, and at 10 ms it waits to retry.
    #[service(retry = NO_JITTER)]
    pub async fn retrying(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("retrying");
        match ctx.attempt() {
            1 => Err(Boom("retrying")),
            n => Ok(n),
        }
    }

    orchestration! {
        #[orch(fail_fast)]
        pub declared_ff(Probe) { broken, needs_broken, tolerates_broken, slow, needs_slow, retrying }
    }

    orchestration! {
        pub plain(Probe) { broken, needs_broken, tolerates_broken, slow, needs_slow, retrying }
    }

    /// Fails at 0, 100 and 300 ms, then gives up.
    #[service(retry = NO_JITTER.with_max_retries(2))]
    pub async fn gives_up(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("gives_up");
        Err(Boom("gives_up"))
    }

    orchestration! {
        #[orch(fail_fast)]
        pub exhausted_ff(Probe) { gives_up, slow }
    }
}

const FAIL_FAST_REASON: &str = "`broken` failed and the run is fail-fast";

/// What a fail-fast run of the `fail_fast` scene reports: everything stops at 10 ms. A macro,
/// for the two orchestrations' reports.
macro_rules! assert_failed_fast {
    ($start:expr, $probe:expr, $report:expr) => {{
        let (start, probe, report) = ($start, $probe, $report);
        let why = Interruption::FailFast { service: "broken" };
        assert_eq!(start.elapsed(), ms(10));
        let failure = report.broken.failure().expect("broken failed");
        assert_eq!(failure.errors(), [AttemptError::Error(Boom("broken"))]);
        assert_eq!(failure.stop_reason(), StopReason::AttemptsExhausted);
        assert_eq!(
            report.needs_broken,
            Outcome::Skipped(Skip {
                dependency: "broken",
                cause: "broken"
            })
        );
        // Its optional dependent is not started: the run is over.
        assert_eq!(report.tolerates_broken, Outcome::Cancelled(why.clone()));
        assert!(probe.times("tolerates_broken", "start").is_empty());
        // Running: dropped at 10 ms.
        assert_eq!(report.slow, Outcome::Cancelled(why.clone()));
        assert_eq!(probe.times("slow", "dropped"), [ms(10)]);
        assert!(probe.times("slow", "finished").is_empty());
        assert_eq!(
            report.needs_slow,
            Outcome::Skipped(Skip {
                dependency: "slow",
                cause: "slow"
            })
        );
        assert!(probe.times("needs_slow", "start").is_empty());
        // Waiting to retry: not retried.
        assert_eq!(report.retrying, Outcome::Cancelled(why.clone()));
        assert_eq!(probe.times("retrying", "start"), [ms(0)]);
        assert_eq!(probe.live(), 0);
        assert_eq!(report.interruption(), Some(&why));
    }};
}

#[tokio::test(start_paused = true)]
async fn in_a_declared_fail_fast_run_the_first_failure_cancels_everything_at_that_instant() {
    const { assert!(fail_fast::declared_ff::FAIL_FAST) };
    let request = request(Probe::default());
    let start = Instant::now();
    let report = fail_fast::declared_ff::orchestrate(&request, &NoJournal).await;
    assert_failed_fast!(start, &request.payload, &report);
    assert_eq!(
        report.summary(),
        Summary {
            succeeded: 0,
            failed: 1,
            skipped: 2,
            cancelled: 3
        }
    );
    // The failure comes before the interruption it caused.
    match report.into_result() {
        Err(RunError::Failed(failed)) => assert_eq!(failed.service(), "broken"),
        Err(RunError::Interrupted(why)) => panic!("expected broken's failure, got {why}"),
        Ok(_) => panic!("expected broken's failure, got outputs"),
    }
}

#[tokio::test(start_paused = true)]
async fn with_fail_fast_true_makes_any_orchestration_fail_fast() {
    const { assert!(!fail_fast::plain::FAIL_FAST) };
    let request = request(Probe::default());
    let start = Instant::now();
    let options = RunOptions::new().with_fail_fast(true);
    let report = fail_fast::plain::orchestrate_with(&request, &NoJournal, options).await;
    assert_failed_fast!(start, &request.payload, &report);
}

#[tokio::test(start_paused = true)]
async fn a_fail_fast_run_is_journaled_with_the_failed_service_as_the_reason() {
    let request = request(Probe::default());
    let journal = InMemoryJournal::new();
    let _report = fail_fast::declared_ff::orchestrate(&request, &journal).await;
    let entries = journal.entries();
    assert_eq!(
        of_service(&entries, "slow"),
        [
            (ms(0), attempt_started("slow", 1)),
            (ms(10), service_cancelled("slow", Some(1), FAIL_FAST_REASON)),
        ]
    );
    assert_eq!(
        of_service(&entries, "retrying").last(),
        Some(&(
            ms(10),
            service_cancelled("retrying", None, FAIL_FAST_REASON)
        ))
    );
    assert_eq!(
        of_service(&entries, "needs_broken"),
        [(ms(10), service_skipped("needs_broken", "broken", "broken"))]
    );
    assert_eq!(
        run_finished(&entries),
        (
            ms(10),
            Event::RunFinished {
                status: RunStatus::Interrupted,
                summary: Summary {
                    succeeded: 0,
                    failed: 1,
                    skipped: 2,
                    cancelled: 3
                },
                reason: Some(FAIL_FAST_REASON.into()),
            }
        )
    );
}

#[tokio::test(start_paused = true)]
async fn with_fail_fast_false_overrides_a_declared_fail_fast_and_matches_the_default() {
    let with_override = request(Probe::default());
    let start = Instant::now();
    let options = RunOptions::new().with_fail_fast(false);
    let overridden =
        fail_fast::declared_ff::orchestrate_with(&with_override, &NoJournal, options).await;
    assert_eq!(start.elapsed(), ms(100));

    let by_default = request(Probe::default());
    let start = Instant::now();
    let plain = fail_fast::plain::orchestrate(&by_default, &NoJournal).await;
    assert_eq!(start.elapsed(), ms(100));

    for (probe, statuses, interruption) in [
        (
            &with_override.payload,
            overridden.statuses(),
            overridden.interruption(),
        ),
        (&by_default.payload, plain.statuses(), plain.interruption()),
    ] {
        // The failure skips what needs it; the other branches run to their end.
        assert_eq!(
            statuses,
            [
                ("broken", Status::Failed),
                ("needs_broken", Status::Skipped),
                ("tolerates_broken", Status::Succeeded),
                ("slow", Status::Succeeded),
                ("needs_slow", Status::Succeeded),
                ("retrying", Status::Succeeded),
            ]
        );
        assert_eq!(interruption, None);
        assert_eq!(probe.times("tolerates_broken", "start"), [ms(10)]);
        assert_eq!(probe.times("slow", "finished"), [ms(30)]);
        assert_eq!(probe.times("needs_slow", "start"), [ms(30)]);
        assert_eq!(probe.times("retrying", "start"), [ms(0), ms(100)]);
    }
    assert_eq!(overridden.tolerates_broken.output(), Some(&false));
    assert_eq!(overridden.retrying.output(), Some(&2));
}

#[tokio::test(start_paused = true)]
async fn a_fail_fast_run_ends_when_a_service_runs_out_of_retries_not_at_its_first_failed_attempt() {
    let request = request(Probe::default());
    let start = Instant::now();
    let report = fail_fast::exhausted_ff::orchestrate(&request, &NoJournal).await;
    // `slow` (30 ms) finishes meanwhile; `gives_up` fails for good at 300 ms.
    assert_eq!(start.elapsed(), ms(300));
    assert_eq!(
        request.payload.times("gives_up", "start"),
        [ms(0), ms(100), ms(300)]
    );
    assert_eq!(report.slow.output(), Some(&30));
    assert_eq!(
        report.interruption(),
        Some(&Interruption::FailFast {
            service: "gives_up"
        })
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency limit
// ---------------------------------------------------------------------------------------------

mod limits {
    use super::*;

    #[service]
    pub async fn one(ctx: &Context<Probe>) -> Result<(), Boom> {
        let _live = ctx.payload().enter("one");
        tokio::time::sleep(ms(10)).await;
        Ok(())
    }

    #[service]
    pub async fn two(ctx: &Context<Probe>) -> Result<(), Boom> {
        let _live = ctx.payload().enter("two");
        tokio::time::sleep(ms(10)).await;
        Ok(())
    }

    #[service]
    pub async fn three(ctx: &Context<Probe>) -> Result<(), Boom> {
        let _live = ctx.payload().enter("three");
        tokio::time::sleep(ms(10)).await;
        Ok(())
    }

    #[service]
    pub async fn four(ctx: &Context<Probe>) -> Result<(), Boom> {
        let _live = ctx.payload().enter("four");
        tokio::time::sleep(ms(10)).await;
        Ok(())
    }

    orchestration! {
        #[orch(max_in_flight = 2)]
        pub two_at_a_time(Probe) { one, two, three, four }
    }

    orchestration! {
        pub unlimited(Probe) { one, two, three, four }
    }

    /// Fails at once, then succeeds on its second attempt at 100 ms, which takes 10 ms.
    #[service(retry = NO_JITTER)]
    pub async fn backs_off(ctx: &Context<Probe>) -> Result<(), Boom> {
        let _live = ctx.payload().enter("backs_off");
        if ctx.attempt() == 1 {
            return Err(Boom("backs_off"));
        }
        tokio::time::sleep(ms(10)).await;
        Ok(())
    }

    orchestration! {
        #[orch(max_in_flight = 2)]
        pub with_backoff(Probe) { backs_off, two, three, four }
    }

    /// Fails at once.
    #[service]
    pub async fn fails_now(ctx: &Context<Probe>) -> Result<(), Boom> {
        let _live = ctx.payload().enter("fails_now");
        Err(Boom("fails_now"))
    }

    #[service(depends_on = [fails_now])]
    pub async fn skipped_a(ctx: &Context<Probe>, _dep: &()) -> Result<(), Boom> {
        ctx.payload().mark("skipped_a", "start");
        Ok(())
    }

    #[service(depends_on = [skipped_a])]
    pub async fn skipped_b(ctx: &Context<Probe>, _dep: &()) -> Result<(), Boom> {
        ctx.payload().mark("skipped_b", "start");
        Ok(())
    }

    orchestration! {
        #[orch(max_in_flight = 1)]
        pub with_skips(Probe) { fails_now, skipped_a, skipped_b, two, three }
    }

    /// Needs `one`: when `one` ends, it comes before `four` in topological order.
    #[service(depends_on = [one])]
    pub async fn needs_one(ctx: &Context<Probe>, _one: &()) -> Result<(), Boom> {
        let _live = ctx.payload().enter("needs_one");
        tokio::time::sleep(ms(10)).await;
        Ok(())
    }

    orchestration! {
        pub ordered(Probe) { one, needs_one, four }
    }
}

/// `(service, start)` of every attempt, in the order they started.
fn starts(probe: &Probe) -> Vec<(&'static str, Duration)> {
    probe
        .timeline
        .marks()
        .into_iter()
        .filter(|(_, what, _)| *what == "start")
        .map(|(service, _, at)| (service, at))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn with_max_in_flight_2_four_10ms_services_start_at_0_0_10_10_ms_in_listing_order() {
    assert_eq!(limits::two_at_a_time::MAX_IN_FLIGHT, Some(2));
    let request = request(Probe::default());
    let start = Instant::now();
    let report = limits::two_at_a_time::orchestrate(&request, &NoJournal).await;
    assert!(report.is_success());
    assert_eq!(
        starts(&request.payload),
        [
            ("one", ms(0)),
            ("two", ms(0)),
            ("three", ms(10)),
            ("four", ms(10))
        ]
    );
    assert_eq!(request.payload.peak(), 2);
    assert_eq!(start.elapsed(), ms(20));
}

#[tokio::test(start_paused = true)]
async fn the_limit_holds_the_same_in_a_journaled_run() {
    let request = request(Probe::default());
    let journal = InMemoryJournal::new();
    let _report = limits::two_at_a_time::orchestrate(&request, &journal).await;
    let entries = journal.entries();
    let started: Vec<_> = entries
        .iter()
        .filter_map(|entry| match &entry.event {
            Event::AttemptStarted { service, .. } => Some((service.to_string(), entry.offset)),
            _ => None,
        })
        .collect();
    let s = |name: &str| name.to_owned();
    assert_eq!(
        started,
        [
            (s("one"), ms(0)),
            (s("two"), ms(0)),
            (s("three"), ms(10)),
            (s("four"), ms(10))
        ]
    );
    assert_eq!(request.payload.peak(), 2);
}

#[tokio::test(start_paused = true)]
async fn with_max_in_flight_limits_an_unlimited_orchestration_and_overrides_a_declared_limit() {
    // Unlimited: all at once.
    let request = request(Probe::default());
    let _report = limits::unlimited::orchestrate(&request, &NoJournal).await;
    assert_eq!(request.payload.peak(), 4);
    assert!(starts(&request.payload).iter().all(|(_, at)| *at == ms(0)));

    // Limited by the options.
    let request = common::request(Probe::default());
    let options = RunOptions::new().with_max_in_flight(2);
    let _report = limits::unlimited::orchestrate_with(&request, &NoJournal, options).await;
    assert_eq!(
        starts(&request.payload),
        [
            ("one", ms(0)),
            ("two", ms(0)),
            ("three", ms(10)),
            ("four", ms(10))
        ]
    );

    // The options' 1 overrides the declared 2; 0 is taken as 1.
    for limit in [1, 0] {
        let request = common::request(Probe::default());
        let start = Instant::now();
        let options = RunOptions::new().with_max_in_flight(limit);
        assert_eq!(options.max_in_flight(), Some(1));
        let report = limits::two_at_a_time::orchestrate_with(&request, &NoJournal, options).await;
        assert!(report.is_success());
        assert_eq!(
            starts(&request.payload),
            [
                ("one", ms(0)),
                ("two", ms(10)),
                ("three", ms(20)),
                ("four", ms(30))
            ],
            "limit {limit}"
        );
        assert_eq!(request.payload.peak(), 1);
        assert_eq!(start.elapsed(), ms(40));
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_waiting_to_retry_keeps_its_place() {
    let request = request(Probe::default());
    let start = Instant::now();
    let report = limits::with_backoff::orchestrate(&request, &NoJournal).await;
    assert!(report.is_success());
    // `backs_off` holds one of the two places from 0 to 110 ms, its backoff included: the
    // others share the other place.
    assert_eq!(
        starts(&request.payload),
        [
            ("backs_off", ms(0)),
            ("two", ms(0)),
            ("three", ms(10)),
            ("four", ms(20)),
            ("backs_off", ms(100)),
        ]
    );
    assert_eq!(start.elapsed(), ms(110));
}

#[tokio::test(start_paused = true)]
async fn skipped_services_take_no_place() {
    let request = request(Probe::default());
    let journal = InMemoryJournal::new();
    let start = Instant::now();
    let report = limits::with_skips::orchestrate(&request, &journal).await;
    assert_eq!(
        report.statuses(),
        [
            ("fails_now", Status::Failed),
            ("skipped_a", Status::Skipped),
            ("skipped_b", Status::Skipped),
            ("two", Status::Succeeded),
            ("three", Status::Succeeded),
        ]
    );
    // One place: `fails_now` frees it at once, the skips take none, `two` and `three` follow.
    assert_eq!(
        starts(&request.payload),
        [("fails_now", ms(0)), ("two", ms(0)), ("three", ms(10))]
    );
    let entries = journal.entries();
    assert_eq!(
        of_service(&entries, "skipped_b"),
        [(
            ms(0),
            service_skipped("skipped_b", "skipped_a", "fails_now")
        )]
    );
    assert_eq!(start.elapsed(), ms(20));
}

#[tokio::test(start_paused = true)]
async fn a_freed_place_goes_to_the_ready_service_first_in_topological_order() {
    let request = request(Probe::default());
    let options = RunOptions::new().with_max_in_flight(1);
    let report = limits::ordered::orchestrate_with(&request, &NoJournal, options).await;
    assert!(report.is_success());
    // At 10 ms both `needs_one` and `four` are ready: `needs_one` comes first in the order.
    assert_eq!(
        starts(&request.payload),
        [("one", ms(0)), ("needs_one", ms(10)), ("four", ms(20))]
    );
}

// ---------------------------------------------------------------------------------------------
// Worst cases, stop reasons and texts
// ---------------------------------------------------------------------------------------------

#[test]
fn worst_case_is_every_attempt_at_its_timeout_plus_every_wait_at_max_delay_or_the_budget() {
    let secs = Duration::from_secs;
    // No timeout: unbounded.
    assert_eq!(RetryPolicy::DEFAULT.worst_case(None), None);
    assert_eq!(
        RetryPolicy::DEFAULT
            .with_max_elapsed(secs(1))
            .worst_case(None),
        None
    );
    // One attempt.
    assert_eq!(RetryPolicy::NONE.worst_case(Some(ms(100))), Some(ms(100)));
    // 6 attempts of 2 s, 5 waits of 3 s.
    assert_eq!(
        RetryPolicy::DEFAULT.worst_case(Some(secs(2))),
        Some(secs(27))
    );
    // 3 attempts of 30 ms, 2 waits of 500 ms.
    assert_eq!(
        NO_JITTER
            .with_max_retries(2)
            .with_max_delay(ms(500))
            .worst_case(Some(ms(30))),
        Some(ms(1090))
    );
    // A budget shorter than that: the budget plus one attempt.
    assert_eq!(
        RetryPolicy::DEFAULT
            .with_max_elapsed(secs(10))
            .worst_case(Some(secs(2))),
        Some(secs(12))
    );
    // A budget longer than that changes nothing.
    assert_eq!(
        RetryPolicy::DEFAULT
            .with_max_elapsed(secs(100))
            .worst_case(Some(secs(2))),
        Some(secs(27))
    );
    // Saturates instead of overflowing.
    assert_eq!(
        RetryPolicy::DEFAULT
            .with_max_retries(u32::MAX)
            .worst_case(Some(Duration::MAX)),
        Some(Duration::MAX)
    );
    // u32::MAX attempts of 1 s and u32::MAX waits of 3 s, shorter than a budget of forever.
    assert_eq!(
        RetryPolicy::DEFAULT
            .with_max_retries(u32::MAX)
            .with_max_elapsed(Duration::MAX)
            .worst_case(Some(secs(1))),
        Some(secs(4 * u64::from(u32::MAX)))
    );
    // Usable in constants.
    const WORST: Option<Duration> = RetryPolicy::NONE.worst_case(Some(Duration::from_secs(1)));
    assert_eq!(WORST, Some(secs(1)));
    assert_eq!(
        RetryPolicy::DEFAULT
            .with_max_elapsed(secs(10))
            .max_elapsed(),
        Some(secs(10))
    );
    assert_eq!(RetryPolicy::DEFAULT.max_elapsed(), None);
}

mod bounded {
    use super::*;

    /// Every wait is exactly max_delay (50 ms): the worst case is reached.
    pub const FLAT: RetryPolicy = NO_JITTER
        .with_max_retries(2)
        .with_initial_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_millis(50));

    /// Every attempt runs into its 30 ms timeout.
    #[service(timeout = Duration::from_millis(30), retry = FLAT)]
    pub async fn always_late(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("always_late");
        tokio::time::sleep(HOUR).await;
        Ok(0)
    }

    orchestration! {
        /// Worst case 3 * 30 + 2 * 50 = 190 ms: within the deadline, so it compiles.
        #[orch(deadline = Duration::from_millis(200))]
        pub bounded(Probe) { always_late }
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_reaching_its_worst_case_ends_exactly_then_and_within_a_declared_deadline() {
    assert_eq!(bounded::FLAT.worst_case(Some(ms(30))), Some(ms(190)));
    let request = request(Probe::default());
    let start = Instant::now();
    let report = bounded::bounded::orchestrate(&request, &NoJournal).await;
    assert_eq!(start.elapsed(), ms(190));
    assert_eq!(
        request.payload.times("always_late", "start"),
        [ms(0), ms(80), ms(160)]
    );
    let failure = report.always_late.failure().expect("always_late failed");
    assert_eq!(failure.errors(), vec![AttemptError::TimedOut(ms(30)); 3]);
    assert_eq!(failure.stop_reason(), StopReason::AttemptsExhausted);
    assert_eq!(report.interruption(), None);
}

mod stops {
    use super::*;

    #[derive(Debug, Clone, PartialEq)]
    pub struct Declined;

    impl fmt::Display for Declined {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("declined")
        }
    }

    impl Retryable for Declined {
        fn is_permanent(&self) -> bool {
            true
        }
    }

    #[service(retry = NO_JITTER)]
    pub async fn declined(ctx: &Context<Probe>) -> Result<u32, Declined> {
        let _live = ctx.payload().enter("declined");
        Err(Declined)
    }

    #[service(retry = NO_JITTER)]
    pub async fn panics(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("panics");
        panic!("out of cheese");
    }

    #[service(retry = NO_JITTER.with_max_retries(1))]
    pub async fn exhausted(ctx: &Context<Probe>) -> Result<u32, Boom> {
        let _live = ctx.payload().enter("exhausted");
        Err(Boom("exhausted"))
    }

    orchestration! {
        pub stops(Probe) { declined, panics, exhausted }
    }
}

#[tokio::test(start_paused = true)]
async fn stop_reason_tells_permanent_errors_panics_and_exhausted_attempts_apart() {
    let request = request(Probe::default());
    let journal = InMemoryJournal::new();
    let report = stops::stops::orchestrate(&request, &journal).await;

    let declined = report.declined.failure().expect("declined failed");
    assert_eq!(declined.stop_reason(), StopReason::Permanent);
    assert_eq!(declined.attempts(), 1);

    let panics = report.panics.failure().expect("panics failed");
    assert_eq!(panics.stop_reason(), StopReason::Panicked);
    assert_eq!(
        panics.errors(),
        [AttemptError::Panicked("out of cheese".into())]
    );
    assert_eq!(request.payload.times("panics", "start"), [ms(0)]);

    let exhausted = report.exhausted.failure().expect("exhausted failed");
    assert_eq!(exhausted.stop_reason(), StopReason::AttemptsExhausted);
    assert_eq!(exhausted.attempts(), 2);
    assert_eq!(request.payload.live(), 0);

    let entries = journal.entries();
    let stop_of = |service| match failed_attempts(&entries, service).pop() {
        Some((_, Event::AttemptFailed { stop, .. })) => stop,
        other => panic!("{other:?}"),
    };
    assert_eq!(stop_of("declined"), Some(StopReason::Permanent));
    assert_eq!(stop_of("panics"), Some(StopReason::Panicked));
    assert_eq!(stop_of("exhausted"), Some(StopReason::AttemptsExhausted));
}

#[test]
fn the_new_interruptions_and_the_timeout_error_read_as_sentences() {
    assert_eq!(Interruption::Cancelled.to_string(), "the run was cancelled");
    assert_eq!(
        Interruption::DeadlineExceeded.to_string(),
        "the run's deadline passed"
    );
    assert_eq!(
        Interruption::FailFast {
            service: "payments"
        }
        .to_string(),
        "`payments` failed and the run is fail-fast"
    );
    assert!(std::error::Error::source(&Interruption::DeadlineExceeded).is_none());

    assert_eq!(
        AttemptError::<Boom>::TimedOut(ms(30)).to_string(),
        "timed out after 30ms"
    );
    assert_eq!(
        AttemptError::<Boom>::TimedOut(Duration::from_secs(2)).to_string(),
        "timed out after 2s"
    );
    assert_eq!(AttemptError::<Boom>::TimedOut(ms(30)).error(), None);

    assert_eq!(
        Outcome::<u32, Boom>::Cancelled(Interruption::DeadlineExceeded).to_string(),
        "cancelled: the run's deadline passed"
    );
    assert_eq!(
        Outcome::<u32, Boom>::Cancelled(Interruption::FailFast { service: "fraud" }).to_string(),
        "cancelled: `fraud` failed and the run is fail-fast"
    );
    assert_eq!(
        RunError::<Boom>::Interrupted(Interruption::Cancelled).to_string(),
        "run interrupted: the run was cancelled"
    );

    let failure = |stop| Failure::new(vec![AttemptError::<Boom>::TimedOut(ms(30))], stop);
    assert_eq!(
        failure(StopReason::BudgetExhausted).map(|f| f.to_string()),
        Some("failed (retry budget spent) after 1 attempt: timed out after 30ms".into())
    );
    assert_eq!(
        failure(StopReason::RetryAfterTooLong { after: ms(10) }).map(|f| f.to_string()),
        Some(
            "failed (asked to retry later than max_delay) after 1 attempt: timed out after 30ms"
                .into()
        )
    );
    assert_eq!(
        failure(StopReason::AttemptsExhausted).map(|f| f.to_string()),
        Some("failed after 1 attempt: timed out after 30ms".into())
    );
    assert!(
        Failure::<Boom>::new(Vec::new(), StopReason::AttemptsExhausted).is_none(),
        "a failure has at least one error"
    );
}
