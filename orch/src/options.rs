//! Options of one run.

/// Options of one run, for an orchestration's `orchestrate_with`.
///
/// ```
/// let options = orch::RunOptions::new().with_seed(42);
/// assert_eq!(options.seed(), Some(42));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    seed: Option<u64>,
}

impl RunOptions {
    /// The default options: jitter drawn from the thread's random generator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Draws retry jitter from `seed`: the same seed gives the same delays, whatever order the
    /// services fail in (see [`RetryPolicy::schedule`](crate::RetryPolicy::schedule)).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The jitter seed, if one was set.
    pub fn seed(&self) -> Option<u64> {
        self.seed
    }
}
