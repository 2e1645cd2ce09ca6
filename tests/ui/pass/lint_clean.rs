//! Generated code is warning-free under strict lints, in a library-like crate with docs
//! required, services in several modules, one service used by no orchestration, and every
//! kind of dependency.
#![deny(
    warnings,
    missing_docs,
    unused,
    rust_2018_idioms,
    unreachable_pub,
    missing_debug_implementations
)]

use orch::prelude::*;
use std::convert::Infallible;
use std::time::Duration;

/// Billing.
pub mod billing {
    use orch::prelude::*;

    /// A receipt.
    #[derive(Debug, serde::Serialize)]
    pub struct Receipt(pub u32);

    /// Charges the order.
    #[service(retry = RetryPolicy::DEFAULT.with_max_retries(2))]
    pub async fn payments(ctx: &Context<u32>) -> Result<Receipt, String> {
        Ok(Receipt(*ctx.payload()))
    }

    /// Used by no orchestration: must not warn.
    #[service]
    pub async fn refunds(_ctx: &Context<u32>) -> Result<(), String> {
        Ok(())
    }
}

/// Fraud.
pub(crate) mod fraud {
    use orch::prelude::*;

    /// Checks the order.
    #[service]
    pub(crate) async fn fraud_check(_ctx: &Context<u32>) -> Result<bool, std::io::Error> {
        Ok(true)
    }
}

/// Neither `Debug`, `Display` nor `Serialize`: the journal and reports must cope.
#[allow(missing_debug_implementations)]
pub struct Opaque;

/// An error that is not even `Debug`.
#[allow(missing_debug_implementations)]
pub struct OpaqueError;

/// Returns and fails with opaque types.
#[service(retry = RetryPolicy::NONE)]
pub async fn opaque(_ctx: &Context<u32>) -> Result<Opaque, OpaqueError> {
    Ok(Opaque)
}

/// Takes an opaque output.
#[service(depends_on = [opaque])]
pub async fn consumes_opaque(_ctx: &Context<u32>, _opaque: &Opaque) -> Result<(), OpaqueError> {
    Err(OpaqueError)
}

/// Reports, even if fraud checking failed.
#[service(depends_on = [payments, fraud_check])]
pub async fn analytics(
    _ctx: &Context<u32>,
    receipt: &billing::Receipt,
    fraud: Option<&bool>,
) -> Result<u32, Infallible> {
    Ok(receipt.0 + u32::from(fraud.copied().unwrap_or(false)))
}

orchestration! {
    /// Checkout, public.
    pub checkout(u32) {
        billing::payments,
        fraud::fraud_check,
        analytics,
        opaque,
        consumes_opaque,
    }
}

orchestration! {
    /// A private orchestration reusing a service.
    charge_only(u32) { crate::billing::payments }
}

/// A service with a per-attempt timeout, in an orchestration with every setting.
#[service(timeout = Duration::from_secs(2), retry = RetryPolicy::NONE)]
pub async fn quote(ctx: &Context<u32>) -> Result<u32, String> {
    Ok(*ctx.payload())
}

orchestration! {
    /// Bounded in time, fail-fast, two services at a time.
    #[orch(deadline = Duration::from_secs(10), fail_fast, max_in_flight = 2)]
    pub bounded(u32) { quote, billing::payments }
}

/// A service whose output a durable run can read back.
#[service]
pub async fn reserve(ctx: &Context<u32>) -> Result<Vec<u32>, String> {
    Ok(vec![*ctx.payload()])
}

orchestration! {
    /// Resumed from its journal after a crash.
    #[orch(durable, deadline = Duration::from_secs(10))]
    pub durable(u32) { quote, reserve }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let report = checkout::orchestrate(&Request::new("evt", "tenant", "org", 41), &NoJournal).await;
    assert_eq!(report.analytics.output(), Some(&42));
    let error = report.into_result().expect_err("`consumes_opaque` fails");
    assert!(error.to_string().contains("consumes_opaque"), "{error}");
    let report = charge_only::orchestrate(
        &Request::new("evt", "tenant", "org", 1),
        &InMemoryJournal::new(),
    )
    .await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(bounded::DEADLINE, Some(Duration::from_secs(10)));
    const { assert!(bounded::FAIL_FAST) };
    assert_eq!(bounded::MAX_IN_FLIGHT, Some(2));
    let report = bounded::orchestrate(&Request::new("evt", "tenant", "org", 3), &NoJournal).await;
    assert_eq!(report.quote.output(), Some(&3));
    let journal = InMemoryJournal::new();
    let request = Request::new("evt-durable", "tenant", "org", 5);
    let first = durable::orchestrate(&request, &journal).await;
    let again = durable::orchestrate(&request, &journal).await;
    assert_eq!(first.reserve.output(), again.reserve.output());
    assert_ne!(durable::FINGERPRINT, 0);
}

// An orchestration behind a `cfg` that is off: nothing of it is compiled, not even its imports
// (which would otherwise warn as unused).
orchestration! {
    /// Compiled only in a configuration that does not exist.
    #[cfg(any())]
    #[allow(missing_docs)]
    pub never(u32) { billing::payments }
}
