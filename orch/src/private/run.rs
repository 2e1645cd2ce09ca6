//! The runtime half of a generated plan: one `Run` per call of `orchestrate`, shared by reference
//! by every service future of that call.

use std::any::type_name;
use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::attempts::{Attempt, Attempts, Failed};
use super::declared::Declared;
use super::erased::Erased;
use super::replay::Replay;
use super::slot::{AnySlot, Slot};
use super::task::{Resumption, Unit};
use super::watch::Watch;

use crate::cancellation::Cancellation;
use crate::context::{Context, ContextScope, Warnings};
use crate::journal::{Event, Journal, JournalEntry, JournalError, RunStatus};
use crate::options::{RunOptions, earlier};
use crate::outcome::{Interruption, Outcome, Skip, Status, StopReason, Summary};
use crate::request::Request;
use crate::retry::{RetryPolicy, jitter_unit};
use crate::service::Service;
use crate::timestamp::Timestamp;

/// Records an event if the run is journaled. A macro, not an `async fn`: only the journal's own
/// future is held across the await, so the futures of services stay small. `J::ENABLED` is a
/// constant: with `NoJournal`, nothing of it is compiled.
macro_rules! record {
    ($run:expr, at: $at:expr, $offset:expr, $event:expr) => {
        if J::ENABLED
            && let Some(journaled) = &$run.journaled
        {
            if J::WRITES_NOW {
                // Made in the journal's place, not moved into a future.
                $run.write_now(|| journaled.entry_at($at, $offset, || $event));
            } else {
                // Only the journal's future is held across the await. The entry, made in the
                // call, is not: held, it would be 200 bytes of the service's future, and copied
                // once more.
                let write = $run
                    .journal
                    .record(journaled.entry_at($at, $offset, || $event));
                $run.written(write.await);
            }
        }
    };
    ($run:expr, $event:expr) => {
        if J::ENABLED
            && let Some(journaled) = &$run.journaled
        {
            if J::WRITES_NOW {
                $run.write_now(|| journaled.entry(|| $event));
            } else {
                let write = $run.journal.record(journaled.entry(|| $event));
                $run.written(write.await);
            }
        }
    };
}

/// Where a service's outcome is stored: set once by the service's own future, read by its
/// dependents' futures, taken by the report when the run ends.
pub type OutcomeSlot<T, E> = Slot<Outcome<T, E>>;

/// The state of one run.
pub struct Run<'r, P, J: ?Sized> {
    orchestration: &'static str,
    request: &'r Request<P>,
    journal: &'r J,
    seed: Option<u64>,
    /// Only when journaled: reading clocks and sharing the id cost more than a whole no-op plan.
    journaled: Option<Journaled>,
    interruption: OnceLock<Interruption>,
    /// See [`Run::is_clear`]; cleared as the run is interrupted.
    clear: AtomicBool,
    span: tracing::Span,
    /// Whether a subscriber took the run's span: attempts get spans only then, and asking once
    /// per run is cheaper than asking for every attempt of every service.
    attempt_spans: bool,
    deadline: Option<tokio::time::Instant>,
    cancellation: Option<Cancellation>,
    fail_fast: bool,
    /// At most this many services between their first attempt and their outcome.
    max_in_flight: Option<usize>,
    in_flight: AtomicUsize,
    /// A task found no free place since the last pass began: a place freed later in the pass
    /// calls for another pass.
    starved: AtomicBool,
}

struct Journaled {
    event_id: Arc<str>,
    /// When the run started by the system clock: its start entry's time, read with the
    /// monotonic start so that the entry needs no clock read of its own.
    started_at: Timestamp,
    /// The run's start (every entry's offset is from then), and the services' warnings until
    /// their attempts end.
    warnings: Warnings,
}

impl Journaled {
    /// The entry for `event` now.
    #[inline]
    fn entry(&self, event: impl FnOnce() -> Event) -> JournalEntry {
        let offset = self.warnings.start.elapsed();
        self.entry_at(Timestamp::now(), offset, event)
    }

    /// The entry for `event` at a time taken earlier.
    #[inline]
    fn entry_at(
        &self,
        at: Timestamp,
        offset: Duration,
        event: impl FnOnce() -> Event,
    ) -> JournalEntry {
        JournalEntry {
            event_id: self.event_id.clone(),
            at,
            offset,
            event: event(),
        }
    }
}

impl<'r, P, J: Journal + ?Sized> Run<'r, P, J> {
    /// Prepares a run; nothing is recorded until [`Run::start`].
    #[inline(always)]
    pub fn new(
        orchestration: &'static str,
        request: &'r Request<P>,
        journal: &'r J,
        options: &RunOptions,
        declared: Declared,
    ) -> Self {
        let journaled = J::ENABLED.then(|| Journaled {
            event_id: request.event_id.clone(),
            started_at: Timestamp::now(),
            warnings: Warnings::new(tokio::time::Instant::now()),
        });
        let deadline = match (declared.deadline, options.deadline_is_set()) {
            (None, false) => None,
            _ => {
                let start = journaled
                    .as_ref()
                    .map_or_else(tokio::time::Instant::now, |journaled| {
                        journaled.warnings.start
                    });
                let declared = declared
                    .deadline
                    .and_then(|deadline| start.checked_add(deadline));
                earlier(declared, options.deadline(start))
            }
        };
        let span = tracing::info_span!(
            "orch.run",
            orchestration,
            event_id = %request.event_id,
            tenant_id = %request.tenant_id,
            organization_id = %request.organization_id,
        );
        let attempt_spans = !span.is_disabled();
        let cancellation = options.cancellation().cloned();
        let max_in_flight = options.max_in_flight().or(declared.max_in_flight);
        Run {
            clear: AtomicBool::new(
                !attempt_spans && cancellation.is_none() && max_in_flight.is_none(),
            ),
            attempt_spans,
            orchestration,
            request,
            journal,
            seed: options.seed(),
            journaled,
            interruption: OnceLock::new(),
            span,
            deadline,
            cancellation,
            fail_fast: options.fail_fast().unwrap_or(declared.fail_fast),
            max_in_flight,
            in_flight: AtomicUsize::new(0),
            starved: AtomicBool::new(false),
        }
    }

    /// What ends the run from outside: its deadline and its cancellation handle. The plan polls
    /// it on every wake-up, before its services.
    pub(super) fn watch(&self) -> Watch<'_> {
        Watch {
            deadline: self.deadline.map(tokio::time::sleep_until),
            notified: self.cancellation.as_ref().map(Cancellation::notified),
            cancellation: self.cancellation.as_ref(),
        }
    }

    /// Interrupts the run if its deadline passed or it was cancelled.
    pub(super) fn poll_watch(&self, watch: Pin<&mut Watch<'_>>, cx: &mut std::task::Context<'_>) {
        if let Some(why) = watch.poll(cx) {
            self.interrupt(why);
        }
    }

    /// Interrupts the run; the first reason is the one reported.
    pub(super) fn interrupt(&self, why: Interruption) {
        if self.set_interruption(why) {
            let why = self.interruption.get();
            tracing::info!(parent: &self.span, reason = ?why, "run interrupted");
        }
    }

    /// Why the run was interrupted, if it was. Reads the cancellation handle too, so that a
    /// `cancel` made during a pass (by a service of this run, say) stops the services the same
    /// pass would start next, not only those of the next wake-up.
    #[inline]
    pub fn interruption(&self) -> Option<&Interruption> {
        // Asked before every service's start: one load when the run goes on.
        match self.interruption.get() {
            Some(why) => Some(why),
            None => self.cancelled_now(),
        }
    }

    /// Interrupts the run if its cancellation handle was cancelled; the interruption then.
    #[inline]
    fn cancelled_now(&self) -> Option<&Interruption> {
        if !self
            .cancellation
            .as_ref()
            .is_some_and(Cancellation::is_cancelled)
        {
            return None;
        }
        self.interrupt(Interruption::Cancelled);
        self.interruption.get()
    }

    /// Whether nothing but its dependencies stands between a service and its first attempt:
    /// the run limits no services in flight, has no cancellation handle (which anyone, a service
    /// of this run too, may cancel at any time), gives attempts no spans, and was not
    /// interrupted. A task asks this before its first attempt, and asks what it stands for
    /// only when it is false: one load, not three, on the path of every service.
    #[inline]
    pub(super) fn is_clear(&self) -> bool {
        self.clear.load(Ordering::Relaxed)
    }

    /// Takes a place among the services in flight if the run limits them, and sets `entered`
    /// then; false if none is free. Without a limit, `entered` stays false: the task then has
    /// nothing to give back when it ends.
    #[inline]
    pub(super) fn try_enter(&self, entered: &mut bool) -> bool {
        let Some(limit) = self.max_in_flight else {
            return true;
        };
        if self.in_flight.load(Ordering::Relaxed) < limit {
            self.in_flight.fetch_add(1, Ordering::Relaxed);
            *entered = true;
            true
        } else {
            self.starved.store(true, Ordering::Relaxed);
            false
        }
    }

    /// Frees a place taken with [`Run::try_enter`]: only for a task whose `entered` it set.
    pub(super) fn leave(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// Whether the plan should make another pass at once: a task found no free place, and one
    /// is free now.
    pub fn pass_again(&self) -> bool {
        match self.max_in_flight {
            Some(limit) => {
                self.starved.swap(false, Ordering::Relaxed)
                    && self.in_flight.load(Ordering::Relaxed) < limit
            }
            None => false,
        }
    }

    /// Stores the outcome of `service` as cancelled by the run's interruption, once its task
    /// was stopped or as its first attempt was to start; `attempt` is the attempt that was
    /// running, or whose start was written, if one was.
    pub(super) async fn cancelled(
        &self,
        service: &'static str,
        slot: Erased<&dyn AnySlot>,
        attempt: Option<u32>,
    ) {
        let why = self
            .interruption
            .get()
            .cloned()
            .unwrap_or(Interruption::Cancelled);
        self.cancel(service, slot, why, attempt).await;
    }

    /// The context service `S` will see, for every attempt of this run.
    pub fn context<S: Service>(&self) -> ContextScope<'_, P> {
        let warnings = self.journaled.as_ref().map(|journaled| &journaled.warnings);
        ContextScope::new(self.request, S::NAME, S::RETRY.max_attempts(), warnings)
    }

    /// The run's tracing span; the generated plan runs inside it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Whether the run has a journal. Only then is there anything to await as it starts and
    /// ends ([`Run::start`], [`Run::finish`]); a plan run without one calls [`Run::started`]
    /// and [`Run::finished`] instead, plain functions: the futures of `start` and `finish` cost
    /// it a call each and a state to poll.
    #[inline(always)]
    pub fn is_journaled(&self) -> bool {
        J::ENABLED
    }

    /// [`Run::start`], for a run without a journal (and so with nothing replayed).
    #[inline]
    pub fn started(&self) {
        tracing::debug!("run started");
    }

    /// Records the run's start, with the payload as JSON if `payload_json` can make it; for a
    /// durable run, its fingerprint and the services read back from the journal. `services`:
    /// how many the orchestration has.
    pub async fn start(
        &self,
        payload_json: fn(&P) -> Option<serde_json::Value>,
        services: usize,
        replay: Option<&Replay>,
    ) {
        self.started();
        // Without a journal, nothing here is compiled: not even a `None` payload to drop.
        if J::ENABLED {
            // Its start and end, and each service's start and success.
            self.journal
                .reserve(services.saturating_mul(2).saturating_add(2));
            // Serialized before the write, as an output is: a journal may make the entry under
            // its lock, and the user's `Serialize` must not run there.
            let payload = payload_json(&self.request.payload);
            // At the run's start, offset zero: the clocks were read as the run was made (the
            // run of a journal always has `journaled`; the fallback is never taken).
            let at = self
                .journaled
                .as_ref()
                .map_or_else(Timestamp::now, |journaled| journaled.started_at);
            record!(
                self,
                at: at,
                Duration::ZERO,
                Event::RunStarted {
                    orchestration: Cow::Borrowed(self.orchestration),
                    tenant_id: self.request.tenant_id.clone(),
                    organization_id: self.request.organization_id.clone(),
                    payload_type: Cow::Borrowed(type_name::<P>()),
                    payload,
                    fingerprint: replay.map(Replay::fingerprint),
                }
            );
        }
        for &(service, attempt, status) in replay.map_or(&[][..], Replay::replayed) {
            tracing::info!(
                service,
                attempt,
                ?status,
                "service replayed from the journal"
            );
            record!(
                self,
                Event::ServiceReplayed {
                    service: Cow::Borrowed(service),
                    attempt,
                    status,
                }
            );
        }
    }

    /// What earlier executions of this run recorded, for a durable orchestration with this
    /// fingerprint to resume from. Needs a journal that can read back ([`Journal::recall`]).
    pub async fn recall(
        &self,
        fingerprint: u64,
        payload_json: fn(&P) -> Option<serde_json::Value>,
    ) -> Replay {
        let event_id = &self.request.event_id;
        // A journal that records nothing has nothing to resume from, whatever its `recall`
        // says: the slots of a run without a journal start empty (`Task::new` relies on it).
        if !J::ENABLED {
            return Replay::fresh(event_id, fingerprint);
        }
        match self.journal.recall(event_id).await {
            Ok(entries) => {
                let payload = payload_json(&self.request.payload);
                let replay = Replay::from_entries(event_id, fingerprint, payload, entries);
                if let Some(why) = replay.refusal() {
                    tracing::error!(parent: &self.span, reason = %why, "run cannot be resumed");
                }
                replay
            }
            Err(error) => {
                tracing::error!(parent: &self.span, %error, "run's journal cannot be read");
                Replay::refused(event_id, fingerprint, Interruption::Journal(error))
            }
        }
    }

    /// Records the run's end and returns why it was interrupted, if it was. `summary` reads the
    /// services' statuses from their slots: called only if the end is journaled or traced.
    pub async fn finish(&self, summary: impl FnOnce() -> Summary) -> Option<Interruption> {
        if !J::ENABLED {
            return self.finished(summary);
        }
        let summary = summary();
        let status = self.status(&summary);
        tracing::debug!(?status, ?summary, "run finished");
        let reason = self.interruption.get().map(ToString::to_string);
        record!(
            self,
            Event::RunFinished {
                status,
                summary,
                reason
            }
        );
        self.interruption_now()
    }

    /// [`Run::finish`], for a run without a journal: the summary is read only if tracing
    /// wants the event.
    #[inline(always)]
    pub fn finished(&self, summary: impl FnOnce() -> Summary) -> Option<Interruption> {
        if tracing::enabled!(tracing::Level::DEBUG) {
            let summary = summary();
            tracing::debug!(status = ?self.status(&summary), ?summary, "run finished");
        }
        self.interruption_now()
    }

    /// How a run with services in `summary` ended.
    fn status(&self, summary: &Summary) -> RunStatus {
        if self.interruption.get().is_some() || summary.cancelled > 0 {
            RunStatus::Interrupted
        } else if summary.all_succeeded() {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        }
    }

    /// Why the run was interrupted, as the report keeps it.
    #[inline]
    fn interruption_now(&self) -> Option<Interruption> {
        // Not `Option::cloned`, which the compiler called out of line even for `None`.
        #[cold]
        fn cloned(why: &Interruption) -> Interruption {
            why.clone()
        }
        self.interruption.get().map(cloned)
    }

    /// Whether the run was interrupted: no attempt starts after that.
    pub(super) fn is_interrupted(&self) -> bool {
        self.interruption().is_some()
    }

    /// The span of attempt `attempt` of `service`: none unless a subscriber took the run's
    /// span. `None` rather than a disabled span, which costs a call to drop.
    #[inline]
    pub(super) fn attempt_span(
        &self,
        service: &'static str,
        attempt: u32,
    ) -> Option<tracing::Span> {
        if self.attempt_spans {
            Some(new_attempt_span(service, attempt))
        } else {
            None
        }
    }

    /// Judges a failed attempt of `service`: returns either the delay before the next attempt or
    /// why there is none, and the event that records it. `since_first` is how long ago the first
    /// attempt started, when the policy has a retry budget; `index` is the service's position in
    /// the plan, which seeds the jitter.
    #[cold]
    fn judge(
        &self,
        service: &'static str,
        policy: &RetryPolicy,
        index: u32,
        attempt: u32,
        failed: Failed,
        since_first: Option<Duration>,
    ) -> (Result<Duration, StopReason>, Event) {
        let Failed {
            text,
            panicked,
            timed_out,
            permanent,
            retry_after,
        } = failed;
        let next = if panicked {
            Err(StopReason::Panicked)
        } else if permanent {
            Err(StopReason::Permanent)
        } else if attempt >= policy.max_attempts() {
            Err(StopReason::AttemptsExhausted)
        } else {
            let backoff = policy.delay(attempt - 1, self.jitter(index, attempt - 1));
            match retry_after {
                Some(after) if after > policy.max_delay() => {
                    Err(StopReason::RetryAfterTooLong { after })
                }
                hint => {
                    let delay = hint.map_or(backoff, |hint| hint.max(backoff));
                    match (policy.max_elapsed(), since_first) {
                        (Some(budget), Some(since)) if since.saturating_add(delay) > budget => {
                            Err(StopReason::BudgetExhausted)
                        }
                        _ => Ok(delay),
                    }
                }
            }
        };
        if panicked {
            tracing::error!(service, attempt, panic = %text, "attempt panicked");
        } else {
            tracing::warn!(service, attempt, error = %text, ?next, "attempt failed");
        }
        let event = Event::AttemptFailed {
            service: Cow::Borrowed(service),
            attempt,
            error: text,
            panicked,
            timed_out,
            retry_after,
            retry_in: next.ok(),
            stop: next.err(),
        };
        (next, event)
    }

    /// Stores the outcome of `service` as skipped, because a dependency it needs did not succeed.
    pub(super) async fn skip(&self, service: &'static str, slot: Erased<&dyn AnySlot>, skip: Skip) {
        tracing::info!(
            service,
            dependency = skip.dependency,
            cause = skip.cause,
            "service skipped"
        );
        // Held while its entry is written (see `Slot::hold`), as every outcome written here.
        slot.hold_skipped(skip);
        record!(
            self,
            Event::ServiceSkipped {
                service: Cow::Borrowed(service),
                dependency: Cow::Borrowed(skip.dependency),
                cause: Cow::Borrowed(skip.cause),
            }
        );
        slot.publish();
    }

    /// Stores the outcome of `service` as cancelled because the run was interrupted by `why`.
    async fn cancel(
        &self,
        service: &'static str,
        slot: Erased<&dyn AnySlot>,
        why: Interruption,
        attempt: Option<u32>,
    ) {
        tracing::info!(service, reason = %why, "service cancelled");
        let reason = why.to_string();
        slot.hold_cancelled(why);
        // The journal already failed if the run was interrupted; this only records in a journal
        // that works again, as a durable one may after a transient error.
        record!(
            self,
            Event::ServiceCancelled {
                service: Cow::Borrowed(service),
                attempt,
                reason,
            }
        );
        slot.publish();
    }

    fn jitter(&self, index: u32, retry: u32) -> f64 {
        match self.seed {
            Some(seed) => jitter_unit(seed, index, retry),
            None => rand::random::<f64>(),
        }
    }

    /// Records the start of `S`'s attempt `attempt` with a journal that writes at once
    /// ([`Journal::WRITES_NOW`]), for a first attempt run inline by its task. `Err` if the run
    /// is interrupted, by this write or before (on another thread): the attempt must not be
    /// called, and is cancelled; `Err(Some(attempt))` if its start was written, for the
    /// cancellation to end it.
    #[inline]
    pub(super) fn started_now<S: Service>(&self, attempt: u32) -> Result<(), Option<u32>> {
        debug_assert!(
            J::WRITES_NOW,
            "only a journal that writes at once is written inline"
        );
        let written = match &self.journaled {
            Some(journaled) => self.write_now(|| journaled.entry(|| started(S::NAME, attempt))),
            None => false,
        };
        if self.is_interrupted() {
            return Err(written.then_some(attempt));
        }
        Ok(())
    }

    /// Records the success of `S`'s attempt `attempt`, run inline by its task, with a journal
    /// that writes at once: the warnings it recorded, then the success, as [`resume`] does.
    #[inline]
    pub(super) fn succeeded_now<S: Service>(
        &self,
        ctx: &Context<P>,
        attempt: u32,
        output: &S::Output,
    ) {
        debug_assert!(
            J::WRITES_NOW,
            "only a journal that writes at once is written inline"
        );
        let Some(journaled) = &self.journaled else {
            return;
        };
        if ctx.has_warnings() {
            self.warnings_now::<S>(journaled, ctx, attempt);
        }
        // Serialized before the write: a journal may make the entry under its lock.
        let output = output_json::<S>(output);
        let event = || succeeded(S::NAME, attempt, type_name::<S::Output>(), output);
        self.write_now(|| journaled.entry(event));
    }

    /// Records the warnings of `S`'s attempt `attempt`, with a journal that writes at once.
    #[cold]
    fn warnings_now<S: Service>(&self, journaled: &Journaled, ctx: &Context<P>, attempt: u32) {
        for warning in ctx.take_warnings() {
            let event = || warned(S::NAME, attempt, warning.message);
            self.write_now(|| journaled.entry_at(warning.at, warning.offset, event));
        }
    }

    /// Writes the entry `entry` makes with a journal that writes at once, keeping its error as
    /// [`Run::written`] does; whether it was written.
    #[inline]
    fn write_now(&self, entry: impl FnOnce() -> JournalEntry) -> bool {
        self.written(self.journal.record_now(entry))
    }

    /// Keeps the first journal error: it interrupts the run. Whether the entry was written.
    #[inline]
    fn written(&self, result: Result<(), JournalError>) -> bool {
        match result {
            Ok(()) => true,
            Err(error) => {
                self.write_failed(error);
                false
            }
        }
    }

    #[cold]
    fn write_failed(&self, error: JournalError) {
        tracing::error!(%error, "journal write failed: interrupting the run");
        // The first error is the one reported; later ones are its consequences.
        self.set_interruption(Interruption::Journal(error));
    }

    /// Records why the run was interrupted, unless it already was; whether it was not.
    fn set_interruption(&self, why: Interruption) -> bool {
        self.clear.store(false, Ordering::Relaxed);
        self.interruption.set(why).is_ok()
    }
}

/// The rest of a task's work, from where its inline path stopped (see [`Task`]): writes to a
/// journal that must be awaited, timeouts, failures and retries, skips and interruptions. Boxed
/// by the task, so every path but a first attempt's success (without a journal, or with one that
/// writes at once) may allocate.
///
/// Only this entry is compiled once per service, and it is small: the logic is `drive`, one
/// copy per plan, which reaches the service's typed parts (its futures, output and errors)
/// through `Attempt`.
///
/// [`Task`]: super::task::Task
pub async fn resume<'a, S, P, J, A, C, Fut>(
    unit: Unit<'a, S, P, J>,
    call: C,
    from: Resumption<S::Error, A>,
) where
    S: Service,
    J: Journal + ?Sized,
    A: Copy,
    C: FnMut(&'a Context<P>, A) -> Fut,
    Fut: Future<Output = Result<S::Output, S::Error>>,
{
    let Unit {
        run,
        slot,
        ctx,
        index,
    } = unit;
    // One await, of the shared driver: each await is code of this function's own.
    let (start, args, ended) = match from {
        Resumption::Skip(skip) => (Start::Skip(skip), None, None),
        Resumption::Cancel { started } => (Start::Cancel { started }, None, None),
        Resumption::Attempt { args, attempt } => (Start::Attempt(attempt), Some(args), None),
        Resumption::Ended {
            args,
            attempt,
            error,
        } => (Start::Ended(attempt), Some(args), Some(error)),
    };
    let service = ServiceSpec {
        name: S::NAME,
        retry: S::RETRY,
        timeout: S::TIMEOUT,
        index,
    };
    let attempts = pin!(Attempts::<S, P, A, C, Fut>::new(
        ctx, slot, args, call, ended
    ));
    // The future holding these holds the attempts, and with them `slot`: see `Erased`.
    let (slot, attempts) = (
        Erased::new(slot as &dyn AnySlot),
        Erased::new(attempts as _),
    );
    drive(run, ctx, service, slot, attempts, start).await;
}

/// Where [`drive`] starts: a [`Resumption`] without its typed parts, which are in the
/// service's [`Attempts`].
enum Start {
    /// A dependency it needs did not succeed.
    Skip(Skip),
    /// The run was interrupted as its first attempt was to start (`started`, if written).
    Cancel { started: Option<u32> },
    /// This attempt is to start.
    Attempt(u32),
    /// This attempt ended with an error, which the attempts keep.
    Ended(u32),
}

/// What [`drive`] knows of its service.
struct ServiceSpec {
    name: &'static str,
    retry: RetryPolicy,
    timeout: Option<Duration>,
    /// The service's position in the plan, which seeds the jitter.
    index: u32,
}

/// A service's work from `start` until its outcome is stored: see [`resume`].
async fn drive<'a, P, J: Journal + ?Sized>(
    run: &'a Run<'a, P, J>,
    ctx: &'a Context<P>,
    service: ServiceSpec,
    slot: Erased<&'a dyn AnySlot>,
    mut attempts: Erased<Pin<&mut (dyn Attempt + 'a)>>,
    start: Start,
) {
    let ServiceSpec {
        name,
        retry,
        timeout,
        index,
    } = service;
    let (mut attempt, mut ended) = match start {
        Start::Skip(skip) => return run.skip(name, slot, skip).await,
        Start::Cancel { started } => return run.cancelled(name, slot, started).await,
        Start::Attempt(attempt) => (attempt, false),
        Start::Ended(attempt) => (attempt, true),
    };
    // Read only when a budget needs it: a clock read costs more than a no-op service.
    let first_start = retry.max_elapsed().map(|_| tokio::time::Instant::now());
    loop {
        let success = if std::mem::take(&mut ended) {
            false
        } else {
            if let Some(why) = run.interruption() {
                return run.cancel(name, slot, why.clone(), None).await;
            }
            let mut written = false;
            if J::ENABLED
                && let Some(journaled) = &run.journaled
            {
                let write = run
                    .journal
                    .record(journaled.entry(|| started(name, attempt)));
                ctx.set_writing(true);
                written = run.written(write.await);
                ctx.set_writing(false);
            }
            if let Some(why) = run.interruption() {
                // Interrupted during the write, or by its failure: the attempt is not called.
                // A start that was written is ended by the cancellation naming it.
                return run
                    .cancel(name, slot, why.clone(), written.then_some(attempt))
                    .await;
            }
            ctx.start_attempt(attempt);
            let span = run.attempt_span(name, attempt);
            attempts.as_mut().call();
            let returned = poll_fn(|cx| {
                let _entered = span.as_ref().map(tracing::Span::enter);
                attempts.as_mut().poll_attempt(cx)
            });
            let succeeded = match timeout {
                Some(timeout) => {
                    let returned = tokio::time::timeout(timeout, returned).await;
                    returned.unwrap_or_else(|_| {
                        attempts.as_mut().time_out(timeout);
                        false
                    })
                }
                None => returned.await,
            };
            ctx.end_attempt();
            succeeded
        };
        if run.journaled.is_some() {
            ctx.set_writing(true);
            for warning in ctx.take_warnings() {
                record!(run, at: warning.at, warning.offset, warned(name, attempt, warning.message));
            }
            ctx.set_writing(false);
        }
        if success {
            if run.journaled.is_some() {
                let event = succeeded(
                    name,
                    attempt,
                    attempts.output_type(),
                    attempts.output_json(),
                );
                // Held while its entry is written: a dependent starts only once the success is
                // recorded, and a run interrupted meanwhile lets the write finish and reports
                // the success (`stop_all`).
                attempts.as_mut().store_success(attempt, true);
                record!(run, event);
                slot.publish();
            } else {
                attempts.as_mut().store_success(attempt, false);
            }
            return;
        }
        let since_first = first_start.map(|start| start.elapsed());
        let failed = attempts.as_mut().failed();
        let (next, event) = run.judge(name, &retry, index, attempt, failed, since_first);
        match next {
            Ok(delay) => {
                ctx.set_writing(true);
                record!(run, event);
                ctx.set_writing(false);
                // No pointless wait: an interrupted run starts no attempt.
                if !run.is_interrupted() {
                    tokio::time::sleep(delay).await;
                }
            }
            Err(stop) => {
                attempts.as_mut().hold_failure(stop);
                // Before the write: nothing may start once a service failed in a fail-fast run.
                if run.fail_fast {
                    run.interrupt(Interruption::FailFast { service: name });
                }
                record!(run, event);
                slot.publish();
                return;
            }
        }
        attempt += 1;
    }
}

/// Out of line, and not generic: only with a subscriber, and the macro's code is large, where
/// `Run::attempt_span` is inlined into the plan's poll once per service.
#[cold]
#[inline(never)]
fn new_attempt_span(service: &'static str, attempt: u32) -> tracing::Span {
    tracing::info_span!("orch.attempt", service, attempt)
}

fn started(service: &'static str, attempt: u32) -> Event {
    Event::AttemptStarted {
        service: Cow::Borrowed(service),
        attempt,
    }
}

fn warned(service: &'static str, attempt: u32, message: String) -> Event {
    Event::Warning {
        service: Cow::Borrowed(service),
        attempt,
        message,
    }
}

// Inlined, so that the event is made in its entry rather than copied into it.
#[inline]
fn succeeded(
    service: &'static str,
    attempt: u32,
    output_type: &'static str,
    output: Option<serde_json::Value>,
) -> Event {
    Event::AttemptSucceeded {
        service: Cow::Borrowed(service),
        attempt,
        output_type: Cow::Borrowed(output_type),
        output,
    }
}

/// `output` as JSON, for its success's entry; `None` if its `Serialize` panics.
// Always inlined: made on every journaled success, and left out of line by the compiler after
// an unrelated change, it cost 19 instructions more per success (layered10).
#[inline(always)]
pub(super) fn output_json<S: Service>(output: &S::Output) -> Option<serde_json::Value> {
    catch_unwind(AssertUnwindSafe(|| S::__output_json(output))).unwrap_or(None)
}

/// Runs `f`, turning a panic into `Err(message)`.
pub(super) fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}

pub(super) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

/// Refuses a zero per-attempt timeout; called in a `const` item by `#[service(timeout = ..)]`.
#[track_caller]
pub const fn assert_timeout(timeout: Option<Duration>) {
    if let Some(timeout) = timeout
        && timeout.is_zero()
    {
        panic!("invalid timeout: an attempt needs a timeout longer than zero");
    }
}

/// The status of the outcome a finished run left in `slot`.
pub fn status<T, E>(slot: &OutcomeSlot<T, E>) -> Status {
    // A success is read from the slot's state, without decoding the outcome.
    if slot.output().is_some() {
        return Status::Succeeded;
    }
    slot.get().map_or(Status::Cancelled, Outcome::status)
}

/// The outcome a finished run left in `slot`.
pub fn take<T, E>(slot: OutcomeSlot<T, E>) -> Outcome<T, E> {
    // The plan completes only once every service has stored its outcome.
    slot.into_written()
}
