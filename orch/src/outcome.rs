//! What happened to each service of a run, and to the run as a whole.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::journal::JournalError;

/// The outcome of one service in one run. Exactly one per service: a run's report has a field of
/// this type for every service of the orchestration.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<T, E> {
    /// An attempt returned `Ok`.
    Succeeded(Success<T>),
    /// Every allowed attempt failed, or one failed permanently or panicked.
    Failed(Failure<E>),
    /// Not called, because a dependency whose output it needs did not succeed.
    Skipped(Skip),
    /// Not called, or not retried, because the run was interrupted.
    Cancelled(Interruption),
}

/// The output of a service that succeeded.
#[derive(Debug, Clone, PartialEq)]
pub struct Success<T> {
    /// What the service returned.
    pub output: T,
    /// The attempt that succeeded (1 for the first).
    pub attempts: u32,
    /// Whether the output was read back from the journal, recorded by an earlier execution of
    /// the run, instead of returned by a call in this one (see `#[orch(durable)]`).
    pub replayed: bool,
}

/// The errors of a service that failed: one per attempt, oldest first, never empty.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure<E> {
    errors: Vec<AttemptError<E>>,
    stop: StopReason,
}

/// Why a failed service was not tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
#[non_exhaustive]
pub enum StopReason {
    /// Its error was permanent (see [`Retryable`](crate::Retryable)).
    Permanent,
    /// It panicked: a bug, which a retry would not fix.
    Panicked,
    /// It used every attempt its retry policy allows.
    AttemptsExhausted,
    /// The next attempt would have started after the policy's
    /// [`max_elapsed`](crate::RetryPolicy::with_max_elapsed) budget.
    BudgetExhausted,
    /// The error asked for a wait ([`Retryable::retry_after`](crate::Retryable::retry_after))
    /// longer than the policy's `max_delay`.
    RetryAfterTooLong {
        /// The wait the error asked for (`after_ns` in JSON).
        #[serde(rename = "after_ns", with = "crate::journal::nanos")]
        after: Duration,
    },
}

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptError<E> {
    /// The service returned `Err`.
    Error(E),
    /// The service panicked; the panic message, if it was a string.
    Panicked(String),
    /// The attempt ran longer than the service's `timeout` and was cancelled.
    TimedOut(Duration),
    /// An error recorded by an earlier execution of the run, read back from the journal as the
    /// text it was recorded with: the typed error is not kept.
    Replayed(String),
}

/// Why a service was skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    /// The direct dependency that did not succeed.
    pub dependency: &'static str,
    /// The service at the root of the chain of skips: the one that failed or was cancelled.
    pub cause: &'static str,
}

/// Why a run stopped starting services before they had all run.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interruption {
    /// Writing the journal failed: no service starts after that, since its run could not be
    /// recorded.
    Journal(JournalError),
    /// The caller cancelled the run (see [`Cancellation`](crate::Cancellation)).
    Cancelled,
    /// The run's deadline passed.
    DeadlineExceeded,
    /// A service failed in a fail-fast run, which cancels everything else.
    FailFast {
        /// The service that failed.
        service: &'static str,
    },
    /// The run could not be resumed from its journal; nothing was called or recorded. Boxed:
    /// every service's outcome has room for an interruption, and this rare one is the largest.
    Replay(Box<ReplayError>),
    /// An earlier execution of this (finished) run was interrupted: the recorded reason.
    Recorded(String),
}

/// Why a durable run could not be resumed from what its journal holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayError {
    /// The run was recorded by another orchestration, or by this one with other services,
    /// dependencies or output types: its records cannot be trusted to fit.
    ShapeChanged {
        /// The run's event id.
        event_id: String,
        /// The fingerprint recorded, if the recording orchestration was durable.
        recorded: Option<String>,
        /// This orchestration's fingerprint.
        current: String,
    },
    /// The run was recorded with another payload: its outputs were computed from that one.
    PayloadChanged {
        /// The run's event id.
        event_id: String,
    },
    /// A recorded output does not deserialize as the service's output type.
    Undecodable {
        /// The run's event id.
        event_id: String,
        /// The service whose output it is.
        service: &'static str,
        /// What the deserializer said.
        error: String,
    },
}

/// The status of an outcome, without its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// See [`Outcome::Succeeded`].
    Succeeded,
    /// See [`Outcome::Failed`].
    Failed,
    /// See [`Outcome::Skipped`].
    Skipped,
    /// See [`Outcome::Cancelled`].
    Cancelled,
}

/// How many services of a run ended in each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Services that succeeded.
    pub succeeded: u32,
    /// Services that failed.
    pub failed: u32,
    /// Services skipped because a dependency did not succeed.
    pub skipped: u32,
    /// Services not run because the run was interrupted.
    pub cancelled: u32,
}

/// Why a run did not produce every output: see `Report::into_result` on a generated
/// orchestration. `F` is the orchestration's own enum of typed service failures.
#[derive(Debug, Clone, PartialEq)]
pub enum RunError<F> {
    /// A service failed (the first one in the orchestration's order).
    Failed(F),
    /// The run was interrupted; the journal may be incomplete.
    Interrupted(Interruption),
}

impl<T, E> Outcome<T, E> {
    /// The output, if the service succeeded.
    pub fn output(&self) -> Option<&T> {
        match self {
            Outcome::Succeeded(success) => Some(&success.output),
            _ => None,
        }
    }

    /// The output, if the service succeeded.
    pub fn into_output(self) -> Option<T> {
        match self {
            Outcome::Succeeded(success) => Some(success.output),
            _ => None,
        }
    }

    /// Whether the service succeeded.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Succeeded(_))
    }

    /// The outcome's status.
    pub fn status(&self) -> Status {
        match self {
            Outcome::Succeeded(_) => Status::Succeeded,
            Outcome::Failed(_) => Status::Failed,
            Outcome::Skipped(_) => Status::Skipped,
            Outcome::Cancelled(_) => Status::Cancelled,
        }
    }

    /// How many times the service was called when it succeeded or failed; 0 when it was skipped
    /// or cancelled (the attempts a cancelled service made before are in the journal).
    pub fn attempts(&self) -> u32 {
        match self {
            Outcome::Succeeded(success) => success.attempts,
            Outcome::Failed(failure) => failure.attempts(),
            Outcome::Skipped(_) | Outcome::Cancelled(_) => 0,
        }
    }

    /// The failure, if the service failed.
    pub fn failure(&self) -> Option<&Failure<E>> {
        match self {
            Outcome::Failed(failure) => Some(failure),
            _ => None,
        }
    }
}

impl<E> Failure<E> {
    /// A failure with these attempt errors; `None` if `errors` is empty.
    pub fn new(errors: Vec<AttemptError<E>>, stop: StopReason) -> Option<Self> {
        if errors.is_empty() {
            None
        } else {
            Some(Failure { errors, stop })
        }
    }

    /// A failure with these attempt errors; the caller guarantees there is at least one.
    pub(crate) fn from_attempts(errors: Vec<AttemptError<E>>, stop: StopReason) -> Self {
        debug_assert!(!errors.is_empty());
        Failure { errors, stop }
    }

    /// Why the service was not tried again.
    pub fn stop_reason(&self) -> StopReason {
        self.stop
    }

    /// The error of each attempt, oldest first.
    pub fn errors(&self) -> &[AttemptError<E>] {
        &self.errors
    }

    /// The error of each attempt, oldest first.
    pub fn into_errors(self) -> Vec<AttemptError<E>> {
        self.errors
    }

    /// The error of the last attempt: the one that ended the service.
    pub fn last_error(&self) -> &AttemptError<E> {
        // Invariant: `errors` is never empty (see `Failure::new`).
        &self.errors[self.errors.len() - 1]
    }

    /// How many attempts were made.
    pub fn attempts(&self) -> u32 {
        u32::try_from(self.errors.len()).unwrap_or(u32::MAX)
    }

    /// Whether the service stopped before using up its retries: its error was permanent (see
    /// [`Retryable`](crate::Retryable)) or it panicked.
    pub fn is_permanent(&self) -> bool {
        matches!(self.stop, StopReason::Permanent | StopReason::Panicked)
    }
}

impl<E> AttemptError<E> {
    /// The service's error, unless it panicked.
    pub fn error(&self) -> Option<&E> {
        match self {
            AttemptError::Error(error) => Some(error),
            AttemptError::Panicked(_) | AttemptError::TimedOut(_) | AttemptError::Replayed(_) => {
                None
            }
        }
    }
}

impl Summary {
    /// Counts one outcome of this status.
    pub fn add(&mut self, status: Status) {
        let count = match status {
            Status::Succeeded => &mut self.succeeded,
            Status::Failed => &mut self.failed,
            Status::Skipped => &mut self.skipped,
            Status::Cancelled => &mut self.cancelled,
        };
        *count += 1;
    }

    /// Whether every service succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.failed == 0 && self.skipped == 0 && self.cancelled == 0
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
        })
    }
}

impl<E: fmt::Display> fmt::Display for AttemptError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptError::Error(error) => error.fmt(f),
            AttemptError::Panicked(message) => write!(f, "panicked: {message}"),
            AttemptError::TimedOut(after) => write!(f, "timed out after {after:?}"),
            AttemptError::Replayed(error) => {
                write!(f, "{error} (recorded by an earlier execution)")
            }
        }
    }
}

impl<E: fmt::Display> fmt::Display for Failure<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attempts = self.attempts();
        let plural = if attempts == 1 { "" } else { "s" };
        let how = match self.stop {
            StopReason::Permanent | StopReason::Panicked => "failed permanently",
            StopReason::AttemptsExhausted => "failed",
            StopReason::BudgetExhausted => "failed (retry budget spent)",
            StopReason::RetryAfterTooLong { .. } => "failed (asked to retry later than max_delay)",
        };
        write!(
            f,
            "{how} after {attempts} attempt{plural}: {}",
            self.last_error()
        )
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Failure<E> {}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dependency == self.cause {
            write!(
                f,
                "skipped: dependency `{}` did not succeed",
                self.dependency
            )
        } else {
            write!(
                f,
                "skipped: dependency `{}` did not succeed (because `{}` did not)",
                self.dependency, self.cause
            )
        }
    }
}

impl fmt::Display for Interruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Interruption::Journal(error) => write!(f, "the journal failed: {error}"),
            Interruption::Cancelled => f.write_str("the run was cancelled"),
            Interruption::DeadlineExceeded => f.write_str("the run's deadline passed"),
            Interruption::FailFast { service } => {
                write!(f, "`{service}` failed and the run is fail-fast")
            }
            Interruption::Replay(error) => write!(f, "the run cannot be resumed: {error}"),
            Interruption::Recorded(reason) => write!(f, "{reason} (in an earlier execution)"),
        }
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::ShapeChanged {
                event_id,
                recorded: Some(recorded),
                current,
            } => write!(
                f,
                "run {event_id} was recorded by an orchestration of another shape (fingerprint \
                 {recorded}, this one is {current}): finish it with the code that started it, or \
                 start it again under a new event id"
            ),
            ReplayError::ShapeChanged {
                event_id,
                recorded: None,
                current,
            } => write!(
                f,
                "run {event_id} was recorded by an orchestration that is not durable (this one's \
                 fingerprint is {current}): start it again under a new event id"
            ),
            ReplayError::PayloadChanged { event_id } => write!(
                f,
                "run {event_id} was recorded with another payload: resume it with the payload it \
                 started with, or start it under a new event id"
            ),
            ReplayError::Undecodable {
                event_id,
                service,
                error,
            } => write!(
                f,
                "run {event_id}: the recorded output of `{service}` does not deserialize: {error}"
            ),
        }
    }
}

impl std::error::Error for ReplayError {}

impl std::error::Error for Interruption {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Interruption::Journal(error) => Some(error),
            Interruption::Replay(error) => Some(&**error),
            _ => None,
        }
    }
}

impl<T, E: fmt::Display> fmt::Display for Outcome<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Succeeded(success) if success.attempts == 1 => f.write_str("succeeded"),
            Outcome::Succeeded(success) => {
                write!(f, "succeeded on attempt {}", success.attempts)
            }
            Outcome::Failed(failure) => failure.fmt(f),
            Outcome::Skipped(skip) => skip.fmt(f),
            Outcome::Cancelled(why) => write!(f, "cancelled: {why}"),
        }
    }
}

impl<F: fmt::Display> fmt::Display for RunError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Failed(failure) => failure.fmt(f),
            RunError::Interrupted(why) => write!(f, "run interrupted: {why}"),
        }
    }
}

impl<F: std::error::Error + 'static> std::error::Error for RunError<F> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Failed(failure) => Some(failure),
            RunError::Interrupted(why) => Some(why),
        }
    }
}
