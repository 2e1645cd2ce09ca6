//! `JournalReader`: the read-only view of a `SqliteJournal` file that tools (the `orch` command)
//! use.
//!
//! It must never create or change the file, must refuse what is not an orch journal with the
//! messages `SqliteJournal::open` gives, and must read a journal while a writer is open. Tests
//! with a `SqliteJournal` use the real clock: it answers from its own thread, which a paused
//! tokio clock would not wait for. The fixtures are those of `tests/durable_input/`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::TempDir;
use orch::{
    Event, Journal, JournalEntry, JournalReader, RunQuery, RunRecord, RunState, RunStatus,
    SqliteJournal, Summary, Timestamp,
};

/// `JournalReader::open`'s error, as the user reads it.
fn open_error(path: &Path) -> String {
    match JournalReader::open(path) {
        Ok(reader) => panic!("{} opened as a journal: {reader:?}", path.display()),
        Err(error) => error.to_string(),
    }
}

/// `SqliteJournal::open`'s error for the same file, on a copy (it may change the file).
fn writer_error(dir: &TempDir, path: &Path) -> String {
    let copy = dir.join("writer-copy");
    std::fs::copy(path, &copy).unwrap();
    let error = match SqliteJournal::open(&copy) {
        Ok(journal) => panic!("{} opened as a journal: {journal:?}", copy.display()),
        Err(error) => error.to_string(),
    };
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", copy.display()));
    }
    error.replace(&copy.display().to_string(), &path.display().to_string())
}

fn at(seconds: u64) -> Timestamp {
    // 2026-11-29T10:00:00Z
    Timestamp::from_unix(Duration::from_secs(1_795_946_400 + seconds))
}

fn entry(event_id: &str, seconds: u64, event: Event) -> JournalEntry {
    JournalEntry {
        event_id: Arc::from(event_id),
        at: at(seconds),
        offset: Duration::from_millis(seconds * 1000),
        event,
    }
}

fn started(event_id: &str, tenant_id: &str, seconds: u64) -> JournalEntry {
    entry(
        event_id,
        seconds,
        Event::RunStarted {
            orchestration: "checkout".into(),
            tenant_id: tenant_id.into(),
            organization_id: "org".into(),
            payload_type: "u32".into(),
            payload: Some(serde_json::json!(7)),
            fingerprint: None,
        },
    )
}

fn attempt(event_id: &str, seconds: u64) -> JournalEntry {
    entry(
        event_id,
        seconds,
        Event::AttemptStarted {
            service: "payments".into(),
            attempt: 1,
        },
    )
}

fn finished(event_id: &str, seconds: u64, status: RunStatus) -> JournalEntry {
    entry(
        event_id,
        seconds,
        Event::RunFinished {
            status,
            summary: Summary::default(),
            reason: None,
        },
    )
}

/// Four runs: a (tenant-a, succeeded), b (tenant-b, failed), c (tenant-a, unfinished),
/// d (tenant-a, interrupted), started in that order.
fn four_runs() -> Vec<JournalEntry> {
    vec![
        started("a", "tenant-a", 0),
        attempt("a", 1),
        finished("a", 2, RunStatus::Succeeded),
        started("b", "tenant-b", 10),
        started("c", "tenant-a", 20),
        finished("b", 21, RunStatus::Failed),
        attempt("c", 22),
        started("d", "tenant-a", 30),
        finished("d", 31, RunStatus::Interrupted),
    ]
}

fn record_all(path: &Path, entries: &[JournalEntry]) {
    let journal = SqliteJournal::open(path).unwrap();
    write(&journal, entries);
}

fn write(journal: &SqliteJournal, entries: &[JournalEntry]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        for entry in entries {
            journal.record(entry.clone()).await.unwrap();
        }
    });
}

fn ids(runs: &[RunRecord]) -> Vec<&str> {
    runs.iter().map(|run| run.event_id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// What is not a journal
// ---------------------------------------------------------------------------------------------

#[test]
fn a_missing_file_is_an_error_naming_it_and_is_not_created() {
    let dir = TempDir::new("missing");
    let path = dir.join("orch.db");
    assert_eq!(
        open_error(&path),
        format!("{}: no such file", path.display())
    );
    assert_eq!(dir.listing(), Vec::<String>::new());
    let in_missing_dir = dir.join("nowhere").join("orch.db");
    assert_eq!(
        open_error(&in_missing_dir),
        format!("{}: no such file", in_missing_dir.display())
    );
    assert_eq!(
        open_error(&dir.0),
        format!("{}: a directory, not an orch journal", dir.0.display())
    );
}

#[test]
fn files_that_are_not_journals_are_refused_as_the_writer_refuses_them_and_left_untouched() {
    let dir = TempDir::new("not_journals");
    let random = common::random_bytes(8192);
    let random_path = dir.join("random.bin");
    std::fs::write(&random_path, &random).unwrap();
    let cases = [
        (
            random_path,
            "not an orch journal (file is not a database)".to_owned(),
        ),
        (
            dir.fixture("foreign.db"),
            "not an orch journal: a SQLite database of another program".to_owned(),
        ),
        (
            dir.fixture("other_application.db"),
            "not an orch journal: a SQLite database of another program".to_owned(),
        ),
        (
            dir.fixture("future_format.db"),
            "written by a newer version of orch (journal format 99; this version reads formats \
             up to 1)"
                .to_owned(),
        ),
    ];
    let listing = dir.listing();
    for (path, message) in cases {
        let before = std::fs::read(&path).unwrap();
        let error = open_error(&path);
        assert_eq!(error, format!("{}: {message}", path.display()));
        assert_eq!(error, writer_error(&dir, &path), "not the writer's message");
        assert_eq!(std::fs::read(&path).unwrap(), before, "{error}: changed");
    }
    // Not even a -wal or -shm file beside them.
    assert_eq!(dir.listing(), listing);
}

#[test]
fn an_empty_file_is_not_a_journal_for_a_reader_and_stays_empty() {
    let dir = TempDir::new("empty");
    let path = dir.join("orch.db");
    std::fs::write(&path, b"").unwrap();
    assert_eq!(
        open_error(&path),
        format!("{}: not an orch journal: an empty database", path.display())
    );
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    assert_eq!(dir.listing(), ["orch.db"]);
}

#[test]
fn a_damaged_journal_is_called_damaged_not_foreign() {
    let dir = TempDir::new("damaged");
    let path = dir.join("orch.db");
    let entries: Vec<JournalEntry> = (0..300)
        .flat_map(|i| {
            let id = format!("evt-{i}");
            [
                started(&id, "t", i),
                finished(&id, i + 1, RunStatus::Failed),
            ]
        })
        .collect();
    record_all(&path, &entries);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len / 2).unwrap();
    drop(file);
    let damaged = std::fs::read(&path).unwrap();

    let error = open_error(&path);
    assert!(
        error.starts_with(&format!(
            "{}: the journal is damaged (database disk image is malformed)",
            path.display()
        )),
        "{error}"
    );
    assert_eq!(error, writer_error(&dir, &path));
    assert_eq!(std::fs::read(&path).unwrap(), damaged);
}

#[test]
fn an_entry_this_version_cannot_read_fails_naming_the_run() {
    let dir = TempDir::new("bad_entry");
    let path = dir.fixture("bad_entry.db");
    let reader = JournalReader::open(&path).unwrap();
    assert_eq!(
        reader.entries("evt-a").unwrap_err().to_string(),
        format!(
            "{}: run evt-a: journal entry 2 is not an entry this version of orch reads: EOF \
             while parsing a string at line 1 column 94",
            path.display()
        )
    );
    // The run list does not read entries: it still works.
    assert!(ids(&reader.runs(&RunQuery::new()).unwrap()).contains(&"evt-a"));
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

#[test]
fn runs_are_listed_newest_first_and_filtered_by_tenant_state_and_limit() {
    let dir = TempDir::new("queries");
    let path = dir.join("orch.db");
    record_all(&path, &four_runs());
    let reader = JournalReader::open(&path).unwrap();

    let all = reader.runs(&RunQuery::new()).unwrap();
    assert_eq!(ids(&all), ["d", "c", "b", "a"]);
    let a = &all[3];
    assert_eq!(
        (a.orchestration.as_str(), a.tenant_id.as_str()),
        ("checkout", "tenant-a")
    );
    assert_eq!(a.organization_id, "org");
    assert_eq!(a.started_at, at(0));
    assert_eq!(a.finished_at, Some(at(2)));
    assert_eq!(a.status, Some(RunStatus::Succeeded));
    assert_eq!((all[1].finished_at, all[1].status), (None, None));

    let query = |query: RunQuery| ids(&reader.runs(&query).unwrap()).join(" ");
    assert_eq!(query(RunQuery::new().tenant("tenant-a")), "d c a");
    assert_eq!(query(RunQuery::new().tenant("tenant-z")), "");
    assert_eq!(query(RunQuery::new().status(RunStatus::Failed)), "b");
    assert_eq!(
        query(RunQuery::new().status(RunState::Finished(RunStatus::Interrupted))),
        "d"
    );
    assert_eq!(query(RunQuery::new().status(RunState::Unfinished)), "c");
    assert_eq!(query(RunQuery::new().limit(2)), "d c");
    assert_eq!(query(RunQuery::new().limit(0)), "");
    assert_eq!(
        query(
            RunQuery::new()
                .tenant("tenant-a")
                .status(RunStatus::Succeeded)
                .limit(5)
        ),
        "a"
    );
}

#[test]
fn a_run_started_again_is_unfinished_until_it_ends_again_and_keeps_its_first_start() {
    let dir = TempDir::new("again");
    let path = dir.join("orch.db");
    let mut entries = vec![
        started("a", "tenant-a", 0),
        finished("a", 2, RunStatus::Failed),
        // The same event id run again (resumed, or run anew).
        started("a", "tenant-a", 60),
    ];
    record_all(&path, &entries);
    let reader = JournalReader::open(&path).unwrap();
    let runs = reader.runs(&RunQuery::new()).unwrap();
    assert_eq!(ids(&runs), ["a"]);
    assert_eq!(
        (runs[0].started_at, runs[0].finished_at, runs[0].status),
        (at(0), None, None)
    );
    assert_eq!(
        ids(&reader
            .runs(&RunQuery::new().status(RunState::Unfinished))
            .unwrap()),
        ["a"]
    );
    assert!(
        reader
            .runs(&RunQuery::new().status(RunStatus::Failed))
            .unwrap()
            .is_empty()
    );
    drop(reader);

    entries = vec![finished("a", 61, RunStatus::Succeeded)];
    record_all(&path, &entries);
    let runs = JournalReader::open(&path)
        .unwrap()
        .runs(&RunQuery::new())
        .unwrap();
    assert_eq!(
        (runs[0].started_at, runs[0].finished_at, runs[0].status),
        (at(0), Some(at(61)), Some(RunStatus::Succeeded))
    );
}

#[test]
fn entries_are_every_entry_of_the_run_in_order_and_none_for_an_unknown_id() {
    let dir = TempDir::new("entries");
    let path = dir.join("orch.db");
    let entries = four_runs();
    record_all(&path, &entries);
    let reader = JournalReader::open(&path).unwrap();
    for id in ["a", "b", "c", "d"] {
        let expected: Vec<JournalEntry> = entries
            .iter()
            .filter(|entry| &*entry.event_id == id)
            .cloned()
            .collect();
        assert_eq!(reader.entries(id).unwrap(), expected, "{id}");
    }
    assert_eq!(reader.entries("nope").unwrap(), Vec::<JournalEntry>::new());
}

#[test]
fn hostile_ids_are_values_not_sql() {
    let dir = TempDir::new("hostile");
    let path = dir.join("orch.db");
    let hostile = "x' OR '1'='1'; DROP TABLE runs; --";
    record_all(
        &path,
        &[started("plain", "tenant", 0), started(hostile, hostile, 1)],
    );
    let reader = JournalReader::open(&path).unwrap();
    assert_eq!(
        ids(&reader.runs(&RunQuery::new().tenant(hostile)).unwrap()),
        [hostile]
    );
    assert_eq!(reader.entries(hostile).unwrap().len(), 1);
    assert_eq!(reader.entries("x' OR '1'='1").unwrap().len(), 0);
    assert_eq!(reader.runs(&RunQuery::new()).unwrap().len(), 2);
}

#[test]
fn a_journal_whose_writer_closed_is_read_without_changing_the_database() {
    let dir = TempDir::new("closed");
    let path = dir.join("orch.db");
    record_all(&path, &four_runs());
    // Closed: everything is in the database file.
    assert_eq!(dir.listing(), ["orch.db"]);
    let before = std::fs::read(&path).unwrap();
    {
        let reader = JournalReader::open(&path).unwrap();
        assert_eq!(reader.runs(&RunQuery::new()).unwrap().len(), 4);
        assert_eq!(reader.entries("a").unwrap().len(), 3);
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the database changed"
    );
    // A read-only connection to a WAL database makes the -wal (empty) and -shm files the
    // writer removed, and cannot remove them: they are left, private like the journal.
    assert_eq!(dir.listing(), ["orch.db", "orch.db-shm", "orch.db-wal"]);
    assert_eq!(std::fs::metadata(dir.join("orch.db-wal")).unwrap().len(), 0);
    #[cfg(unix)]
    for name in ["orch.db-shm", "orch.db-wal"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}: {mode:o}");
    }
    // The next writer to close removes them.
    drop(SqliteJournal::open(&path).unwrap());
    assert_eq!(dir.listing(), ["orch.db"]);
}

#[test]
fn a_journal_is_read_while_its_writer_is_open_and_writing() {
    let dir = TempDir::new("open_writer");
    let path = dir.join("orch.db");
    let journal = SqliteJournal::open(&path).unwrap();
    let entries = four_runs();
    write(&journal, &entries[..3]);

    let reader = JournalReader::open(&path).unwrap();
    assert_eq!(ids(&reader.runs(&RunQuery::new()).unwrap()), ["a"]);
    // Commits made after the reader opened are seen by its next query.
    write(&journal, &entries[3..]);
    assert_eq!(
        ids(&reader.runs(&RunQuery::new()).unwrap()),
        ["d", "c", "b", "a"]
    );

    // A writer on another thread commits entry after entry while the reader reads: each read
    // is a whole commit, a prefix of what is written.
    let many: Vec<JournalEntry> = std::iter::once(started("busy", "t", 100))
        .chain((0..400).map(|i| attempt("busy", 101 + i)))
        .collect();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| write(&journal, &many));
        let mut seen = 0;
        while !writer.is_finished() || seen < many.len() {
            let now = reader.entries("busy").unwrap();
            assert!(now.len() >= seen, "went back from {seen} to {}", now.len());
            assert_eq!(now, many[..now.len()]);
            seen = now.len();
        }
    });
    drop(journal);
    // The writer closed while the reader was open: it could not fold the WAL into the
    // database, and the reader still reads every commit.
    assert_eq!(reader.entries("busy").unwrap().len(), many.len());
    assert_eq!(reader.runs(&RunQuery::new()).unwrap().len(), 5);
}
