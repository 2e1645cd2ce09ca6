//! Where a service's outcome is stored: written once by the service's own future, read by its
//! dependents' futures, taken by the report.
//!
//! `std::sync::OnceLock` would do, but it is built for threads that block on each other; here
//! nobody waits (a reader that finds the slot empty returns `Pending`), so a single atomic state
//! is enough, and it is several times cheaper on the path every service takes.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU8, Ordering};

const EMPTY: u8 = 0;
const WRITING: u8 = 1;
const FULL: u8 = 2;

/// A cell written at most once, readable through shared references once written.
pub struct Slot<T> {
    state: AtomicU8,
    value: UnsafeCell<MaybeUninit<T>>,
}

// SAFETY: the value is written once, by whoever wins the EMPTY -> WRITING exchange, and only
// read after the Release store of FULL is seen with Acquire; then it is only ever shared. Sending
// the slot sends the `T`; sharing it shares `&T` (and lets any thread write the one `T`).
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
        if self
            .state
            .compare_exchange(EMPTY, WRITING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return Err(value);
        }
        // SAFETY: winning the exchange makes this the only writer, and no reader looks at the
        // value before it sees FULL.
        unsafe { (*self.value.get()).write(value) };
        self.state.store(FULL, Ordering::Release);
        Ok(())
    }

    /// Stores `value` where the caller is the slot's only writer: a second write drops its
    /// value, out of the way of the first (cheaper than handing it back).
    #[inline]
    pub fn store(&self, value: T) {
        #[cold]
        fn reject<T>(value: T) {
            drop(value);
        }
        if let Err(value) = self.set(value) {
            reject(value);
        }
    }

    /// The value, once written.
    pub fn get(&self) -> Option<&T> {
        if self.state.load(Ordering::Acquire) == FULL {
            // SAFETY: FULL is stored (Release) only after the value is written, and the value
            // is never written again.
            Some(unsafe { (*self.value.get()).assume_init_ref() })
        } else {
            None
        }
    }

    /// The value, if it was written.
    pub fn into_inner(self) -> Option<T> {
        let this = std::mem::ManuallyDrop::new(self);
        if this.state.load(Ordering::Relaxed) == FULL {
            // SAFETY: FULL means written; `this` is never dropped, so the value is read once.
            Some(unsafe { (*this.value.get()).assume_init_read() })
        } else {
            None
        }
    }
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for Slot<T> {
    fn drop(&mut self) {
        if *self.state.get_mut() == FULL {
            // SAFETY: FULL means written, and the value is dropped only here.
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
        assert_eq!(slot.into_inner(), Some(1));
        assert_eq!(Slot::<u8>::new().into_inner(), None);
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
        let taken = slot.into_inner();
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
