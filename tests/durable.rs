//! Durable orchestrations: resuming a run from its journal.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::Calls;
use orch::prelude::*;
use orch::{Event, SqliteJournal, Status};

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    amount: u32,
    id: String,
}

static CALLS: Calls = Calls::new();

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

/// Two branches that finish in an order the test chooses, then a join.
mod branches {
    use super::*;

    /// Fails twice, then succeeds: attempts 1 and 2 are recorded failures.
    #[service(retry = RetryPolicy::DEFAULT.with_jitter(0.0).with_max_retries(5))]
    pub async fn flaky(ctx: &Context<u32>) -> Result<u32, String> {
        CALLS.push(ctx.idempotency_key());
        if ctx.attempt() <= 2 {
            return Err(format!("attempt {} failed", ctx.attempt()));
        }
        // The first execution hangs here, on its third attempt.
        if ctx.event_id().ends_with("-hang") {
            std::future::pending::<()>().await;
        }
        Ok(ctx.attempt())
    }

    #[service]
    pub async fn quick(ctx: &Context<u32>) -> Result<String, String> {
        CALLS.push(ctx.idempotency_key());
        Ok("quick".into())
    }

    /// Fails for good: a final failure, recorded.
    #[service]
    pub async fn declined(ctx: &Context<u32>) -> Result<u32, String> {
        CALLS.push(ctx.idempotency_key());
        Err("card declined".into())
    }

    #[service(depends_on = [declined])]
    pub async fn receipt(ctx: &Context<u32>, declined: &u32) -> Result<u32, String> {
        CALLS.push(ctx.idempotency_key());
        Ok(*declined)
    }

    #[service(depends_on = [flaky, quick])]
    pub async fn join(ctx: &Context<u32>, flaky: &u32, quick: &String) -> Result<String, String> {
        CALLS.push(ctx.idempotency_key());
        Ok(format!("{quick} after {flaky}"))
    }

    orchestration! {
        #[orch(durable)]
        pub branches(u32) { flaky, quick, declined, receipt, join }
    }
}

#[tokio::test(start_paused = true)]
async fn a_resumed_service_goes_on_from_its_recorded_attempts_and_decided_outcomes_stay() {
    let journal = InMemoryJournal::new();
    let hang = Request::new("evt-b-hang", "t", "o", 1);
    let run = branches::branches::orchestrate(&hang, &journal);
    assert!(
        tokio::time::timeout(Duration::from_secs(60), run)
            .await
            .is_err()
    );
    assert_eq!(
        CALLS.take("evt-b-hang"),
        [
            "evt-b-hang/flaky/1",
            "evt-b-hang/quick/1",
            "evt-b-hang/declined/1",
            "evt-b-hang/flaky/2",
            "evt-b-hang/flaky/3",
        ]
    );

    // Resumed under the same event id by a journal holding the first execution: rename the
    // entries so the hang is gone but the records stay (the service reads the event id).
    let resumed = InMemoryJournal::new();
    for mut entry in journal.take() {
        entry.event_id = "evt-b".into();
        orch::Journal::record(&resumed, entry).await.unwrap();
    }
    let request = Request::new("evt-b", "t", "o", 1);
    let report = branches::branches::orchestrate(&request, &resumed).await;
    // `flaky` died in attempt 3, which runs again as attempt 3: the same idempotency key.
    // `quick` succeeded and `declined` failed for good: neither runs again, and `receipt` is
    // skipped again.
    assert_eq!(CALLS.take("evt-b"), ["evt-b/flaky/3", "evt-b/join/1"]);
    assert_eq!(
        report.join.output().map(String::as_str),
        Some("quick after 3")
    );
    assert!(matches!(&report.flaky, Outcome::Succeeded(s) if s.attempts == 3 && !s.replayed));
    // The second execution's entries for `flaky` number its attempt 3 too.
    let flaky: Vec<Event> = resumed
        .entries()
        .into_iter()
        .filter(|entry| entry.service() == Some("flaky"))
        .map(|entry| entry.event)
        .collect();
    assert!(flaky.contains(&Event::AttemptStarted {
        service: "flaky".into(),
        attempt: 3,
    }));
    assert!(flaky.iter().any(|event| matches!(
        event,
        Event::AttemptSucceeded { attempt: 3, output: Some(output), .. } if output == 3
    )));
    assert_eq!(
        flaky
            .iter()
            .filter(|event| matches!(event, Event::AttemptStarted { attempt: 3, .. }))
            .count(),
        2,
        "attempt 3 started in each execution"
    );
    assert!(matches!(&report.quick, Outcome::Succeeded(s) if s.replayed));
    let failure = report.declined.failure().expect("declined failed");
    assert_eq!(
        failure.errors(),
        [orch::AttemptError::Replayed("card declined".into())]
    );
    assert!(matches!(report.receipt, Outcome::Skipped(skip) if skip.cause == "declined"));
}

#[tokio::test(start_paused = true)]
async fn each_orchestration_has_its_own_compile_time_fingerprint() {
    assert_ne!(order::FINGERPRINT, branches::branches::FINGERPRINT);
    // Recorded on the run's start, as 16 hex digits.
    let journal = InMemoryJournal::new();
    let _ = branches::branches::orchestrate(&Request::new("evt-fp", "t", "o", 1), &journal).await;
    let fingerprint = journal
        .entries()
        .into_iter()
        .find_map(|entry| match entry.event {
            Event::RunStarted { fingerprint, .. } => fingerprint,
            _ => None,
        });
    assert_eq!(
        fingerprint,
        Some(format!("{:016x}", branches::branches::FINGERPRINT))
    );
    CALLS.take("evt-fp");
}

#[tokio::test(start_paused = true)]
async fn a_run_resumed_with_another_payload_is_refused() {
    let journal = InMemoryJournal::new();
    let first = Request::new("evt-pay", "t", "o", 3);
    let run = order::orchestrate(&first, &journal);
    assert!(
        tokio::time::timeout(Duration::from_secs(1), run)
            .await
            .is_err()
    );
    CALLS.take("evt-pay");
    let before = journal.entries().len();

    // The outputs recorded were computed from payload 3, not 4.
    let report = order::orchestrate(&Request::new("evt-pay", "t", "o", 4), &journal).await;
    assert_eq!(CALLS.take("evt-pay"), Vec::<String>::new());
    assert_eq!(
        journal.entries().len(),
        before,
        "nothing is written to the run"
    );
    let why = report.interruption().expect("refused");
    assert_eq!(
        why,
        &orch::Interruption::Replay(Box::new(orch::ReplayError::PayloadChanged {
            event_id: "evt-pay".into()
        }))
    );
    assert_eq!(
        why.to_string(),
        "the run cannot be resumed: run evt-pay was recorded with another payload: resume it \
         with the payload it started with, or start it under a new event id"
    );
}
