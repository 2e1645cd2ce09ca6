//! Resuming a durable run: what earlier executions of it recorded, read back into typed
//! outcomes.
//!
//! Records are keyed by each service's name, its static identity in the orchestration, never by
//! position or completion order: concurrent branches resume right whatever order they ended in.

use std::collections::HashMap;

use serde_json::Value;

use crate::context::Context;
use crate::journal::{Event, JournalEntry};
use crate::outcome::{
    AttemptError, Failure, Interruption, Outcome, ReplayError, Skip, Status, StopReason, Success,
};
use crate::redacted::is_redacted;
use crate::service::{DurableService, Service};

/// What a durable run resumes from; see [`Run::recall`](super::Run::recall).
pub struct Replay {
    mode: Mode,
    event_id: String,
    fingerprint: u64,
    services: HashMap<String, Recorded>,
    /// The services read back, in the orchestration's order: journaled when the run goes on.
    replayed: Vec<(&'static str, u32, Status)>,
}

enum Mode {
    /// Nothing recorded: the run starts afresh.
    Fresh,
    /// An execution started and did not finish: services whose outcome was recorded are read
    /// back, the others run.
    Unfinished,
    /// The run finished: every outcome is read back and nothing runs.
    Finished { reason: Option<String> },
    /// The records cannot be resumed: every service is cancelled with this, and nothing is
    /// recorded.
    Refused(Interruption),
}

/// One service's records, across executions.
#[derive(Default)]
struct Recorded {
    success: Option<(u32, Option<Value>)>,
    errors: Vec<RecordedError>,
    /// Why it stopped, if its last attempt's failure was final.
    stop: Option<StopReason>,
    last_started: u32,
    last_ended: u32,
    skip: Option<(String, String)>,
    cancelled: Option<String>,
}

struct RecordedError {
    text: String,
    panicked: bool,
    timed_out: bool,
}

impl Replay {
    /// A run with nothing recorded.
    pub(super) fn fresh(event_id: &str, fingerprint: u64) -> Self {
        Replay {
            mode: Mode::Fresh,
            event_id: event_id.to_owned(),
            fingerprint,
            services: HashMap::new(),
            replayed: Vec::new(),
        }
    }

    /// A run that cannot be resumed.
    pub(super) fn refused(event_id: &str, fingerprint: u64, why: Interruption) -> Self {
        Replay {
            mode: Mode::Refused(why),
            ..Replay::fresh(event_id, fingerprint)
        }
    }

    /// Folds a run's entries, oldest first; `payload` is this request's payload as JSON, if it
    /// serializes.
    pub(super) fn from_entries(
        event_id: &str,
        fingerprint: u64,
        payload: Option<Value>,
        entries: Vec<JournalEntry>,
    ) -> Self {
        let mut replay = Replay::fresh(event_id, fingerprint);
        let current = format_fingerprint(fingerprint);
        for entry in entries {
            match entry.event {
                Event::RunStarted {
                    fingerprint,
                    payload: recorded,
                    ..
                } => {
                    if fingerprint.as_deref() != Some(current.as_str()) {
                        let why = Interruption::Replay(Box::new(ReplayError::ShapeChanged {
                            event_id: event_id.to_owned(),
                            recorded: fingerprint,
                            current,
                        }));
                        return Replay::refused(event_id, replay.fingerprint, why);
                    }
                    // Outputs computed from another payload would be replayed as if from this
                    // one. (A payload that does not serialize cannot be compared.)
                    if let (Some(recorded), Some(payload)) = (&recorded, &payload)
                        && recorded != payload
                    {
                        let why = Interruption::Replay(Box::new(ReplayError::PayloadChanged {
                            event_id: event_id.to_owned(),
                        }));
                        return Replay::refused(event_id, replay.fingerprint, why);
                    }
                    replay.mode = Mode::Unfinished;
                    // Skips and cancellations are an execution's own; the next one decides again.
                    for service in replay.services.values_mut() {
                        service.skip = None;
                        service.cancelled = None;
                    }
                }
                Event::AttemptStarted { service, attempt } => {
                    replay.service(&service).last_started = attempt;
                }
                Event::AttemptSucceeded {
                    service,
                    attempt,
                    output,
                    ..
                } => {
                    let service = replay.service(&service);
                    service.last_ended = attempt;
                    service.success = Some((attempt, output));
                }
                Event::AttemptFailed {
                    service,
                    attempt,
                    error,
                    panicked,
                    timed_out,
                    stop,
                    ..
                } => {
                    let service = replay.service(&service);
                    service.last_ended = attempt;
                    service.errors.push(RecordedError {
                        text: error,
                        panicked,
                        timed_out,
                    });
                    service.stop = stop;
                }
                Event::ServiceSkipped {
                    service,
                    dependency,
                    cause,
                } => {
                    replay.service(&service).skip = Some((dependency.into(), cause.into()));
                }
                Event::ServiceCancelled {
                    service, reason, ..
                } => {
                    replay.service(&service).cancelled = Some(reason);
                }
                Event::RunFinished { reason, .. } => replay.mode = Mode::Finished { reason },
                Event::ServiceReplayed { .. } | Event::Warning { .. } => {}
            }
        }
        replay
    }

    fn service(&mut self, name: &str) -> &mut Recorded {
        self.services.entry(name.to_owned()).or_default()
    }

    /// `S`'s outcome as recorded, if the run does not call `S`. Where `S` is to run again, sets
    /// the attempt its context counts from: attempts are numbered across executions, so that an
    /// attempt the process died in runs again under the same number (and idempotency key).
    pub fn take<S: DurableService, P>(
        &mut self,
        ctx: &Context<P>,
        names: &[&'static str],
    ) -> Option<Outcome<S::Output, S::Error>> {
        let finished = match &self.mode {
            Mode::Fresh => return None,
            Mode::Refused(why) => return Some(Outcome::Cancelled(why.clone())),
            Mode::Unfinished => false,
            Mode::Finished { .. } => true,
        };
        let recorded = self.services.get(S::NAME);
        let outcome = match recorded {
            Some(Recorded {
                success: Some((attempt, Some(output))),
                ..
            }) if !is_redacted(output) => match S::decode(output.clone()) {
                Ok(output) => Some(Outcome::Succeeded(Success {
                    output,
                    attempts: *attempt,
                    replayed: true,
                })),
                Err(error) => {
                    let why = Interruption::Replay(Box::new(ReplayError::Undecodable {
                        event_id: self.event_id.clone(),
                        service: S::NAME,
                        error: error.to_string(),
                    }));
                    self.mode = Mode::Refused(why.clone());
                    return Some(Outcome::Cancelled(why));
                }
            },
            // A redacted (or unserializable) output is not in the journal: the service runs
            // again, or, in a finished run, is reported as it was recorded.
            Some(Recorded {
                success: Some(_), ..
            }) => None,
            Some(Recorded {
                stop: Some(stop),
                errors,
                ..
            }) => Failure::new(
                errors
                    .iter()
                    .map(replayed_error::<S::Error>(S::TIMEOUT))
                    .collect(),
                *stop,
            )
            .map(Outcome::Failed),
            _ => None,
        };
        if let Some(outcome) = outcome {
            let (attempts, status) = match &outcome {
                Outcome::Succeeded(success) => (success.attempts, Status::Succeeded),
                Outcome::Failed(failure) => (failure.attempts(), Status::Failed),
                _ => (0, outcome.status()),
            };
            if !finished {
                self.replayed.push((S::NAME, attempts, status));
            }
            return Some(outcome);
        }
        if finished {
            return Some(self.finished_outcome::<S>(names));
        }
        if let Some(recorded) = recorded {
            // The attempt the process died in (started, never ended) runs again as itself, and
            // so does a success that cannot be read back (its output is redacted): under the
            // same idempotency key, a downstream API can tell the repeat.
            let before = match recorded.success {
                Some((attempt, _)) => attempt - 1,
                None if recorded.last_started > recorded.last_ended => recorded.last_started - 1,
                None => recorded.last_ended,
            };
            ctx.start_attempt(before);
            ctx.end_attempt();
        }
        None
    }

    /// A finished run's outcome of `S`, when it neither succeeded nor failed for good.
    fn finished_outcome<S: Service>(&self, names: &[&'static str]) -> Outcome<S::Output, S::Error> {
        let recorded = self.services.get(S::NAME);
        let name = |recorded: &str| names.iter().copied().find(|name| *name == recorded);
        if let Some((dependency, cause)) = recorded.and_then(|recorded| recorded.skip.as_ref())
            && let (Some(dependency), Some(cause)) = (name(dependency), name(cause))
        {
            return Outcome::Skipped(Skip { dependency, cause });
        }
        if recorded.is_some_and(|recorded| recorded.success.is_some()) {
            let redacted = "it succeeded, but its output is redacted: it is not in the journal";
            return Outcome::Cancelled(Interruption::Recorded(redacted.to_owned()));
        }
        let reason = recorded
            .and_then(|recorded| recorded.cancelled.clone())
            .or_else(|| match &self.mode {
                Mode::Finished { reason } => reason.clone(),
                _ => None,
            })
            .unwrap_or_else(|| "no outcome was recorded".to_owned());
        Outcome::Cancelled(Interruption::Recorded(reason))
    }

    /// Stores what [`Replay::take`] returned, unless a later service made the run refuse to
    /// resume: then every service is cancelled with the reason.
    pub fn store<T, E>(&self, slot: &super::OutcomeSlot<T, E>, outcome: Option<Outcome<T, E>>) {
        match (&self.mode, outcome) {
            (Mode::Refused(why), _) => slot.store(Outcome::Cancelled(why.clone())),
            (_, Some(outcome)) => slot.store(outcome),
            (_, None) => {}
        }
    }

    /// Why the run cannot be resumed, if it cannot.
    pub(super) fn refusal(&self) -> Option<&Interruption> {
        match &self.mode {
            Mode::Refused(why) => Some(why),
            _ => None,
        }
    }

    /// Whether the run goes on: it was not finished, and can be resumed.
    pub fn runs(&self) -> bool {
        matches!(self.mode, Mode::Fresh | Mode::Unfinished)
    }

    /// What the report says when the run does not go on.
    pub fn interruption(self) -> Option<Interruption> {
        match self.mode {
            Mode::Refused(why) => Some(why),
            Mode::Finished { reason } => reason.map(Interruption::Recorded),
            Mode::Fresh | Mode::Unfinished => None,
        }
    }

    /// The orchestration's fingerprint, as journaled.
    pub(super) fn fingerprint(&self) -> String {
        format_fingerprint(self.fingerprint)
    }

    /// The services read back from the journal, with their attempt and status.
    pub(super) fn replayed(&self) -> &[(&'static str, u32, Status)] {
        &self.replayed
    }
}

fn replayed_error<E>(
    timeout: Option<std::time::Duration>,
) -> impl Fn(&RecordedError) -> AttemptError<E> {
    move |error| match (error.panicked, error.timed_out, timeout) {
        (true, _, _) => AttemptError::Panicked(error.text.clone()),
        (_, true, Some(timeout)) => AttemptError::TimedOut(timeout),
        _ => AttemptError::Replayed(error.text.clone()),
    }
}

/// A fingerprint as journaled: 16 hex digits.
pub(super) fn format_fingerprint(fingerprint: u64) -> String {
    format!("{fingerprint:016x}")
}

/// The fingerprint of an orchestration's shape, at compile time: FNV-1a over its parts, each
/// ended by a byte no UTF-8 text holds, so that `["ab", "c"]` and `["a", "bc"]` differ.
pub const fn fingerprint(parts: &[&str]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < parts.len() {
        let bytes = parts[i].as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            hash = (hash ^ bytes[j] as u64).wrapping_mul(PRIME);
            j += 1;
        }
        hash = (hash ^ 0xff).wrapping_mul(PRIME);
        i += 1;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_tell_apart_parts_that_concatenate_alike() {
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
        assert_ne!(fingerprint(&["a"]), fingerprint(&["a", ""]));
        assert_eq!(fingerprint(&["a", "b"]), fingerprint(&["a", "b"]));
        const AT_COMPILE_TIME: u64 = fingerprint(&["checkout"]);
        assert_eq!(AT_COMPILE_TIME, fingerprint(&["checkout"]));
        assert_eq!(format_fingerprint(0xab), "00000000000000ab");
    }
}
