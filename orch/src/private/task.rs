//! One service of a plan, as the plan polls it.
//!
//! A `Task` waits for its dependencies, then runs the service's first attempt inline: on the
//! path a service without a timeout or a retry budget takes when it succeeds at once, there is
//! no nested state machine and no allocation; without a journal, no clock read either. A journal
//! that writes at once ([`Journal::WRITES_NOW`], the in-memory one) is written inline too.
//! Everything else (writes to a journal that must be awaited, timeouts and retry budgets,
//! failures and retries, skips, interruptions) continues in [`resume`], boxed, off that path.
//!
//! [`resume`]: super::run::resume

use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use pin_project_lite::pin_project;

use super::erased::Erased;
use super::run::{OutcomeSlot, Run, panic_message};
use super::slot::AnySlot;
use crate::context::Context;
use crate::journal::Journal;
use crate::outcome::{AttemptError, Outcome, Skip, Success};
use crate::service::Service;

/// What a task needs of its run, shared with the boxed rest of its work.
pub struct Unit<'a, S: Service, P, J: ?Sized> {
    pub(super) run: &'a Run<'a, P, J>,
    pub(super) slot: &'a OutcomeSlot<S::Output, S::Error>,
    pub(super) ctx: &'a Context<P>,
    pub(super) index: u32,
}

impl<S: Service, P, J: ?Sized> Clone for Unit<'_, S, P, J> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Service, P, J: ?Sized> Copy for Unit<'_, S, P, J> {}

/// Where the boxed rest of a task's work starts.
pub enum Resumption<E, A> {
    /// A dependency it needs did not succeed.
    Skip(Skip),
    /// Attempt `attempt` is to start: the first one of a service with a timeout or a retry
    /// budget, of a run whose journal must be awaited, or of a run that was interrupted before
    /// the attempt.
    Attempt { args: A, attempt: u32 },
    /// The run was interrupted as its first attempt, run inline, was to start: the service is
    /// cancelled. `started` is that attempt if its start was written: the cancellation ends it.
    Cancel { started: Option<u32> },
    /// Attempt `attempt` failed.
    Ended {
        args: A,
        attempt: u32,
        error: AttemptError<E>,
    },
}

pin_project! {
    /// One service of a plan: see the module docs.
    pub struct Task<'a, S: Service, P, J: ?Sized, A, D, C, R, Fut, K> {
        unit: Unit<'a, S, P, J>,
        deps: D,
        // Both capture nothing (a service's function, `resume`), so they are `Copy`: the boxed
        // rest takes a copy of each, and the inline path needs no `Option` to test.
        call: C,
        resume: R,
        // Whether the task holds a place among the run's services in flight (taken only when
        // the run limits them).
        entered: bool,
        // Dropped by `Task`'s drop, which skips a `Done` state inline: `State`'s drop glue is
        // kept out of line, and nearly every task ends `Done`.
        #[pin]
        state: ManuallyDrop<State<A, Fut, K>>,
    }
    impl<'a, S: Service, P, J: ?Sized, A, D, C, R, Fut, K> PinnedDrop
        for Task<'a, S, P, J, A, D, C, R, Fut, K>
    {
        fn drop(this: Pin<&mut Self>) {
            let state = this.project().state;
            if !matches!(**state, State::Done) {
                // SAFETY: dropped in place, once: the task is being dropped.
                unsafe { ManuallyDrop::drop(state.get_unchecked_mut()) }
            }
        }
    }
}

/// The task's state, pinned.
#[inline(always)]
fn pinned<A, Fut, K>(
    state: Pin<&mut ManuallyDrop<State<A, Fut, K>>>,
) -> Pin<&mut State<A, Fut, K>> {
    // SAFETY: the state is pinned structurally: never moved out of its `ManuallyDrop`, and
    // dropped in place by `Task`'s drop.
    unsafe { state.map_unchecked_mut(|state| &mut **state) }
}

pin_project! {
    #[project = StateProj]
    // An explicit tag: the variant is read on every poll, and finding it from a niche in the
    // span took a subtraction and a conditional move each time. It costs the tag's byte and
    // its padding in every task.
    #[repr(u8)]
    enum State<A, Fut, K> {
        Waiting,
        Running {
            #[pin]
            attempt: Fut,
            args: A,
            // None unless a subscriber took the run's span (`Run::attempt_span`).
            span: Option<tracing::Span>,
        },
        // Polled out of line (see `Cold`).
        Resumed { rest: Pin<Box<Cold<K>>> },
        Done,
    }
}

impl<'a, S, P, J, A, D, C, R, Fut, K> Task<'a, S, P, J, A, D, C, R, Fut, K>
where
    S: Service,
    J: Journal + ?Sized,
    A: Copy,
    D: FnMut() -> Poll<Result<A, Skip>>,
    C: Fn(&'a Context<P>, A) -> Fut + Copy,
    Fut: Future<Output = Result<S::Output, S::Error>>,
    R: FnOnce(Unit<'a, S, P, J>, C, Resumption<S::Error, A>) -> K + Copy,
    K: Future<Output = ()>,
{
    /// The task of service `S`, the `index`-th of its orchestration. `deps` says whether its
    /// dependencies have finished, with the arguments `call` then takes; `resume` is
    /// [`resume`](super::run::resume), passed in so that its future's type can be inferred.
    #[inline(always)]
    pub fn new(
        run: &'a Run<'a, P, J>,
        slot: &'a OutcomeSlot<S::Output, S::Error>,
        ctx: &'a Context<P>,
        index: u32,
        deps: D,
        call: C,
        resume: R,
    ) -> Self {
        Task {
            unit: Unit {
                run,
                slot,
                ctx,
                index,
            },
            deps,
            call,
            resume,
            entered: false,
            // A resumed run stored the outcomes it read back before making its tasks; a run
            // without a journal is never resumed.
            state: ManuallyDrop::new(if J::ENABLED && slot.get().is_some() {
                State::Done
            } else {
                State::Waiting
            }),
        }
    }

    /// Whether the task has stored its outcome.
    #[inline(always)]
    pub fn is_done(&self) -> bool {
        matches!(*self.state, State::Done)
    }

    /// Advances the task; `Ready` once its outcome is stored.
    #[inline(always)]
    pub fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.project();
        let mut state = pinned(this.state);
        // Borrowed, not copied: copying its four words on every poll cost about 5 instructions
        // per service and run.
        let unit = &*this.unit;
        loop {
            let resumption = match state.as_mut().project() {
                StateProj::Waiting => match (this.deps)() {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(skip)) => Resumption::Skip(skip),
                    Poll::Ready(Ok(args)) => {
                        // One load while nothing but its dependencies stands in the way (see
                        // `Run::is_clear`), and the questions it stands for only otherwise.
                        let clear = unit.run.is_clear();
                        if !clear && !unit.run.try_enter(this.entered) {
                            return Poll::Pending;
                        }
                        if (J::ENABLED && !J::WRITES_NOW)
                            || S::TIMEOUT.is_some()
                            || S::RETRY.max_elapsed().is_some()
                            || (!clear && unit.run.is_interrupted())
                        {
                            // After the attempts a resumed run's earlier executions made.
                            let attempt = unit.ctx.attempt() + 1;
                            Resumption::Attempt { args, attempt }
                        } else {
                            // A run without a journal is never resumed: its first attempt is 1.
                            let number = if J::ENABLED {
                                unit.ctx.attempt() + 1
                            } else {
                                1
                            };
                            let started = if J::ENABLED {
                                unit.run.started_now::<S>(number)
                            } else {
                                Ok(())
                            };
                            if let Err(started) = started {
                                // Interrupted, maybe by this write: the boxed rest cancels it.
                                Resumption::Cancel { started }
                            } else {
                                unit.ctx.start_attempt(number);
                                let attempt = (this.call)(unit.ctx, args);
                                // `None` is written as such: an `Option<Span>` made apart was
                                // copied whole into the state.
                                let span = if clear {
                                    None
                                } else {
                                    unit.run.attempt_span(S::NAME, number)
                                };
                                match span {
                                    // SAFETY: in the `Waiting` arm.
                                    Some(span) => unsafe {
                                        state.as_mut().start(attempt, args, Some(span))
                                    },
                                    // SAFETY: in the `Waiting` arm.
                                    None => unsafe { state.as_mut().start(attempt, args, None) },
                                }
                                continue;
                            }
                        }
                    }
                },
                StateProj::Running {
                    attempt,
                    args,
                    span,
                } => {
                    // The attempt's number, as it was started: without a journal, always 1.
                    let number = if J::ENABLED { unit.ctx.attempt() } else { 1 };
                    let poll = || catch_unwind(AssertUnwindSafe(|| attempt.poll(cx)));
                    // One test of the span, not one to enter it and one to leave it.
                    let polled = match span {
                        Some(span) => span.in_scope(poll),
                        None => poll(),
                    };
                    let error = match polled {
                        Ok(Poll::Pending) => return Poll::Pending,
                        Ok(Poll::Ready(Ok(output))) => {
                            if J::ENABLED {
                                unit.run.succeeded_now::<S>(unit.ctx, number, &output);
                            }
                            // Only this task sets its slot, once.
                            unit.slot.store(Outcome::Succeeded(Success {
                                output,
                                attempts: number,
                                replayed: false,
                            }));
                            // SAFETY: in the `Running` arm, whose attempt was just polled.
                            unsafe { state.as_mut().finish_running() };
                            leave(*unit, this.entered);
                            return Poll::Ready(());
                        }
                        Ok(Poll::Ready(Err(error))) => AttemptError::Error(error),
                        Err(payload) => AttemptError::Panicked(panic_message(payload.as_ref())),
                    };
                    unit.ctx.end_attempt();
                    Resumption::Ended {
                        args: *args,
                        attempt: number,
                        error,
                    }
                }
                StateProj::Resumed { rest } => {
                    if rest.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    state.set(State::Done);
                    leave(*unit, this.entered);
                    return Poll::Ready(());
                }
                StateProj::Done => return Poll::Ready(()),
            };
            // Made on the stack and copied into its box. Writing it in place
            // (`Box::write(Box::new_uninit(), ..)`) saves that copy but made the plan's poll,
            // where tasks are inlined, 87 instructions dearer per layered10 run without a journal.
            // Made out of line (the box and the old state's drop), it was 228 dearer: the
            // compiler then left the attempt's `catch_unwind` and its span's drop out of line.
            let rest = Box::pin(Cold {
                future: (*this.resume)(*unit, *this.call, resumption),
            });
            state.set(State::Resumed { rest });
        }
    }
}

/// Stops the tasks `tasks` of an interrupted run, one after another in their order (the plan's
/// topological order), dropping their attempts or backoff waits, and stores and journals what
/// is left: a service is skipped if a dependency it needs did not succeed (some were cancelled
/// just now), else cancelled.
///
/// A task inside a journal write (its outcome, held meanwhile, or a start, a warning, a failure
/// to retry) finishes it instead: a journal's write is not dropped halfway, and the journal gets
/// what the report will say. From there the task calls no service (the run is interrupted): it
/// writes, then stores its outcome or cancels itself.
///
/// One future for all the tasks, compiled once per plan: an await per task made the plan's
/// state machine one state per service, and its debug information grew with the square of the
/// services (a 100-service debug build: 71 s, against 14 s without those awaits). Boxed, and
/// so polled out of line: only an interrupted run stops its tasks. Its type names the tasks only
/// in a marker: a future whose type held them all (an `async fn`'s, generic over them) took the
/// compiler's borrow checker seconds in a 100-service plan.
pub fn stop_all<'s, 'a: 's, P, J: Journal + ?Sized, L: Tasks<'s>>(
    run: &'a Run<'a, P, J>,
    tasks: L,
) -> Stopping<'s, 'a, P, J, L> {
    let mut entries = Vec::new();
    tasks.erase(&mut entries);
    Stopping {
        future: Erased::new(Box::pin(stop_each(run, entries))),
        borrows: PhantomData,
    }
}

/// The future [`stop_all`] returns.
pub struct Stopping<'s, 'a, P, J: ?Sized, L> {
    future: Erased<Pin<Box<dyn Future<Output = ()> + 's>>>,
    // The future reaches the tasks and the run only through `Erased` references: this gives it
    // the auto traits of those borrows, `Send` only if the tasks may be sent and the run shared.
    borrows: PhantomData<&'s mut (L, &'a Run<'a, P, J>)>,
}

impl<P, J: ?Sized, L> Future for Stopping<'_, '_, P, J, L> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        self.future.as_mut().poll(cx)
    }
}

async fn stop_each<'s, 'a: 's, P, J: Journal + ?Sized>(
    run: &'a Run<'a, P, J>,
    entries: Vec<Entry<'s>>,
) {
    for Entry {
        service,
        slot,
        task,
    } in entries
    {
        stopping(run, service, slot, task).await;
    }
}

/// Tasks of a plan, in an order: a pinned task, a pair of such trees (the first one's tasks
/// first), or none. The generated plan passes its tasks to `drive` and [`stop_all`] as a
/// balanced tree of pairs, so that no type is nested deeper than the logarithm of the number of
/// services.
pub trait Tasks<'s> {
    /// Polls each unfinished task once, in their order; sets `pending` if one is still pending.
    #[doc(hidden)]
    fn poll_pass(&mut self, cx: &mut TaskContext<'_>, pending: &mut bool);

    /// Appends the tasks, in their order.
    #[doc(hidden)]
    fn erase(self, into: &mut Vec<Entry<'s>>);
}

impl<'s> Tasks<'s> for () {
    fn poll_pass(&mut self, _: &mut TaskContext<'_>, _: &mut bool) {}

    fn erase(self, _: &mut Vec<Entry<'s>>) {}
}

impl<'s, First: Tasks<'s>, Second: Tasks<'s>> Tasks<'s> for (First, Second) {
    // Not `#[inline(always)]`: forcing the whole tree into one function made a 100-service
    // release build take 49 s rather than 30. Each task's poll is still inlined into the pass
    // that polls it.
    #[inline]
    fn poll_pass(&mut self, cx: &mut TaskContext<'_>, pending: &mut bool) {
        self.0.poll_pass(cx, pending);
        self.1.poll_pass(cx, pending);
    }

    fn erase(self, into: &mut Vec<Entry<'s>>) {
        self.0.erase(into);
        self.1.erase(into);
    }
}

impl<'s, 'a: 's, S, P, J, A, D, C, R, Fut, K> Tasks<'s>
    for Pin<&'s mut Task<'a, S, P, J, A, D, C, R, Fut, K>>
where
    S: Service,
    J: Journal + ?Sized,
    A: Copy,
    D: FnMut() -> Poll<Result<A, Skip>>,
    C: Fn(&'a Context<P>, A) -> Fut + Copy,
    Fut: Future<Output = Result<S::Output, S::Error>>,
    R: FnOnce(Unit<'a, S, P, J>, C, Resumption<S::Error, A>) -> K + Copy,
    K: Future<Output = ()>,
{
    #[inline(always)]
    fn poll_pass(&mut self, cx: &mut TaskContext<'_>, pending: &mut bool) {
        if !self.is_done() && self.as_mut().poll(cx).is_pending() {
            *pending = true;
        }
    }

    fn erase(self, into: &mut Vec<Entry<'s>>) {
        let slot: &'s dyn AnySlot = self.unit.slot;
        into.push(Entry {
            service: S::NAME,
            slot: Erased::new(slot),
            task: Erased::new(self as _),
        });
    }
}

/// A task to stop, whatever its service. Made only by [`Tasks::erase`], for [`stop_all`], whose
/// future is tied to the tasks' auto traits.
pub struct Entry<'s> {
    service: &'static str,
    slot: Erased<&'s dyn AnySlot>,
    task: Erased<Pin<&'s mut (dyn Stop + 's)>>,
}

/// A task as [`stopping`] sees it, whatever its service.
pub(super) trait Stop {
    /// Whether the task is inside a journal write, which it finishes before it stops.
    fn is_writing(&self) -> bool;

    /// Polls the boxed rest of a task that is writing to the journal until it is done. Not
    /// [`Task::poll`], which is inlined into the plan's poll: this is the plan's cold path.
    fn finish_writing(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()>;

    /// Stops the task where it is; what its outcome is to be, unless it has one.
    fn halt(self: Pin<&mut Self>) -> Option<Halted>;
}

/// The outcome of a task stopped before it had one.
pub(super) enum Halted {
    /// A dependency it needs did not succeed.
    Skipped(Skip),
    /// It is cancelled; `running` is the attempt it ran, if it was running one.
    Cancelled { running: Option<u32> },
}

/// Stops one task: see [`stop_all`].
async fn stopping<'s, 'a: 's, P, J: Journal + ?Sized>(
    run: &'a Run<'a, P, J>,
    service: &'static str,
    slot: Erased<&'s dyn AnySlot>,
    mut task: Erased<Pin<&'s mut (dyn Stop + 's)>>,
) {
    if task.is_writing() {
        std::future::poll_fn(|cx| task.as_mut().finish_writing(cx)).await;
    }
    match task.as_mut().halt() {
        None => {}
        // As in a run that was not interrupted.
        Some(Halted::Skipped(skip)) => run.skip(service, slot, skip).await,
        Some(Halted::Cancelled { running }) => run.cancelled(service, slot, running).await,
    }
}

impl<'a, S, P, J, A, D, C, R, Fut, K> Stop for Task<'a, S, P, J, A, D, C, R, Fut, K>
where
    S: Service,
    J: Journal + ?Sized,
    D: FnMut() -> Poll<Result<A, Skip>>,
    K: Future<Output = ()>,
{
    fn is_writing(&self) -> bool {
        self.unit.slot.is_held() || self.unit.ctx.is_writing()
    }

    fn finish_writing(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<()> {
        let this = self.project();
        let mut state = pinned(this.state);
        let StateProj::Resumed { rest } = state.as_mut().project() else {
            // Only the boxed rest writes while the run waits.
            return Poll::Ready(());
        };
        if rest.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        state.set(State::Done);
        leave(*this.unit, this.entered);
        Poll::Ready(())
    }

    fn halt(self: Pin<&mut Self>) -> Option<Halted> {
        let unit = self.unit;
        let this = self.project();
        let mut state = pinned(this.state);
        if matches!(*state, State::Done) {
            return None;
        }
        let running = unit.ctx.running_attempt();
        unit.ctx.end_attempt();
        state.set(State::Done);
        leave(unit, this.entered);
        Some(match (this.deps)() {
            Poll::Ready(Err(skip)) => Halted::Skipped(skip),
            _ => Halted::Cancelled { running },
        })
    }
}

// The inline path's two transitions. `Pin::set` would call `State`'s whole drop glue, which
// the compiler keeps out of line (it drops the boxed rest too): three calls per service made a
// seventh of a no-op plan's instructions. Each transition here knows the variant it leaves.
impl<A: Copy, Fut, K> State<A, Fut, K> {
    /// `Waiting` becomes `Running`.
    ///
    /// # Safety
    ///
    /// The state is `Waiting`: any other is overwritten without being dropped.
    #[inline(always)]
    unsafe fn start(self: Pin<&mut Self>, attempt: Fut, args: A, span: Option<tracing::Span>) {
        // SAFETY: nothing is moved out of the pinned place, and it is `Waiting` (the caller's
        // promise), which owns nothing: overwriting it without dropping it loses nothing.
        unsafe {
            let state = self.get_unchecked_mut();
            debug_assert!(matches!(state, State::Waiting));
            std::ptr::write(
                state,
                State::Running {
                    attempt,
                    args,
                    span,
                },
            );
        }
    }

    /// `Running` becomes `Done`, its attempt dropped in place.
    ///
    /// # Safety
    ///
    /// The state is `Running`: the caller just polled its attempt, and testing the variant
    /// again cost a comparison and a branch per service.
    #[inline(always)]
    unsafe fn finish_running(self: Pin<&mut Self>) {
        /// Writes `Done` even if a drop below panics, as an assignment would.
        struct WriteDone<A, Fut, K>(*mut State<A, Fut, K>);
        impl<A, Fut, K> Drop for WriteDone<A, Fut, K> {
            #[inline(always)]
            fn drop(&mut self) {
                // SAFETY: the place is valid, and what it held was moved out, dropped or owns
                // nothing (a `None` span; a drop that panics still drops the rest), so it is
                // overwritten without being dropped.
                unsafe { std::ptr::write(self.0, State::Done) }
            }
        }
        // SAFETY: the attempt is dropped where it is pinned, never moved; the span is not
        // pinned (`Option<Span>` is `Unpin`), so it is moved out first, to be dropped even if the
        // attempt's drop panics; `args` is `Copy`, so it owns nothing to drop. Nothing refers to
        // the place when `WriteDone` writes it. The state is `Running` (the caller's promise).
        unsafe {
            let state: *mut Self = self.get_unchecked_mut();
            let State::Running { attempt, span, .. } = &mut *state else {
                debug_assert!(
                    false,
                    "orch: only a running task finishes its attempt inline"
                );
                std::hint::unreachable_unchecked()
            };
            // Read only if there is one: reading `None` copied the whole `Option<Span>`.
            let _span = if span.is_some() {
                std::ptr::read(span)
            } else {
                None
            };
            let _done = WriteDone(state);
            std::ptr::drop_in_place(attempt);
        }
    }
}

pin_project! {
    /// A future polled by a function of its own, never inlined: for a task's cold paths, its
    /// boxed rest (failures and retries, timeouts, awaited journal writes), and the stopping of
    /// an interrupted run's tasks. The
    /// compiler inlined their whole state machines where the plan polls them, once per service:
    /// three quarters of the plan's poll (layered10: 75 of 107 KB) and most of its `async`
    /// block, and the bulk of a large plan's release build time.
    pub struct Cold<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Cold<F> {
    type Output = F::Output;

    #[inline(never)]
    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<F::Output> {
        self.project().future.poll(cx)
    }
}

/// Frees the task's place among the services in flight, if it took one.
fn leave<S: Service, P, J: Journal + ?Sized>(unit: Unit<'_, S, P, J>, entered: &mut bool) {
    // Tested before it is written: nearly every task took no place, and `mem::take` stored
    // `false` regardless (and loaded the run first).
    if *entered {
        *entered = false;
        unit.run.leave();
    }
}
