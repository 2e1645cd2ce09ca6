//! Helpers for the types an orchestration generates.

use std::fmt;

use super::probe::Probe;
use crate::outcome::{AttemptError, Failure};
use crate::service::Service;

/// What a service returns: `Result<T, E>` (under any alias).
#[diagnostic::on_unimplemented(
    message = "a service must return `Result<T, E>`, not `{Self}`",
    label = "not a `Result`",
    note = "return `Result<T, std::convert::Infallible>` from a service that cannot fail"
)]
pub trait ServiceResult {
    /// `T`.
    type Output;
    /// `E`.
    type Error;
}

impl<T, E> ServiceResult for Result<T, E> {
    type Output = T;
    type Error = E;
}

/// A probe for the type of `value`, so generated code need not spell the type.
pub fn probe_of<T: ?Sized>(_: &T) -> Probe<T> {
    Probe::new()
}

/// Formats with a closure.
pub struct DebugWith<F>(pub F);

impl<F: Fn(&mut fmt::Formatter<'_>) -> fmt::Result> fmt::Debug for DebugWith<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(f)
    }
}

/// `service `name` failed after N attempts: <last error>`.
pub fn fmt_failure<S: Service>(
    failure: &Failure<S::Error>,
    f: &mut fmt::Formatter<'_>,
) -> fmt::Result {
    let attempts = failure.attempts();
    let plural = if attempts == 1 { "" } else { "s" };
    let how = if failure.is_permanent() {
        "failed permanently"
    } else {
        "failed"
    };
    write!(
        f,
        "service `{}` {how} after {attempts} attempt{plural}: ",
        S::NAME
    )?;
    match failure.last_error() {
        AttemptError::Error(error) => f.write_str(&S::__describe_error(error)),
        AttemptError::Panicked(message) => write!(f, "panicked: {message}"),
        AttemptError::TimedOut(after) => write!(f, "timed out after {after:?}"),
        AttemptError::Replayed(error) => {
            write!(f, "{error} (recorded by an earlier execution)")
        }
    }
}

/// Where `into_result` finds a service skipped or cancelled with no failed service and no
/// interruption, which the runtime never produces: a service is skipped only after a dependency
/// failed or was cancelled, and cancelled only after an interruption. A function rather than
/// `unreachable!` in generated code, which would cost a level of macro recursion.
#[cold]
#[track_caller]
pub fn unreachable_incomplete() -> ! {
    panic!(
        "orch: a service was skipped or cancelled, but no service failed and the run was not interrupted"
    )
}
