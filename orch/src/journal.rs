//! The journal: a record of everything a run did, written as part of the run.
//!
//! A run writes one [`JournalEntry`] when it starts and when it ends, when each attempt of each
//! service starts and ends, when a service is skipped or cancelled, and for each warning a service
//! records. Each entry carries the run's event id, a UTC timestamp and the monotonic time since the
//! run started; it serializes as one JSON object (see [`InMemoryJournal::to_json_lines`]).
//!
//! Writing is awaited by the run: an entry is written before the run goes on (a success is
//! recorded before any dependent starts), and the first write error interrupts the run and is
//! returned in its report. Nothing is written in the background, so nothing is lost at exit.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::outcome::{Status, StopReason, Summary};
use crate::timestamp::Timestamp;

/// Where a run's [`JournalEntry`]s go.
///
/// `record` is awaited before the run goes on, so a durable journal can make the entry durable
/// before it returns, and is awaited to its end even when the run is interrupted meanwhile (the
/// future is dropped only with the whole run's). An error interrupts the run: no service starts
/// after it, and the error reaches the caller in the run's report.
///
/// ```
/// use orch::{Journal, JournalEntry, JournalError};
/// use std::sync::Mutex;
///
/// /// Keeps each entry as a line of JSON.
/// #[derive(Default)]
/// struct Lines(Mutex<Vec<String>>);
///
/// impl Journal for Lines {
///     async fn record(&self, entry: JournalEntry) -> Result<(), JournalError> {
///         let line = serde_json::to_string(&entry).map_err(JournalError::new)?;
///         self.0.lock().map_err(|_| JournalError::new("poisoned"))?.push(line);
///         Ok(())
///     }
/// }
/// ```
pub trait Journal: Sync {
    /// `false` only for [`NoJournal`]: a run then builds no entries and reads no clocks.
    #[doc(hidden)]
    const ENABLED: bool = true;

    /// Writes one entry.
    fn record(&self, entry: JournalEntry) -> impl Future<Output = Result<(), JournalError>> + Send;

    /// `true` for a journal whose writes are done when [`Journal::record`] returns its future,
    /// and which implements [`Journal::record_now`]. A run then writes its entries with
    /// `record_now`: a service's first attempt runs inline in its task, without the state a
    /// wait for the journal needs, and no entry is moved into a future. Only the start of an
    /// attempt the boxed rest of a task makes (a retry, or a first attempt with a timeout or a
    /// retry budget) still goes through `record`. Both must write the same way.
    #[doc(hidden)]
    const WRITES_NOW: bool = false;

    /// Writes the entry `entry` makes before returning; called only if [`Journal::WRITES_NOW`].
    /// The entry is made by the journal, so that it can be made where it is kept rather than
    /// copied there, possibly under a lock: `entry` does no more than put the entry together.
    #[doc(hidden)]
    fn record_now(&self, entry: impl FnOnce() -> JournalEntry) -> Result<(), JournalError> {
        let _ = entry;
        Err(JournalError::new(
            "this journal sets Journal::WRITES_NOW but does not implement Journal::record_now",
        ))
    }

    /// Told, as a run starts, how many entries it writes if each of its services succeeds at
    /// its first attempt: a journal that keeps its entries in memory makes room for them at
    /// once rather than growing for them one by one.
    #[doc(hidden)]
    fn reserve(&self, entries: usize) {
        let _ = entries;
    }

    /// Every entry recorded for `event_id`, in the order they were recorded: what a durable
    /// orchestration resumes from. A journal that keeps nothing it can read back returns none
    /// (the default), and its runs always start afresh.
    fn recall(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, JournalError>> + Send {
        let _ = event_id;
        std::future::ready(Ok(Vec::new()))
    }
}

/// A journal that records nothing, at no cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoJournal;

impl Journal for NoJournal {
    const ENABLED: bool = false;

    fn record(
        &self,
        _entry: JournalEntry,
    ) -> impl Future<Output = Result<(), JournalError>> + Send {
        std::future::ready(Ok(()))
    }
}

/// A journal kept in memory, for tests, examples and short-lived processes.
///
/// ```
/// let journal = orch::InMemoryJournal::new();
/// assert!(journal.entries().is_empty());
/// assert_eq!(journal.to_json_lines(), "");
/// ```
#[derive(Debug, Default)]
pub struct InMemoryJournal {
    entries: Mutex<Vec<JournalEntry>>,
}

// A panic while the list is locked (in the closure `record_now` is given, or in a clone)
// leaves it whole: an entry is added only once it is made, and nothing else changes it in
// steps. So a journal shared across `catch_unwind` is safe to use after a panic, as it was
// with std's `Mutex`, which said so by poisoning, and `lock_api`'s does not say.
impl std::panic::RefUnwindSafe for InMemoryJournal {}

impl InMemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every entry recorded so far, in the order they were recorded.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.lock().clone()
    }

    /// Takes every entry recorded so far, leaving the journal empty.
    pub fn take(&self) -> Vec<JournalEntry> {
        std::mem::take(&mut *self.lock())
    }

    /// The entries as JSON Lines: one JSON object per entry, each followed by a newline.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for entry in self.lock().iter() {
            out.push_str(&entry.to_json());
            out.push('\n');
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Vec<JournalEntry>> {
        // Not poisoned by a panic, which cannot leave the list half-updated (see above).
        self.entries.lock()
    }
}

impl Journal for InMemoryJournal {
    const WRITES_NOW: bool = true;

    // Written before the future is returned, so that the future holds no entry: the run's
    // futures stay small.
    fn record(&self, entry: JournalEntry) -> impl Future<Output = Result<(), JournalError>> + Send {
        std::future::ready(self.record_now(|| entry))
    }

    fn reserve(&self, entries: usize) {
        let mut list = self.lock();
        if list.capacity() == 0 {
            // A new journal's list. `reserve` would allocate it once too, but through the
            // general code that grows an allocation; `with_capacity` allocates directly (about
            // 70 instructions fewer per journaled run).
            *list = Vec::with_capacity(entries);
        } else {
            list.reserve(entries);
        }
    }

    #[inline]
    fn record_now(&self, entry: impl FnOnce() -> JournalEntry) -> Result<(), JournalError> {
        let mut entries = self.lock();
        entries.reserve(1);
        let len = entries.len();
        // Made in its place, not on the stack and copied: an entry is 200 bytes.
        entries.spare_capacity_mut()[0].write(entry());
        // SAFETY: the entry at `len` was written just above, within the capacity reserved.
        unsafe { entries.set_len(len + 1) };
        Ok(())
    }

    fn recall(
        &self,
        event_id: &str,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, JournalError>> + Send {
        let entries = self
            .lock()
            .iter()
            .filter(|entry| &*entry.event_id == event_id)
            .cloned()
            .collect();
        std::future::ready(Ok(entries))
    }
}

/// One record of a run's journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// The event id of the run ([`Request::event_id`](crate::Request::event_id)).
    pub event_id: Arc<str>,
    /// When it happened, by the system clock, in UTC.
    pub at: Timestamp,
    /// When it happened, by the monotonic clock, since the run started (`offset_ns` in JSON):
    /// zero for [`Event::RunStarted`], whose time is when the run was made. Each execution of a
    /// resumed run counts from its own start.
    #[serde(rename = "offset_ns", with = "nanos")]
    pub offset: Duration,
    /// What happened.
    pub event: Event,
}

/// What a [`JournalEntry`] records.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
// An explicit tag: every entry a journal keeps is dropped, and the drop code then reads one byte
// to find the variant instead of decoding it from a niche in a string's capacity.
#[repr(u8)]
pub enum Event {
    /// The run started.
    RunStarted {
        /// The orchestration's name.
        orchestration: Cow<'static, str>,
        /// [`Request::tenant_id`](crate::Request::tenant_id).
        tenant_id: Arc<str>,
        /// [`Request::organization_id`](crate::Request::organization_id).
        organization_id: Arc<str>,
        /// The payload's Rust type.
        payload_type: Cow<'static, str>,
        /// The payload as JSON; absent if its type does not implement `Serialize` or failed to
        /// serialize.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )]
        payload: Option<Value>,
        /// The shape of a durable orchestration (its services, their dependencies and output
        /// types) as 16 hex digits: a run recorded under another shape is not resumed. Absent
        /// for orchestrations that are not durable.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fingerprint: Option<String>,
    },
    /// A resumed run did not call a service: its outcome (a success, or a failure after which it
    /// was not to be retried), recorded by an earlier execution of the run, was read back from
    /// the journal.
    ServiceReplayed {
        /// The service.
        service: Cow<'static, str>,
        /// Its last attempt, in the earlier execution.
        attempt: u32,
        /// How it ended: succeeded, or failed for good.
        status: Status,
    },
    /// An attempt of a service started.
    AttemptStarted {
        /// The service.
        service: Cow<'static, str>,
        /// The attempt, from 1.
        attempt: u32,
    },
    /// An attempt returned `Ok`: the service succeeded.
    AttemptSucceeded {
        /// The service.
        service: Cow<'static, str>,
        /// The attempt, from 1.
        attempt: u32,
        /// The output's Rust type.
        output_type: Cow<'static, str>,
        /// The output as JSON; absent if its type does not implement `Serialize` or failed to
        /// serialize.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            deserialize_with = "present"
        )]
        output: Option<Value>,
    },
    /// An attempt returned `Err` or panicked.
    AttemptFailed {
        /// The service.
        service: Cow<'static, str>,
        /// The attempt, from 1.
        attempt: u32,
        /// The error, by its `Display` (or `Debug`) text, or the panic message.
        error: String,
        /// Whether the attempt panicked.
        panicked: bool,
        /// Whether the attempt ran past the service's timeout and was cancelled (absent when not).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        timed_out: bool,
        /// The wait the error asked for ([`Retryable::retry_after`](crate::Retryable::retry_after),
        /// `retry_after_ns` in JSON), if it asked.
        #[serde(
            rename = "retry_after_ns",
            default,
            skip_serializing_if = "Option::is_none",
            with = "optional_nanos"
        )]
        retry_after: Option<Duration>,
        /// Why the service stops here; absent when it is retried.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stop: Option<StopReason>,
        /// How long the run waits before the next attempt (`retry_in_ns` in JSON); absent when
        /// this was the service's last attempt.
        #[serde(
            rename = "retry_in_ns",
            default,
            skip_serializing_if = "Option::is_none",
            with = "optional_nanos"
        )]
        retry_in: Option<Duration>,
    },
    /// A service was not called because a dependency it needs did not succeed.
    ServiceSkipped {
        /// The service.
        service: Cow<'static, str>,
        /// The direct dependency that did not succeed.
        dependency: Cow<'static, str>,
        /// The service at the root of the chain: the one that failed or was cancelled.
        cause: Cow<'static, str>,
    },
    /// A service was not called (or not called again) because the run was interrupted.
    ServiceCancelled {
        /// The service.
        service: Cow<'static, str>,
        /// The attempt this entry ends, if one was open: the one running when the run was
        /// interrupted, or one whose start was written as the run was interrupted, and which
        /// was then not called.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
        /// Why the run was interrupted.
        reason: String,
    },
    /// A service recorded a warning with [`Context::warn`](crate::Context::warn).
    Warning {
        /// The service.
        service: Cow<'static, str>,
        /// The attempt that recorded it.
        attempt: u32,
        /// The warning.
        message: String,
    },
    /// The run ended.
    RunFinished {
        /// How it ended.
        status: RunStatus,
        /// How many services ended in each status.
        summary: Summary,
        /// Why the run was interrupted, if it was.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

/// How a run ended, as its last journal entry records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Every service succeeded.
    Succeeded,
    /// At least one service failed or was skipped.
    Failed,
    /// The run was interrupted before every service had run.
    Interrupted,
}

impl JournalEntry {
    /// The entry as one line of JSON.
    pub fn to_json(&self) -> String {
        // Every field serializes infallibly: strings, numbers, and `Value`s.
        serde_json::to_string(self).unwrap_or_else(|error| {
            format!(
                r#"{{"event_id":{:?},"error":"unserializable entry: {error}"}}"#,
                self.event_id
            )
        })
    }

    /// The service the entry is about, if any.
    pub fn service(&self) -> Option<&str> {
        match &self.event {
            Event::AttemptStarted { service, .. }
            | Event::AttemptSucceeded { service, .. }
            | Event::AttemptFailed { service, .. }
            | Event::ServiceSkipped { service, .. }
            | Event::ServiceCancelled { service, .. }
            | Event::Warning { service, .. }
            | Event::ServiceReplayed { service, .. } => Some(service),
            Event::RunStarted { .. } | Event::RunFinished { .. } => None,
        }
    }
}

/// Why a journal could not record an entry.
///
/// Cheap to clone; two errors are equal when their messages are.
#[derive(Clone)]
pub struct JournalError(Arc<dyn std::error::Error + Send + Sync>);

impl JournalError {
    /// Wraps the underlying error (or a message).
    pub fn new(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        JournalError(Arc::from(error.into()))
    }
}

impl fmt::Debug for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JournalError").field(&self.0).finish()
    }
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl PartialEq for JournalError {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for JournalError {}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// A present field, even `null`, is `Some`: `()` outputs record as `null`, absent means "not
/// serializable".
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

fn saturating_nanos(duration: &Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

pub(crate) mod nanos {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(super::saturating_nanos(duration))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_nanos)
    }
}

mod optional_nanos {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(
        duration: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match duration {
            Some(duration) => serializer.serialize_some(&super::saturating_nanos(duration)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(deserializer).map(|nanos| nanos.map(Duration::from_nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(event: Event) -> JournalEntry {
        JournalEntry {
            event_id: Arc::from("evt-1"),
            at: Timestamp::from_unix(Duration::new(1, 0)),
            offset: Duration::from_millis(250),
            event,
        }
    }

    #[test]
    fn a_panic_while_an_entry_is_made_leaves_the_in_memory_journal_whole() {
        let started = || {
            entry(Event::AttemptStarted {
                service: "payments".into(),
                attempt: 1,
            })
        };
        let journal = InMemoryJournal::new();
        assert_eq!(journal.record_now(started), Ok(()));
        // The closure borrows the journal across `catch_unwind`: this compiles because the
        // journal is `RefUnwindSafe`.
        let caught = std::panic::catch_unwind(|| journal.record_now(|| panic!("while making")));
        assert!(caught.is_err());
        assert_eq!(journal.entries(), [started()]);
        assert_eq!(journal.record_now(started), Ok(()));
        assert_eq!(journal.entries().len(), 2);
    }

    #[test]
    fn entries_are_json_objects_that_round_trip() {
        let cases = [
            entry(Event::AttemptSucceeded {
                service: "payments".into(),
                attempt: 2,
                output_type: "()".into(),
                output: Some(Value::Null),
            }),
            entry(Event::AttemptSucceeded {
                service: "payments".into(),
                attempt: 1,
                output_type: "Opaque".into(),
                output: None,
            }),
            entry(Event::AttemptFailed {
                service: "fraud".into(),
                attempt: 1,
                error: "timeout".into(),
                panicked: false,
                timed_out: true,
                retry_after: Some(Duration::from_millis(80)),
                retry_in: Some(Duration::from_millis(100)),
                stop: None,
            }),
            entry(Event::AttemptFailed {
                service: "fraud".into(),
                attempt: 2,
                error: "slow down".into(),
                panicked: false,
                timed_out: false,
                retry_after: Some(Duration::from_secs(60)),
                retry_in: None,
                stop: Some(crate::StopReason::RetryAfterTooLong {
                    after: Duration::from_secs(60),
                }),
            }),
            entry(Event::ServiceCancelled {
                service: "fraud".into(),
                attempt: Some(3),
                reason: "the run's deadline passed".into(),
            }),
        ];
        for case in cases {
            let json = case.to_json();
            let back: JournalEntry = serde_json::from_str(&json).unwrap();
            assert_eq!(back, case, "{json}");
        }
        assert_eq!(
            entry(Event::AttemptStarted {
                service: "payments".into(),
                attempt: 1
            })
            .to_json(),
            r#"{"event_id":"evt-1","at":"1970-01-01T00:00:01.000000000Z","offset_ns":250000000,"event":{"type":"attempt_started","service":"payments","attempt":1}}"#
        );
    }

    #[test]
    fn journal_errors_compare_by_message() {
        let a = JournalError::new("disk full");
        assert_eq!(a, a.clone());
        assert_eq!(a, JournalError::new("disk full"));
        assert_ne!(a, JournalError::new("disk on fire"));
        assert_eq!(a.to_string(), "disk full");
    }
}
