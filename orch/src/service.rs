//! The trait `#[service]` implements.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::retry::RetryPolicy;

/// A service: what `#[service]` generates for an `async fn`, on a marker type of the same name.
///
/// Orchestrations reach a service's output type, error type and retry policy through this trait
/// (`<billing::payments as orch::Service>::Output`). It is implemented by `#[service]` only.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an orch service",
    label = "not a service",
    note = "annotate its `async fn` with `#[orch::service]`"
)]
pub trait Service {
    /// What the service returns on success.
    type Output;
    /// What the service returns on failure.
    type Error;
    /// The service's name: the name of its function.
    const NAME: &'static str;
    /// How the service is retried; [`RetryPolicy::NONE`] when it has no `retry = ..`.
    const RETRY: RetryPolicy;
    /// How long one attempt may run before it is cancelled and counted as a retryable failure;
    /// `None` when the service has no `timeout = ..`.
    const TIMEOUT: Option<Duration>;

    /// The output type as written in the service's signature: part of a durable
    /// orchestration's fingerprint.
    #[doc(hidden)]
    const __OUTPUT_TYPE: &'static str;

    /// Whether the error is permanent (see [`Retryable`](crate::Retryable)).
    #[doc(hidden)]
    fn __is_permanent(error: &Self::Error) -> bool;
    /// The wait the error asks for (see [`Retryable`](crate::Retryable)).
    #[doc(hidden)]
    fn __retry_after(error: &Self::Error) -> Option<Duration>;
    /// The error as text for the journal: its `Display`, else its `Debug`, else its type.
    #[doc(hidden)]
    fn __describe_error(error: &Self::Error) -> String;
    /// The output as JSON for the journal, if its type implements `Serialize`.
    #[doc(hidden)]
    fn __output_json(output: &Self::Output) -> Option<serde_json::Value>;
}

/// A service whose output can be journaled and read back: every service of a durable
/// orchestration (`#[orch(durable)]`) must be one. Implemented for every service whose output
/// implements serde's `Serialize` and `Deserialize`.
pub trait DurableService: Service {
    /// Reads a journaled output back.
    #[doc(hidden)]
    fn decode(output: Value) -> Result<Self::Output, serde_json::Error>;
}

impl<S: Service> DurableService for S
where
    S::Output: Serialize + DeserializeOwned,
{
    fn decode(output: Value) -> Result<Self::Output, serde_json::Error> {
        serde_json::from_value(output)
    }
}
