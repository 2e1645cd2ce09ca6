//! The runtime half of a generated plan: one `Run` per call of `orchestrate`, shared by reference
//! by every service future of that call.

use std::any::type_name;
use std::borrow::Cow;
use std::future::{Future, poll_fn};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::slot::Slot;
use super::task::{Resumption, Unit};
use std::task::Poll;

use crate::context::{Context, ContextScope};
use crate::journal::{Event, Journal, JournalEntry, JournalError, RunStatus};
use crate::options::RunOptions;
use crate::outcome::{
    AttemptError, Failure, Interruption, Outcome, Skip, Status, Success, Summary,
};
use crate::request::Request;
use crate::retry::jitter_unit;
use crate::service::Service;
use crate::timestamp::Timestamp;

/// Records an event if the run is journaled. A macro, not an `async fn`: only the journal's own
/// future is held across the await, so the futures of services stay small.
macro_rules! record {
    ($run:expr, at: $at:expr, $offset:expr, $event:expr) => {
        if let Some(entry) = $run.entry_at($at, $offset, || $event) {
            let result = $run.journal.record(entry).await;
            $run.written(result);
        }
    };
    ($run:expr, $event:expr) => {
        if let Some(entry) = $run.entry(|| $event) {
            let result = $run.journal.record(entry).await;
            $run.written(result);
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
    span: tracing::Span,
    /// Whether a subscriber took the run's span: attempts get spans only then, and asking once
    /// per run is cheaper than asking for every attempt of every service.
    attempt_spans: bool,
}

struct Journaled {
    event_id: Arc<str>,
    start: tokio::time::Instant,
}

impl<'r, P, J: Journal + ?Sized> Run<'r, P, J> {
    /// Prepares a run; nothing is recorded until [`Run::start`].
    pub fn new(
        orchestration: &'static str,
        request: &'r Request<P>,
        journal: &'r J,
        options: &RunOptions,
    ) -> Self {
        let journaled = J::ENABLED.then(|| Journaled {
            event_id: Arc::from(request.event_id.as_str()),
            start: tokio::time::Instant::now(),
        });
        let span = tracing::info_span!(
            "orch.run",
            orchestration,
            event_id = %request.event_id,
            tenant_id = %request.tenant_id,
            organization_id = %request.organization_id,
        );
        Run {
            attempt_spans: !span.is_disabled(),
            orchestration,
            request,
            journal,
            seed: options.seed(),
            journaled,
            interruption: OnceLock::new(),
            span,
        }
    }

    /// The context service `S` will see, for every attempt of this run.
    pub fn context<S: Service>(&self) -> ContextScope<'r, P> {
        let run_start = self.journaled.as_ref().map(|journaled| journaled.start);
        ContextScope::new(self.request, S::NAME, S::RETRY.max_attempts(), run_start)
    }

    /// The run's tracing span; the generated plan runs inside it.
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Records the run's start, with the payload as JSON if `payload_json` can make it.
    pub async fn start(&self, payload_json: fn(&P) -> Option<serde_json::Value>) {
        tracing::debug!("run started");
        record!(
            self,
            Event::RunStarted {
                orchestration: Cow::Borrowed(self.orchestration),
                tenant_id: self.request.tenant_id.clone(),
                organization_id: self.request.organization_id.clone(),
                payload_type: Cow::Borrowed(type_name::<P>()),
                payload: payload_json(&self.request.payload),
            }
        );
    }

    /// Records the run's end and returns why it was interrupted, if it was.
    pub async fn finish(&self, summary: Summary) -> Option<Interruption> {
        let status = if self.interruption.get().is_some() || summary.cancelled > 0 {
            RunStatus::Interrupted
        } else if summary.all_succeeded() {
            RunStatus::Succeeded
        } else {
            RunStatus::Failed
        };
        tracing::debug!(?status, ?summary, "run finished");
        record!(self, Event::RunFinished { status, summary });
        self.interruption.get().cloned()
    }

    /// Whether the run was interrupted: no attempt starts after that.
    pub(super) fn is_interrupted(&self) -> bool {
        self.interruption.get().is_some()
    }

    /// The span of attempt `attempt` of `S`: none unless a subscriber took the run's span.
    #[inline]
    pub(super) fn attempt_span<S: Service>(&self, attempt: u32) -> tracing::Span {
        if self.attempt_spans {
            tracing::info_span!("orch.attempt", service = S::NAME, attempt)
        } else {
            tracing::Span::none()
        }
    }

    /// Records a failed attempt; returns its error, the delay before the next attempt (if
    /// there is one), and whether the error is permanent.
    #[cold]
    async fn failed<S: Service>(
        &self,
        index: u32,
        attempt: u32,
        error: S::Error,
    ) -> (AttemptError<S::Error>, Option<Duration>, bool) {
        // The user's `Retryable` and `Display` run outside the attempt: a panic in them is
        // caught here too, so that it stops nothing but this service.
        let permanent = guarded(|| S::__is_permanent(&error)).unwrap_or(true);
        let retry = !permanent && attempt < S::RETRY.max_attempts();
        let retry_in = retry.then(|| S::RETRY.delay(attempt - 1, self.jitter(index, attempt - 1)));
        let text = guarded(|| S::__describe_error(&error))
            .unwrap_or_else(|panic| format!("<the error's description panicked: {panic}>"));
        tracing::warn!(service = S::NAME, attempt, error = %text, ?retry_in, "attempt failed");
        record!(
            self,
            Event::AttemptFailed {
                service: Cow::Borrowed(S::NAME),
                attempt,
                error: text,
                panicked: false,
                retry_in,
            }
        );
        (AttemptError::Error(error), retry_in, permanent)
    }

    /// Records an attempt that panicked. A panic is a bug, not a transient condition: the
    /// service is not retried.
    #[cold]
    async fn panicked<S: Service>(
        &self,
        attempt: u32,
        message: String,
    ) -> (AttemptError<S::Error>, Option<Duration>, bool) {
        tracing::error!(service = S::NAME, attempt, panic = %message, "attempt panicked");
        record!(
            self,
            Event::AttemptFailed {
                service: Cow::Borrowed(S::NAME),
                attempt,
                error: message.clone(),
                panicked: true,
                retry_in: None,
            }
        );
        (AttemptError::Panicked(message), None, true)
    }

    /// Stores `S`'s outcome as skipped, because a dependency it needs did not succeed.
    pub async fn skip<S: Service>(&self, slot: &OutcomeSlot<S::Output, S::Error>, skip: Skip) {
        tracing::info!(
            service = S::NAME,
            dependency = skip.dependency,
            cause = skip.cause,
            "service skipped"
        );
        record!(
            self,
            Event::ServiceSkipped {
                service: Cow::Borrowed(S::NAME),
                dependency: Cow::Borrowed(skip.dependency),
                cause: Cow::Borrowed(skip.cause),
            }
        );
        let _ = slot.set(Outcome::Skipped(skip));
    }

    async fn cancel<S: Service>(&self, why: Interruption) -> Outcome<S::Output, S::Error> {
        tracing::info!(service = S::NAME, reason = %why, "service cancelled");
        // The journal already failed if the run was interrupted; this only records in a journal
        // that works again, as a durable one may after a transient error.
        record!(
            self,
            Event::ServiceCancelled {
                service: Cow::Borrowed(S::NAME),
                reason: why.to_string(),
            }
        );
        Outcome::Cancelled(why)
    }

    fn jitter(&self, index: u32, retry: u32) -> f64 {
        match self.seed {
            Some(seed) => jitter_unit(seed, index, retry),
            None => rand::random::<f64>(),
        }
    }

    /// The entry for `event` now, if the run is journaled.
    fn entry(&self, event: impl FnOnce() -> Event) -> Option<JournalEntry> {
        let journaled = self.journaled.as_ref()?;
        let offset = journaled.start.elapsed();
        Some(JournalEntry {
            event_id: journaled.event_id.clone(),
            at: Timestamp::now(),
            offset,
            event: event(),
        })
    }

    /// The entry for `event` at a time taken earlier, if the run is journaled.
    fn entry_at(
        &self,
        at: Timestamp,
        offset: Duration,
        event: impl FnOnce() -> Event,
    ) -> Option<JournalEntry> {
        let journaled = self.journaled.as_ref()?;
        Some(JournalEntry {
            event_id: journaled.event_id.clone(),
            at,
            offset,
            event: event(),
        })
    }

    /// Keeps the first journal error: it interrupts the run.
    fn written(&self, result: Result<(), JournalError>) {
        if let Err(error) = result {
            tracing::error!(%error, "journal write failed: interrupting the run");
            // The first error is the one reported; later ones are its consequences.
            let _ = self.interruption.set(Interruption::Journal(error));
        }
    }
}

/// The rest of a task's work, from where its inline path stopped (see [`Task`]): journal
/// writes, failures and retries, skips and interruptions. Boxed by the task, so every path but
/// a first attempt's unjournaled success may allocate.
///
/// [`Task`]: super::task::Task
pub async fn resume<'a, S, P, J, A, C, Fut>(
    unit: Unit<'a, S, P, J>,
    mut call: C,
    from: Resumption<S::Output, S::Error, A>,
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
    let (args, mut attempt, mut ended) = match from {
        Resumption::Skip(skip) => return run.skip::<S>(slot, skip).await,
        Resumption::Attempt { args, attempt } => (args, attempt, None),
        Resumption::Ended {
            args,
            attempt,
            result,
        } => (args, attempt, Some(result)),
    };
    let mut errors = Vec::new();
    let outcome = loop {
        let result = match ended.take() {
            Some(result) => result,
            None => {
                if let Some(why) = run.interruption.get() {
                    break run.cancel::<S>(why.clone()).await;
                }
                if run.journaled.is_some() {
                    let event = Event::AttemptStarted {
                        service: Cow::Borrowed(S::NAME),
                        attempt,
                    };
                    record!(run, event);
                }
                if let Some(why) = run.interruption.get() {
                    // The start could not be recorded: a service whose start is not in the
                    // journal must not run.
                    break run.cancel::<S>(why.clone()).await;
                }
                ctx.start_attempt(attempt);
                let span = run.attempt_span::<S>(attempt);
                let mut future = pin!(call(ctx, args));
                poll_fn(|cx| {
                    let _entered = span.enter();
                    match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                        Ok(Poll::Ready(result)) => Poll::Ready(Ok(result)),
                        Ok(Poll::Pending) => Poll::Pending,
                        Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
                    }
                })
                .await
            }
        };
        if run.journaled.is_some() {
            for warning in ctx.take_warnings() {
                record!(run, at: warning.at, warning.offset, Event::Warning {
                    service: Cow::Borrowed(S::NAME),
                    attempt,
                    message: warning.message,
                });
            }
        }
        let (error, retry_in, permanent) = match result {
            Ok(Ok(output)) => {
                if run.journaled.is_some() {
                    record!(
                        run,
                        Event::AttemptSucceeded {
                            service: Cow::Borrowed(S::NAME),
                            attempt,
                            output_type: Cow::Borrowed(type_name::<S::Output>()),
                            output: guarded(|| S::__output_json(&output)).unwrap_or(None),
                        }
                    );
                }
                break Outcome::Succeeded(Success {
                    output,
                    attempts: attempt,
                });
            }
            Ok(Err(error)) => run.failed::<S>(index, attempt, error).await,
            Err(message) => run.panicked::<S>(attempt, message).await,
        };
        errors.push(error);
        match retry_in {
            // No pointless wait: a run the journal interrupted starts no attempt.
            Some(_) if run.interruption.get().is_some() => {}
            Some(delay) => tokio::time::sleep(delay).await,
            None => break Outcome::Failed(Failure::from_attempts(errors, permanent)),
        }
        attempt += 1;
    };
    // Only this service's task sets its slot, once.
    let _ = slot.set(outcome);
}

/// Runs `f`, turning a panic into `Err(message)`.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
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

/// The status of the outcome a finished run left in `slot`.
pub fn status<T, E>(slot: &OutcomeSlot<T, E>) -> Status {
    slot.get().map_or(Status::Cancelled, Outcome::status)
}

/// The outcome a finished run left in `slot`.
pub fn take<T, E>(slot: OutcomeSlot<T, E>) -> Outcome<T, E> {
    slot.into_inner()
        .expect("orch: the plan completes only once every service has stored its outcome")
}
