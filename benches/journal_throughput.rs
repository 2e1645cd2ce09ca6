//! Journaled service events per second, with 1, 8 and 64 runs at a time, against the raw
//! limits of SQLite on this machine's disk:
//!
//! ```text
//! cargo bench -p orch-benches --bench journal_throughput
//! cargo bench -p orch-benches --bench journal_throughput -- power-loss-64 raw-full-64
//! cargo bench -p orch-benches --bench journal_throughput -- --runtime multi_thread
//! ```
//!
//! A durable orchestration of 10 no-op services (1 -> 4 -> 4 -> 1, as `layered10`) runs many
//! times, each run with an event id of its own, `C` runs at a time (`C` tasks, each running
//! one request after another), with a `SqliteJournal` that syncs every commit
//! (`Durability::PowerLoss`), one that does not (`Durability::ProcessCrash`), and with the
//! in-memory journal (the ceiling: no storage at all). A run writes 22 entries (a run start,
//! 10 attempt starts, 10 successes, a run end), counted, not assumed. The raw baseline writes
//! 200-byte records with rusqlite (WAL), 1 or 64 per transaction, to one table, and, to tell the
//! cost of orch's tables from the cost of orch, to the tables `SqliteJournal` writes. Runs go on
//! a current-thread runtime (the faster here; `--runtime multi_thread` for 2 workers); the
//! journal's writer is a thread of its own.
//!
//! Each figure is the median of `REPETITIONS`, every case measured once per repetition (so
//! that a ratio compares figures measured side by side); every repetition starts with a new
//! database file, under a temporary directory removed at the end. The whole binary takes well
//! under a minute. Run without `--bench` (as `cargo test --benches` does), it runs each case
//! once on a few runs, to check them, and its figures mean nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use orch::prelude::*;
use orch::{Durability, Event, SqliteJournal};

const REPETITIONS: usize = 3;
/// Runs at a time.
const CONCURRENCY: [usize; 3] = [1, 8, 64];
/// Entries per run: a run start, an attempt start and a success per service, a run end.
const ENTRIES_PER_RUN: usize = 22;
/// Bytes of a raw baseline record.
const RECORD_BYTES: usize = 200;

// The services: no-ops, each returning 1 plus the sum of its dependencies' outputs.

#[service]
async fn s0(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

#[service(depends_on = [s0])]
async fn s1(_ctx: &Context<u32>, s0: &u32) -> Result<u32, String> {
    Ok(1 + s0)
}

#[service(depends_on = [s0])]
async fn s2(_ctx: &Context<u32>, s0: &u32) -> Result<u32, String> {
    Ok(1 + s0)
}

#[service(depends_on = [s0])]
async fn s3(_ctx: &Context<u32>, s0: &u32) -> Result<u32, String> {
    Ok(1 + s0)
}

#[service(depends_on = [s0])]
async fn s4(_ctx: &Context<u32>, s0: &u32) -> Result<u32, String> {
    Ok(1 + s0)
}

#[service(depends_on = [s1, s2, s3, s4])]
async fn s5(_ctx: &Context<u32>, s1: &u32, s2: &u32, s3: &u32, s4: &u32) -> Result<u32, String> {
    Ok(1 + s1 + s2 + s3 + s4)
}

#[service(depends_on = [s1, s2, s3, s4])]
async fn s6(_ctx: &Context<u32>, s1: &u32, s2: &u32, s3: &u32, s4: &u32) -> Result<u32, String> {
    Ok(1 + s1 + s2 + s3 + s4)
}

#[service(depends_on = [s1, s2, s3, s4])]
async fn s7(_ctx: &Context<u32>, s1: &u32, s2: &u32, s3: &u32, s4: &u32) -> Result<u32, String> {
    Ok(1 + s1 + s2 + s3 + s4)
}

#[service(depends_on = [s1, s2, s3, s4])]
async fn s8(_ctx: &Context<u32>, s1: &u32, s2: &u32, s3: &u32, s4: &u32) -> Result<u32, String> {
    Ok(1 + s1 + s2 + s3 + s4)
}

#[service(depends_on = [s5, s6, s7, s8])]
async fn s9(_ctx: &Context<u32>, s5: &u32, s6: &u32, s7: &u32, s8: &u32) -> Result<u32, String> {
    Ok(1 + s5 + s6 + s7 + s8)
}

orchestration! {
    #[orch(durable)]
    layered(u32) { s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 }
}

/// What every run's `s9` returns.
const EXPECTED: u32 = 1 + 4 * (1 + 4 * (1 + 1));

/// The journal a case writes to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Store {
    /// `SqliteJournal` with this durability.
    Sqlite(Durability),
    /// A new `InMemoryJournal` per run: its `recall` (which a durable run calls first) scans
    /// every entry it holds, so a journal shared by thousands of runs would measure that scan.
    Memory,
}

impl Store {
    const ALL: [Store; 3] = [
        Store::Sqlite(Durability::PowerLoss),
        Store::Sqlite(Durability::ProcessCrash),
        Store::Memory,
    ];

    fn name(self) -> &'static str {
        match self {
            Store::Sqlite(Durability::PowerLoss) => "sqlite, PowerLoss (sync=FULL)",
            Store::Sqlite(_) => "sqlite, ProcessCrash (sync=NORMAL)",
            Store::Memory => "in-memory (not durable)",
        }
    }

    /// Runs per repetition with `concurrency` runs at a time: about half a second each here.
    fn runs(self, concurrency: usize, quick: bool) -> usize {
        if quick {
            return 2 * concurrency;
        }
        match (self, concurrency) {
            (Store::Sqlite(Durability::PowerLoss), 1) => 150,
            (Store::Sqlite(Durability::PowerLoss), 8) => 800,
            (Store::Sqlite(_), 1) => 1_000,
            (Store::Sqlite(_), _) => 4_000,
            (Store::Memory, _) => 20_000,
        }
    }
}

/// One repetition of one case.
struct Measured {
    runs: usize,
    entries: usize,
    elapsed: Duration,
}

impl Measured {
    fn entries_per_second(&self) -> f64 {
        self.entries as f64 / self.elapsed.as_secs_f64()
    }

    fn runs_per_second(&self) -> f64 {
        self.runs as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `runs` requests, `concurrency` at a time, each on `journal`; returns the time taken.
/// With no journal, each run gets a new in-memory one, and the entries it holds are counted.
async fn drive(
    journal: Option<Arc<SqliteJournal>>,
    runs: usize,
    concurrency: usize,
) -> (Duration, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut workers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let next = Arc::clone(&next);
        let journal = journal.clone();
        workers.push(tokio::spawn(async move {
            let mut entries = 0;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= runs {
                    return entries;
                }
                let request = Request::new(format!("evt-{i}"), "t", "o", i as u32);
                let report = match &journal {
                    Some(journal) => layered::orchestrate(&request, &**journal).await,
                    None => {
                        let journal = InMemoryJournal::new();
                        let report = layered::orchestrate(&request, &journal).await;
                        entries += journal.take().len();
                        report
                    }
                };
                assert_eq!(report.s9.output(), Some(&EXPECTED), "{report:?}");
            }
        }));
    }
    let mut entries = 0;
    for worker in workers {
        entries += worker.await.expect("a worker panicked");
    }
    (start.elapsed(), entries)
}

/// The entries of one run, by kind: checks that a run writes what the count assumes.
fn check_one_run(entries: &[orch::JournalEntry]) {
    let count = |f: fn(&Event) -> bool| entries.iter().filter(|entry| f(&entry.event)).count();
    assert_eq!(entries.len(), ENTRIES_PER_RUN, "{entries:#?}");
    assert_eq!(count(|e| matches!(e, Event::RunStarted { .. })), 1);
    assert_eq!(count(|e| matches!(e, Event::AttemptStarted { .. })), 10);
    assert_eq!(count(|e| matches!(e, Event::AttemptSucceeded { .. })), 10);
    assert_eq!(count(|e| matches!(e, Event::RunFinished { .. })), 1);
}

/// The mean size of an entry of one run as the journal stores it (JSON), in bytes.
fn entry_bytes(runtime: &tokio::runtime::Runtime) -> usize {
    let journal = InMemoryJournal::new();
    let request = Request::new("evt-1", "t", "o", 1);
    let report = runtime.block_on(layered::orchestrate(&request, &journal));
    assert!(report.is_success(), "{report:?}");
    let entries = journal.take();
    check_one_run(&entries);
    entries
        .iter()
        .map(|entry| entry.to_json().len())
        .sum::<usize>()
        / entries.len()
}

fn measure(
    runtime: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    store: Store,
    concurrency: usize,
    repetition: usize,
    quick: bool,
) -> Measured {
    let runs = store.runs(concurrency, quick);
    match store {
        Store::Memory => {
            let (elapsed, entries) = runtime.block_on(drive(None, runs, concurrency));
            assert_eq!(entries, runs * ENTRIES_PER_RUN);
            Measured {
                runs,
                entries,
                elapsed,
            }
        }
        Store::Sqlite(durability) => {
            let path = dir.join(format!(
                "journal-{durability:?}-{concurrency}-{repetition}.db"
            ));
            let journal = Arc::new(SqliteJournal::open_with(&path, durability).expect("a journal"));
            let (elapsed, _) =
                runtime.block_on(drive(Some(Arc::clone(&journal)), runs, concurrency));
            let one = runtime
                .block_on(journal.recall(&format!("evt-{}", runs / 2)))
                .expect("the journal reads back");
            check_one_run(&one);
            // Closes the file: every entry is committed.
            drop(journal);
            let entries = count_rows(&path, "entries");
            assert_eq!(entries, runs * ENTRIES_PER_RUN);
            remove_database(&path);
            Measured {
                runs,
                entries,
                elapsed,
            }
        }
    }
}

fn count_rows(path: &std::path::Path, table: &str) -> usize {
    let connection = rusqlite::Connection::open(path).expect("the journal opens");
    let rows: i64 = connection
        .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .expect("a count");
    usize::try_from(rows).expect("a count")
}

fn remove_database(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let _ = std::fs::remove_file(file);
    }
}

/// The tables `SqliteJournal` writes, as `orch/src/sqlite.rs` creates them.
const ORCH_SCHEMA: &str = "
    CREATE TABLE runs (
        event_id TEXT PRIMARY KEY,
        orchestration TEXT NOT NULL,
        tenant_id TEXT NOT NULL,
        organization_id TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT
    ) WITHOUT ROWID;
    CREATE INDEX runs_by_tenant ON runs (tenant_id, started_at);
    CREATE TABLE entries (
        seq INTEGER PRIMARY KEY,
        event_id TEXT NOT NULL,
        entry TEXT NOT NULL
    );
    CREATE INDEX entries_by_run ON entries (event_id, seq);
";

/// The raw limit: `records` records of `RECORD_BYTES` bytes written to a SQLite database in WAL
/// mode, `per_transaction` per transaction; returns records per second. Into one plain table,
/// or, with `orch_schema`, with the statements `SqliteJournal` runs for a run's 22 entries:
/// each record also indexed by its run, the first also inserting the run, the last updating it.
fn raw_sqlite(
    path: &std::path::Path,
    synchronous: &str,
    per_transaction: usize,
    records: usize,
    orch_schema: bool,
) -> f64 {
    let mut connection = rusqlite::Connection::open(path).expect("a database");
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .expect("WAL mode");
    assert_eq!(mode, "wal");
    connection
        .pragma_update(None, "synchronous", synchronous)
        .expect("synchronous");
    connection
        .execute_batch(if orch_schema {
            ORCH_SCHEMA
        } else {
            "CREATE TABLE records (seq INTEGER PRIMARY KEY, record TEXT NOT NULL)"
        })
        .expect("the tables");
    let record = "x".repeat(RECORD_BYTES);
    let at = "2026-11-29T00:00:00.000000000Z";
    let mut written = 0;
    let mut event_id = String::new();
    let start = Instant::now();
    for _ in 0..records / per_transaction {
        let transaction = connection.transaction().expect("a transaction");
        {
            if orch_schema {
                let mut entry = transaction
                    .prepare_cached("INSERT INTO entries (event_id, entry) VALUES (?1, ?2)")
                    .expect("a statement");
                let mut started = transaction
                    .prepare_cached(
                        "INSERT INTO runs \
                         (event_id, orchestration, tenant_id, organization_id, started_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5) \
                         ON CONFLICT (event_id) DO UPDATE SET finished_at = NULL, status = NULL",
                    )
                    .expect("a statement");
                let mut finished = transaction
                    .prepare_cached(
                        "UPDATE runs SET finished_at = ?2, status = ?3 WHERE event_id = ?1",
                    )
                    .expect("a statement");
                for _ in 0..per_transaction {
                    let run = written / ENTRIES_PER_RUN;
                    let nth = written % ENTRIES_PER_RUN;
                    if nth == 0 {
                        event_id = format!("evt-{run}");
                    }
                    entry.execute([&event_id, &record]).expect("an insert");
                    if nth == 0 {
                        started
                            .execute([&event_id, "layered", "t", "o", at])
                            .expect("an insert");
                    } else if nth == ENTRIES_PER_RUN - 1 {
                        finished
                            .execute([&event_id, at, "succeeded"])
                            .expect("an update");
                    }
                    written += 1;
                }
            } else {
                let mut insert = transaction
                    .prepare_cached("INSERT INTO records (record) VALUES (?1)")
                    .expect("a statement");
                for _ in 0..per_transaction {
                    insert.execute([&record]).expect("an insert");
                    written += 1;
                }
            }
        }
        transaction.commit().expect("a commit");
    }
    let elapsed = start.elapsed();
    drop(connection);
    remove_database(path);
    written as f64 / elapsed.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One line of the table.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    /// `records` raw records, `per_transaction` per transaction, with `synchronous` set so.
    Raw {
        synchronous: &'static str,
        per_transaction: usize,
        records: usize,
        orch_schema: bool,
    },
    /// The orchestration, `concurrency` runs at a time.
    Orch { store: Store, concurrency: usize },
}

impl Case {
    /// Every case, in the table's order.
    fn all() -> Vec<Case> {
        let raw = |synchronous, per_transaction, records, orch_schema| Case::Raw {
            synchronous,
            per_transaction,
            records,
            orch_schema,
        };
        let mut cases = vec![
            raw("FULL", 1, 1_500, false),
            raw("FULL", 64, 128_000, false),
            raw("FULL", 64, 128_000, true),
            raw("NORMAL", 1, 30_000, false),
            raw("NORMAL", 64, 256_000, false),
        ];
        for store in Store::ALL {
            for concurrency in CONCURRENCY {
                cases.push(Case::Orch { store, concurrency });
            }
        }
        cases
    }

    /// The name a filter on the command line matches.
    fn id(self) -> String {
        match self {
            Case::Raw {
                synchronous,
                per_transaction,
                orch_schema,
                ..
            } => format!(
                "raw-{}-{per_transaction}{}",
                synchronous.to_lowercase(),
                if orch_schema { "-orch-schema" } else { "" }
            ),
            Case::Orch { store, concurrency } => {
                let store = match store {
                    Store::Sqlite(Durability::PowerLoss) => "power-loss",
                    Store::Sqlite(_) => "process-crash",
                    Store::Memory => "memory",
                };
                format!("{store}-{concurrency}")
            }
        }
    }

    /// Records (or entries) per second, and runs per second (none for raw records).
    fn measure(
        self,
        runtime: &tokio::runtime::Runtime,
        dir: &std::path::Path,
        repetition: usize,
        quick: bool,
    ) -> (f64, Option<f64>) {
        match self {
            Case::Raw {
                synchronous,
                per_transaction,
                records,
                orch_schema,
            } => {
                let path = dir.join(format!("{}-{repetition}.db", self.id()));
                let records = if quick { 2 * per_transaction } else { records };
                let rate = raw_sqlite(&path, synchronous, per_transaction, records, orch_schema);
                (rate, None)
            }
            Case::Orch { store, concurrency } => {
                let measured = measure(runtime, dir, store, concurrency, repetition, quick);
                (
                    measured.entries_per_second(),
                    Some(measured.runs_per_second()),
                )
            }
        }
    }
}

const USAGE: &str = "usage: journal_throughput [--runtime current_thread|multi_thread] [FILTER..]
    FILTER: part of a case's name (raw-full-64, power-loss-64, process-crash-8, memory-1, ..)";

fn main() {
    let mut multi_thread = false;
    let mut filters = Vec::new();
    // `cargo bench` passes `--bench`; `cargo test --benches` does not.
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let repetitions = if quick { 1 } else { REPETITIONS };
    let mut args = std::env::args().skip(1).filter(|arg| arg != "--bench");
    let usage = || -> ! {
        eprintln!("{USAGE}");
        std::process::exit(2)
    };
    while let Some(arg) = args.next() {
        if arg == "--runtime" {
            match args.next().as_deref() {
                Some("current_thread") => multi_thread = false,
                Some("multi_thread") => multi_thread = true,
                _ => usage(),
            }
        } else if arg.starts_with('-') {
            usage();
        } else {
            filters.push(arg);
        }
    }
    let cases: Vec<Case> = Case::all()
        .into_iter()
        .filter(|case| filters.is_empty() || filters.iter().any(|f| case.id().contains(f)))
        .collect();
    let runtime = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    }
    .expect("a tokio runtime");
    let dir = std::env::temp_dir().join(format!("orch-journal-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");

    // Every case once per repetition, so that the machine's drift reaches every case alike,
    // and the ratio is taken between figures measured side by side.
    let mut rates = vec![Vec::new(); cases.len()];
    if quick {
        eprintln!(
            "no --bench: each case once, on a few runs, to check it; the figures mean nothing"
        );
    }
    for repetition in 0..repetitions {
        eprintln!("repetition {}/{repetitions}", repetition + 1);
        for (case, rates) in cases.iter().zip(&mut rates) {
            rates.push(case.measure(&runtime, &dir, repetition, quick));
        }
    }
    std::fs::remove_dir_all(&dir).expect("the temporary directory is removed");

    println!("raw SQLite, WAL, {RECORD_BYTES}-byte records, median of {repetitions}:");
    println!(
        "  {:<12} {:>15}  {:<34} {:>10}",
        "synchronous", "per transaction", "tables", "records/s"
    );
    for (case, rates) in cases.iter().zip(&rates) {
        if let Case::Raw {
            synchronous,
            per_transaction,
            orch_schema,
            ..
        } = *case
        {
            let rate = median(rates.iter().map(|(rate, _)| *rate).collect());
            let tables = if orch_schema {
                "orch's (entries, its index, runs)"
            } else {
                "one, no index"
            };
            println!("  {synchronous:<12} {per_transaction:>15}  {tables:<34} {rate:>10.0}");
        }
    }
    println!(
        "\norch: a durable orchestration of 10 no-op services (1 -> 4 -> 4 -> 1), \
         {ENTRIES_PER_RUN} entries per run of {} bytes of JSON on average, {} runtime, median \
         of {repetitions}:",
        entry_bytes(&runtime),
        if multi_thread {
            "multi-thread (2 workers)"
        } else {
            "current-thread"
        }
    );
    println!(
        "  {:<36} {:>9} {:>6} {:>12} {:>10}",
        "journal", "at a time", "runs", "entries/s", "runs/s"
    );
    for (case, rates) in cases.iter().zip(&rates) {
        if let Case::Orch { store, concurrency } = *case {
            let entries = median(rates.iter().map(|(rate, _)| *rate).collect());
            let runs = median(rates.iter().filter_map(|(_, runs)| *runs).collect());
            println!(
                "  {:<36} {concurrency:>9} {:>6} {entries:>12.0} {runs:>10.0}",
                store.name(),
                store.runs(concurrency, quick),
            );
        }
    }
    // Ratios of figures measured side by side, in the same repetition.
    let find = |id: &str| cases.iter().position(|case| case.id() == id);
    let ratio = |of: &str, to: &str| {
        let (of, to) = (find(of)?, find(to)?);
        let ratios: Vec<f64> = rates[of]
            .iter()
            .zip(&rates[to])
            .map(|((of, _), (to, _))| of / to)
            .collect();
        let each = ratios
            .iter()
            .map(|ratio| format!("{ratio:.2}"))
            .collect::<Vec<_>>()
            .join(", ");
        Some(format!("{:.2} (median of {each})", median(ratios)))
    };
    if let Some(ratio) = ratio("power-loss-64", "raw-full-64") {
        println!(
            "\nentries/s of 64 runs at a time (PowerLoss) over records/s of raw FULL, 64 per \
             transaction, one table: {ratio}; the goal is at least 0.5"
        );
    }
    if let Some(ratio) = ratio("power-loss-64", "raw-full-64-orch-schema") {
        println!("the same over raw FULL, 64 per transaction, orch's tables: {ratio}");
    }
    if let Some(ratio) = ratio("raw-full-64-orch-schema", "raw-full-64") {
        println!("raw FULL, 64 per transaction, orch's tables over one table: {ratio}");
    }
}
