//! Retry policies: how many attempts a service gets and how long to wait between them.
//!
//! The delay before retry `n` (0 for the wait after the first attempt) is
//!
//! ```text
//! base(n)  = min(initial_delay * multiplier^n, max_delay)
//! delay(n) = clamp(base(n) * (1 + jitter * (2u - 1)), 0, max_delay)     u uniform in [0, 1)
//! ```
//!
//! so the jitter spreads each delay symmetrically by up to `jitter * base(n)`, and the result is
//! clamped *after* jitter: no delay ever exceeds `max_delay`, and none is negative.

use std::time::Duration;

/// How a service is retried: at most `1 + max_retries` attempts, with exponential backoff and
/// jitter between them.
///
/// Build one from [`RetryPolicy::DEFAULT`] or [`RetryPolicy::NONE`] with the `with_*` methods,
/// which are `const`, so a policy can be written straight into `#[service(retry = ..)]`:
///
/// ```
/// use orch::RetryPolicy;
/// use std::time::Duration;
///
/// const PAYMENTS: RetryPolicy = RetryPolicy::DEFAULT
///     .with_max_retries(3)
///     .with_initial_delay(Duration::from_millis(50));
/// assert_eq!(PAYMENTS.max_attempts(), 4);
/// assert!(PAYMENTS.validate().is_ok());
/// ```
///
/// A policy given to `#[service]` is checked at compile time: a jitter outside `0.0..=1.0`, a
/// multiplier below 1 or a `max_delay` below `initial_delay` does not compile.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    max_retries: u32,
    initial_delay: Duration,
    max_delay: Duration,
    jitter: f64,
    multiplier: f64,
    max_elapsed: Option<Duration>,
}

/// Why a [`RetryPolicy`] is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// The jitter factor is not a number in `0.0..=1.0`.
    JitterOutOfRange,
    /// The multiplier is below 1 or not a finite number: delays would shrink.
    MultiplierBelowOne,
    /// `max_delay` is shorter than `initial_delay`.
    MaxDelayBelowInitial,
}

impl PolicyError {
    /// The rule that was broken, as a sentence.
    pub const fn message(self) -> &'static str {
        match self {
            PolicyError::JitterOutOfRange => "the jitter factor must be within 0.0..=1.0",
            PolicyError::MultiplierBelowOne => "the multiplier must be a finite number >= 1.0",
            PolicyError::MaxDelayBelowInitial => "max_delay must not be shorter than initial_delay",
        }
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for PolicyError {}

impl RetryPolicy {
    /// The Go original's defaults: 5 retries (6 attempts), 100 ms initial delay, 3 s maximum
    /// delay, jitter 0.2, doubling: nominal delays 100, 200, 400, 800, 1600 ms.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        max_retries: 5,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(3),
        jitter: 0.2,
        multiplier: 2.0,
        max_elapsed: None,
    };

    /// One attempt, no retry: what a service without `retry = ..` gets.
    pub const NONE: RetryPolicy = RetryPolicy {
        max_retries: 0,
        ..RetryPolicy::DEFAULT
    };

    /// Sets how many times a failed attempt is retried (attempts = 1 + retries).
    pub const fn with_max_retries(mut self, max_retries: u32) -> Self {
        self.max_retries = max_retries;
        self
    }

    /// Sets the delay before the first retry.
    pub const fn with_initial_delay(mut self, initial_delay: Duration) -> Self {
        self.initial_delay = initial_delay;
        self
    }

    /// Sets the longest delay between two attempts, jitter included.
    pub const fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// Sets the jitter factor `J` in `0.0..=1.0`: each delay is spread by up to `±J` of itself.
    pub const fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets the growth factor of the delay from one retry to the next (at least 1).
    pub const fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// Sets the retry budget: no attempt starts later than `max_elapsed` after the first one
    /// started. A retry whose delay would end past it is not made; the service fails with
    /// [`StopReason::BudgetExhausted`](crate::StopReason::BudgetExhausted).
    pub const fn with_max_elapsed(mut self, max_elapsed: Duration) -> Self {
        self.max_elapsed = Some(max_elapsed);
        self
    }

    /// The retry budget, if one is set.
    pub const fn max_elapsed(&self) -> Option<Duration> {
        self.max_elapsed
    }

    /// The longest a service with this policy and this per-attempt `timeout` can take, from
    /// its first attempt's start to its outcome: every attempt running to its timeout, every
    /// wait at `max_delay` (the longest any wait can be, a `Retry-After` hint included), or the
    /// retry budget plus one attempt, whichever is shorter. `None` without a timeout: an
    /// attempt is then unbounded. Orchestrations with a `deadline` check it at compile time.
    pub const fn worst_case(&self, timeout: Option<Duration>) -> Option<Duration> {
        let Some(timeout) = timeout else {
            return None;
        };
        let attempts = saturating_mul(timeout, self.max_attempts());
        let waits = saturating_mul(self.max_delay, self.max_retries);
        let all = attempts.saturating_add(waits);
        match self.max_elapsed {
            Some(budget) => {
                let budgeted = budget.saturating_add(timeout);
                if budgeted.as_nanos() < all.as_nanos() {
                    Some(budgeted)
                } else {
                    Some(all)
                }
            }
            None => Some(all),
        }
    }

    /// Retries after the first attempt.
    pub const fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Attempts in all: `1 + max_retries`, saturating.
    pub const fn max_attempts(&self) -> u32 {
        self.max_retries.saturating_add(1)
    }

    /// The delay before the first retry.
    pub const fn initial_delay(&self) -> Duration {
        self.initial_delay
    }

    /// The longest delay between two attempts.
    pub const fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The jitter factor.
    pub const fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The growth factor of the delay.
    pub const fn multiplier(&self) -> f64 {
        self.multiplier
    }

    /// Checks the policy's rules; `#[service]` runs this at compile time.
    pub const fn validate(&self) -> Result<(), PolicyError> {
        // Written so that NaN fails every rule it touches.
        if !(self.jitter >= 0.0 && self.jitter <= 1.0) {
            return Err(PolicyError::JitterOutOfRange);
        }
        if !(self.multiplier >= 1.0 && self.multiplier <= f64::MAX) {
            return Err(PolicyError::MultiplierBelowOne);
        }
        if self.max_delay.as_nanos() < self.initial_delay.as_nanos() {
            return Err(PolicyError::MaxDelayBelowInitial);
        }
        Ok(())
    }

    /// Panics with the broken rule if the policy is invalid. Called in a `const` item by the code
    /// `#[service(retry = ..)]` generates, so that the panic is a compile error.
    #[doc(hidden)]
    #[track_caller]
    pub const fn assert_valid(&self) {
        match self.validate() {
            Ok(()) => {}
            Err(PolicyError::JitterOutOfRange) => {
                panic!("invalid retry policy: the jitter factor must be within 0.0..=1.0")
            }
            Err(PolicyError::MultiplierBelowOne) => {
                panic!("invalid retry policy: the multiplier must be a finite number >= 1.0")
            }
            Err(PolicyError::MaxDelayBelowInitial) => {
                panic!("invalid retry policy: max_delay must not be shorter than initial_delay")
            }
        }
    }

    /// The delay before the nominal (jitter-free) retry `retry` (0-based):
    /// `min(initial_delay * multiplier^retry, max_delay)`.
    pub fn base_delay(&self, retry: u32) -> Duration {
        if self.initial_delay.is_zero() {
            // Not `0 * multiplier^retry`, which is NaN once the power overflows.
            return Duration::ZERO;
        }
        let exponent = i32::try_from(retry).unwrap_or(i32::MAX);
        let nanos = self.initial_delay.as_nanos() as f64 * self.multiplier.powi(exponent);
        let cap = self.max_delay.as_nanos() as f64;
        duration_from_nanos(nanos.min(cap))
    }

    /// The delay before retry `retry` (0-based) for a jitter draw `unit` in `[0, 1)`:
    /// `base_delay(retry) * (1 + jitter * (2 * unit - 1))`, clamped to `0..=max_delay`.
    pub fn delay(&self, retry: u32, unit: f64) -> Duration {
        let base = self.base_delay(retry).as_nanos() as f64;
        let unit = unit.clamp(0.0, 1.0);
        let jittered = base * (1.0 + self.jitter * (2.0 * unit - 1.0));
        let cap = self.max_delay.as_nanos() as f64;
        duration_from_nanos(jittered.clamp(0.0, cap))
    }

    /// The delays of every retry this policy allows, with jitter drawn from `seed` as a run
    /// with [`RunOptions::with_seed`](crate::RunOptions::with_seed) draws it for the service at
    /// `service_index` (its position in the orchestration).
    pub fn schedule(&self, seed: u64, service_index: u32) -> impl Iterator<Item = Duration> + '_ {
        (0..self.max_retries)
            .map(move |retry| self.delay(retry, jitter_unit(seed, service_index, retry)))
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy::DEFAULT
    }
}

const fn saturating_mul(duration: Duration, times: u32) -> Duration {
    match duration.checked_mul(times) {
        Some(product) => product,
        None => Duration::MAX,
    }
}

fn duration_from_nanos(nanos: f64) -> Duration {
    // `nanos` is finite and within 0..=max_delay here; the float-to-int cast saturates anyway.
    Duration::from_nanos(nanos.max(0.0) as u64)
}

/// A uniform draw in `[0, 1)` for retry `retry` of the service at `service_index`, a pure function
/// of the seed: concurrent services get the same delays whatever order they fail in, and a seed
/// gives the same schedule on every version of every dependency (SplitMix64).
pub(crate) fn jitter_unit(seed: u64, service_index: u32, retry: u32) -> f64 {
    let mut z = seed
        ^ (u64::from(service_index) << 32 | u64::from(retry)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // The top 53 bits as a fraction: exactly representable, strictly below 1.
    (z >> 11) as f64 / (1u64 << 53) as f64
}

/// Says which errors of a type are permanent, so that a retry policy never retries them.
///
/// Implement it for a service's error type; an error type without it is retried on every error
/// (the Go original's default). A permanent error ends the service at once, and is reported as
/// its failure: it is never retried and never swallowed.
///
/// ```
/// #[derive(Debug)]
/// enum PaymentError { Declined, GatewayDown }
///
/// impl orch::Retryable for PaymentError {
///     fn is_permanent(&self) -> bool {
///         matches!(self, PaymentError::Declined)
///     }
/// }
/// # use orch::Retryable;
/// assert!(PaymentError::Declined.is_permanent());
/// assert!(!PaymentError::GatewayDown.is_permanent());
/// ```
pub trait Retryable {
    /// `true` if retrying cannot help.
    fn is_permanent(&self) -> bool;

    /// How long the error asks the caller to wait before trying again, like an HTTP 429 or
    /// 503 response's `Retry-After` header. The next attempt then waits for the longer of this
    /// and the policy's backoff delay. A wait longer than the policy's `max_delay` is not made:
    /// the service fails with [`StopReason::RetryAfterTooLong`](crate::StopReason), so that a
    /// run never waits longer than its policy allows and never retries sooner than it was
    /// asked. The hint is journaled with the failed attempt.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// #[derive(Debug)]
    /// enum ApiError { TooManyRequests { retry_after: Duration }, BadRequest }
    ///
    /// impl orch::Retryable for ApiError {
    ///     fn is_permanent(&self) -> bool {
    ///         matches!(self, ApiError::BadRequest)
    ///     }
    ///     fn retry_after(&self) -> Option<Duration> {
    ///         match self {
    ///             ApiError::TooManyRequests { retry_after } => Some(*retry_after),
    ///             ApiError::BadRequest => None,
    ///         }
    ///     }
    /// }
    /// ```
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

impl<E: Retryable + ?Sized> Retryable for Box<E> {
    fn is_permanent(&self) -> bool {
        (**self).is_permanent()
    }

    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
}

impl<E: Retryable + ?Sized> Retryable for std::sync::Arc<E> {
    fn is_permanent(&self) -> bool {
        (**self).is_permanent()
    }

    fn retry_after(&self) -> Option<Duration> {
        (**self).retry_after()
    }
}

impl Retryable for std::convert::Infallible {
    fn is_permanent(&self) -> bool {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn default_nominal_delays_double_from_100ms() {
        let p = RetryPolicy::DEFAULT;
        let nominal: Vec<_> = (0..5).map(|n| p.base_delay(n)).collect();
        assert_eq!(nominal, [MS(100), MS(200), MS(400), MS(800), MS(1600)]);
        assert_eq!(p.base_delay(5), MS(3000), "capped at max_delay");
        assert_eq!(p.base_delay(u32::MAX), MS(3000), "no overflow");
    }

    #[test]
    fn jitter_is_symmetric_and_clamped_after_jitter() {
        let p = RetryPolicy::DEFAULT;
        assert_eq!(p.delay(0, 0.0), MS(80));
        assert_eq!(p.delay(0, 0.5), MS(100));
        assert_eq!(p.delay(1, 0.75), MS(220));
        // At the cap, jitter can only shorten: 3 s * 1.2 is clamped to 3 s.
        assert_eq!(p.delay(10, 0.999_999), MS(3000));
        assert_eq!(p.delay(10, 0.0), MS(2400));
    }

    #[test]
    fn a_zero_initial_delay_stays_zero() {
        let p = RetryPolicy::DEFAULT.with_initial_delay(Duration::ZERO);
        assert_eq!(p.base_delay(0), Duration::ZERO);
        assert_eq!(p.base_delay(5_000), Duration::ZERO);
        assert_eq!(p.delay(5_000, 0.9), Duration::ZERO);
    }

    #[test]
    fn boxed_and_shared_errors_keep_their_classification() {
        struct Declined;
        impl Retryable for Declined {
            fn is_permanent(&self) -> bool {
                true
            }
        }
        assert!(Box::new(Declined).is_permanent());
        assert!(std::sync::Arc::new(Declined).is_permanent());
    }

    #[test]
    fn full_jitter_never_goes_negative() {
        let p = RetryPolicy::DEFAULT.with_jitter(1.0);
        assert_eq!(p.delay(0, 0.0), Duration::ZERO);
        assert_eq!(p.delay(0, 0.5), MS(100));
    }

    #[test]
    fn validation_rejects_each_bad_knob() {
        let p = RetryPolicy::DEFAULT;
        assert_eq!(p.validate(), Ok(()));
        assert_eq!(
            p.with_jitter(1.5).validate(),
            Err(PolicyError::JitterOutOfRange)
        );
        assert_eq!(
            p.with_jitter(-0.1).validate(),
            Err(PolicyError::JitterOutOfRange)
        );
        assert_eq!(
            p.with_jitter(f64::NAN).validate(),
            Err(PolicyError::JitterOutOfRange)
        );
        assert_eq!(
            p.with_multiplier(0.5).validate(),
            Err(PolicyError::MultiplierBelowOne)
        );
        assert_eq!(
            p.with_multiplier(f64::INFINITY).validate(),
            Err(PolicyError::MultiplierBelowOne)
        );
        assert_eq!(
            p.with_max_delay(MS(10)).validate(),
            Err(PolicyError::MaxDelayBelowInitial)
        );
    }

    #[test]
    fn jitter_draws_are_deterministic_distinct_and_in_range() {
        let draws: Vec<f64> = (0..1000).map(|r| jitter_unit(42, 3, r)).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert_eq!(jitter_unit(42, 3, 7), jitter_unit(42, 3, 7));
        assert_ne!(jitter_unit(42, 3, 7), jitter_unit(42, 4, 7));
        assert_ne!(jitter_unit(42, 3, 7), jitter_unit(43, 3, 7));
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        assert!((mean - 0.5).abs() < 0.05, "mean {mean}");
    }

    #[test]
    fn schedule_has_one_delay_per_retry() {
        let p = RetryPolicy::DEFAULT.with_max_retries(3);
        let s: Vec<_> = p.schedule(7, 0).collect();
        assert_eq!(s.len(), 3);
        for (n, d) in s.iter().enumerate() {
            let base = p.base_delay(n as u32);
            assert!(
                *d >= base.mul_f64(0.8) && *d <= base.mul_f64(1.2),
                "{d:?} vs {base:?}"
            );
        }
    }
}
