//! The service-typed half of a task's boxed rest: the service's attempt futures, its output and
//! its errors, behind [`Attempt`], an object-safe trait.
//!
//! The other half, the logic (journal writes, timeouts, the retry loop, skips and
//! cancellations), is [`drive`](super::run), generic over the run's payload and journal only, so
//! that a plan compiles it once rather than once per service. Compiled per service, it was a
//! quarter of a large plan's code in a debug build and most of its build time.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;

use super::run::{OutcomeSlot, guarded, output_json, panic_message};
use crate::context::Context;
use crate::outcome::{AttemptError, Failure, Outcome, StopReason, Success};
use crate::service::Service;

/// What the driver needs of a failed attempt, read from its error by [`Attempt::failed`].
pub(super) struct Failed {
    /// The error's text, or the panic message.
    pub(super) text: String,
    pub(super) panicked: bool,
    pub(super) timed_out: bool,
    /// Whether the error says not to retry.
    pub(super) permanent: bool,
    /// The wait the error asked for.
    pub(super) retry_after: Option<Duration>,
}

/// A service's attempts, as the driver sees them: one attempt at a time is called, polled until
/// it ends, and its result kept until the driver stores it or judges it.
pub(super) trait Attempt {
    /// Calls the service: the start of an attempt, polled by [`Attempt::poll_attempt`].
    fn call(self: Pin<&mut Self>);

    /// Polls the attempt called last, a panic caught as its failure: `Ready(true)` if it
    /// succeeded, `Ready(false)` if it failed. Its future is dropped as it ends.
    fn poll_attempt(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<bool>;

    /// The attempt called last ran longer than `after`: it is dropped and fails with that.
    fn time_out(self: Pin<&mut Self>, after: Duration);

    /// The type of the service's output, for its success's journal entry.
    fn output_type(&self) -> &'static str;

    /// The output of the attempt that succeeded, as JSON; `None` if its type is not
    /// `Serialize` or its serialization panicked.
    fn output_json(&self) -> Option<serde_json::Value>;

    /// Stores the success, after `attempts` attempts: held (see [`Slot::hold`]) while its entry
    /// is written if `held`, else visible at once.
    ///
    /// [`Slot::hold`]: super::slot::Slot::hold
    fn store_success(self: Pin<&mut Self>, attempts: u32, held: bool);

    /// What the driver needs to judge the attempt that failed; its error is kept among the
    /// failure's errors. The user's `Display` and `Retryable` run here, a panic in them caught:
    /// it stops nothing but this service.
    fn failed(self: Pin<&mut Self>) -> Failed;

    /// Holds the service's failure, with every attempt's error, until its entry is written.
    fn hold_failure(self: Pin<&mut Self>, stop: StopReason);
}

pin_project! {
    /// The attempts of service `S`, called with `call(ctx, args)`.
    pub(super) struct Attempts<'a, S: Service, P, A, C, Fut> {
        ctx: &'a Context<P>,
        slot: &'a OutcomeSlot<S::Output, S::Error>,
        // None for a service that is skipped or cancelled before its first attempt.
        args: Option<A>,
        call: C,
        #[pin]
        attempt: Option<Fut>,
        // The result of the attempt that ended, until it is stored or judged.
        ended: Option<Result<S::Output, AttemptError<S::Error>>>,
        errors: Vec<AttemptError<S::Error>>,
    }
}

impl<'a, S: Service, P, A, C, Fut> Attempts<'a, S, P, A, C, Fut> {
    /// The attempts of a service called with `args` (none if it is skipped or cancelled before
    /// its first attempt), whose first attempt is to start or ended with the error `ended`.
    pub(super) fn new(
        ctx: &'a Context<P>,
        slot: &'a OutcomeSlot<S::Output, S::Error>,
        args: Option<A>,
        call: C,
        ended: Option<AttemptError<S::Error>>,
    ) -> Self {
        Attempts {
            ctx,
            slot,
            args,
            call,
            attempt: None,
            ended: ended.map(Err),
            errors: Vec::new(),
        }
    }
}

impl<'a, S, P, A, C, Fut> Attempt for Attempts<'a, S, P, A, C, Fut>
where
    S: Service,
    A: Copy,
    C: FnMut(&'a Context<P>, A) -> Fut,
    Fut: Future<Output = Result<S::Output, S::Error>>,
{
    fn call(self: Pin<&mut Self>) {
        let mut this = self.project();
        let Some(args) = *this.args else {
            unreachable!("orch: a service is called only with its dependencies' outputs")
        };
        let attempt = (this.call)(this.ctx, args);
        this.attempt.set(Some(attempt));
    }

    fn poll_attempt(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<bool> {
        let mut this = self.project();
        let Some(attempt) = this.attempt.as_mut().as_pin_mut() else {
            unreachable!("orch: an attempt is polled only once called, until it ends")
        };
        let ended = match catch_unwind(AssertUnwindSafe(|| attempt.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(result)) => result.map_err(AttemptError::Error),
            Err(payload) => Err(AttemptError::Panicked(panic_message(payload.as_ref()))),
        };
        this.attempt.set(None);
        let succeeded = ended.is_ok();
        *this.ended = Some(ended);
        Poll::Ready(succeeded)
    }

    fn time_out(self: Pin<&mut Self>, after: Duration) {
        let mut this = self.project();
        this.attempt.set(None);
        *this.ended = Some(Err(AttemptError::TimedOut(after)));
    }

    fn output_type(&self) -> &'static str {
        std::any::type_name::<S::Output>()
    }

    fn output_json(&self) -> Option<serde_json::Value> {
        match &self.ended {
            Some(Ok(output)) => output_json::<S>(output),
            _ => None,
        }
    }

    fn store_success(self: Pin<&mut Self>, attempts: u32, held: bool) {
        let this = self.project();
        let Some(Ok(output)) = this.ended.take() else {
            unreachable!("orch: only an attempt that succeeded is stored as a success")
        };
        let outcome = Outcome::Succeeded(Success {
            output,
            attempts,
            replayed: false,
        });
        if held {
            this.slot.hold(outcome);
        } else {
            // Only this service's task sets its slot, once.
            this.slot.store(outcome);
        }
    }

    fn failed(self: Pin<&mut Self>) -> Failed {
        let this = self.project();
        let Some(Err(error)) = this.ended.take() else {
            unreachable!("orch: only an attempt that failed is judged")
        };
        let (text, permanent, retry_after) = match &error {
            AttemptError::Error(error) => (
                guarded(|| S::__describe_error(error))
                    .unwrap_or_else(|panic| format!("<the error's description panicked: {panic}>")),
                guarded(|| S::__is_permanent(error)).unwrap_or(true),
                guarded(|| S::__retry_after(error)).unwrap_or(None),
            ),
            AttemptError::Panicked(message) => (message.clone(), true, None),
            AttemptError::TimedOut(after) => (format!("timed out after {after:?}"), false, None),
            // Never made by an attempt: only read back from the journal.
            AttemptError::Replayed(text) => (text.clone(), false, None),
        };
        let failed = Failed {
            text,
            panicked: matches!(error, AttemptError::Panicked(_)),
            timed_out: matches!(error, AttemptError::TimedOut(_)),
            permanent,
            retry_after,
        };
        this.errors.push(error);
        failed
    }

    fn hold_failure(self: Pin<&mut Self>, stop: StopReason) {
        let this = self.project();
        let errors = std::mem::take(this.errors);
        this.slot
            .hold(Outcome::Failed(Failure::from_attempts(errors, stop)));
    }
}
