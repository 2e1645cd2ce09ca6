//! `--crash`: a durable checkout killed in the middle of its run, and resumed.
//!
//! The first invocation starts run `evt-ord-2001` with a SQLite journal, and the process kills
//! itself with SIGKILL while the notification is being sent, after the payment succeeded: nothing
//! is flushed or cleaned up, and what the journal had committed survives. The second invocation
//! (the same command) finds the run unfinished and resumes it: the services whose outcome was
//! recorded are read back, not called; the notification, which died in its first attempt, runs
//! that attempt again, so under the same idempotency key. The third finds the run finished and
//! shows its recorded result without calling any service. `--reset` forgets the run.

use std::fmt::Display;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use orch::prelude::*;
use orch::{AttemptError, Event, Interruption, JournalEntry, JournalError, SqliteJournal};

use crate::durable_checkout;
use crate::order::Order;

/// The run this mode works on, across invocations.
const EVENT_ID: &str = "evt-ord-2001";

/// Set by the invocation that starts the run: the notification then kills the process.
static ARMED: AtomicBool = AtomicBool::new(false);

/// `cargo run --example checkout -- --crash`: starts, resumes or shows the run.
pub async fn run() {
    let journal = open();
    let recorded = journal.recall(EVENT_ID).await.unwrap_or_else(fail);
    let finished = recorded
        .iter()
        .any(|entry| matches!(entry.event, Event::RunFinished { .. }));
    if recorded.is_empty() {
        println!("run {EVENT_ID}: not in the journal; starting it, and killing the process midway");
        ARMED.store(true, Ordering::SeqCst);
    } else if finished {
        println!("run {EVENT_ID}: finished; its recorded result comes back, nothing is called");
    } else {
        println!("run {EVENT_ID}: unfinished (its process died); resuming it");
    }

    let order = Order::sample("ord-2001", 4_990);
    let request = Request::new(EVENT_ID, "tenant-eu", "org-shop", order);
    let report = durable_checkout::orchestrate(&request, &Printed(&journal)).await;

    println!("services:");
    let rows = [
        row("payments", &report.payments),
        row("fraud_check", &report.fraud_check),
        row("inventory", &report.inventory),
        row("analytics", &report.analytics),
        row("notification", &report.notification),
    ];
    let (mut replayed, mut ran) = (Vec::new(), Vec::new());
    for (service, source, outcome) in rows {
        let (how, key) = match source {
            Source::Replayed(attempt) => ("replayed", key(service, attempt)),
            Source::Ran(attempt) => ("ran now", key(service, attempt)),
            Source::NotRun => ("not run", String::new()),
        };
        match source {
            Source::Replayed(_) => replayed.push(service),
            Source::Ran(_) => ran.push(service),
            Source::NotRun => {}
        }
        println!("  {service:<13} {how:<9} {key:<28} {outcome}");
    }
    println!("replayed from the journal: {}", list(&replayed));
    println!("ran now: {}", list(&ran));
    if let Some(email) = report.notification.output() {
        println!("notification: {email}");
    }
    let refused = matches!(report.interruption(), Some(Interruption::Replay(_)));
    match report.into_result() {
        Ok(outputs) => println!("result: confirmed, {}", outputs.notification),
        Err(error) => println!("result: not every service succeeded: {error}"),
    }
    if finished || refused {
        println!("to start over: cargo run --example checkout -- --reset");
    }
}

/// `cargo run --example checkout -- --reset`: forgets the run, so that `--crash` starts it again.
pub async fn reset() {
    let journal = open();
    match journal.forget(EVENT_ID).await {
        Ok(true) => println!("run {EVENT_ID} forgotten: the next --crash starts it afresh"),
        Ok(false) => println!("run {EVENT_ID}: nothing recorded"),
        Err(error) => fail(error),
    }
}

/// Called by the notification while it sends the email: kills the process in the invocation
/// that starts the run, does nothing otherwise (in particular without `--crash`).
pub async fn point(ctx: &Context<Order>) {
    if !ARMED.load(Ordering::SeqCst) {
        return;
    }
    println!(
        "  started   notification  attempt {} (key {}): sending the email...",
        ctx.attempt(),
        ctx.idempotency_key()
    );
    // The email provider is slow: long enough for what runs alongside to be committed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    println!("  SIGKILL   this process, in the middle of the run");
    kill_self()
}

/// Sends SIGKILL to this process: it dies at once, without unwinding, flushing or closing files.
fn kill_self() -> ! {
    let pid = std::process::id().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-9", &pid])
        .status();
    // Still here: no `kill` command (not a Unix) or it failed. Aborting flushes nothing either.
    std::thread::sleep(Duration::from_secs(1));
    std::process::abort()
}

/// Where a service's outcome in this report comes from, and the attempt that decided it.
enum Source {
    Replayed(u32),
    Ran(u32),
    NotRun,
}

fn row<T, E: Display>(
    service: &'static str,
    outcome: &Outcome<T, E>,
) -> (&'static str, Source, String) {
    let source = match outcome {
        Outcome::Succeeded(success) if success.replayed => Source::Replayed(success.attempts),
        Outcome::Failed(failure) if matches!(failure.last_error(), AttemptError::Replayed(_)) => {
            Source::Replayed(failure.attempts())
        }
        Outcome::Succeeded(_) | Outcome::Failed(_) => Source::Ran(outcome.attempts()),
        Outcome::Skipped(_) | Outcome::Cancelled(_) => Source::NotRun,
    };
    // The error is in the result line.
    let outcome = match outcome.failure() {
        Some(failure) if failure.attempts() == 1 => "failed after 1 attempt".to_owned(),
        Some(failure) => format!("failed after {} attempts", failure.attempts()),
        None => outcome.to_string(),
    };
    (service, source, outcome)
}

/// The idempotency key of that attempt: what `ctx.idempotency_key()` returned in it.
fn key(service: &str, attempt: u32) -> String {
    format!("{EVENT_ID}/{service}/{attempt}")
}

fn list(services: &[&str]) -> String {
    if services.is_empty() {
        "none".to_owned()
    } else {
        services.join(", ")
    }
}

fn open() -> SqliteJournal {
    let path: PathBuf = std::env::temp_dir().join("orch-checkout.db");
    println!("journal: {}", path.display());
    SqliteJournal::open(&path).unwrap_or_else(fail)
}

fn fail<T>(error: JournalError) -> T {
    eprintln!("journal error: {error}");
    std::process::exit(1)
}

/// The SQLite journal, printing the end of each attempt once it is committed: what survives the
/// crash.
struct Printed<'a>(&'a SqliteJournal);

impl Journal for Printed<'_> {
    fn record(&self, entry: JournalEntry) -> impl Future<Output = Result<(), JournalError>> + Send {
        let line = match &entry.event {
            Event::AttemptSucceeded {
                service, attempt, ..
            } => Some(format!(
                "  recorded  {service:<13} attempt {attempt} succeeded"
            )),
            Event::AttemptFailed {
                service,
                attempt,
                error,
                ..
            } => Some(format!(
                "  recorded  {service:<13} attempt {attempt} failed: {error}"
            )),
            _ => None,
        };
        let write = self.0.record(entry);
        async move {
            write.await?;
            if let Some(line) = line {
                println!("{line}");
            }
            Ok(())
        }
    }

    fn recall(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, JournalError>> + Send {
        self.0.recall(event_id)
    }
}
