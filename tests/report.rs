//! The report of a run: `into_result`, `is_success`, `summary`, `statuses`, and the generated
//! `Failed` enum with its typed errors.

mod common;

use std::convert::Infallible;
use std::error::Error as _;
use std::fmt;

use common::{ms, request};
use orch::prelude::*;
use orch::{AttemptError, RunError, Status, Summary};

#[derive(Debug, Clone, PartialEq)]
pub enum StockError {
    OutOfStock { sku: &'static str },
}

impl fmt::Display for StockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StockError::OutOfStock { sku } => write!(f, "{sku} is out of stock"),
        }
    }
}

impl std::error::Error for StockError {}

/// An error type with only `Debug`.
#[derive(Debug, Clone, PartialEq)]
pub struct Opaque(pub u8);

mod all_good {
    use super::*;

    #[service]
    pub async fn one(ctx: &Context<u32>) -> Result<u32, StockError> {
        Ok(*ctx.payload())
    }

    #[service(depends_on = [one])]
    pub async fn two(_ctx: &Context<u32>, one: &u32) -> Result<String, Infallible> {
        Ok(format!("two after {one}"))
    }

    orchestration! {
        pub all_good(u32) { one, two }
    }
}

#[tokio::test]
async fn into_result_gives_every_output_when_all_succeed() {
    let report = all_good::all_good::orchestrate(&request(5), &NoJournal).await;
    assert!(report.is_success());
    assert!(report.interruption().is_none());
    assert_eq!(
        report.summary(),
        Summary {
            succeeded: 2,
            ..Summary::default()
        }
    );
    assert!(report.summary().all_succeeded());
    assert_eq!(
        report.statuses(),
        [("one", Status::Succeeded), ("two", Status::Succeeded)]
    );
    let outputs = report.into_result().expect("both succeed");
    assert_eq!(outputs.one, 5);
    assert_eq!(outputs.two, "two after 5");
}

/// `late` fails at 50 ms, `early` at once; `late` is listed first. `child` (listed before
/// everything) needs `early`.
mod two_failures {
    use super::*;

    #[service(depends_on = [early])]
    pub async fn child(_ctx: &Context<()>, early: &u8) -> Result<u8, Infallible> {
        Ok(*early)
    }

    #[service]
    pub async fn fine(_ctx: &Context<()>) -> Result<u8, Infallible> {
        Ok(1)
    }

    #[service]
    pub async fn late(_ctx: &Context<()>) -> Result<u8, StockError> {
        tokio::time::sleep(ms(50)).await;
        Err(StockError::OutOfStock { sku: "kbd" })
    }

    #[service]
    pub async fn early(_ctx: &Context<()>) -> Result<u8, Opaque> {
        Err(Opaque(9))
    }

    orchestration! {
        pub two_failures(()) { child, fine, late, early }
    }
}

#[tokio::test(start_paused = true)]
async fn into_result_names_the_first_failed_service_in_listing_order_with_its_typed_error() {
    let report = two_failures::two_failures::orchestrate(&request(()), &NoJournal).await;
    assert!(!report.is_success());
    assert_eq!(
        report.summary(),
        Summary {
            succeeded: 1,
            failed: 2,
            skipped: 1,
            cancelled: 0
        }
    );
    assert_eq!(
        report.statuses(),
        [
            ("child", Status::Skipped),
            ("fine", Status::Succeeded),
            ("late", Status::Failed),
            ("early", Status::Failed),
        ]
    );

    // `late` failed after `early` in time, but is listed first; the skipped `child`, listed
    // before both, is a consequence and not the error.
    let error = match report.into_result() {
        Err(RunError::Failed(failed)) => failed,
        Err(RunError::Interrupted(why)) => panic!("not interrupted: {why}"),
        Ok(_) => panic!("two services failed"),
    };
    assert_eq!(error.service(), "late");
    assert_eq!(
        error.to_string(),
        "service `late` failed after 1 attempt: kbd is out of stock"
    );
    // The typed error is reachable by matching, and as the `source` of the failure.
    match &error {
        two_failures::two_failures::Failed::late(failure) => {
            assert_eq!(
                failure.errors(),
                [AttemptError::Error(StockError::OutOfStock { sku: "kbd" })]
            );
        }
        _ => panic!("expected late's failure"),
    }
    let source = error.source().expect("the service's error is the source");
    assert_eq!(
        source.downcast_ref::<StockError>(),
        Some(&StockError::OutOfStock { sku: "kbd" })
    );

    // Wrapped in `RunError`, it is still a `std::error::Error` with the same message.
    let run_error: RunError<two_failures::two_failures::Failed> = RunError::Failed(error);
    assert_eq!(
        run_error.to_string(),
        "service `late` failed after 1 attempt: kbd is out of stock"
    );
    let boxed: Box<dyn std::error::Error> = Box::new(run_error);
    assert!(boxed.source().is_some());
}

/// Only the later-listed service fails: its error type has no `Display`.
mod one_failure {
    use super::*;

    #[service]
    pub async fn ok(_ctx: &Context<()>) -> Result<u8, Infallible> {
        Ok(1)
    }

    #[service]
    pub async fn opaque(_ctx: &Context<()>) -> Result<u8, Opaque> {
        Err(Opaque(9))
    }

    orchestration! {
        pub one_failure(()) { ok, opaque }
    }
}

#[tokio::test]
async fn a_failure_whose_error_has_only_debug_is_described_by_it() {
    let report = one_failure::one_failure::orchestrate(&request(()), &NoJournal).await;
    match report.into_result() {
        Err(RunError::Failed(one_failure::one_failure::Failed::opaque(failure))) => {
            assert_eq!(failure.last_error().error(), Some(&Opaque(9)));
            let failed = one_failure::one_failure::Failed::opaque(failure);
            assert_eq!(failed.service(), "opaque");
            assert_eq!(
                failed.to_string(),
                "service `opaque` failed after 1 attempt: Opaque(9)"
            );
            // `Opaque` is not an error type: nothing to give as a source.
            assert!(failed.source().is_none());
        }
        Err(other) => panic!("expected opaque's failure, got {other}"),
        Ok(_) => panic!("opaque fails"),
    }
}

#[tokio::test]
async fn the_report_debug_shows_every_service() {
    let report = two_failures::two_failures::orchestrate(&request(()), &NoJournal).await;
    let text = format!("{report:?}");
    for service in two_failures::two_failures::SERVICES {
        assert!(text.contains(service), "{service} missing from {text}");
    }
}
