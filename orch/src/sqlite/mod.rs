//! The durable journal: one SQLite file holding many runs, written with group commit.
//!
//! One thread owns the database connection. Runs hand it their entries through a channel and
//! wait for the commit; the thread takes every entry that is waiting, writes them all in one
//! transaction, and answers them all at once. So concurrent services and concurrent runs share
//! one commit, and durability costs one sync per batch, not one per entry.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::oneshot;

use crate::journal::{Event, Journal, JournalEntry, JournalError, RunStatus};

mod reader;

pub use reader::{JournalReader, RunQuery, RunRecord, RunState};

/// `PRAGMA application_id` of an orch journal: "orch" in ASCII. A SQLite file with another id
/// belongs to another program.
const APPLICATION_ID: i32 = 0x6f72_6368;
/// `PRAGMA user_version`: the journal's format. A file with a higher one was written by a newer
/// orch, which may record what this one cannot read.
const FORMAT: i32 = 1;
/// The most entries one transaction takes: a bound on the latency the first one waits.
const MAX_BATCH: usize = 4096;

const SCHEMA: &str = "
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

/// How much a commit survives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// A commit survives a power loss: every commit is synced to the disk
    /// (`synchronous = FULL`). The default.
    #[default]
    PowerLoss,
    /// A commit survives a crash of the process, not of the machine: it is in the operating
    /// system's cache when the run goes on (`synchronous = NORMAL`, which syncs at checkpoints).
    ProcessCrash,
}

/// A durable [`Journal`]: one SQLite file (in WAL mode) holding many runs, indexed by event id.
///
/// SQLite is compiled into orch (rusqlite's `bundled` feature): nothing to install. A run with
/// this journal can be resumed after a crash (see `#[orch(durable)]` on
/// [`orchestration!`](crate::orchestration)). Entries are committed in batches shared by all
/// the runs writing at once, and each `record` returns once its batch is committed, so a success
/// is durable before any dependent starts.
///
/// The file is created readable and writable by its owner only. Event ids and tenant ids are
/// always bound as query parameters, never part of SQL text or of a path.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("orch-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// use orch::{Journal, SqliteJournal};
///
/// let journal = SqliteJournal::open(dir.join("orch.db"))?;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// assert!(journal.recall("evt-1").await?.is_empty());
/// # Ok::<_, orch::JournalError>(()) })?;
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<_, orch::JournalError>(())
/// ```
pub struct SqliteJournal {
    path: PathBuf,
    // `None` once dropped: the writer then ends after answering what it was sent.
    commands: Option<mpsc::Sender<Command>>,
    writer: Option<JoinHandle<()>>,
}

enum Command {
    Write {
        row: Row,
        done: oneshot::Sender<Result<(), JournalError>>,
    },
    Recall {
        event_id: String,
        done: oneshot::Sender<Result<Vec<JournalEntry>, JournalError>>,
    },
    Forget {
        event_id: String,
        done: oneshot::Sender<Result<bool, JournalError>>,
    },
}

/// An entry as the writer stores it: serialized by the run, so that the writer only writes.
struct Row {
    event_id: Arc<str>,
    json: String,
    run: Option<RunRow>,
}

/// What an entry changes in the `runs` table.
enum RunRow {
    Started {
        orchestration: String,
        tenant_id: Arc<str>,
        organization_id: Arc<str>,
        at: String,
    },
    Finished {
        at: String,
        status: RunStatus,
    },
}

impl SqliteJournal {
    /// Opens the journal at `path`, creating it if it does not exist, with
    /// [`Durability::PowerLoss`].
    ///
    /// Fails with a message naming the file if it is not an orch journal (another program's
    /// database, or not a database), or was written by a newer version of orch.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        Self::open_with(path, Durability::default())
    }

    /// Opens the journal at `path` with the given durability.
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let connection = connect(&path, durability)
            .map_err(|error| JournalError::new(format!("{}: {error}", path.display())))?;
        let (commands, receiver) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("orch-journal".into())
            .spawn({
                let path = path.clone();
                move || write_loop(connection, receiver, &path)
            })
            .map_err(|error| {
                JournalError::new(format!(
                    "{}: cannot start its writer: {error}",
                    path.display()
                ))
            })?;
        Ok(SqliteJournal {
            path,
            commands: Some(commands),
            writer: Some(writer),
        })
    }

    /// The file this journal writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes everything recorded for `event_id`; returns whether there was anything. A run
    /// with that event id then starts afresh: this is how a finished run is deliberately run
    /// again (another way is a new event id).
    pub async fn forget(&self, event_id: &str) -> Result<bool, JournalError> {
        let (done, answer) = oneshot::channel();
        self.send(Command::Forget {
            event_id: event_id.to_owned(),
            done,
        })?;
        answer.await.map_err(|_| self.stopped())?
    }

    fn send(&self, command: Command) -> Result<(), JournalError> {
        let sent = match &self.commands {
            Some(commands) => commands.send(command).is_ok(),
            None => false,
        };
        if sent { Ok(()) } else { Err(self.stopped()) }
    }

    fn stopped(&self) -> JournalError {
        JournalError::new(format!(
            "{}: the journal's writer stopped",
            self.path.display()
        ))
    }
}

impl fmt::Debug for SqliteJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteJournal")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Drop for SqliteJournal {
    /// Waits for the writer to commit what it was given and close the file.
    fn drop(&mut self) {
        self.commands.take();
        if let Some(writer) = self.writer.take() {
            // A panic in the writer was already reported to every waiting run as an error.
            let _ = writer.join();
        }
    }
}

impl Journal for SqliteJournal {
    fn record(
        &self,
        entry: JournalEntry,
    ) -> impl std::future::Future<Output = Result<(), JournalError>> + Send {
        let (done, answer) = oneshot::channel();
        let sent = self.send(Command::Write {
            row: Row::new(&entry),
            done,
        });
        let stopped = self.stopped();
        async move {
            sent?;
            answer.await.map_err(|_| stopped)?
        }
    }

    fn recall(
        &self,
        event_id: &str,
    ) -> impl std::future::Future<Output = Result<Vec<JournalEntry>, JournalError>> + Send {
        let (done, answer) = oneshot::channel();
        let sent = self.send(Command::Recall {
            event_id: event_id.to_owned(),
            done,
        });
        let stopped = self.stopped();
        async move {
            sent?;
            answer.await.map_err(|_| stopped)?
        }
    }
}

impl Row {
    fn new(entry: &JournalEntry) -> Self {
        let run = match &entry.event {
            Event::RunStarted {
                orchestration,
                tenant_id,
                organization_id,
                ..
            } => Some(RunRow::Started {
                orchestration: orchestration.to_string(),
                tenant_id: tenant_id.clone(),
                organization_id: organization_id.clone(),
                at: entry.at.to_string(),
            }),
            Event::RunFinished { status, .. } => Some(RunRow::Finished {
                at: entry.at.to_string(),
                status: *status,
            }),
            _ => None,
        };
        Row {
            event_id: entry.event_id.clone(),
            json: entry.to_json(),
            run,
        }
    }
}

/// Opens (creating if need be) and checks the database, and sets it up for the writer.
fn connect(path: &Path, durability: Durability) -> Result<Connection, String> {
    create_private(path).map_err(|error| format!("cannot create the journal: {error}"))?;
    let connection = open_connection(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    let contents = check(&connection)?;
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(|error| format!("cannot switch the journal to WAL mode: {error}"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!(
            "cannot switch the journal to WAL mode (it stays {mode})"
        ));
    }
    let synchronous = match durability {
        Durability::PowerLoss => "FULL",
        Durability::ProcessCrash => "NORMAL",
    };
    connection
        .pragma_update(None, "synchronous", synchronous)
        .map_err(|error| error.to_string())?;
    if contents == Contents::Empty {
        let create = format!(
            "BEGIN IMMEDIATE; {SCHEMA} PRAGMA application_id = {APPLICATION_ID}; \
             PRAGMA user_version = {FORMAT}; COMMIT;"
        );
        connection
            .execute_batch(&create)
            .map_err(|error| format!("cannot create the journal's tables: {error}"))?;
    }
    Ok(connection)
}

/// Opens the database with `flags`, waiting for a lock another process holds briefly.
fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection, String> {
    let connection = Connection::open_with_flags(path, flags)
        .map_err(|error| format!("cannot open the journal: {error}"))?;
    // Another process (a second writer, a reader of the journal) may hold the lock briefly.
    connection
        .busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|error| format!("cannot open the journal: {error}"))?;
    Ok(connection)
}

/// What a database holds, as far as orch is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contents {
    /// An orch journal of a format this version reads.
    Journal,
    /// Nothing at all (a new or empty file): the writer makes it a journal.
    Empty,
}

/// Checks that `connection` is an orch journal this version reads, or an empty database: the
/// checks shared by the writer and the reader.
fn check(connection: &Connection) -> Result<Contents, String> {
    let not_a_journal = |error: rusqlite::Error| {
        if is_damaged(&error) {
            damaged(&error)
        } else {
            format!("not an orch journal ({error})")
        }
    };
    let application_id: i32 = connection
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(not_a_journal)?;
    let format: i32 = connection
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(not_a_journal)?;
    let tables: i64 = connection
        .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))
        .map_err(not_a_journal)?;
    let contents = match (application_id, tables) {
        (APPLICATION_ID, _) => Contents::Journal,
        (0, 0) => Contents::Empty,
        _ => return Err("not an orch journal: a SQLite database of another program".into()),
    };
    if format > FORMAT {
        return Err(format!(
            "written by a newer version of orch (journal format {format}; this version reads \
             formats up to {FORMAT})"
        ));
    }
    Ok(contents)
}

/// Whether SQLite found the file damaged.
fn is_damaged(error: &rusqlite::Error) -> bool {
    error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt)
}

/// What is said of a damaged journal. It is still the user's journal: saying "not a journal"
/// would invite starting a new one in its place.
fn damaged(error: &rusqlite::Error) -> String {
    format!(
        "the journal is damaged ({error}); its runs cannot be read: restore it from a copy, \
         or move it aside to start a new journal"
    )
}

/// Creates the file, readable and writable by its owner only, if it does not exist. SQLite
/// gives its WAL and shared-memory files the same permissions.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

/// The writer thread: takes every command waiting, writes all the entries among them in one
/// transaction, then answers.
fn write_loop(mut connection: Connection, commands: mpsc::Receiver<Command>, path: &Path) {
    let mut batch = Vec::new();
    while let Ok(first) = commands.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let mut writes = Vec::new();
        for command in batch.drain(..) {
            match command {
                Command::Write { row, done } => writes.push((row, done)),
                // In order: a read or a delete sees every write sent before it.
                other => {
                    commit(&mut connection, &mut writes, path);
                    answer(&mut connection, other, path);
                }
            }
        }
        commit(&mut connection, &mut writes, path);
    }
}

/// Writes `writes` in one transaction and tells each writer how it went.
fn commit(
    connection: &mut Connection,
    writes: &mut Vec<(Row, oneshot::Sender<Result<(), JournalError>>)>,
    path: &Path,
) {
    if writes.is_empty() {
        return;
    }
    let result = insert(connection, writes.iter().map(|(row, _)| row))
        .map_err(|error| JournalError::new(format!("{}: cannot write: {error}", path.display())));
    for (_, done) in writes.drain(..) {
        // A run that stopped waiting (its future was dropped) needs no answer.
        let _ = done.send(result.clone());
    }
}

fn insert<'a>(
    connection: &mut Connection,
    rows: impl Iterator<Item = &'a Row>,
) -> rusqlite::Result<()> {
    let transaction = connection.transaction()?;
    {
        let mut entry =
            transaction.prepare_cached("INSERT INTO entries (event_id, entry) VALUES (?1, ?2)")?;
        let mut started = transaction.prepare_cached(
            // A run started again under its event id (resumed, or run anew) is not finished
            // until it records its end again; it keeps its first start.
            "INSERT INTO runs \
             (event_id, orchestration, tenant_id, organization_id, started_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (event_id) DO UPDATE SET finished_at = NULL, status = NULL",
        )?;
        let mut finished = transaction
            .prepare_cached("UPDATE runs SET finished_at = ?2, status = ?3 WHERE event_id = ?1")?;
        for row in rows {
            entry.execute(params![&*row.event_id, &row.json])?;
            match &row.run {
                Some(RunRow::Started {
                    orchestration,
                    tenant_id,
                    organization_id,
                    at,
                }) => {
                    started.execute(params![
                        &*row.event_id,
                        orchestration,
                        tenant_id,
                        organization_id,
                        at
                    ])?;
                }
                Some(RunRow::Finished { at, status }) => {
                    finished.execute(params![&*row.event_id, at, status_name(*status)])?;
                }
                None => {}
            }
        }
    }
    transaction.commit()
}

fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Succeeded => "succeeded",
        RunStatus::Failed => "failed",
        RunStatus::Interrupted => "interrupted",
    }
}

fn answer(connection: &mut Connection, command: Command, path: &Path) {
    match command {
        Command::Write { .. } => unreachable!("orch: writes are batched, not answered alone"),
        Command::Recall { event_id, done } => {
            let _ = done.send(recall(connection, &event_id, path));
        }
        Command::Forget { event_id, done } => {
            let _ = done.send(forget(connection, &event_id).map_err(|error| {
                JournalError::new(format!(
                    "{}: run {event_id}: cannot delete it: {error}",
                    path.display()
                ))
            }));
        }
    }
}

/// Every entry of `event_id`, in the order they were written.
fn recall(
    connection: &Connection,
    event_id: &str,
    path: &Path,
) -> Result<Vec<JournalEntry>, JournalError> {
    let unreadable = |error: rusqlite::Error| {
        let what = if is_damaged(&error) {
            // Other runs may be whole: only this one is said to be unreadable.
            format!(
                "the journal is damaged where this run is recorded ({error}): restore the \
                 journal from a copy"
            )
        } else {
            format!("cannot read it: {error}")
        };
        JournalError::new(format!("{}: run {event_id}: {what}", path.display()))
    };
    let mut statement = connection
        .prepare_cached("SELECT seq, entry FROM entries WHERE event_id = ?1 ORDER BY seq")
        .map_err(unreadable)?;
    let rows = statement
        .query_map(params![event_id], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(unreadable)?;
    let mut entries = Vec::new();
    for row in rows {
        let (seq, json) = row.map_err(unreadable)?;
        let entry = serde_json::from_str(&json).map_err(|error| {
            JournalError::new(format!(
                "{}: run {event_id}: journal entry {seq} is not an entry this version of orch \
                 reads: {error}",
                path.display()
            ))
        })?;
        entries.push(entry);
    }
    Ok(entries)
}

fn forget(connection: &mut Connection, event_id: &str) -> rusqlite::Result<bool> {
    let transaction = connection.transaction()?;
    let deleted =
        transaction.execute("DELETE FROM entries WHERE event_id = ?1", params![event_id])?;
    transaction.execute("DELETE FROM runs WHERE event_id = ?1", params![event_id])?;
    transaction.commit()?;
    Ok(deleted > 0)
}
