//! Cancelling runs from outside.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// A handle that cancels every run it was given to (with
/// [`RunOptions::with_cancellation`](crate::RunOptions::with_cancellation)), now or later.
///
/// Cancelling stops a run at once: attempts in progress and backoff waits are dropped, no
/// service starts afterwards, every unfinished service's outcome is
/// [`Outcome::Cancelled`](crate::Outcome::Cancelled) with [`Interruption::Cancelled`], and the
/// journal records it. Clones share the same state; cancelling is permanent.
///
/// [`Interruption::Cancelled`]: crate::Interruption::Cancelled
///
/// ```
/// let cancellation = orch::Cancellation::new();
/// let options = orch::RunOptions::new().with_cancellation(cancellation.clone());
/// # let _ = options;
/// cancellation.cancel();
/// assert!(cancellation.is_cancelled());
/// ```
#[derive(Clone, Default)]
pub struct Cancellation {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    cancelled: AtomicBool,
    notify: Notify,
}

impl Cancellation {
    /// A handle that has not been cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every run given this handle (or a clone of it), including runs started later.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Acquire)
    }

    /// A future woken by the next `cancel`.
    pub(crate) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.inner.notify.notified()
    }

    /// Resolves once the handle is cancelled.
    pub async fn cancelled(&self) {
        let notified = self.inner.notify.notified();
        let mut notified = std::pin::pin!(notified);
        // Registered before the check, so that a `cancel` between the two is not missed.
        notified.as_mut().enable();
        if self.is_cancelled() {
            return;
        }
        notified.await;
    }
}

impl fmt::Debug for Cancellation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cancellation")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn cancelled_resolves_for_a_cancel_before_or_after_the_wait() {
        let before = Cancellation::new();
        before.cancel();
        before.cancelled().await;

        let after = Cancellation::new();
        let waiter = after.clone();
        let wait = tokio::spawn(async move { waiter.cancelled().await });
        tokio::task::yield_now().await;
        assert!(!after.is_cancelled());
        after.cancel();
        wait.await.expect("the waiting task completes");
    }
}
