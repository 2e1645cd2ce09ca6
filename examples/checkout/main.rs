//! The Go original's scenario grown into a real checkout: a payment with retries, a fraud check,
//! an inventory reservation, analytics that tolerates a failed fraud check, and a confirmation
//! that needs both the payment and the reservation.
//!
//! It runs two orders. In the first, the payment succeeds on its third attempt after two gateway
//! timeouts while the fraud service is down: analytics runs without a verdict and the customer is
//! notified, yet the run is not a success, since a service failed. In the second, the card is
//! declined (a permanent error: not retried) and everything that needs the payment is skipped.
//! For each it prints every service's outcome and the run's journal.
//!
//! With `--crash`, it runs the first order's checkout as a durable orchestration journaled in
//! SQLite, and the process kills itself in the middle of the run; the next invocation resumes the
//! run without calling again what had succeeded (see `crash.rs`).
//!
//! With `--journal PATH`, it also journals both orders in a `SqliteJournal` at PATH (replacing
//! what an earlier invocation recorded for them), for the `orch` command to show. With
//! `--mermaid` or `--dot`, it prints the checkout's plan as drawn at compile time.
//!
//! ```text
//! cargo run --example checkout
//! cargo run --example checkout -- --crash   # 1st: killed mid-run; 2nd: resumes; 3rd: finished
//! cargo run --example checkout -- --reset   # forgets that run, to start over
//! cargo run --example checkout -- --journal orch.db
//! cargo run -p orch-cli -- --journal orch.db runs          # then: show evt-ord-1001
//! cargo run --example checkout -- --mermaid   # or --dot
//! ```

// `pub`: `tests/cli.rs` includes this file as a module, and re-exports these at its root for the
// `crate::` paths the modules use.
pub mod billing;
pub mod crash;
mod fulfilment;
pub mod order;

use std::convert::Infallible;
use std::time::Duration;

use orch::prelude::*;
use orch::{JournalError, Outcome, SqliteJournal, Status};

use crate::billing::Receipt;
use crate::order::Order;

/// A fraud verdict from the risk service.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    score: u8,
}

/// The fraud service is down today: every call fails, and the checkout goes on without it.
#[service]
async fn fraud_check(ctx: &Context<Order>) -> Result<Verdict, String> {
    Err(format!(
        "risk service unavailable for customer {}",
        ctx.payload().customer
    ))
}

/// Daily sales figures. Runs even when the fraud check failed (`Option<&Verdict>`), and says so.
#[service(depends_on = [payments, fraud_check])]
async fn analytics(
    ctx: &Context<Order>,
    receipt: &Receipt,
    verdict: Option<&Verdict>,
) -> Result<String, Infallible> {
    if verdict.is_none() {
        ctx.warn("no fraud verdict: the sale is recorded as unscored");
    }
    let score = verdict.map_or_else(|| "unscored".to_owned(), |v| v.score.to_string());
    Ok(format!("{} cents, risk {score}", receipt.amount_cents))
}

orchestration! {
    /// Takes an order from payment to confirmation, in 30 s at most.
    #[orch(deadline = Duration::from_secs(30))]
    pub checkout(Order) {
        billing::payments,
        fraud_check,
        fulfilment::inventory,
        analytics,
        fulfilment::notification,
    }
}

orchestration! {
    /// The same checkout, resumable: run again under the same event id after a crash, it reads
    /// back from the journal what had succeeded and runs the rest (`--crash`).
    #[orch(durable, deadline = Duration::from_secs(30))]
    pub durable_checkout(Order) {
        billing::payments,
        fraud_check,
        fulfilment::inventory,
        analytics,
        fulfilment::notification,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut sqlite = None;
    match std::env::args().nth(1).as_deref() {
        None => {}
        Some("--crash") => return crash::run().await,
        Some("--reset") => return crash::reset().await,
        Some("--mermaid") => return print!("{}", checkout::MERMAID),
        Some("--dot") => return print!("{}", checkout::DOT),
        Some("--journal") => match std::env::args_os().nth(2) {
            Some(path) => sqlite = Some(SqliteJournal::open(path).unwrap_or_else(fail)),
            None => {
                eprintln!("`--journal` needs the path of the journal to write");
                std::process::exit(2);
            }
        },
        Some(other) => {
            eprintln!(
                "unknown argument `{other}`: expected `--crash`, `--reset`, `--journal PATH`, \
                 `--mermaid` or `--dot`"
            );
            std::process::exit(2);
        }
    }
    for order in [
        Order::sample("ord-1001", 4_990),
        Order::sample("ord-1002", billing::DECLINED_AMOUNT),
    ] {
        let journal = InMemoryJournal::new();
        let request = Request::new(format!("evt-{}", order.id), "tenant-eu", "org-shop", order);
        println!("== {} ==", request.event_id);
        let report = match &sqlite {
            Some(sqlite) => journaled(&request, sqlite, &journal).await,
            None => checkout::orchestrate(&request, &journal).await,
        };
        print_report(&report);
        println!("journal:");
        print!("{}", journal.to_json_lines());
        match report.into_result() {
            Ok(outputs) => println!("result: confirmed, {}\n", outputs.notification),
            // A partial run is never a success: the first failed service is the error.
            Err(error) => println!("result: not every service succeeded: {error}\n"),
        }
    }
}

/// `--journal PATH`: runs the checkout journaled in SQLite, after forgetting what an earlier
/// invocation recorded under its event id, and copies the run's entries to `printed`.
async fn journaled(
    request: &Request<Order>,
    sqlite: &SqliteJournal,
    printed: &InMemoryJournal,
) -> checkout::Report {
    sqlite.forget(&request.event_id).await.unwrap_or_else(fail);
    let report = checkout::orchestrate(request, sqlite).await;
    for entry in sqlite.recall(&request.event_id).await.unwrap_or_else(fail) {
        let _ = printed.record(entry).await;
    }
    report
}

fn fail<T>(error: JournalError) -> T {
    eprintln!("journal error: {error}");
    std::process::exit(1)
}

fn print_report(report: &checkout::Report) {
    for (service, status) in report.statuses() {
        let detail = match service {
            "payments" => describe(&report.payments),
            "fraud_check" => describe(&report.fraud_check),
            "inventory" => describe(&report.inventory),
            "analytics" => describe(&report.analytics),
            _ => describe(&report.notification),
        };
        let marker = if status == Status::Succeeded {
            "ok "
        } else {
            "-- "
        };
        println!("  {marker}{service:<13} {detail}");
    }
    let summary = report.summary();
    println!(
        "  {} succeeded, {} failed, {} skipped",
        summary.succeeded, summary.failed, summary.skipped
    );
}

fn describe<T: std::fmt::Debug, E: std::fmt::Display>(outcome: &Outcome<T, E>) -> String {
    match outcome {
        Outcome::Succeeded(success) => format!("{outcome}: {:?}", success.output),
        _ => outcome.to_string(),
    }
}
