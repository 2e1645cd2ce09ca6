//! Where a service's outcome is stored: written once by the service's own future, read by its
//! dependents' futures, taken by the report.
//!
//! `std::sync::OnceLock` would do, but it is built for threads that block on each other; here
//! nobody waits (a reader that finds the slot empty returns `Pending`), so a single atomic state
//! is enough, and it is several times cheaper on the path every service takes. The state also
//! says whether an outcome is a success, so that a dependent's check is one load and compare
//! rather than a decoding of `Outcome`'s niche-packed variant.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, Ordering};

use crate::outcome::{Interruption, Outcome, Skip};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
/// Written with an outcome that readers do not see yet (see [`Slot::hold`]).
const HELD: u8 = 2;
const FULL: u8 = 3;
/// Full, with an `Outcome::Succeeded`.
const SUCCEEDED: u8 = 4;

/// A cell written at most once, readable through shared references once written.
pub struct Slot<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, by whoever wins the EMPTY -> WRITING exchange, and only
// read after the Release store of FULL (or SUCCEEDED, also stored by `publish`) is seen with
// Acquire, or by the slot's owner (`into_written`, drop); then it is only ever
// shared. Sending the slot sends the `T`; sharing it shares `&T` (and lets any thread write the
// one `T`).
unsafe impl<T: Send> Send for Slot<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Slot<T> {}

impl<T> Slot<T> {
    /// An empty slot.
    pub const fn new() -> Self {
        Slot {
            state: AtomicU8::new(EMPTY),
            value: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    /// Stores `value`, unless the slot was already written (then `value` comes back).
    pub fn set(&self, value: T) -> Result<(), T> {
        self.write(value, FULL)
    }

    /// Stores `value` and marks the slot `full` (HELD, FULL or SUCCEEDED).
    #[inline(always)]
    fn write(&self, value: T, full: u8) -> Result<(), T> {
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // SAFETY: winning the exchange makes this the only writer, and no reader looks at the
        // value before it sees HELD, FULL or SUCCEEDED.
        unsafe { (*self.value.get()).write(value) };
        self.state.store(full, Ordering::Release);
        Ok(())
    }

    /// The value, once written.
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) >= FULL {
            // SAFETY: FULL or SUCCEEDED is stored (Release) only after the value is written,
            // and the value is never written again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// The value, which the caller knows was written (the plan takes every slot of a finished
    /// run this way). Tested without making an `Option`, whose niche cost about five
    /// instructions per slot.
    ///
    /// # Panics
    ///
    /// If the slot was never written.
    #[inline(always)]
    pub fn into_written(self) -> T {
        #[cold]
        #[inline(never)]
        fn unwritten() -> ! {
            panic!(
                "orch: a slot was taken before it was written (a run's report takes every \
                 service's outcome once all are stored)"
            )
        }
        // Never dropped: the value is read once, or there is none (then nothing leaks).
        let this = std::mem::ManuallyDrop::new(self);
        if this.state.load(Ordering::Relaxed) < HELD {
            unwritten();
        }
        // SAFETY: HELD, FULL or SUCCEEDED means written; `this` is never dropped, so the value
        // is read once.
        unsafe { (*this.value.get()).assume_init_read() }
    }
}

impl<T, E> Slot<Outcome<T, E>> {
    /// Stores `outcome` where the caller is the slot's only writer: a second write drops its
    /// value, out of the way of the first (cheaper than handing it back).
    #[inline(always)]
    pub fn store(&self, outcome: Outcome<T, E>) {
        #[cold]
        fn reject<T>(value: T) {
            drop(value);
        }
        // Known at compile time where the caller builds the outcome.
        let full = if matches!(outcome, Outcome::Succeeded(_)) {
            SUCCEEDED
        } else {
            FULL
        };
        if let Err(outcome) = self.write(outcome, full) {
            reject(outcome);
        }
    }

    /// Stores an outcome that readers do not see until [`Slot::publish`]: its journal entry is
    /// being written, and a dependent must not act on it before it is, but an interruption during
    /// that write must not lose it or have it written twice. The caller is the slot's only
    /// writer.
    pub fn hold(&self, outcome: Outcome<T, E>) {
        if let Err(outcome) = self.write(outcome, HELD) {
            drop(outcome);
        }
    }

    /// Whether the slot holds an outcome that readers do not see yet.
    pub fn is_held(&self) -> bool {
        self.state.load(Ordering::Acquire) == HELD
    }

    /// Makes a held outcome visible; whether the slot held one.
    pub fn publish(&self) -> bool {
        if self.state.load(Ordering::Acquire) != HELD {
            return false;
        }
        // SAFETY: HELD is stored (Release) only after the value is written, and the value is
        // never written again.
        let full = match unsafe { (*self.value.get()).assume_init_ref() } {
            Outcome::Succeeded(_) => SUCCEEDED,
            _ => FULL,
        };
        self.state.store(full, Ordering::Release);
        true
    }

    /// The output, if the slot holds a success.
    #[inline(always)]
    pub fn output(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) != SUCCEEDED {
            return None;
        }
        // SAFETY: SUCCEEDED is stored (Release) only after an `Outcome::Succeeded` is written,
        // and the value is never written again.
        match unsafe { (*self.value.get()).assume_init_ref() } {
            Outcome::Succeeded(success) => Some(&success.output),
            // SAFETY: as above: SUCCEEDED is stored only with a success.
            _ => unsafe { std::hint::unreachable_unchecked() },
        }
    }
}

/// An outcome slot whatever its service's types, for the run's code shared by every service:
/// the outcomes it stores need no output or error.
pub(super) trait AnySlot {
    /// Holds a skip until its entry is written (see [`Slot::hold`]).
    fn hold_skipped(&self, skip: Skip);
    /// Holds a cancellation until its entry is written (see [`Slot::hold`]).
    fn hold_cancelled(&self, why: Interruption);
    /// See [`Slot::publish`].
    fn publish(&self) -> bool;
}

impl<T, E> AnySlot for Slot<Outcome<T, E>> {
    fn hold_skipped(&self, skip: Skip) {
        self.hold(Outcome::Skipped(skip));
    }

    fn hold_cancelled(&self, why: Interruption) {
        self.hold(Outcome::Cancelled(why));
    }

    fn publish(&self) -> bool {
        Slot::publish(self)
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        if *self.state.get_mut() >= HELD {
            // SAFETY: HELD, FULL or SUCCEEDED means written, and the value is dropped only here.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn written_once_then_shared() {
        let slot = Slot::new();
        assert_eq!(slot.get(), None);
        assert_eq!(slot.set(1), Ok(()));
        assert_eq!(slot.set(2), Err(2));
        assert_eq!(slot.get(), Some(&1));
        assert_eq!(slot.into_written(), 1);
        let unwritten = std::panic::catch_unwind(|| Slot::<u8>::new().into_written());
        assert!(unwritten.is_err(), "an empty slot has nothing to take");
    }

    #[test]
    fn an_outcome_slot_gives_the_output_of_a_success_only() {
        use crate::outcome::{Skip, Success};
        let slot: Slot<Outcome<u8, ()>> = Slot::new();
        assert_eq!(slot.output(), None, "empty");
        slot.store(Outcome::Succeeded(Success {
            output: 7,
            attempts: 2,
            replayed: false,
        }));
        assert_eq!(slot.output(), Some(&7));
        assert!(matches!(slot.get(), Some(Outcome::Succeeded(s)) if s.attempts == 2));
        slot.store(Outcome::Skipped(Skip {
            dependency: "a",
            cause: "a",
        }));
        assert_eq!(slot.output(), Some(&7), "the first outcome stays");

        let skipped: Slot<Outcome<u8, ()>> = Slot::new();
        skipped.store(Outcome::Skipped(Skip {
            dependency: "a",
            cause: "b",
        }));
        assert_eq!(skipped.output(), None);
        assert!(matches!(skipped.get(), Some(Outcome::Skipped(_))));
        assert!(matches!(skipped.into_written(), Outcome::Skipped(_)));
    }

    #[test]
    fn a_held_success_is_seen_only_once_published_and_dropped_either_way() {
        use crate::outcome::{Interruption, Success};
        let drops = Arc::new(AtomicUsize::new(0));
        let dropped = || drops.load(Ordering::SeqCst);
        let held = || {
            let slot: Slot<Outcome<Counted, ()>> = Slot::new();
            slot.hold(Outcome::Succeeded(Success {
                output: Counted(drops.clone()),
                attempts: 1,
                replayed: false,
            }));
            slot
        };

        let slot = held();
        assert!(
            slot.get().is_none() && slot.output().is_none(),
            "unseen while held"
        );
        slot.store(Outcome::Cancelled(Interruption::Cancelled));
        assert_eq!(dropped(), 0, "a second write does not replace it");
        assert!(slot.publish());
        assert!(!slot.publish(), "published once");
        assert!(slot.output().is_some());
        drop(slot);
        assert_eq!(dropped(), 1, "a published success is dropped");

        drop(held());
        assert_eq!(dropped(), 2, "a held success is dropped too");
        assert!(matches!(held().into_written(), Outcome::Succeeded(_)));
        assert_eq!(dropped(), 3, "and taken with the slot");
        assert!(!Slot::<Outcome<u8, ()>>::new().publish(), "nothing held");

        let skipped: Slot<Outcome<u8, ()>> = Slot::new();
        skipped.hold(Outcome::Skipped(crate::outcome::Skip {
            dependency: "a",
            cause: "a",
        }));
        assert!(skipped.get().is_none());
        assert!(skipped.publish());
        assert!(matches!(skipped.get(), Some(Outcome::Skipped(_))));
        assert_eq!(
            skipped.output(),
            None,
            "published as an outcome, not a success"
        );
    }

    #[test]
    fn drops_its_value_exactly_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        drop(Slot::<Counted>::new());
        let slot = Slot::new();
        assert!(slot.set(Counted(drops.clone())).is_ok());
        assert!(slot.set(Counted(drops.clone())).is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the rejected value");
        drop(slot);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        let slot = Slot::new();
        assert!(slot.set(Counted(drops.clone())).is_ok());
        let taken = slot.into_written();
        assert_eq!(drops.load(Ordering::SeqCst), 2, "taken, not dropped");
        drop(taken);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn one_writer_wins_among_threads() {
        for _ in 0..100 {
            let slot = Slot::new();
            let wins = AtomicUsize::new(0);
            std::thread::scope(|scope| {
                for i in 0..4 {
                    let (slot, wins) = (&slot, &wins);
                    scope.spawn(move || {
                        if slot.set(i).is_ok() {
                            wins.fetch_add(1, Ordering::SeqCst);
                        }
                        assert!(slot.get().is_none_or(|v| *v < 4));
                    });
                }
            });
            assert_eq!(wins.load(Ordering::SeqCst), 1);
            assert!(slot.get().is_some());
        }
    }
}
