//! Durable orchestrations: resuming a run from its journal.

use std::sync::Mutex;
use std::time::Duration;

use orch::prelude::*;
use orch::{Event, SqliteJournal, Status};

/// What each service was called with, in order.
#[derive(Default)]
struct Calls(Mutex<Vec<String>>);

impl Calls {
    fn push(&self, call: String) {
        self.0.lock().unwrap().push(call);
    }
    /// The calls of run `event_id` since the last take: tests run in parallel.
    fn take(&self, event_id: &str) -> Vec<String> {
        let mut calls = self.0.lock().unwrap();
        let prefix = format!("{event_id}/");
        let (taken, kept) = calls
            .drain(..)
            .partition(|call: &String| call.starts_with(&prefix));
        *calls = kept;
        taken
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    amount: u32,
    id: String,
}

static CALLS: Calls = Calls(Mutex::new(Vec::new()));

#[service]
async fn reserve(ctx: &Context<u32>) -> Result<u32, String> {
    CALLS.push(ctx.idempotency_key());
    Ok(*ctx.payload())
}

#[service(depends_on = [reserve])]
async fn charge(ctx: &Context<u32>, reserve: &u32) -> Result<Receipt, String> {
    CALLS.push(ctx.idempotency_key());
    Ok(Receipt {
        amount: reserve * 100,
        id: "r-1".into(),
    })
}

/// Hangs the first time it is called for a run: a run dropped then is unfinished.
#[service(depends_on = [charge])]
async fn ship(ctx: &Context<u32>, charge: &Receipt) -> Result<String, String> {
    static HUNG: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let key = ctx.idempotency_key();
    CALLS.push(key.clone());
    let first = {
        let mut hung = HUNG.lock().unwrap();
        let first = !hung.contains(&key);
        hung.push(key);
        first
    };
    if first {
        std::future::pending::<()>().await;
    }
    Ok(format!("shipped {}", charge.id))
}

orchestration! {
    #[orch(durable)]
    order(u32) { reserve, charge, ship }
}

#[tokio::test(start_paused = true)]
async fn a_dropped_run_resumes_without_calling_what_succeeded() {
    let journal = InMemoryJournal::new();
    let request = Request::new("evt-1", "t", "o", 3);
    let run = order::orchestrate(&request, &journal);
    // Dropped while `ship` runs, as a crash would leave it.
    assert!(
        tokio::time::timeout(Duration::from_secs(1), run)
            .await
            .is_err()
    );
    assert_eq!(
        CALLS.take("evt-1"),
        ["evt-1/reserve/1", "evt-1/charge/1", "evt-1/ship/1"]
    );

    let report = order::orchestrate(&request, &journal).await;
    // `ship` runs again under the attempt it died in, so with the same idempotency key.
    assert_eq!(CALLS.take("evt-1"), ["evt-1/ship/1"]);
    let charge = match &report.charge {
        Outcome::Succeeded(success) => success,
        other => panic!("{other:?}"),
    };
    assert!(charge.replayed);
    assert_eq!(charge.output.amount, 300);
    assert_eq!(
        report.ship.output().map(String::as_str),
        Some("shipped r-1")
    );
    let replayed: Vec<_> = journal
        .entries()
        .into_iter()
        .filter_map(|entry| match entry.event {
            Event::ServiceReplayed {
                service,
                attempt,
                status,
            } => Some((service, attempt, status)),
            _ => None,
        })
        .collect();
    assert_eq!(
        replayed,
        [
            ("reserve".into(), 1, Status::Succeeded),
            ("charge".into(), 1, Status::Succeeded)
        ]
    );

    // Finished: not run again, the recorded result comes back.
    let again = order::orchestrate(&request, &journal).await;
    assert_eq!(CALLS.take("evt-1"), Vec::<String>::new());
    assert_eq!(again.ship.output().map(String::as_str), Some("shipped r-1"));
    assert!(again.is_success(), "{again:?}");
}

/// Returns once `call` was made (real time: a SQLite journal answers from its own thread, which
/// a paused clock would not wait for).
async fn called(call: &str) {
    while !CALLS.0.lock().unwrap().iter().any(|made| made == call) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_sqlite_journal_resumes_a_run_after_it_is_reopened() {
    let dir = std::env::temp_dir().join(format!("orch-durable-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("orch.db");
    let request = Request::new("evt-sql", "t", "o", 2);
    {
        let journal = SqliteJournal::open(&path).unwrap();
        tokio::select! {
            report = order::orchestrate(&request, &journal) => panic!("{report:?}"),
            () = called("evt-sql/ship/1") => {}
        }
    }
    assert_eq!(
        CALLS.take("evt-sql"),
        ["evt-sql/reserve/1", "evt-sql/charge/1", "evt-sql/ship/1"]
    );
    let journal = SqliteJournal::open(&path).unwrap();
    let report = order::orchestrate(&request, &journal).await;
    assert_eq!(CALLS.take("evt-sql"), ["evt-sql/ship/1"]);
    assert_eq!(report.charge.output().map(|r| r.amount), Some(200));
    assert!(report.is_success(), "{report:?}");
    drop(journal);
    std::fs::remove_dir_all(&dir).unwrap();
}
