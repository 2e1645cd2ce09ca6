//! Options of one run.

use std::time::Duration;

use crate::cancellation::Cancellation;

/// Options of one run, for an orchestration's `orchestrate_with`.
///
/// ```
/// use std::time::Duration;
///
/// let options = orch::RunOptions::new()
///     .with_seed(42)
///     .with_timeout(Duration::from_secs(2))
///     .with_fail_fast(true)
///     .with_max_in_flight(4);
/// assert_eq!(options.seed(), Some(42));
/// assert_eq!(options.max_in_flight(), Some(4));
/// ```
///
/// An orchestration can declare defaults for the last three (`deadline`, `fail_fast`,
/// `max_in_flight` in `orchestration!`); options given here take precedence, except that a run
/// ends at the earlier of its declared and its given deadline.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    seed: Option<u64>,
    timeout: Option<Duration>,
    deadline: Option<tokio::time::Instant>,
    cancellation: Option<Cancellation>,
    fail_fast: Option<bool>,
    max_in_flight: Option<usize>,
}

impl RunOptions {
    /// The default options: jitter drawn from the thread's random generator, no deadline, no
    /// cancellation handle, the orchestration's declared failure and concurrency settings.
    pub fn new() -> Self {
        Self::default()
    }

    /// Draws retry jitter from `seed`: the same seed gives the same delays, whatever order the
    /// services fail in (see [`RetryPolicy::schedule`](crate::RetryPolicy::schedule)).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Ends the run `timeout` after it starts, as [`with_deadline`](Self::with_deadline) does.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Ends the run at `deadline` (by tokio's clock): what is still running or waiting to retry
    /// is cancelled, and outcomes say [`Interruption::DeadlineExceeded`].
    ///
    /// [`Interruption::DeadlineExceeded`]: crate::Interruption::DeadlineExceeded
    pub fn with_deadline(mut self, deadline: tokio::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Lets `cancellation` cancel the run (see [`Cancellation`]).
    pub fn with_cancellation(mut self, cancellation: Cancellation) -> Self {
        self.cancellation = Some(cancellation);
        self
    }

    /// `true`: the first service that fails cancels the rest of the run
    /// ([`Interruption::FailFast`]). `false` (the default): a failure skips the services that
    /// need it, and the other branches run to the end.
    ///
    /// [`Interruption::FailFast`]: crate::Interruption::FailFast
    pub fn with_fail_fast(mut self, fail_fast: bool) -> Self {
        self.fail_fast = Some(fail_fast);
        self
    }

    /// Runs at most `limit` services at once (a service holds its place from its first attempt
    /// to its outcome, backoff waits included). Services whose dependencies are done start in
    /// the orchestration's topological order as places free up. A `limit` of 0 is taken as 1.
    pub fn with_max_in_flight(mut self, limit: usize) -> Self {
        self.max_in_flight = Some(limit.max(1));
        self
    }

    /// The jitter seed, if one was set.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// The run's deadline, if one was set (with a timeout: from `start`).
    pub fn deadline(&self, start: tokio::time::Instant) -> Option<tokio::time::Instant> {
        let from_timeout = self.timeout.and_then(|timeout| start.checked_add(timeout));
        earlier(self.deadline, from_timeout)
    }

    pub(crate) fn deadline_is_set(&self) -> bool {
        self.deadline.is_some() || self.timeout.is_some()
    }

    /// The cancellation handle, if one was given.
    pub fn cancellation(&self) -> Option<&Cancellation> {
        self.cancellation.as_ref()
    }

    /// Whether the run is fail-fast, if set here.
    pub fn fail_fast(&self) -> Option<bool> {
        self.fail_fast
    }

    /// The concurrency limit, if set here.
    pub fn max_in_flight(&self) -> Option<usize> {
        self.max_in_flight
    }
}

/// The earlier of two optional instants.
pub(crate) fn earlier(
    a: Option<tokio::time::Instant>,
    b: Option<tokio::time::Instant>,
) -> Option<tokio::time::Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
