//! What a service sees of its run.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::request::Request;
use crate::timestamp::Timestamp;

/// A service's view of its run: the request, which attempt this is, and a way to record warnings.
///
/// Every service takes `&Context<Payload>` as its first parameter:
///
/// ```
/// use orch::prelude::*;
///
/// #[service]
/// async fn greet(ctx: &Context<String>) -> Result<String, std::convert::Infallible> {
///     if ctx.attempt() > 1 {
///         ctx.warn("greeting needed a retry");
///     }
///     Ok(format!("hello {} of {}", ctx.payload(), ctx.tenant_id()))
/// }
/// ```
///
/// `Context` has no lifetime parameter, so that services can name it as `&Context<Payload>`
/// (an `async fn` may not elide a lifetime parameter of a path type).
pub struct Context<P> {
    /// The run's request. Invariant: it outlives this context. A context exists only inside a
    /// [`ContextScope`], which borrows the request (and the run's warnings); services get
    /// `&Context` (it is neither `Clone` nor constructible outside this crate, so it cannot be
    /// moved out or kept).
    request: NonNull<Request<P>>,
    service: &'static str,
    /// Set by the run before each attempt; atomic so that the context stays `Sync`.
    attempt: AtomicU32,
    /// Whether an attempt is running: a run cancelled now journals it as ended by the cancel.
    in_attempt: AtomicBool,
    /// Whether the service's task is writing an entry that is not its outcome (a start, a
    /// warning, a failure to retry): a run stopped now lets it finish (`stop_all`).
    writing: AtomicBool,
    /// Whether this service's warnings wait in `warnings`: most attempts warn of nothing, and
    /// are then journaled without taking its lock.
    warned: AtomicBool,
    max_attempts: u32,
    /// Where a journaled run keeps its warnings until their attempts end; `None` if the run is
    /// not journaled. Invariant: it outlives this context, as the request does. One list for
    /// the run's contexts, so that a context owns nothing to drop.
    warnings: Option<NonNull<Warnings>>,
}

/// The warnings of a journaled run's attempts, recorded by [`Context::warn`] and journaled when
/// each attempt ends.
#[derive(Debug)]
pub(crate) struct Warnings {
    /// When the run started: every entry's offset is from then.
    pub(crate) start: tokio::time::Instant,
    pending: Mutex<Vec<Warning>>,
}

impl Warnings {
    pub(crate) fn new(start: tokio::time::Instant) -> Self {
        Warnings {
            start,
            pending: Mutex::new(Vec::new()),
        }
    }
}

/// A warning recorded by [`Context::warn`], waiting to be journaled when the attempt ends.
#[derive(Debug)]
pub(crate) struct Warning {
    service: &'static str,
    pub(crate) at: Timestamp,
    pub(crate) offset: Duration,
    pub(crate) message: String,
}

// SAFETY: a `Context` gives out only `&Request<P>`, `&'static str` and integers, and shares
// `&Warnings` (a `Mutex` and an `Instant`); sharing or sending it is sharing `&Request<P>`,
// which needs `P: Sync`.
unsafe impl<P: Sync> Send for Context<P> {}
// SAFETY: as above.
unsafe impl<P: Sync> Sync for Context<P> {}

/// A service's context for one run, borrowing the run's request and warnings: what keeps them
/// alive for as long as the context (see `Context::request`).
#[doc(hidden)]
pub struct ContextScope<'r, P> {
    context: Context<P>,
    _borrows: PhantomData<(&'r Request<P>, &'r Warnings)>,
}

impl<'r, P> ContextScope<'r, P> {
    pub(crate) fn new(
        request: &'r Request<P>,
        service: &'static str,
        max_attempts: u32,
        warnings: Option<&'r Warnings>,
    ) -> Self {
        let context = Context {
            request: NonNull::from(request),
            service,
            attempt: AtomicU32::new(0),
            in_attempt: AtomicBool::new(false),
            writing: AtomicBool::new(false),
            warned: AtomicBool::new(false),
            max_attempts,
            warnings: warnings.map(NonNull::from),
        };
        ContextScope {
            context,
            _borrows: PhantomData,
        }
    }
}

impl<P> Deref for ContextScope<'_, P> {
    type Target = Context<P>;

    fn deref(&self) -> &Context<P> {
        &self.context
    }
}

impl<P> Context<P> {
    pub(crate) fn start_attempt(&self, attempt: u32) {
        self.attempt.store(attempt, Ordering::Relaxed);
        self.in_attempt.store(true, Ordering::Relaxed);
    }

    pub(crate) fn end_attempt(&self) {
        self.in_attempt.store(false, Ordering::Relaxed);
    }

    pub(crate) fn set_writing(&self, writing: bool) {
        self.writing.store(writing, Ordering::Relaxed);
    }

    pub(crate) fn is_writing(&self) -> bool {
        self.writing.load(Ordering::Relaxed)
    }

    /// The attempt running now, if one is.
    pub(crate) fn running_attempt(&self) -> Option<u32> {
        self.in_attempt
            .load(Ordering::Relaxed)
            .then(|| self.attempt())
    }

    /// The request the run is for.
    pub fn request(&self) -> &Request<P> {
        // SAFETY: the request outlives the context (see the field's invariant), and is only
        // ever shared.
        unsafe { self.request.as_ref() }
    }

    /// The request's typed payload.
    pub fn payload(&self) -> &P {
        &self.request().payload
    }

    /// The request's event id.
    pub fn event_id(&self) -> &str {
        &self.request().event_id
    }

    /// The request's tenant id.
    pub fn tenant_id(&self) -> &str {
        &self.request().tenant_id
    }

    /// The request's organization id.
    pub fn organization_id(&self) -> &str {
        &self.request().organization_id
    }

    /// The name of the service being run.
    pub fn service(&self) -> &'static str {
        self.service
    }

    /// A key that names this attempt of this service in this run, the same every time the
    /// attempt runs: `{event id}/{service}/{attempt}`. Pass it to a downstream API that takes
    /// idempotency keys (a payment API) to make a repeated call safe.
    ///
    /// Attempts are numbered across executions of a durable run: an attempt the process died in
    /// runs again, on resume, under the same number, so with the same key; a new attempt after
    /// a recorded failure gets a new one.
    ///
    /// ```
    /// # use orch::prelude::*;
    /// # use std::convert::Infallible;
    /// #[service]
    /// async fn charge(ctx: &Context<u32>) -> Result<String, Infallible> {
    ///     Ok(ctx.idempotency_key())
    /// }
    /// # orchestration! { pay(u32) { charge } }
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// # let report = pay::orchestrate(&Request::new("evt-7", "t", "o", 1), &NoJournal).await;
    /// # assert_eq!(report.charge.output().map(String::as_str), Some("evt-7/charge/1"));
    /// # }
    /// ```
    pub fn idempotency_key(&self) -> String {
        format!("{}/{}/{}", self.event_id(), self.service, self.attempt())
    }

    /// Which attempt this is, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt.load(Ordering::Relaxed)
    }

    /// How many attempts the service's retry policy allows in all.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether a failure of this attempt ends the service.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt() >= self.max_attempts
    }

    /// Records a warning: it goes to the journal (with the service, the attempt and the time it
    /// was recorded) when the attempt ends, and to `tracing` at once.
    pub fn warn(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::warn!(
            service = self.service,
            attempt = self.attempt(),
            "{message}"
        );
        if let Some(warnings) = self.warnings() {
            let warning = Warning {
                service: self.service,
                at: Timestamp::now(),
                offset: warnings.start.elapsed(),
                message,
            };
            warnings
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(warning);
            // After the push: whoever sees the flag (the service's task, when the attempt ends)
            // finds the warning.
            self.warned.store(true, Ordering::Release);
        }
    }

    fn warnings(&self) -> Option<&Warnings> {
        // SAFETY: the warnings outlive the context (see the field's invariant), and are only
        // ever shared.
        self.warnings.map(|warnings| unsafe { warnings.as_ref() })
    }

    /// Whether this service recorded warnings since they were last taken.
    pub(crate) fn has_warnings(&self) -> bool {
        self.warned.load(Ordering::Acquire)
    }

    /// Takes the warnings this service recorded, in the order it recorded them.
    pub(crate) fn take_warnings(&self) -> Vec<Warning> {
        match self.warnings() {
            Some(warnings) if self.warned.swap(false, Ordering::Acquire) => warnings
                .pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                // Services' names are unique within an orchestration (one listed twice does not
                // compile), and the journal tells them apart by name too.
                .extract_if(.., |warning| warning.service == self.service)
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl<P: fmt::Debug> fmt::Debug for Context<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("request", self.request())
            .field("service", &self.service)
            .field("attempt", &self.attempt())
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}
