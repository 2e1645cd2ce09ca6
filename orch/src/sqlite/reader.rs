//! Reading a journal file without writing it: what tools (the `orch` command) use.

use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::types::ToSql;
use rusqlite::{Connection, OpenFlags};

use super::{Contents, check, damaged, is_damaged, open_connection, recall, status_name};
use crate::journal::{JournalEntry, JournalError, RunStatus};
use crate::timestamp::Timestamp;

/// A read-only view of a [`SqliteJournal`](crate::SqliteJournal)'s file, for tools: lists its runs
/// and reads their entries.
///
/// It never creates the file nor writes to it, and it may be opened while a process writes the
/// journal: in WAL mode SQLite lets a reader see every commit made before each of its queries while
/// a writer goes on. Like every connection to a WAL database, it uses the `-wal` and `-shm` files
/// beside the journal, and makes them (with the journal's permissions) if the last writer removed
/// them on closing; being read-only, it cannot remove them: they stay, holding no data, until a
/// [`SqliteJournal`](crate::SqliteJournal) on the file next closes. Likewise a writer that closes
/// while a reader is open leaves its last commits in the `-wal` file (every later connection reads
/// them) instead of folding them into the journal: copy the three files together. So a journal in a
/// directory the reader cannot write is readable only while its `-wal` and `-shm` files exist.
///
/// A file that is not an orch journal is refused by [`open`](Self::open) with the same messages as
/// [`SqliteJournal::open`](crate::SqliteJournal::open); a missing file is an error, never created.
/// Event ids and tenant ids are bound as query parameters.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("orch-doc-reader-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir).unwrap();
/// use orch::{JournalReader, RunQuery, RunState, RunStatus, SqliteJournal};
///
/// let path = dir.join("orch.db");
/// assert!(JournalReader::open(&path).unwrap_err().to_string().ends_with(": no such file"));
///
/// drop(SqliteJournal::open(&path)?); // a journal, with no run yet
/// let reader = JournalReader::open(&path)?;
/// let failed = RunQuery::new()
///     .tenant("tenant-eu")
///     .status(RunState::Finished(RunStatus::Failed))
///     .limit(20);
/// assert!(reader.runs(&failed)?.is_empty());
/// assert!(reader.entries("evt-1")?.is_empty());
/// # drop(reader);
/// # std::fs::remove_dir_all(&dir).unwrap();
/// # Ok::<_, orch::JournalError>(())
/// ```
///
/// It holds one SQLite connection: it can be sent to another thread, not shared between
/// threads.
pub struct JournalReader {
    path: PathBuf,
    connection: Connection,
}

/// Which runs [`JournalReader::runs`] returns: all of them by default, newest first.
///
/// ```
/// use orch::{RunQuery, RunState, RunStatus};
///
/// let unfinished = RunQuery::new().status(RunState::Unfinished);
/// let failed_in_eu = RunQuery::new().tenant("tenant-eu").status(RunStatus::Failed).limit(20);
/// # let _ = (unfinished, failed_in_eu);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunQuery {
    tenant_id: Option<String>,
    state: Option<RunState>,
    limit: Option<usize>,
}

/// Whether a run ended, and how: what [`RunQuery::status`] selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    /// The run finished (its last execution recorded its end) with this status.
    Finished(RunStatus),
    /// No end is recorded: the run is still running, or its process died before it finished (a
    /// durable run is then resumed by running it again under the same event id).
    Unfinished,
}

/// One run of a journal, as [`JournalReader::runs`] lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunRecord {
    /// The run's event id ([`Request::event_id`](crate::Request::event_id)).
    pub event_id: String,
    /// The orchestration's name.
    pub orchestration: String,
    /// [`Request::tenant_id`](crate::Request::tenant_id).
    pub tenant_id: String,
    /// [`Request::organization_id`](crate::Request::organization_id).
    pub organization_id: String,
    /// When the run first started (its first execution, for a resumed run).
    pub started_at: Timestamp,
    /// When it finished; `None` if it has not.
    pub finished_at: Option<Timestamp>,
    /// How it finished; `None` if it has not: it is running, or its process died.
    pub status: Option<RunStatus>,
}

impl RunQuery {
    /// Every run, newest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only the runs of this tenant ([`Request::tenant_id`](crate::Request::tenant_id)).
    pub fn tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = Some(tenant_id.into());
        self
    }

    /// Only the runs in this state: finished with a given status (a [`RunStatus`] converts into
    /// [`RunState::Finished`]), or unfinished.
    pub fn status(mut self, state: impl Into<RunState>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// At most `limit` runs (the newest).
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
}

impl From<RunStatus> for RunState {
    fn from(status: RunStatus) -> Self {
        RunState::Finished(status)
    }
}

impl JournalReader {
    /// Opens the journal at `path` for reading.
    ///
    /// Fails with a message naming the file if it does not exist (it is not created), is not an
    /// orch journal (not a database, another program's database, an empty database), is
    /// damaged, or was written by a newer version of orch.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, JournalError> {
        let path = path.as_ref().to_path_buf();
        let named = |error: String| JournalError::new(format!("{}: {error}", path.display()));
        match std::fs::metadata(&path) {
            Ok(metadata) if metadata.is_dir() => {
                return Err(named("a directory, not an orch journal".into()));
            }
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Err(named("no such file".into()));
            }
            Err(error) => return Err(named(format!("cannot open the journal: {error}"))),
        }
        // Read-only suffices for a WAL database whose writer is open or closed (it makes the
        // -wal and -shm files if they are gone), and without SQLITE_OPEN_CREATE a file removed
        // since the check above is not created either.
        let connection = open_connection(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(named)?;
        match check(&connection).map_err(named)? {
            Contents::Journal => Ok(JournalReader { path, connection }),
            // What `SqliteJournal::open` would make a journal: nothing to read yet.
            Contents::Empty => Err(named("not an orch journal: an empty database".into())),
        }
    }

    /// The file this reader reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The runs `query` selects, the newest start first.
    pub fn runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, JournalError> {
        let unreadable = |error: rusqlite::Error| self.unreadable(&error);
        // Only fixed SQL text is put together here: the values are bound.
        let mut sql = String::from(
            "SELECT event_id, orchestration, tenant_id, organization_id, started_at, \
             finished_at, status FROM runs WHERE 1",
        );
        let mut values: Vec<&dyn ToSql> = Vec::new();
        if let Some(tenant_id) = &query.tenant_id {
            sql.push_str(" AND tenant_id = ?");
            values.push(tenant_id);
        }
        let status;
        match query.state {
            Some(RunState::Finished(finished)) => {
                status = status_name(finished);
                sql.push_str(" AND status = ?");
                values.push(&status);
            }
            Some(RunState::Unfinished) => sql.push_str(" AND status IS NULL"),
            None => {}
        }
        // Timestamps are written with a fixed width, so text order is time order. A negative
        // limit is none.
        let limit = query
            .limit
            .map_or(-1, |limit| i64::try_from(limit).unwrap_or(i64::MAX));
        sql.push_str(" ORDER BY started_at DESC, event_id DESC LIMIT ?");
        values.push(&limit);

        let mut statement = self.connection.prepare(&sql).map_err(unreadable)?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(values), |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, Option<String>>(5)?,
                    row.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(unreadable)?;
        let mut runs = Vec::new();
        for row in rows {
            let (event_id, orchestration, tenant_id, organization_id, started, finished, status) =
                row.map_err(unreadable)?;
            let bad = |what: &str, value: &str| {
                JournalError::new(format!(
                    "{}: run {event_id}: its {what} {value:?} is not one this version of orch \
                     reads",
                    self.path.display()
                ))
            };
            let started_at = started.parse().map_err(|_| bad("start time", &started))?;
            let finished_at = match &finished {
                Some(finished) => Some(finished.parse().map_err(|_| bad("end time", finished))?),
                None => None,
            };
            let status = match status.as_deref() {
                None => None,
                Some("succeeded") => Some(RunStatus::Succeeded),
                Some("failed") => Some(RunStatus::Failed),
                Some("interrupted") => Some(RunStatus::Interrupted),
                Some(other) => return Err(bad("status", other)),
            };
            runs.push(RunRecord {
                event_id,
                orchestration,
                tenant_id,
                organization_id,
                started_at,
                finished_at,
                status,
            });
        }
        Ok(runs)
    }

    /// Every entry recorded for `event_id`, in the order they were recorded (every execution of
    /// a resumed run); none if the journal has no such run.
    pub fn entries(&self, event_id: &str) -> Result<Vec<JournalEntry>, JournalError> {
        recall(&self.connection, event_id, &self.path)
    }

    fn unreadable(&self, error: &rusqlite::Error) -> JournalError {
        let what = if is_damaged(error) {
            damaged(error)
        } else {
            format!("cannot read the journal: {error}")
        };
        JournalError::new(format!("{}: {what}", self.path.display()))
    }
}

impl fmt::Debug for JournalReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JournalReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}
