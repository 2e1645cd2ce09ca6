//! Helpers shared by the behaviour tests. Each test file uses only some of them.
#![allow(dead_code)]

use std::sync::Mutex;
use std::time::Duration;

use orch::{Event, JournalEntry, Request};
use tokio::time::Instant;

/// `n` milliseconds.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A request with fixed ids, for `payload`.
pub fn request<P>(payload: P) -> Request<P> {
    Request::new("evt-1", "tenant-1", "org-1", payload)
}

/// What services record of themselves: `(service, what, virtual time since the timeline was
/// made)`. Made just before a run, under tokio's paused clock, so that its zero is the run's.
#[derive(Debug)]
pub struct Timeline {
    start: Instant,
    marks: Mutex<Vec<(&'static str, &'static str, Duration)>>,
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

impl Timeline {
    pub fn new() -> Self {
        Timeline {
            start: Instant::now(),
            marks: Mutex::new(Vec::new()),
        }
    }

    /// Records that `service` did `what` now.
    pub fn mark(&self, service: &'static str, what: &'static str) {
        let at = self.start.elapsed();
        self.marks.lock().unwrap().push((service, what, at));
    }

    /// Every mark, in the order they were made.
    pub fn marks(&self) -> Vec<(&'static str, &'static str, Duration)> {
        self.marks.lock().unwrap().clone()
    }

    /// The times `service` did `what`, in order.
    pub fn times(&self, service: &str, what: &str) -> Vec<Duration> {
        self.marks()
            .into_iter()
            .filter(|(s, w, _)| *s == service && *w == what)
            .map(|(_, _, at)| at)
            .collect()
    }

    /// The only time `service` did `what`; panics if it did not, or did more than once.
    pub fn once(&self, service: &str, what: &str) -> Duration {
        let times = self.times(service, what);
        assert_eq!(times.len(), 1, "{service} {what}: {times:?}");
        times[0]
    }

    /// Which services did `what`, in order.
    pub fn who(&self, what: &str) -> Vec<&'static str> {
        self.marks()
            .into_iter()
            .filter(|(_, w, _)| *w == what)
            .map(|(s, _, _)| s)
            .collect()
    }

    /// Virtual time since the timeline was made.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }
}

/// The entries about `service`, as `(offset, event)`.
pub fn of_service(entries: &[JournalEntry], service: &str) -> Vec<(Duration, Event)> {
    entries
        .iter()
        .filter(|entry| entry.service() == Some(service))
        .map(|entry| (entry.offset, entry.event.clone()))
        .collect()
}

/// The offsets at which each attempt of `service` started, in order.
pub fn attempt_starts(entries: &[JournalEntry], service: &str) -> Vec<Duration> {
    entries
        .iter()
        .filter(|entry| matches!(&entry.event, Event::AttemptStarted { service: s, .. } if s == service))
        .map(|entry| entry.offset)
        .collect()
}

/// `(offset, retry_in)` of every failed attempt of `service`, in order.
pub fn failures(entries: &[JournalEntry], service: &str) -> Vec<(Duration, Option<Duration>)> {
    entries
        .iter()
        .filter_map(|entry| match &entry.event {
            Event::AttemptFailed {
                service: s,
                retry_in,
                ..
            } if s == service => Some((entry.offset, *retry_in)),
            _ => None,
        })
        .collect()
}

/// `duration` rounded up to a whole millisecond: tokio's timer fires on millisecond ticks, so a
/// sleep of 96.3 ms started on a tick ends 97 ms later (exactly, under the paused clock).
pub fn ceil_ms(duration: Duration) -> Duration {
    let nanos = duration.as_nanos();
    let ms = nanos.div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).unwrap())
}

/// Compares `actual` with the reviewed snapshot at `path` (relative to the crate's root); with
/// `ORCH_BLESS=1`, writes it instead. On a mismatch, prints both and fails.
#[track_caller]
pub fn assert_snapshot(path: &str, actual: &str) {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("ORCH_BLESS").is_some_and(|bless| bless == "1") {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).expect("create the snapshot's directory");
        }
        std::fs::write(&file, actual).expect("write the snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; run with ORCH_BLESS=1 to write it, then review it",
            file.display()
        )
    });
    assert!(
        expected == actual,
        "{} differs from the output (ORCH_BLESS=1 rewrites it, for review).\n\
         --- expected\n{expected}\n--- actual\n{actual}",
        file.display()
    );
}

/// A directory of its own under the system's temporary one, for one test, removed when dropped.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// An empty directory named after the test binary, the process and `test`.
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "orch-{}-{}-{test}",
            env!("CARGO_CRATE_NAME"),
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    /// `name` in the directory.
    pub fn join(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }

    /// A writable copy of fixture `name` of `tests/durable_input/` in the directory.
    pub fn fixture(&self, name: &str) -> std::path::PathBuf {
        let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/durable_input")
            .join(name);
        let to = self.join(name);
        std::fs::copy(&from, &to).unwrap_or_else(|error| panic!("{}: {error}", from.display()));
        let mut permissions = std::fs::metadata(&to)
            .expect("read the fixture's permissions")
            .permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        permissions.set_readonly(false);
        std::fs::set_permissions(&to, permissions).expect("make the fixture writable");
        to
    }

    /// The names of the files in the directory, sorted.
    pub fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .expect("list the temporary directory")
            .map(|entry| {
                let entry = entry.expect("list the temporary directory");
                entry.file_name().to_string_lossy().into_owned()
            })
            .collect();
        names.sort();
        names
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `len` bytes no program wrote: a fixed xorshift sequence, the same on every run.
pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[3]
        })
        .collect()
}

/// What services were called with (their idempotency keys), in order, across the tests of a
/// binary: a `static`, read per run.
pub struct Calls(pub Mutex<Vec<String>>);

impl Calls {
    /// An empty record, for a `static`.
    pub const fn new() -> Self {
        Calls(Mutex::new(Vec::new()))
    }

    /// Records a call.
    pub fn push(&self, call: String) {
        self.0.lock().unwrap().push(call);
    }

    /// The calls of run `event_id` since the last take: tests run in parallel.
    pub fn take(&self, event_id: &str) -> Vec<String> {
        let mut calls = self.0.lock().unwrap();
        let prefix = format!("{event_id}/");
        let (taken, kept) = calls
            .drain(..)
            .partition(|call: &String| call.starts_with(&prefix));
        *calls = kept;
        taken
    }

    /// Whether `call` was ever made (and not taken since).
    pub fn made(&self, call: &str) -> bool {
        self.0.lock().unwrap().iter().any(|made| made == call)
    }
}
