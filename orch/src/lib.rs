//! # orch
//!
//! Compile-time checked, statically typed orchestration of async services.
//!
//! Annotate `async fn`s with [`#[service]`](service), list them in an
//! [`orchestration!`](orchestration), and call the `orchestrate` function it generates. The
//! compiler rejects dependency cycles, unknown or duplicate services and parameters whose types
//! do not match their dependency's output; the run starts each service as soon as the
//! dependencies it needs are done, retries it by its [`RetryPolicy`], and records every step in a
//! [`Journal`].
//!
//! ```
//! use orch::prelude::*;
//! use std::convert::Infallible;
//!
//! #[service]
//! async fn price(ctx: &Context<u32>) -> Result<u32, Infallible> {
//!     Ok(ctx.payload() * 100)
//! }
//!
//! #[service(depends_on = [price])]
//! async fn tax(_ctx: &Context<u32>, price: &u32) -> Result<u32, Infallible> {
//!     Ok(price / 5)
//! }
//!
//! orchestration! {
//!     /// Prices an order.
//!     quote(u32) { price, tax }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let report = quote::orchestrate(&Request::new("evt-1", "tenant", "org", 3), &NoJournal).await;
//! let outputs = report.into_result().expect("nothing can fail");
//! assert_eq!((outputs.price, outputs.tax), (300, 60));
//! # }
//! ```
//!
//! With `#[orch(durable)]` and a [`SqliteJournal`], a run that died (the process killed, the
//! machine restarted) resumes under the same event id without calling again the services whose
//! success was recorded.
//!
//! The crate's README has the whole tour: the failure rules, the retry formula, the journal and
//! the limits.

#![warn(missing_docs)]

mod cancellation;
mod context;
mod journal;
mod options;
mod outcome;
mod redacted;
mod request;
mod retry;
mod service;
#[cfg(feature = "sqlite")]
mod sqlite;
mod timestamp;

#[doc(hidden)]
#[path = "private/mod.rs"]
pub mod __private;

pub use cancellation::Cancellation;
pub use context::Context;
pub use journal::{
    Event, InMemoryJournal, Journal, JournalEntry, JournalError, NoJournal, RunStatus,
};
pub use options::RunOptions;
pub use orch_macros::{orchestration, service};
pub use outcome::{
    AttemptError, Failure, Interruption, Outcome, ReplayError, RunError, Skip, Status, StopReason,
    Success, Summary,
};
pub use redacted::Redacted;
pub use request::Request;
pub use retry::{PolicyError, RetryPolicy, Retryable};
pub use service::{DurableService, Service};
#[cfg(feature = "sqlite")]
pub use sqlite::{Durability, JournalReader, RunQuery, RunRecord, RunState, SqliteJournal};
pub use timestamp::{ParseTimestampError, Timestamp};

/// Everything a module that defines services or orchestrations needs: `use orch::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Cancellation, Context, InMemoryJournal, Journal, NoJournal, Outcome, Request, RetryPolicy,
        Retryable, RunOptions, orchestration, service,
    };
}
