//! Snapshots of the `orch` command (orch-cli) on journals of the checkout example.
//!
//! The example's orchestrations run here, in-process, on tokio's paused clock with a fixed
//! jitter seed, so their offsets are the same on every machine; each entry's wall-clock time is
//! then set to a fixed instant plus its offset, and the entries are written to a `SqliteJournal`
//! in a temporary directory (on the real clock: the journal answers from its own thread). The
//! command runs in-process (`orch_cli::run`) with colour off and 100 columns, and its output is
//! compared with the reviewed files under `tests/snapshots/cli/`.
//!
//! After a deliberate change of the output: `ORCH_BLESS=1 cargo test --test cli`, then review
//! the diff of the snapshots.

mod common;

#[path = "../examples/checkout/main.rs"]
#[allow(dead_code)]
mod checkout_example;

// The example's modules reach each other by `crate::` paths: these make them resolve here.
use checkout_example::{billing, crash, durable_checkout, order};

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::TempDir;
use orch::prelude::*;
use orch::{Event, JournalEntry, JournalError, SqliteJournal, Timestamp};
use orch_cli::Style;

use crate::order::Order;

/// 2026-11-29T10:00:00Z: the first run's start.
const START: u64 = 1_795_946_400;
/// The retry jitter's seed: the payment's waits are the same on every run.
const SEED: u64 = 2001;

// ---------------------------------------------------------------------------------------------
// Journals
// ---------------------------------------------------------------------------------------------

/// A runtime on tokio's paused clock: time advances only when every task waits on a timer.
fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

fn request(order: Order) -> Request<Order> {
    Request::new(format!("evt-{}", order.id), "tenant-eu", "org-shop", order)
}

fn seeded() -> RunOptions {
    RunOptions::new().with_seed(SEED)
}

/// The example's two orders, as `cargo run --example checkout` runs them.
fn checkout_runs() -> Vec<Vec<JournalEntry>> {
    paused_runtime().block_on(async {
        let mut runs = Vec::new();
        for order in [
            Order::sample("ord-1001", 4_990),
            Order::sample("ord-1002", billing::DECLINED_AMOUNT),
        ] {
            let journal = InMemoryJournal::new();
            let request = request(order);
            let report =
                checkout_example::checkout::orchestrate_with(&request, &journal, seeded()).await;
            // The fraud service is down in both: neither run is a success.
            assert!(report.fraud_check.failure().is_some(), "{report:?}");
            runs.push(journal.take());
        }
        runs
    })
}

/// Records into `inner` until the payment's success is recorded; after that, no write ever
/// completes, as if the process had stopped right after that commit.
struct StopAfterPayment<'a> {
    inner: &'a InMemoryJournal,
    stopped: AtomicBool,
}

impl Journal for StopAfterPayment<'_> {
    fn record(&self, entry: JournalEntry) -> impl Future<Output = Result<(), JournalError>> + Send {
        let write = if self.stopped.load(Ordering::SeqCst) {
            None
        } else {
            let paid = matches!(
                &entry.event,
                Event::AttemptSucceeded { service, .. } if service == "payments"
            );
            self.stopped.store(paid, Ordering::SeqCst);
            Some(self.inner.record(entry))
        };
        async move {
            match write {
                Some(write) => write.await,
                None => std::future::pending().await,
            }
        }
    }

    fn recall(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, JournalError>> + Send {
        self.inner.recall(event_id)
    }
}

/// A durable checkout whose first execution stops right after the payment succeeded (its
/// future is dropped, as a crash would leave it), resumed by a second execution to the end.
fn durable_run() -> Vec<JournalEntry> {
    paused_runtime().block_on(async {
        let journal = InMemoryJournal::new();
        let request = request(Order::sample("ord-2001", 4_990));
        let stopping = StopAfterPayment {
            inner: &journal,
            stopped: AtomicBool::new(false),
        };
        let first = durable_checkout::orchestrate_with(&request, &stopping, seeded());
        let dropped = tokio::time::timeout(Duration::from_secs(10), first).await;
        assert!(
            dropped.is_err(),
            "the first execution finished: {dropped:?}"
        );
        let report = durable_checkout::orchestrate_with(&request, &journal, seeded()).await;
        assert!(report.payments.is_success(), "{report:?}");
        assert!(report.notification.is_success(), "{report:?}");
        journal.take()
    })
}

/// Sets each entry's wall-clock time to `start` plus its offset; each execution of the run
/// starts a minute after the previous one.
fn normalize(entries: &mut [JournalEntry], start: u64) {
    let mut execution = 0;
    for entry in entries {
        if matches!(entry.event, Event::RunStarted { .. }) {
            execution += 1;
        }
        let base = Duration::from_secs(start + 60 * execution.max(1) - 60);
        entry.at = Timestamp::from_unix(base + entry.offset);
    }
}

/// Writes the runs into a new SQLite journal at `path`, on the real clock.
fn write_journal(path: &Path, runs: &[Vec<JournalEntry>]) {
    let journal = SqliteJournal::open(path).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        for entry in runs.iter().flatten() {
            journal.record(entry.clone()).await.unwrap();
        }
    });
}

// ---------------------------------------------------------------------------------------------
// The command, and snapshots
// ---------------------------------------------------------------------------------------------

/// Runs `orch --journal <path> <args>` in-process, colour off, 100 columns; expects success
/// and nothing on stderr, and returns stdout.
fn orch(path: &Path, args: &[&str]) -> String {
    let mut argv = vec![
        "orch".into(),
        "--journal".into(),
        path.as_os_str().to_owned(),
    ];
    argv.extend(args.iter().map(Into::into));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = orch_cli::run(argv, &mut out, &mut err, Style::plain(100));
    let (out, err) = (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    );
    assert_eq!((code, err.as_str()), (0, ""), "orch {args:?}\n{out}");
    assert!(!out.contains('\x1b'), "an escape sequence in:\n{out}");
    out
}

fn assert_snapshot(name: &str, actual: &str) {
    common::assert_snapshot(&format!("tests/snapshots/cli/{name}"), actual);
}

#[test]
fn the_checkout_runs_as_the_command_shows_them() {
    let mut runs = checkout_runs();
    for (index, run) in (0..).zip(runs.iter_mut()) {
        normalize(run, START + 300 * index);
    }
    let dir = TempDir::new("checkout");
    let path = dir.0.join("orch.db");
    write_journal(&path, &runs);

    assert_snapshot("runs.txt", &orch(&path, &["runs"]));
    assert_snapshot(
        "show-evt-ord-1001.txt",
        &orch(&path, &["show", "evt-ord-1001"]),
    );
    assert_snapshot(
        "show-evt-ord-1002.txt",
        &orch(&path, &["show", "evt-ord-1002"]),
    );
    assert_snapshot(
        "show-evt-ord-1001.mmd",
        &orch(&path, &["show", "evt-ord-1001", "--format", "mermaid"]),
    );
    let json = orch(&path, &["show", "evt-ord-1001", "--format", "json"]);
    assert_snapshot("show-evt-ord-1001.jsonl", &json);
    // Exactly what the journal holds.
    let lines: Vec<String> = runs[0].iter().map(JournalEntry::to_json).collect();
    assert_eq!(json, lines.join("\n") + "\n");

    // The filters, on the same journal.
    let failed = orch(&path, &["runs", "--status", "failed", "--limit", "1"]);
    assert_eq!(failed.lines().count(), 2, "{failed}");
    assert!(failed.contains("evt-ord-1002"), "{failed}");
}

#[test]
fn a_resumed_durable_run_shows_each_execution() {
    let mut run = durable_run();
    normalize(&mut run, START + 600);
    let dir = TempDir::new("durable");
    let path = dir.0.join("orch.db");
    write_journal(&path, &[run]);

    assert_snapshot(
        "show-evt-ord-2001.txt",
        &orch(&path, &["show", "evt-ord-2001"]),
    );
    assert_snapshot(
        "show-evt-ord-2001.mmd",
        &orch(&path, &["show", "evt-ord-2001", "--format", "mermaid"]),
    );
    assert_snapshot("runs-durable.txt", &orch(&path, &["runs"]));
}

#[test]
fn the_readme_shows_the_checkout_plan_as_drawn() {
    let readme = include_str!("../README.md");
    let drawn = checkout_example::checkout::MERMAID;
    assert!(
        readme.contains(&format!("```mermaid\n{drawn}```\n")),
        "the README's Mermaid block is not `cargo run --example checkout -- --mermaid`:\n{drawn}"
    );
}
