//! The plan's loop while its services run.
//!
//! On every wake-up of the run's task, the plan polls the run's watch (its deadline and its
//! cancellation), then every unfinished task once, in the plan's topological order: a dependent
//! is always polled after its dependencies in the same pass (see `deps`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::run::Run;
use super::task::Tasks;
use super::watch::Watch;
use crate::journal::Journal;

/// Polls the plan's tasks `tasks` until every one has finished or the run is interrupted; the
/// plan then stops what is left of an interrupted run with [`stop_all`](super::stop_all).
///
/// The future's type names the tasks once, in `L`, a tree of pinned references: a closure
/// capturing every task, as the plan's poll once was, took the compiler's borrow checker seconds
/// in a 100-service plan.
pub fn drive<'r, 't, 's, P, J, L>(
    run: &'r Run<'r, P, J>,
    tasks: &'t mut L,
) -> Drive<'r, 't, P, J, L>
where
    J: Journal + ?Sized,
    L: Tasks<'s>,
{
    Drive {
        run,
        watch: run.watch(),
        tasks,
    }
}

pin_project! {
    /// The future [`drive`] returns.
    pub struct Drive<'r, 't, P, J: ?Sized, L> {
        run: &'r Run<'r, P, J>,
        #[pin]
        watch: Watch<'r>,
        tasks: &'t mut L,
    }
}

impl<'s, P, J, L> Future for Drive<'_, '_, P, J, L>
where
    J: Journal + ?Sized,
    L: Tasks<'s>,
{
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        let run = *this.run;
        run.poll_watch(this.watch, cx);
        loop {
            if run.interruption().is_some() {
                return Poll::Ready(());
            }
            let mut pending = false;
            this.tasks.poll_pass(cx, &mut pending);
            if !pending || run.interruption().is_some() {
                return Poll::Ready(());
            }
            if !run.pass_again() {
                return Poll::Pending;
            }
        }
    }
}
