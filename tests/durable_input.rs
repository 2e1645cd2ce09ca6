//! Durable runs given bad input, and the safety a user relies on.
//!
//! Bad input: files that are not journals, damaged journals, journals of a newer orch, runs
//! recorded by an orchestration of another shape, edited records, hostile event ids. Safety:
//! redacted values stay out of the journal, the journal is private to its owner, a finished run
//! is never run again unless it is forgotten.
//!
//! Tests with a `SqliteJournal` use the real clock: it answers from its own thread, which a
//! paused tokio clock would not wait for (it would auto-advance instead). The SQLite fixtures
//! under `tests/durable_input/` are made by `make_fixtures.py` there (see its docs).

mod common;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use common::{Calls, TempDir};
use orch::prelude::*;
use orch::{
    AttemptError, Event, Interruption, JournalEntry, Redacted, ReplayError, Skip, SqliteJournal,
    Status, StopReason,
};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Services and orchestrations
// ---------------------------------------------------------------------------------------------

static CALLS: Calls = Calls::new();

/// Event ids whose `ship` hangs on its next call: a run dropped then is unfinished.
static HANG: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn hang_next_ship(event_id: &str) {
    HANG.lock().unwrap().push(event_id.to_owned());
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    amount: u32,
    id: String,
}

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
        id: format!("r-{reserve}"),
    })
}

#[service(depends_on = [charge])]
async fn ship(ctx: &Context<u32>, charge: &Receipt) -> Result<String, String> {
    CALLS.push(ctx.idempotency_key());
    let hang = {
        let mut hang = HANG.lock().unwrap();
        let at = hang.iter().position(|id| id == ctx.event_id());
        at.map(|at| hang.remove(at)).is_some()
    };
    if hang {
        std::future::pending::<()>().await;
    }
    Ok(format!("shipped {}", charge.id))
}

orchestration! {
    #[orch(durable)]
    order(u32) { reserve, charge, ship }
}

/// `order` as other versions of the code have it: same name, another shape.
mod added {
    use super::*;

    #[service]
    pub async fn audit(ctx: &Context<u32>) -> Result<(), String> {
        CALLS.push(ctx.idempotency_key());
        Ok(())
    }

    orchestration! {
        #[orch(durable)]
        pub order(u32) { reserve, charge, ship, audit }
    }
}

mod rewired {
    use super::{CALLS, charge, reserve};
    use orch::prelude::*;

    /// Depends on `reserve` instead of `charge`.
    #[service(depends_on = [reserve])]
    pub async fn ship(ctx: &Context<u32>, reserve: &u32) -> Result<String, String> {
        CALLS.push(ctx.idempotency_key());
        Ok(format!("shipped {reserve}"))
    }

    orchestration! {
        #[orch(durable)]
        pub order(u32) { reserve, charge, ship }
    }
}

mod retyped {
    use super::{CALLS, Receipt, charge, reserve};
    use orch::prelude::*;

    /// Returns a parcel number instead of a text.
    #[service(depends_on = [charge])]
    pub async fn ship(ctx: &Context<u32>, charge: &Receipt) -> Result<u64, String> {
        CALLS.push(ctx.idempotency_key());
        Ok(u64::from(charge.amount))
    }

    orchestration! {
        #[orch(durable)]
        pub order(u32) { reserve, charge, ship }
    }
}

mod relaxed {
    use super::{CALLS, Receipt, charge, reserve};
    use orch::prelude::*;

    /// Runs even if `charge` failed: the dependency became optional.
    #[service(depends_on = [charge])]
    pub async fn ship(ctx: &Context<u32>, charge: Option<&Receipt>) -> Result<String, String> {
        CALLS.push(ctx.idempotency_key());
        Ok(format!("shipped {:?}", charge.map(|c| &c.id)))
    }

    orchestration! {
        #[orch(durable)]
        pub order(u32) { reserve, charge, ship }
    }
}

/// `order`, not durable.
mod plain {
    use super::*;

    orchestration! {
        pub order(u32) { reserve, charge, ship }
    }
}

/// A run with a service that fails after its retries, one that panics, one that succeeds, and
/// two skipped in a chain behind the first.
mod shop {
    use super::*;

    #[service(retry = RetryPolicy::DEFAULT
        .with_jitter(0.0)
        .with_initial_delay(Duration::from_millis(1))
        .with_max_retries(2))]
    pub async fn pay(ctx: &Context<u32>) -> Result<u32, String> {
        CALLS.push(ctx.idempotency_key());
        Err(format!("card declined (attempt {})", ctx.attempt()))
    }

    #[service]
    pub async fn pack(ctx: &Context<u32>) -> Result<u32, String> {
        CALLS.push(ctx.idempotency_key());
        panic!("inventory exploded");
    }

    #[service]
    pub async fn audit(ctx: &Context<u32>) -> Result<String, String> {
        CALLS.push(ctx.idempotency_key());
        Ok("audited".into())
    }

    #[service(depends_on = [pay])]
    pub async fn receipt(ctx: &Context<u32>, pay: &u32) -> Result<u32, String> {
        CALLS.push(ctx.idempotency_key());
        Ok(*pay)
    }

    #[service(depends_on = [receipt])]
    pub async fn notify(ctx: &Context<u32>, receipt: &u32) -> Result<String, String> {
        CALLS.push(ctx.idempotency_key());
        Ok(format!("receipt {receipt}"))
    }

    orchestration! {
        #[orch(durable)]
        pub checkout(u32) { pay, pack, audit, receipt, notify }
    }
}

/// A payload and an output that hold secrets.
mod vault {
    use super::*;

    #[derive(Debug, Clone, serde::Serialize)]
    pub struct Payment {
        pub amount: u32,
        pub card: Redacted<String>,
    }

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    pub struct Session {
        pub user: String,
        pub token: Redacted<String>,
    }

    /// The tokens `spend` was given, by idempotency key: kept in memory, never journaled.
    pub static SPENT_WITH: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

    #[service]
    pub async fn login(ctx: &Context<Payment>) -> Result<String, String> {
        CALLS.push(ctx.idempotency_key());
        Ok("ann".into())
    }

    #[service(depends_on = [login])]
    pub async fn token(ctx: &Context<Payment>, login: &String) -> Result<Session, String> {
        CALLS.push(ctx.idempotency_key());
        Ok(Session {
            user: login.clone(),
            token: Redacted(format!("secret-token-{}", ctx.attempt())),
        })
    }

    /// Hangs the first time it is called for a run.
    #[service(depends_on = [token])]
    pub async fn spend(ctx: &Context<Payment>, token: &Session) -> Result<String, String> {
        static HUNG: Mutex<Vec<String>> = Mutex::new(Vec::new());
        let key = ctx.idempotency_key();
        CALLS.push(key.clone());
        SPENT_WITH
            .lock()
            .unwrap()
            .push((key.clone(), token.token.0.clone()));
        let first = {
            let mut hung = HUNG.lock().unwrap();
            let first = !hung.contains(&key);
            hung.push(key);
            first
        };
        if first {
            std::future::pending::<()>().await;
        }
        Ok(format!("{} paid {}", token.user, ctx.payload().amount))
    }

    orchestration! {
        #[orch(durable)]
        pub session(Payment) { login, token, spend }
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn wal(path: &Path) -> PathBuf {
    with_suffix(path, "-wal")
}

/// `SqliteJournal::open`'s error, as the user reads it.
fn open_error(path: &Path) -> String {
    match SqliteJournal::open(path) {
        Ok(journal) => panic!("{} opened as a journal: {journal:?}", path.display()),
        Err(error) => error.to_string(),
    }
}

/// Runs `run` until `call` is made, then drops it, as a crash would (real clock).
async fn run_until_called<F: Future<Output: std::fmt::Debug>>(run: F, call: &str) {
    let made = async {
        while !CALLS.made(call) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    tokio::select! {
        report = run => panic!("the run ended before {call} was called: {report:?}"),
        () = made => {}
    }
}

/// Runs `run` until it is stuck, then drops it, as a crash would (paused clock).
async fn run_until_stuck<F: Future<Output: std::fmt::Debug>>(run: F) {
    if let Ok(report) = tokio::time::timeout(Duration::from_secs(60), run).await {
        panic!("the run was expected to hang: {report:?}");
    }
}

fn keys(event_id: &str, calls: &[&str]) -> Vec<String> {
    calls
        .iter()
        .map(|call| format!("{event_id}/{call}"))
        .collect()
}

fn fingerprint(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// Every service of an `order` report, cancelled with `why`.
fn assert_all_cancelled(report: &order::Report, why: &Interruption) {
    assert_eq!(report.reserve, Outcome::Cancelled(why.clone()));
    assert_eq!(report.charge, Outcome::Cancelled(why.clone()));
    assert_eq!(report.ship, Outcome::Cancelled(why.clone()));
}

/// The journal error that refused to resume `report`'s run (so every service is cancelled),
/// as the user reads it.
fn journal_error(report: &order::Report) -> String {
    match report.interruption() {
        Some(Interruption::Journal(error)) => {
            assert_all_cancelled(report, report.interruption().unwrap());
            error.to_string()
        }
        other => panic!("expected a journal error, got {other:?}: {report:?}"),
    }
}

/// Runs `order` to the end under each of `ids` (payload: its index), and returns what the
/// journal holds of each.
async fn record_runs(journal: &SqliteJournal, ids: &[String]) -> Vec<Vec<JournalEntry>> {
    let mut recorded = Vec::new();
    for (payload, id) in (0u32..).zip(ids) {
        let report =
            order::orchestrate(&Request::new(id.as_str(), "t", "o", payload), journal).await;
        assert!(report.is_success(), "{report:?}");
        assert_eq!(
            CALLS.take(id),
            keys(id, &["reserve/1", "charge/1", "ship/1"])
        );
        recorded.push(journal.recall(id).await.unwrap());
    }
    recorded
}

/// The page size of a SQLite database, from its header.
fn page_size(database: &[u8]) -> usize {
    match u16::from_be_bytes([database[16], database[17]]) {
        1 => 65536,
        size => usize::from(size),
    }
}

const AT: &str = "2025-01-01T00:00:00.000000000Z";

/// An entry of run `event_id`, as JSON a user could have edited.
fn entry(event_id: &str, event: serde_json::Value) -> JournalEntry {
    let entry = json!({ "event_id": event_id, "at": AT, "offset_ns": 0, "event": event });
    serde_json::from_value(entry).unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1, 2. Files that are not journals, damaged journals, journals of a newer orch
// ---------------------------------------------------------------------------------------------

#[test]
fn a_file_that_is_not_a_database_is_refused_naming_it_and_left_untouched() {
    let dir = TempDir::new("not_a_database");
    let random = common::random_bytes(8192);
    let files: [(&str, &[u8]); 3] = [
        ("random.bin", &random),
        ("notes.txt", b"remember the milk\n"),
        (
            "orders.csv",
            &b"id,amount,status\n1,40,paid\n2,15,shipped\n".repeat(200),
        ),
    ];
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        assert_eq!(
            open_error(&path),
            format!(
                "{}: not an orch journal (file is not a database)",
                path.display()
            )
        );
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{name} was changed");
    }
    // No -wal, -shm or -journal file was left beside them.
    assert_eq!(dir.listing(), ["notes.txt", "orders.csv", "random.bin"]);
}

#[test]
fn another_programs_database_is_refused_naming_it_and_left_untouched() {
    let dir = TempDir::new("foreign");
    for name in ["foreign.db", "other_application.db"] {
        let path = dir.fixture(name);
        let before = std::fs::read(&path).unwrap();
        assert_eq!(
            open_error(&path),
            format!(
                "{}: not an orch journal: a SQLite database of another program",
                path.display()
            )
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "{name} was changed");
    }
    assert_eq!(dir.listing(), ["foreign.db", "other_application.db"]);
}

#[test]
fn a_journal_written_by_a_newer_orch_is_refused_naming_it_and_left_untouched() {
    let dir = TempDir::new("future_format");
    let path = dir.fixture("future_format.db");
    let before = std::fs::read(&path).unwrap();
    assert_eq!(
        open_error(&path),
        format!(
            "{}: written by a newer version of orch (journal format 99; this version reads \
             formats up to 1)",
            path.display()
        )
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(dir.listing(), ["future_format.db"]);
}

#[test]
fn a_journal_in_a_missing_directory_is_an_error_naming_it() {
    let dir = TempDir::new("missing_dir");
    let path = dir.join("no-such-dir").join("orch.db");
    assert_eq!(
        open_error(&path),
        format!(
            "{}: cannot create the journal: No such file or directory (os error 2)",
            path.display()
        )
    );
}

#[tokio::test]
async fn a_truncated_journal_is_refused_naming_it() {
    let dir = TempDir::new("truncated");
    let path = dir.join("orch.db");
    let ids: Vec<String> = (0..12).map(|i| format!("evt-trunc-{i}")).collect();
    let recorded = {
        let journal = SqliteJournal::open(&path).unwrap();
        record_runs(&journal, &ids).await
    };
    // Closed: everything is in the database file, no WAL is left.
    assert_eq!(dir.listing(), ["orch.db"]);

    let copy = dir.join("truncated.db");
    std::fs::copy(&path, &copy).unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&copy).unwrap();
    let len = file.metadata().unwrap().len();
    assert!(len >= 4 * 4096, "too small a journal to cut: {len} bytes");
    file.set_len(len / 2).unwrap();
    drop(file);

    let damaged = std::fs::read(&copy).unwrap();
    let error = open_error(&copy);
    // Left as it was, for whoever repairs it.
    assert_eq!(std::fs::read(&copy).unwrap(), damaged);
    assert_eq!(dir.listing(), ["orch.db", "truncated.db"]);
    assert!(
        error.starts_with(&format!("{}: ", copy.display())),
        "does not name the file: {error}"
    );
    assert!(
        error.contains("database disk image is malformed"),
        "does not say what is wrong: {error}"
    );

    // The original is intact.
    let journal = SqliteJournal::open(&path).unwrap();
    for (id, entries) in ids.iter().zip(&recorded) {
        assert_eq!(&journal.recall(id).await.unwrap(), entries);
    }

    // A damaged journal is the user's journal, damaged: not "another file", which would invite
    // starting a new journal in its place.
    assert!(
        !error.contains("not an orch journal"),
        "calls a damaged orch journal foreign: {error}"
    );
}

#[tokio::test]
async fn a_journal_whose_wal_is_cut_short_keeps_the_runs_committed_before_the_cut() {
    let dir = TempDir::new("wal_cut");
    let path = dir.join("orch.db");
    let copy = dir.join("copy.db");
    let ids: Vec<String> = (0..12).map(|i| format!("evt-wal-{i}")).collect();
    let recorded = {
        let journal = SqliteJournal::open(&path).unwrap();
        let recorded = record_runs(&journal, &ids).await;
        // Copied while open (every commit answered), as a crash would leave it: the runs are
        // in the WAL, not yet in the database file.
        std::fs::copy(&path, &copy).unwrap();
        std::fs::copy(wal(&path), wal(&copy)).unwrap();
        recorded
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(wal(&copy))
        .unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len / 2).unwrap();
    drop(file);

    let journal = SqliteJournal::open(&copy).unwrap();
    let mut kept = Vec::new();
    for (id, entries) in ids.iter().zip(&recorded) {
        let now = journal.recall(id).await.unwrap();
        // Commits are whole: what is left of a run is the start of what it recorded.
        assert!(entries.starts_with(&now), "{id}: {now:?}");
        kept.push(now.len());
    }
    assert_eq!(
        kept[0],
        recorded[0].len(),
        "the first run was lost: {kept:?}"
    );
    assert!(
        kept[11] < recorded[11].len(),
        "the cut lost nothing: {kept:?}"
    );
    // Every run ends as it did: those kept whole are not run again, the others resume.
    for (payload, (id, entries)) in (0u32..).zip(ids.iter().zip(&recorded)) {
        let whole = journal.recall(id).await.unwrap().len() == entries.len();
        let report =
            order::orchestrate(&Request::new(id.as_str(), "t", "o", payload), &journal).await;
        assert!(report.is_success(), "{id}: {report:?}");
        assert_eq!(
            report.ship.output().cloned(),
            Some(format!("shipped r-{payload}"))
        );
        let calls = CALLS.take(id);
        if whole {
            assert_eq!(calls, Vec::<String>::new(), "{id}");
        }
    }
}

#[tokio::test]
async fn a_damaged_page_fails_the_runs_on_it_naming_them_and_the_others_stay_usable() {
    let dir = TempDir::new("damaged_page");
    let path = dir.join("orch.db");
    let ids: Vec<String> = (0..24).map(|i| format!("evt-page-{i}")).collect();
    let recorded = {
        let journal = SqliteJournal::open(&path).unwrap();
        record_runs(&journal, &ids).await
    };
    // Run 8's start holds `"payload":8` in its JSON: overwrite the page it is on.
    let mut bytes = std::fs::read(&path).unwrap();
    let page_size = page_size(&bytes);
    let marker = br#""payload":8,"#;
    let at: Vec<usize> = bytes
        .windows(marker.len())
        .enumerate()
        .filter(|(_, window)| window == marker)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(at.len(), 1, "the marker is not in one place");
    let page = at[0] / page_size;
    assert!(page > 0, "the marker is on the header's page");
    bytes[page * page_size..(page + 1) * page_size].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();

    let journal = SqliteJournal::open(&path).expect("the damage is not in the header");
    let damaged = "evt-page-8";
    let text = format!(
        "{}: run {damaged}: the journal is damaged where this run is recorded (database disk \
         image is malformed): restore the journal from a copy",
        path.display()
    );
    assert_eq!(journal.recall(damaged).await.unwrap_err().to_string(), text);
    // Resuming it: an error naming the run, and nothing called.
    let report = order::orchestrate(&Request::new(damaged, "t", "o", 8), &journal).await;
    assert_eq!(journal_error(&report), text);
    assert_eq!(
        report.interruption().unwrap().to_string(),
        format!("the journal failed: {text}")
    );
    assert_eq!(CALLS.take(damaged), Vec::<String>::new());

    // Every other run reads back whole, or fails naming itself (it shares the page).
    let mut readable = 0;
    for (id, entries) in ids.iter().zip(&recorded) {
        match journal.recall(id).await {
            Ok(now) => {
                assert_eq!(&now, entries, "{id} reads back changed");
                readable += 1;
            }
            Err(error) => assert_eq!(
                error.to_string(),
                format!(
                    "{}: run {id}: the journal is damaged where this run is recorded (database \
                     disk image is malformed): restore the journal from a copy",
                    path.display()
                )
            ),
        }
    }
    // Only the few runs that share the page (a run's entries take about a third of one) fail.
    assert!(readable >= 18, "only {readable} of 24 runs read back");
    // The first and the last run are on other pages: they replay, nothing is called.
    for (payload, id) in [(0, &ids[0]), (23, &ids[23])] {
        let report =
            order::orchestrate(&Request::new(id.as_str(), "t", "o", payload), &journal).await;
        assert!(report.is_success(), "{report:?}");
        assert_eq!(CALLS.take(id), Vec::<String>::new());
    }
    // And a new run is recorded and read back.
    let report = order::orchestrate(&Request::new("evt-page-new", "t", "o", 99), &journal).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(journal.recall("evt-page-new").await.unwrap().len(), 8);
    CALLS.take("evt-page-new");
}

#[tokio::test]
async fn a_journal_damaged_where_runs_are_written_interrupts_a_new_run_before_any_service() {
    let dir = TempDir::new("damaged_tail");
    let path = dir.join("orch.db");
    let ids: Vec<String> = (0..12).map(|i| format!("evt-tail-{i}")).collect();
    let recorded = {
        let journal = SqliteJournal::open(&path).unwrap();
        record_runs(&journal, &ids).await
    };
    // The last entry written (run 11's end) is on the entries table's last page, where the
    // next entry goes: overwrite that page.
    let mut bytes = std::fs::read(&path).unwrap();
    let page_size = page_size(&bytes);
    let start = br#"{"event_id":"evt-tail-11","#;
    let last = bytes
        .windows(start.len())
        .enumerate()
        .filter(|(at, window)| {
            *window == start
                && bytes[*at..]
                    .windows(12)
                    .take(200)
                    .any(|w| w == b"run_finished")
        })
        .map(|(at, _)| at)
        .collect::<Vec<_>>();
    assert_eq!(last.len(), 1, "run 11's end is not in one place");
    let page = last[0] / page_size;
    assert!(page > 0);
    bytes[page * page_size..(page + 1) * page_size].fill(0xff);
    std::fs::write(&path, &bytes).unwrap();

    let journal = SqliteJournal::open(&path).expect("the damage is not in the header");
    let report = order::orchestrate(&Request::new("evt-tail-new", "t", "o", 1), &journal).await;
    // Not one service runs unrecorded: the first is cancelled, the others skipped behind it.
    assert_eq!(CALLS.take("evt-tail-new"), Vec::<String>::new());
    let Some(why @ Interruption::Journal(error)) = report.interruption() else {
        panic!("expected a journal error: {report:?}");
    };
    assert_eq!(report.reserve, Outcome::Cancelled(why.clone()));
    let skip = |dependency| Skip {
        dependency,
        cause: "reserve",
    };
    assert_eq!(report.charge, Outcome::Skipped(skip("reserve")));
    assert_eq!(report.ship, Outcome::Skipped(skip("charge")));
    let error = error.to_string();
    assert!(
        error.contains("database disk image is malformed"),
        "does not say what is wrong: {error}"
    );
    // The runs on other pages still read back.
    assert_eq!(journal.recall(&ids[0]).await.unwrap(), recorded[0]);

    // A batch spans runs: the file is what to name, so that a process with several journals
    // can tell which is damaged.
    assert!(
        error.contains(&path.display().to_string()),
        "does not name the file: {error}"
    );
}

#[tokio::test]
async fn an_entry_that_does_not_deserialize_fails_its_run_only() {
    let dir = TempDir::new("bad_entry");
    let path = dir.fixture("bad_entry.db");
    let journal = SqliteJournal::open(&path).expect("a format 1 journal opens");

    // Run evt-a: its second entry is cut short.
    let report = order::orchestrate(&Request::new("evt-a", "t", "o", 1), &journal).await;
    assert_eq!(
        journal_error(&report),
        format!(
            "{}: run evt-a: journal entry 2 is not an entry this version of orch reads: EOF \
             while parsing a string at line 1 column 94",
            path.display()
        )
    );
    assert_eq!(CALLS.take("evt-a"), Vec::<String>::new());
    // Run evt-c: an event type this orch does not know.
    let report = order::orchestrate(&Request::new("evt-c", "t", "o", 1), &journal).await;
    let error = journal_error(&report);
    assert!(
        error.starts_with(&format!(
            "{}: run evt-c: journal entry 3 is not an entry this version of orch reads: unknown \
             variant `run_paused`, expected one of `run_started`, ",
            path.display()
        )),
        "{error}"
    );
    assert_eq!(CALLS.take("evt-c"), Vec::<String>::new());

    // Run evt-b, in the same file, is recorded, dropped mid-run, and resumed after a reopen.
    let request = Request::new("evt-b", "t", "o", 5);
    hang_next_ship("evt-b");
    run_until_called(order::orchestrate(&request, &journal), "evt-b/ship/1").await;
    assert_eq!(
        CALLS.take("evt-b"),
        keys("evt-b", &["reserve/1", "charge/1", "ship/1"])
    );
    drop(journal);
    let journal = SqliteJournal::open(&path).unwrap();
    let report = order::orchestrate(&request, &journal).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(CALLS.take("evt-b"), keys("evt-b", &["ship/1"]));
    assert!(matches!(&report.charge, Outcome::Succeeded(s) if s.replayed));
    assert_eq!(
        report.ship.output().map(String::as_str),
        Some("shipped r-5")
    );

    // Run evt-a still fails the same way: the refused resume wrote nothing to it.
    let report = order::orchestrate(&Request::new("evt-a", "t", "o", 1), &journal).await;
    let error = journal_error(&report);
    assert!(
        error.contains(": run evt-a: journal entry 2 is not"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Fingerprint mismatch
// ---------------------------------------------------------------------------------------------

#[test]
fn every_shape_of_order_has_its_own_fingerprint() {
    let fingerprints = [
        order::FINGERPRINT,
        added::order::FINGERPRINT,
        rewired::order::FINGERPRINT,
        retyped::order::FINGERPRINT,
        relaxed::order::FINGERPRINT,
    ];
    for (i, a) in fingerprints.iter().enumerate() {
        for b in &fingerprints[i + 1..] {
            assert_ne!(a, b, "{fingerprints:x?}");
        }
    }
}

/// Runs `resume` under `event_id` on a journal holding an unfinished `order` run under it, and
/// checks it is refused as of another shape with fingerprint `current`; then `order` finishes
/// the run as if nothing happened.
async fn assert_refused_by_other_shape<R: std::fmt::Debug>(
    event_id: &str,
    current: u64,
    resume: impl AsyncFnOnce(&Request<u32>, &InMemoryJournal) -> R,
    interruption: impl Fn(&R) -> Option<Interruption>,
    outcomes: impl Fn(&R) -> Vec<Status>,
) {
    let journal = InMemoryJournal::new();
    let request = Request::new(event_id, "t", "o", 4);
    hang_next_ship(event_id);
    run_until_stuck(order::orchestrate(&request, &journal)).await;
    CALLS.take(event_id);
    let before = journal.recall(event_id).await.unwrap();

    let report = resume(&request, &journal).await;
    let why = Interruption::Replay(Box::new(ReplayError::ShapeChanged {
        event_id: event_id.to_owned(),
        recorded: Some(fingerprint(order::FINGERPRINT)),
        current: fingerprint(current),
    }));
    assert_eq!(interruption(&report), Some(why.clone()), "{report:?}");
    assert!(outcomes(&report).iter().all(|s| *s == Status::Cancelled));
    assert_eq!(
        why.to_string(),
        format!(
            "the run cannot be resumed: run {event_id} was recorded by an orchestration of \
             another shape (fingerprint {}, this one is {}): finish it with the code that \
             started it, or start it again under a new event id",
            fingerprint(order::FINGERPRINT),
            fingerprint(current)
        )
    );
    assert_eq!(
        CALLS.take(event_id),
        Vec::<String>::new(),
        "a service was called"
    );
    assert_eq!(
        journal.recall(event_id).await.unwrap(),
        before,
        "the journal changed"
    );

    // The code that started it still finishes it.
    let report = order::orchestrate(&request, &journal).await;
    assert!(report.is_success(), "{report:?}");
    assert_eq!(CALLS.take(event_id), keys(event_id, &["ship/1"]));
}

fn statuses<const N: usize>(statuses: [(&'static str, Status); N]) -> Vec<Status> {
    statuses.iter().map(|(_, status)| *status).collect()
}

#[tokio::test(start_paused = true)]
async fn a_run_resumed_by_an_orchestration_of_another_shape_is_refused_and_left_as_it_was() {
    assert_refused_by_other_shape(
        "evt-shape-added",
        added::order::FINGERPRINT,
        async |request, journal| added::order::orchestrate(request, journal).await,
        |report| report.interruption().cloned(),
        |report| statuses(report.statuses()),
    )
    .await;
    assert_refused_by_other_shape(
        "evt-shape-rewired",
        rewired::order::FINGERPRINT,
        async |request, journal| rewired::order::orchestrate(request, journal).await,
        |report| report.interruption().cloned(),
        |report| statuses(report.statuses()),
    )
    .await;
    assert_refused_by_other_shape(
        "evt-shape-retyped",
        retyped::order::FINGERPRINT,
        async |request, journal| retyped::order::orchestrate(request, journal).await,
        |report| report.interruption().cloned(),
        |report| statuses(report.statuses()),
    )
    .await;
    assert_refused_by_other_shape(
        "evt-shape-relaxed",
        relaxed::order::FINGERPRINT,
        async |request, journal| relaxed::order::orchestrate(request, journal).await,
        |report| report.interruption().cloned(),
        |report| statuses(report.statuses()),
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn a_finished_run_is_not_replayed_by_an_orchestration_of_another_shape() {
    let journal = InMemoryJournal::new();
    let request = Request::new("evt-shape-done", "t", "o", 2);
    assert!(order::orchestrate(&request, &journal).await.is_success());
    CALLS.take("evt-shape-done");
    let before = journal.entries();

    let report = added::order::orchestrate(&request, &journal).await;
    assert!(
        matches!(
            report.interruption(),
            Some(Interruption::Replay(error))
                if matches!(**error, ReplayError::ShapeChanged { recorded: Some(_), .. })
        ),
        "{report:?}"
    );
    // Not even the services both shapes share come back: the records are not trusted.
    assert!(
        matches!(report.reserve, Outcome::Cancelled(_)),
        "{report:?}"
    );
    assert!(matches!(report.audit, Outcome::Cancelled(_)), "{report:?}");
    assert_eq!(CALLS.take("evt-shape-done"), Vec::<String>::new());
    assert_eq!(journal.entries(), before);
}

#[tokio::test(start_paused = true)]
async fn an_event_id_reused_by_another_orchestration_is_refused() {
    let id = "evt-reused";
    let journal = InMemoryJournal::new();
    let request = Request::new(id, "t", "o", 1);
    let _ = shop::checkout::orchestrate(&request, &journal).await;
    CALLS.take(id);
    let before = journal.entries();

    let report = order::orchestrate(&request, &journal).await;
    let why = Interruption::Replay(Box::new(ReplayError::ShapeChanged {
        event_id: id.into(),
        recorded: Some(fingerprint(shop::checkout::FINGERPRINT)),
        current: fingerprint(order::FINGERPRINT),
    }));
    assert_eq!(report.interruption(), Some(&why), "{report:?}");
    assert_all_cancelled(&report, &why);
    assert_eq!(CALLS.take(id), Vec::<String>::new());
    assert_eq!(journal.entries(), before);
}

#[tokio::test(start_paused = true)]
async fn a_run_recorded_without_durability_is_not_resumed_by_a_durable_orchestration() {
    let journal = InMemoryJournal::new();
    let request = Request::new("evt-plain", "t", "o", 6);
    assert!(
        plain::order::orchestrate(&request, &journal)
            .await
            .is_success()
    );
    assert_eq!(
        CALLS.take("evt-plain"),
        keys("evt-plain", &["reserve/1", "charge/1", "ship/1"])
    );
    let before = journal.recall("evt-plain").await.unwrap();

    let report = order::orchestrate(&request, &journal).await;
    let why = Interruption::Replay(Box::new(ReplayError::ShapeChanged {
        event_id: "evt-plain".into(),
        recorded: None,
        current: fingerprint(order::FINGERPRINT),
    }));
    assert_eq!(report.interruption(), Some(&why), "{report:?}");
    assert_all_cancelled(&report, &why);
    assert_eq!(
        why.to_string(),
        format!(
            "the run cannot be resumed: run evt-plain was recorded by an orchestration that is \
             not durable (this one's fingerprint is {}): start it again under a new event id",
            fingerprint(order::FINGERPRINT)
        )
    );
    assert_eq!(CALLS.take("evt-plain"), Vec::<String>::new());
    assert_eq!(journal.recall("evt-plain").await.unwrap(), before);
}

// ---------------------------------------------------------------------------------------------
// 4. An output that does not deserialize
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn an_edited_output_that_does_not_deserialize_is_refused_naming_the_service() {
    let id = "evt-edited";
    let journal = InMemoryJournal::new();
    // An unfinished run under `order`'s own fingerprint, whose `charge` output was edited.
    let entries = [
        json!({
            "type": "run_started", "orchestration": "order", "tenant_id": "t",
            "organization_id": "o", "payload_type": "u32", "payload": 3,
            "fingerprint": fingerprint(order::FINGERPRINT),
        }),
        json!({ "type": "attempt_started", "service": "reserve", "attempt": 1 }),
        json!({
            "type": "attempt_succeeded", "service": "reserve", "attempt": 1,
            "output_type": "u32", "output": 3,
        }),
        json!({ "type": "attempt_started", "service": "charge", "attempt": 1 }),
        json!({
            "type": "attempt_succeeded", "service": "charge", "attempt": 1,
            "output_type": "Receipt", "output": { "amount": "lots", "id": "r-3" },
        }),
        json!({ "type": "attempt_started", "service": "ship", "attempt": 1 }),
    ];
    for event in entries {
        orch::Journal::record(&journal, entry(id, event))
            .await
            .unwrap();
    }
    let before = journal.entries();

    let report = order::orchestrate(&Request::new(id, "t", "o", 3), &journal).await;
    let why = Interruption::Replay(Box::new(ReplayError::Undecodable {
        event_id: id.into(),
        service: "charge",
        error: r#"invalid type: string "lots", expected u32"#.into(),
    }));
    assert_eq!(report.interruption(), Some(&why), "{report:?}");
    // `reserve`, which reads back fine, is not replayed alone either.
    assert_all_cancelled(&report, &why);
    assert_eq!(
        why.to_string(),
        "the run cannot be resumed: run evt-edited: the recorded output of `charge` does not \
         deserialize: invalid type: string \"lots\", expected u32"
    );
    assert_eq!(CALLS.take(id), Vec::<String>::new());
    assert_eq!(journal.entries(), before);
}

// ---------------------------------------------------------------------------------------------
// 5. Redacted values
// ---------------------------------------------------------------------------------------------

#[tokio::test(start_paused = true)]
async fn a_redacted_value_is_not_journaled_and_its_service_runs_again_on_resume() {
    use vault::{Payment, SPENT_WITH, session};

    let id = "evt-redacted";
    let journal = InMemoryJournal::new();
    let card = "4242 4242 4242 4242";
    let request = Request::new(
        id,
        "t",
        "o",
        Payment {
            amount: 40,
            card: Redacted(card.into()),
        },
    );
    run_until_stuck(session::orchestrate(&request, &journal)).await;
    assert_eq!(CALLS.take(id), keys(id, &["login/1", "token/1", "spend/1"]));

    let entries = journal.entries();
    let payload = entries.iter().find_map(|entry| match &entry.event {
        Event::RunStarted { payload, .. } => payload.clone(),
        _ => None,
    });
    assert_eq!(
        payload,
        Some(json!({ "amount": 40, "card": "$orch:redacted" }))
    );
    let token = entries.iter().find_map(|entry| match &entry.event {
        Event::AttemptSucceeded {
            service, output, ..
        } if service == "token" => output.clone(),
        _ => None,
    });
    assert_eq!(
        token,
        Some(json!({ "user": "ann", "token": "$orch:redacted" }))
    );
    let lines = journal.to_json_lines();
    assert!(
        !lines.contains("4242"),
        "the card is in the journal: {lines}"
    );
    assert!(
        !lines.contains("secret-token"),
        "the token is in the journal: {lines}"
    );

    // Resumed: `login` is replayed; `token`, whose output was not journaled, runs again, and
    // `spend` gets the new token.
    let report = session::orchestrate(&request, &journal).await;
    assert!(report.is_success(), "{report:?}");
    let calls = CALLS.take(id);
    assert!(matches!(&report.login, Outcome::Succeeded(s) if s.replayed));
    let token = match &report.token {
        Outcome::Succeeded(success) => success,
        other => panic!("{other:?}"),
    };
    assert!(!token.replayed);
    assert_eq!(
        report.spend.output().map(String::as_str),
        Some("ann paid 40")
    );
    let spent: Vec<_> = SPENT_WITH
        .lock()
        .unwrap()
        .iter()
        .filter(|(key, _)| key.starts_with(id))
        .cloned()
        .collect();
    assert_eq!(spent.last().unwrap().1, token.output.token.0);
    // `login` is not called again; `token` and `spend` are (see the end for which attempt).
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls[0].starts_with(&format!("{id}/token/")), "{calls:?}");
    assert_eq!(calls[1], format!("{id}/spend/1"));

    // Finished: nothing runs; `token`'s output is not in the journal to give back.
    let again = session::orchestrate(&request, &journal).await;
    assert_eq!(CALLS.take(id), Vec::<String>::new());
    assert_eq!(
        again.spend.output().map(String::as_str),
        Some("ann paid 40")
    );
    assert_eq!(
        again.token,
        Outcome::Cancelled(Interruption::Recorded(
            "it succeeded, but its output is redacted: it is not in the journal".into()
        ))
    );
    assert_eq!(
        again.token.to_string(),
        "cancelled: it succeeded, but its output is redacted: it is not in the journal (in an \
         earlier execution)"
    );

    // `token`'s attempt 1 succeeded but its output was not journaled: it runs again as attempt
    // 1, under the same idempotency key, so that a downstream API can tell the repeat.
    assert_eq!(calls, keys(id, &["token/1", "spend/1"]));
}

// ---------------------------------------------------------------------------------------------
// 6. File permissions
// ---------------------------------------------------------------------------------------------

#[cfg(unix)]
#[tokio::test]
async fn the_journal_and_its_wal_are_readable_and_writable_by_their_owner_only() {
    use std::os::unix::fs::PermissionsExt;

    let dir = TempDir::new("permissions");
    let path = dir.join("orch.db");
    let journal = SqliteJournal::open(&path).unwrap();
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "{}", path.display());
    let report = order::orchestrate(&Request::new("evt-mode", "t", "o", 1), &journal).await;
    assert!(report.is_success(), "{report:?}");
    CALLS.take("evt-mode");
    let wal = wal(&path);
    let shm = with_suffix(&path, "-shm");
    assert!(wal.exists(), "no WAL file: {:?}", dir.listing());
    for file in [&path, &wal, &shm] {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    drop(journal);
}

// ---------------------------------------------------------------------------------------------
// 7. Hostile event ids
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn event_ids_are_stored_and_recalled_exactly_and_touch_no_other_run() {
    let dir = TempDir::new("event_ids");
    let path = dir.join("orch.db");
    let ids = [
        "evt-plain",
        "it's",
        "say \"hi\"",
        "a;b;c",
        "../../../../tmp/orch-escape",
        "..\\..\\boot.ini",
        "x'); DROP TABLE entries; --",
        "x\"); DROP TABLE runs; --",
        "'; DELETE FROM entries WHERE '1'='1",
        "%",
        "_",
        "evt-plain%",
        "évènement ✓ 事件",
        "two\nlines",
        "nul\0byte",
        "",
    ];
    {
        let journal = SqliteJournal::open(&path).unwrap();
        for (payload, id) in (0u32..).zip(ids) {
            let report = order::orchestrate(&Request::new(id, "t", "o", payload), &journal).await;
            assert!(report.is_success(), "{id:?}: {report:?}");
            assert_eq!(
                CALLS.take(id),
                keys(id, &["reserve/1", "charge/1", "ship/1"]),
                "{id:?}"
            );
        }
    }
    // Nothing but the journal was created, anywhere an id points.
    assert_eq!(dir.listing(), ["orch.db"]);
    assert!(!Path::new("/tmp/orch-escape").exists());

    let journal = SqliteJournal::open(&path).unwrap();
    let check = async |id: &str, payload: u32| {
        let entries = journal.recall(id).await.unwrap();
        assert_eq!(entries.len(), 8, "{id:?}: {entries:?}");
        assert!(entries.iter().all(|entry| &*entry.event_id == id), "{id:?}");
        assert!(
            matches!(&entries[0].event, Event::RunStarted { payload: Some(p), .. } if *p == json!(payload)),
            "{id:?}: {entries:?}"
        );
    };
    for (payload, id) in (0u32..).zip(ids) {
        check(id, payload).await;
        // Finished: the recorded result comes back, nothing is called.
        let report = order::orchestrate(&Request::new(id, "t", "o", payload), &journal).await;
        assert_eq!(
            report.ship.output().cloned(),
            Some(format!("shipped r-{payload}")),
            "{id:?}"
        );
        assert_eq!(CALLS.take(id), Vec::<String>::new(), "{id:?}");
    }
    assert!(journal.recall("evt").await.unwrap().is_empty());
    assert!(journal.recall("EVT-PLAIN").await.unwrap().is_empty());

    // Forgetting one forgets only it.
    assert!(journal.forget("x'); DROP TABLE entries; --").await.unwrap());
    assert!(journal.forget("%").await.unwrap());
    assert!(!journal.forget("evt-%").await.unwrap());
    for (payload, id) in (0u32..).zip(ids) {
        if id == "x'); DROP TABLE entries; --" || id == "%" {
            assert!(journal.recall(id).await.unwrap().is_empty(), "{id:?}");
        } else {
            check(id, payload).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 8. Forgetting a run
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn forget_deletes_a_finished_run_so_that_it_runs_afresh() {
    let dir = TempDir::new("forget");
    let path = dir.join("orch.db");
    let journal = SqliteJournal::open(&path).unwrap();
    let request = Request::new("evt-forget", "t", "o", 7);
    let keep = Request::new("evt-keep", "t", "o", 8);
    let all = ["reserve/1", "charge/1", "ship/1"];
    assert!(order::orchestrate(&request, &journal).await.is_success());
    assert!(order::orchestrate(&keep, &journal).await.is_success());
    assert_eq!(CALLS.take("evt-forget"), keys("evt-forget", &all));
    assert_eq!(CALLS.take("evt-keep"), keys("evt-keep", &all));
    let kept = journal.recall("evt-keep").await.unwrap();

    // Finished: running it again calls nothing.
    assert!(order::orchestrate(&request, &journal).await.is_success());
    assert_eq!(CALLS.take("evt-forget"), Vec::<String>::new());

    assert!(journal.forget("evt-forget").await.unwrap());
    assert!(journal.recall("evt-forget").await.unwrap().is_empty());
    assert!(
        !journal.forget("evt-forget").await.unwrap(),
        "forgotten twice"
    );
    assert!(!journal.forget("evt-unknown").await.unwrap());
    assert_eq!(journal.recall("evt-keep").await.unwrap(), kept);

    // Afresh: every service is called, from attempt 1.
    let report = order::orchestrate(&request, &journal).await;
    assert!(report.is_success(), "{report:?}");
    assert!(matches!(&report.charge, Outcome::Succeeded(s) if !s.replayed));
    assert_eq!(CALLS.take("evt-forget"), keys("evt-forget", &all));
    assert_eq!(journal.recall("evt-forget").await.unwrap().len(), 8);

    // Forgetting survives a reopen.
    assert!(journal.forget("evt-forget").await.unwrap());
    drop(journal);
    let journal = SqliteJournal::open(&path).unwrap();
    assert!(journal.recall("evt-forget").await.unwrap().is_empty());
    assert_eq!(journal.recall("evt-keep").await.unwrap(), kept);
}

// ---------------------------------------------------------------------------------------------
// 9. A finished run is not run again
// ---------------------------------------------------------------------------------------------

/// `again`, a finished `checkout` run read back, gives the outcomes `first` had.
fn assert_checkout_replayed(first: &shop::checkout::Report, again: &shop::checkout::Report) {
    assert_eq!(first.statuses(), again.statuses());
    assert_eq!(first.summary(), again.summary());
    assert_eq!(again.interruption(), None);
    assert!(!again.is_success());

    match &again.audit {
        Outcome::Succeeded(success) => {
            assert!(success.replayed);
            assert_eq!((success.output.as_str(), success.attempts), ("audited", 1));
        }
        other => panic!("{other:?}"),
    }
    let pay = again.pay.failure().expect("pay failed");
    assert_eq!(
        pay.errors(),
        [1, 2, 3].map(|n| AttemptError::Replayed(format!("card declined (attempt {n})")))
    );
    assert_eq!(pay.stop_reason(), StopReason::AttemptsExhausted);
    assert_eq!(
        again.pay.to_string(),
        "failed after 3 attempts: card declined (attempt 3) (recorded by an earlier execution)"
    );
    let pack = again.pack.failure().expect("pack failed");
    assert_eq!(
        pack.errors(),
        [AttemptError::Panicked("inventory exploded".into())]
    );
    assert_eq!(pack.stop_reason(), StopReason::Panicked);
    assert_eq!(
        again.receipt,
        Outcome::Skipped(Skip {
            dependency: "pay",
            cause: "pay"
        })
    );
    assert_eq!(
        again.notify,
        Outcome::Skipped(Skip {
            dependency: "receipt",
            cause: "pay"
        })
    );
    assert_eq!(first.receipt, again.receipt);
    assert_eq!(first.notify, again.notify);
}

fn assert_checkout_first(id: &str, first: &shop::checkout::Report) {
    let mut calls = CALLS.take(id);
    calls.sort();
    assert_eq!(
        calls,
        keys(id, &["audit/1", "pack/1", "pay/1", "pay/2", "pay/3"])
    );
    assert_eq!(
        first.pay.failure().unwrap().errors(),
        [1, 2, 3].map(|n| AttemptError::Error(format!("card declined (attempt {n})")))
    );
}

#[tokio::test(start_paused = true)]
async fn a_finished_run_returns_its_recorded_outcomes_without_calling_anything() {
    let id = "evt-finished";
    let journal = InMemoryJournal::new();
    let request = Request::new(id, "t", "o", 1);
    let first = shop::checkout::orchestrate(&request, &journal).await;
    assert_checkout_first(id, &first);
    let before = journal.entries();

    let again = shop::checkout::orchestrate(&request, &journal).await;
    assert_eq!(CALLS.take(id), Vec::<String>::new());
    assert_checkout_replayed(&first, &again);
    assert_eq!(journal.entries(), before, "a finished run recorded again");
}

#[tokio::test]
async fn a_finished_run_in_a_reopened_sqlite_journal_is_not_run_again() {
    let id = "evt-finished-sql";
    let dir = TempDir::new("finished");
    let path = dir.join("orch.db");
    let request = Request::new(id, "t", "o", 1);
    let (first, before) = {
        let journal = SqliteJournal::open(&path).unwrap();
        let first = shop::checkout::orchestrate(&request, &journal).await;
        (first, journal.recall(id).await.unwrap())
    };
    assert_checkout_first(id, &first);

    let journal = SqliteJournal::open(&path).unwrap();
    let again = shop::checkout::orchestrate(&request, &journal).await;
    assert_eq!(CALLS.take(id), Vec::<String>::new());
    assert_checkout_replayed(&first, &again);
    assert_eq!(journal.recall(id).await.unwrap(), before);
}
