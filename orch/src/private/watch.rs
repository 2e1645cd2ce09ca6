//! What ends a run from outside: its deadline and its cancellation handle.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::sync::futures::Notified;
use tokio::time::Sleep;

use crate::cancellation::Cancellation;
use crate::outcome::Interruption;

pin_project! {
    /// Polled by the plan before its services on every wake-up (see [`Run::watch`]).
    ///
    /// [`Run::watch`]: super::Run::watch
    pub struct Watch<'a> {
        #[pin]
        pub(super) deadline: Option<Sleep>,
        // Created with the run, so that a `cancel` at any later time wakes it.
        #[pin]
        pub(super) notified: Option<Notified<'a>>,
        pub(super) cancellation: Option<&'a Cancellation>,
    }
}

impl Watch<'_> {
    /// Why the run must stop now, if it must: the caller's cancellation comes first.
    #[inline]
    pub(super) fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Option<Interruption> {
        let this = self.project();
        if let Some(notified) = this.notified.as_pin_mut() {
            // Polled for its wake-up only: the flag says whether the handle was cancelled.
            let _ = notified.poll(cx);
        }
        if this.cancellation.is_some_and(Cancellation::is_cancelled) {
            return Some(Interruption::Cancelled);
        }
        match this.deadline.as_pin_mut().map(|deadline| deadline.poll(cx)) {
            Some(Poll::Ready(())) => Some(Interruption::DeadlineExceeded),
            _ => None,
        }
    }
}
