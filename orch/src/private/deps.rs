//! How a service's task waits for its dependencies.
//!
//! The generated plan polls every unfinished service task, in a topological order, each time
//! the run's task wakes (see [`drive`](super::drive)). A dependent is therefore always polled after its
//! dependencies in the same pass, and sees an outcome stored earlier in that pass: waiting needs
//! no waker, no channel and no allocation.

use super::run::OutcomeSlot as Slot;
use crate::outcome::{Outcome, Skip};

/// The state of one dependency, as a dependent sees it.
#[derive(Clone, Copy, Debug)]
pub enum Dep<T> {
    /// The dependency has not finished.
    Waiting,
    /// The dependency finished, and the dependent can run with this value.
    Ready(T),
    /// The dependency did not succeed, and the dependent needs its output: skip.
    Missing(Skip),
}

/// A dependency whose output the dependent needs (`&T` parameter).
#[inline(always)]
pub fn required<'a, T, E>(slot: &'a Slot<T, E>, name: &'static str) -> Dep<&'a T> {
    match slot.output() {
        Some(output) => Dep::Ready(output),
        None => unsuccessful(slot, name),
    }
}

/// A dependency that has not succeeded (yet).
fn unsuccessful<'a, T, E>(slot: &'a Slot<T, E>, name: &'static str) -> Dep<&'a T> {
    match slot.get() {
        None => Dep::Waiting,
        Some(Outcome::Succeeded(success)) => Dep::Ready(&success.output),
        Some(Outcome::Skipped(skip)) => Dep::Missing(Skip {
            dependency: name,
            cause: skip.cause,
        }),
        Some(Outcome::Failed(_) | Outcome::Cancelled(_)) => Dep::Missing(Skip {
            dependency: name,
            cause: name,
        }),
    }
}

/// A dependency the dependent runs without if it did not succeed (`Option<&T>` parameter).
pub fn optional<T, E>(slot: &Slot<T, E>) -> Dep<Option<&T>> {
    match slot.get() {
        None => Dep::Waiting,
        Some(outcome) => Dep::Ready(outcome.output()),
    }
}
