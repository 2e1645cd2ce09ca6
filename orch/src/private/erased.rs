//! A reference to a type-erased part of a plan's own future, for code shared by every service.

use std::ops::{Deref, DerefMut};

/// A reference to a part of a plan's future (a service's attempts, its outcome slot, its task)
/// as a trait object, held by code compiled once per plan rather than once per service.
///
/// `Send` and `Sync` whatever the part is: a trait object would otherwise make every plan's
/// future `!Send`, or demand `Send` of every service. Sound because an `Erased` is made only
/// where the future that holds it also holds the part it refers to (or a reference to it),
/// which gives that future the part's own auto traits: it is `Send` only if the part may be
/// sent with it. An `Erased` never leaves that future.
pub(super) struct Erased<R>(R);

impl<R> Erased<R> {
    /// See the type's docs: only for a part of the future that will hold this reference.
    pub(super) fn new(part: R) -> Self {
        Erased(part)
    }
}

// SAFETY: see the type's docs: the future holding an `Erased` has the auto traits of the part
// it refers to.
unsafe impl<R> Send for Erased<R> {}
// SAFETY: as above; and a shared `Erased` gives only shared access to the reference.
unsafe impl<R> Sync for Erased<R> {}

impl<R> Deref for Erased<R> {
    type Target = R;

    fn deref(&self) -> &R {
        &self.0
    }
}

impl<R> DerefMut for Erased<R> {
    fn deref_mut(&mut self) -> &mut R {
        &mut self.0
    }
}
