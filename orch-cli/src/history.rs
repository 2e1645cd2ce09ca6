//! A run's journal entries folded into what happened: executions, and in each the services with
//! their attempts, waits, skips, cancellations, replays and warnings.
//!
//! Pure: no I/O, no clock. A run that was resumed after a crash has several executions, each
//! starting with `RunStarted`, whose offsets restart at 0.

use std::time::Duration;

use orch::{Event, JournalEntry, RunStatus, Status, StopReason, Summary, Timestamp};

/// Everything one run's journal says, folded.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// The run's event id.
    pub event_id: String,
    /// The orchestration's name (empty if no start was recorded).
    pub orchestration: String,
    /// The request's tenant id.
    pub tenant_id: String,
    /// The request's organization id.
    pub organization_id: String,
    /// When the first execution started.
    pub started_at: Option<Timestamp>,
    /// Every execution, oldest first; never empty.
    pub executions: Vec<Execution>,
}

/// One execution of a run: from a `RunStarted` to the next one, or to the end of the journal.
#[derive(Clone, Debug, PartialEq)]
pub struct Execution {
    /// From 1.
    pub number: usize,
    /// When it started, by the system clock.
    pub started_at: Option<Timestamp>,
    /// The offset of its last entry: how long it ran, as far as the journal knows.
    pub end: Duration,
    /// One lane per service with an entry in this execution, in the order of their first entry.
    pub lanes: Vec<Lane>,
    /// How it ended, if it recorded its end.
    pub finished: Option<Finished>,
}

/// A recorded end of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// How the run ended.
    pub status: RunStatus,
    /// How many services ended in each status.
    pub summary: Summary,
    /// Why it was interrupted, if it was.
    pub reason: Option<String>,
}

/// One service in one execution.
#[derive(Clone, Debug, PartialEq)]
pub struct Lane {
    /// The service.
    pub service: String,
    /// Its attempts in this execution, in order.
    pub attempts: Vec<Attempt>,
    /// How it ended in this execution without an attempt of its own ending it, if it did.
    pub mark: Option<Mark>,
    /// The warnings it recorded.
    pub warnings: Vec<Warning>,
}

/// One attempt of a service.
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    /// The attempt's number, from 1, counted across executions.
    pub number: u32,
    /// When it started (offset in its execution).
    pub start: Duration,
    /// When it ended; `None` if no end was recorded.
    pub end: Option<Duration>,
    /// How it ended.
    pub result: AttemptResult,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq)]
pub enum AttemptResult {
    /// It returned `Ok`.
    Succeeded,
    /// It returned `Err`, panicked or timed out.
    Failed(Failed),
    /// The run was interrupted while it ran.
    Cancelled {
        /// Why the run was interrupted.
        reason: String,
    },
    /// No end is recorded: it was running when the execution's last entry was written.
    Unfinished,
}

/// A failed attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct Failed {
    /// The error text (or the panic message).
    pub error: String,
    /// Whether it panicked.
    pub panicked: bool,
    /// Whether it ran past the service's timeout.
    pub timed_out: bool,
    /// The wait before the next attempt; `None` if it was the last.
    pub retry_in: Option<Duration>,
    /// Why the service stopped here, if it did.
    pub stop: Option<StopReason>,
}

/// How a service ended in an execution without an attempt of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// Not called: a dependency it needs did not succeed.
    Skipped {
        /// When.
        at: Duration,
        /// The direct dependency.
        dependency: String,
        /// The service at the root of the chain.
        cause: String,
    },
    /// Not called, or not called again, because the run was interrupted.
    Cancelled {
        /// When.
        at: Duration,
        /// Why.
        reason: String,
    },
    /// Not called: its outcome, recorded by an earlier execution, was read back.
    Replayed {
        /// When.
        at: Duration,
        /// Its last attempt, in the earlier execution.
        attempt: u32,
        /// How it ended there.
        status: Status,
    },
}

/// A warning a service recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// The attempt that recorded it.
    pub attempt: u32,
    /// The text.
    pub message: String,
}

/// One service across the run's executions: what the services section of `show` lists.
#[derive(Clone, Debug, PartialEq)]
pub struct Service<'a> {
    /// The service.
    pub name: &'a str,
    /// How it ended, as far as the journal says.
    pub outcome: Outcome,
    /// Every attempt, with the number of the execution it ran in.
    pub attempts: Vec<(usize, &'a Attempt)>,
    /// Every warning, with the number of the execution it was recorded in.
    pub warnings: Vec<(usize, &'a Warning)>,
    /// The executions that read its outcome back instead of calling it.
    pub replayed_in: Vec<usize>,
}

/// How a service ended, across executions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An attempt succeeded.
    Succeeded {
        /// The attempt.
        attempt: u32,
        /// In which execution.
        execution: usize,
    },
    /// Its last attempt failed for good.
    Failed {
        /// The last attempt.
        attempt: u32,
        /// In which execution.
        execution: usize,
        /// Why it was not tried again.
        stop: Option<StopReason>,
    },
    /// Not called: a dependency did not succeed.
    Skipped {
        /// The direct dependency.
        dependency: String,
        /// The service at the root of the chain.
        cause: String,
    },
    /// Not called, or not called again: the run was interrupted.
    Cancelled {
        /// Why.
        reason: String,
    },
    /// Read back from an earlier execution whose record of it is not in the journal.
    Replayed {
        /// Its last attempt.
        attempt: u32,
        /// How it ended.
        status: Status,
    },
    /// Not decided: its last attempt failed and it was waiting to retry when the journal ends.
    Retrying {
        /// The failed attempt.
        attempt: u32,
    },
    /// Not decided: an attempt started and no end is recorded.
    Running {
        /// The attempt.
        attempt: u32,
    },
    /// Not decided: the journal has entries of the service (warnings) but no attempt of it, and
    /// says nothing of how it ended.
    NoAttempt,
}

impl History {
    /// Folds one run's entries, oldest first; `None` if there are none.
    pub fn from_entries(entries: &[JournalEntry]) -> Option<History> {
        let first = entries.first()?;
        let mut history = History {
            event_id: first.event_id.to_string(),
            orchestration: String::new(),
            tenant_id: String::new(),
            organization_id: String::new(),
            started_at: None,
            executions: Vec::new(),
        };
        for entry in entries {
            if let Event::RunStarted {
                orchestration,
                tenant_id,
                organization_id,
                ..
            } = &entry.event
            {
                if history.started_at.is_none() {
                    history.orchestration = orchestration.to_string();
                    history.tenant_id = tenant_id.to_string();
                    history.organization_id = organization_id.to_string();
                    history.started_at = Some(entry.at);
                }
                let number = history.executions.len() + 1;
                history
                    .executions
                    .push(Execution::new(number, Some(entry.at)));
            }
            if history.executions.is_empty() {
                // Entries before any start (a journal edited by hand): an execution anyway.
                history.executions.push(Execution::new(1, None));
            }
            let Some(execution) = history.executions.last_mut() else {
                continue;
            };
            execution.fold(entry);
        }
        Some(history)
    }

    /// The time spent running: the sum over executions of the offset of their last entry.
    pub fn duration(&self) -> Duration {
        self.executions.iter().map(|execution| execution.end).sum()
    }

    /// The run's recorded end: its last execution's, if that one recorded it. An end recorded
    /// by an earlier execution was superseded by the start of the next one (as when an event id
    /// is run again), just as orch itself reads a journal when it resumes a run.
    pub fn finished(&self) -> Option<&Finished> {
        self.executions.last()?.finished.as_ref()
    }

    /// How many services ended in each status: the recorded end's summary, else counted from
    /// what the services' entries say (services not decided yet count nowhere).
    pub fn summary(&self) -> Summary {
        if let Some(finished) = self.finished() {
            return finished.summary;
        }
        let mut summary = Summary::default();
        for service in self.services() {
            let status = match service.outcome {
                Outcome::Succeeded { .. } => Status::Succeeded,
                Outcome::Failed { .. } => Status::Failed,
                Outcome::Skipped { .. } => Status::Skipped,
                Outcome::Cancelled { .. } => Status::Cancelled,
                Outcome::Replayed { status, .. } => status,
                Outcome::Retrying { .. } | Outcome::Running { .. } | Outcome::NoAttempt => {
                    continue;
                }
            };
            summary.add(status);
        }
        summary
    }

    /// Every service, in the order of its first entry, with its outcome across executions.
    pub fn services(&self) -> Vec<Service<'_>> {
        let mut services: Vec<Service<'_>> = Vec::new();
        for execution in &self.executions {
            for lane in &execution.lanes {
                let index = match services.iter().position(|s| s.name == lane.service) {
                    Some(index) => index,
                    None => {
                        services.push(Service {
                            name: &lane.service,
                            outcome: Outcome::NoAttempt,
                            attempts: Vec::new(),
                            warnings: Vec::new(),
                            replayed_in: Vec::new(),
                        });
                        services.len() - 1
                    }
                };
                let service = &mut services[index];
                let number = execution.number;
                for attempt in &lane.attempts {
                    service.attempts.push((number, attempt));
                    service.outcome = match &attempt.result {
                        AttemptResult::Succeeded => Outcome::Succeeded {
                            attempt: attempt.number,
                            execution: number,
                        },
                        AttemptResult::Failed(failed) if failed.retry_in.is_none() => {
                            Outcome::Failed {
                                attempt: attempt.number,
                                execution: number,
                                stop: failed.stop,
                            }
                        }
                        AttemptResult::Failed(_) => Outcome::Retrying {
                            attempt: attempt.number,
                        },
                        AttemptResult::Cancelled { reason } => Outcome::Cancelled {
                            reason: reason.clone(),
                        },
                        AttemptResult::Unfinished => Outcome::Running {
                            attempt: attempt.number,
                        },
                    };
                }
                service
                    .warnings
                    .extend(lane.warnings.iter().map(|warning| (number, warning)));
                match &lane.mark {
                    Some(Mark::Skipped {
                        dependency, cause, ..
                    }) => {
                        service.outcome = Outcome::Skipped {
                            dependency: dependency.clone(),
                            cause: cause.clone(),
                        };
                    }
                    Some(Mark::Cancelled { reason, .. }) => {
                        service.outcome = Outcome::Cancelled {
                            reason: reason.clone(),
                        };
                    }
                    Some(Mark::Replayed {
                        attempt, status, ..
                    }) => {
                        service.replayed_in.push(number);
                        // The outcome recorded earlier stands; without it, what the replay says.
                        if !matches!(
                            service.outcome,
                            Outcome::Succeeded { .. } | Outcome::Failed { .. }
                        ) {
                            service.outcome = Outcome::Replayed {
                                attempt: *attempt,
                                status: *status,
                            };
                        }
                    }
                    None => {}
                }
            }
        }
        services
    }
}

impl Execution {
    fn new(number: usize, started_at: Option<Timestamp>) -> Self {
        Execution {
            number,
            started_at,
            end: Duration::ZERO,
            lanes: Vec::new(),
            finished: None,
        }
    }

    /// The services whose outcome this execution read back from an earlier one.
    pub fn replayed(&self) -> Vec<&str> {
        self.lanes
            .iter()
            .filter(|lane| matches!(lane.mark, Some(Mark::Replayed { .. })))
            .map(|lane| lane.service.as_str())
            .collect()
    }

    fn fold(&mut self, entry: &JournalEntry) {
        let at = entry.offset;
        self.end = self.end.max(at);
        let event = &entry.event;
        if let Event::RunFinished {
            status,
            summary,
            reason,
        } = event
        {
            self.finished = Some(Finished {
                status: *status,
                summary: *summary,
                reason: reason.clone(),
            });
            return;
        }
        let Some(service) = entry.service() else {
            return;
        };
        let lane = self.lane(service);
        match event {
            Event::AttemptStarted { attempt, .. } => lane.attempts.push(Attempt {
                number: *attempt,
                start: at,
                end: None,
                result: AttemptResult::Unfinished,
            }),
            Event::AttemptSucceeded { attempt, .. } => {
                lane.end_attempt(*attempt, at, AttemptResult::Succeeded);
            }
            Event::AttemptFailed {
                attempt,
                error,
                panicked,
                timed_out,
                stop,
                retry_in,
                ..
            } => {
                let failed = Failed {
                    error: error.clone(),
                    panicked: *panicked,
                    timed_out: *timed_out,
                    retry_in: *retry_in,
                    stop: *stop,
                };
                lane.end_attempt(*attempt, at, AttemptResult::Failed(failed));
            }
            Event::ServiceCancelled {
                attempt, reason, ..
            } => {
                if let Some(attempt) = attempt {
                    let reason = reason.clone();
                    lane.end_attempt(*attempt, at, AttemptResult::Cancelled { reason });
                }
                lane.mark = Some(Mark::Cancelled {
                    at,
                    reason: reason.clone(),
                });
            }
            Event::ServiceSkipped {
                dependency, cause, ..
            } => {
                lane.mark = Some(Mark::Skipped {
                    at,
                    dependency: dependency.to_string(),
                    cause: cause.to_string(),
                });
            }
            Event::ServiceReplayed {
                attempt, status, ..
            } => {
                lane.mark = Some(Mark::Replayed {
                    at,
                    attempt: *attempt,
                    status: *status,
                });
            }
            Event::Warning {
                attempt, message, ..
            } => lane.warnings.push(Warning {
                attempt: *attempt,
                message: message.clone(),
            }),
            // `RunStarted` and `RunFinished` are handled above. (`Event` is `#[non_exhaustive]`;
            // an event of a newer orch does not get here: its entry fails to deserialize.)
            _ => {}
        }
    }

    fn lane(&mut self, service: &str) -> &mut Lane {
        let index = match self.lanes.iter().position(|lane| lane.service == service) {
            Some(index) => index,
            None => {
                self.lanes.push(Lane {
                    service: service.to_owned(),
                    attempts: Vec::new(),
                    mark: None,
                    warnings: Vec::new(),
                });
                self.lanes.len() - 1
            }
        };
        &mut self.lanes[index]
    }
}

impl Lane {
    /// Ends attempt `number` (the last one with that number that has not ended); an end
    /// without a recorded start is an attempt that took no time.
    fn end_attempt(&mut self, number: u32, at: Duration, result: AttemptResult) {
        let open = self
            .attempts
            .iter_mut()
            .rev()
            .find(|attempt| attempt.number == number && attempt.end.is_none());
        match open {
            Some(attempt) => {
                attempt.end = Some(at);
                attempt.result = result;
            }
            None => self.attempts.push(Attempt {
                number,
                start: at,
                end: Some(at),
                result,
            }),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{Value, json};

    /// Entries of run `evt-1` from `(offset in ms, event as JSON)`; `RunStarted` restarts the
    /// wall clock one minute later, as a resumed execution would.
    pub(crate) fn entries(events: &[(u64, Value)]) -> Vec<JournalEntry> {
        let base = 1_795_946_400;
        let mut execution = 0;
        events
            .iter()
            .map(|(ms, event)| {
                if event["type"] == "run_started" {
                    execution += 1;
                }
                let at = Timestamp::from_unix(
                    Duration::from_secs(base + 60 * execution) + Duration::from_millis(*ms),
                );
                serde_json::from_value(json!({
                    "event_id": "evt-1",
                    "at": at.to_string(),
                    "offset_ns": ms * 1_000_000,
                    "event": event,
                }))
                .unwrap()
            })
            .collect()
    }

    pub(crate) fn start() -> Value {
        json!({"type": "run_started", "orchestration": "checkout", "tenant_id": "t",
               "organization_id": "o", "payload_type": "u32"})
    }

    pub(crate) fn started(service: &str, attempt: u32) -> Value {
        json!({"type": "attempt_started", "service": service, "attempt": attempt})
    }

    pub(crate) fn succeeded(service: &str, attempt: u32) -> Value {
        json!({"type": "attempt_succeeded", "service": service, "attempt": attempt,
               "output_type": "u32", "output": 1})
    }

    pub(crate) fn failed(service: &str, attempt: u32, retry_in_ms: Option<u64>) -> Value {
        let mut failed = json!({"type": "attempt_failed", "service": service, "attempt": attempt,
                                "error": "boom", "panicked": false});
        match retry_in_ms {
            Some(ms) => failed["retry_in_ns"] = json!(ms * 1_000_000),
            None => failed["stop"] = json!({"reason": "attempts_exhausted"}),
        }
        failed
    }

    fn finished(status: &str, summary: [u32; 4]) -> Value {
        json!({"type": "run_finished", "status": status, "summary": {
            "succeeded": summary[0], "failed": summary[1], "skipped": summary[2],
            "cancelled": summary[3]}})
    }

    fn outcomes(history: &History) -> Vec<(String, Outcome)> {
        history
            .services()
            .into_iter()
            .map(|service| (service.name.to_owned(), service.outcome))
            .collect()
    }

    #[test]
    fn no_entries_is_no_history() {
        assert_eq!(History::from_entries(&[]), None);
    }

    #[test]
    fn attempts_pair_their_start_and_end_by_service_and_number() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (1, started("a", 1)),
            (2, started("b", 1)),
            (3, failed("a", 1, Some(10))),
            (5, succeeded("b", 1)),
            (13, started("a", 2)),
            (20, succeeded("a", 2)),
            (21, finished("succeeded", [2, 0, 0, 0])),
        ]))
        .unwrap();
        assert_eq!(history.executions.len(), 1);
        let execution = &history.executions[0];
        assert_eq!(execution.end, Duration::from_millis(21));
        assert_eq!(history.duration(), Duration::from_millis(21));
        let a = &execution.lanes[0];
        assert_eq!(a.service, "a");
        let spans: Vec<_> = a
            .attempts
            .iter()
            .map(|attempt| (attempt.number, attempt.start, attempt.end))
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(spans, [(1, ms(1), Some(ms(3))), (2, ms(13), Some(ms(20)))]);
        let AttemptResult::Failed(failed) = &a.attempts[0].result else {
            panic!("{:?}", a.attempts[0]);
        };
        assert_eq!(failed.retry_in, Some(ms(10)));
        assert_eq!(failed.error, "boom");
        assert_eq!(a.attempts[1].result, AttemptResult::Succeeded);
        assert_eq!(execution.lanes[1].attempts[0].end, Some(ms(5)));
        assert_eq!(
            outcomes(&history),
            [
                (
                    "a".into(),
                    Outcome::Succeeded {
                        attempt: 2,
                        execution: 1
                    }
                ),
                (
                    "b".into(),
                    Outcome::Succeeded {
                        attempt: 1,
                        execution: 1
                    }
                ),
            ]
        );
        assert_eq!(history.summary().succeeded, 2);
        assert_eq!(history.finished().unwrap().status, RunStatus::Succeeded);
        assert_eq!(history.orchestration, "checkout");
        assert_eq!(
            (history.tenant_id.as_str(), history.organization_id.as_str()),
            ("t", "o")
        );
    }

    #[test]
    fn skips_cancellations_and_warnings_are_the_services_own() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("pay", 1)),
            (0, started("slow", 1)),
            (
                1,
                json!({"type": "warning", "service": "pay", "attempt": 1, "message": "hm"}),
            ),
            (1, failed("pay", 1, None)),
            (
                1,
                json!({"type": "service_skipped", "service": "ship", "dependency": "pay",
                       "cause": "pay"}),
            ),
            (
                1,
                json!({"type": "service_skipped", "service": "mail", "dependency": "ship",
                       "cause": "pay"}),
            ),
            (
                9,
                json!({"type": "service_cancelled", "service": "slow", "attempt": 1,
                       "reason": "the run's deadline passed"}),
            ),
            (
                9,
                json!({"type": "service_cancelled", "service": "later",
                       "reason": "the run's deadline passed"}),
            ),
            (
                9,
                json!({"type": "run_finished", "status": "interrupted",
                       "reason": "the run's deadline passed",
                       "summary": {"succeeded": 0, "failed": 1, "skipped": 2, "cancelled": 2}}),
            ),
        ]))
        .unwrap();
        let reason = "the run's deadline passed".to_owned();
        assert_eq!(
            outcomes(&history),
            [
                (
                    "pay".into(),
                    Outcome::Failed {
                        attempt: 1,
                        execution: 1,
                        stop: Some(StopReason::AttemptsExhausted)
                    }
                ),
                (
                    "slow".into(),
                    Outcome::Cancelled {
                        reason: reason.clone()
                    }
                ),
                (
                    "ship".into(),
                    Outcome::Skipped {
                        dependency: "pay".into(),
                        cause: "pay".into()
                    }
                ),
                (
                    "mail".into(),
                    Outcome::Skipped {
                        dependency: "ship".into(),
                        cause: "pay".into()
                    }
                ),
                (
                    "later".into(),
                    Outcome::Cancelled {
                        reason: reason.clone()
                    }
                ),
            ]
        );
        let lanes = &history.executions[0].lanes;
        // The cancellation ends the attempt it stopped.
        assert_eq!(
            lanes[1].attempts[0].result,
            AttemptResult::Cancelled {
                reason: reason.clone()
            }
        );
        assert_eq!(lanes[1].attempts[0].end, Some(Duration::from_millis(9)));
        assert_eq!(
            lanes[0].warnings,
            [Warning {
                attempt: 1,
                message: "hm".into()
            }]
        );
        let finished = history.finished().unwrap();
        assert_eq!(finished.reason.as_deref(), Some(reason.as_str()));
        assert_eq!(history.summary().skipped, 2);
    }

    #[test]
    fn a_resumed_run_has_an_execution_per_start_and_its_replays() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("pay", 1)),
            (0, failed("pay", 1, Some(20))),
            (20, started("pay", 2)),
            (21, succeeded("pay", 2)),
            (21, started("ship", 1)),
            // The process dies here: ship's attempt never ends.
            (0, start()),
            (
                0,
                json!({"type": "service_replayed", "service": "pay", "attempt": 2,
                       "status": "succeeded"}),
            ),
            (0, started("ship", 1)),
            (4, succeeded("ship", 1)),
            (4, finished("succeeded", [2, 0, 0, 0])),
        ]))
        .unwrap();
        assert_eq!(history.executions.len(), 2);
        let [first, second] = &history.executions[..] else {
            unreachable!()
        };
        assert_eq!((first.number, second.number), (1, 2));
        assert_eq!(first.end, Duration::from_millis(21));
        assert_eq!(second.end, Duration::from_millis(4));
        assert_eq!(history.duration(), Duration::from_millis(25));
        assert!(first.finished.is_none());
        assert_ne!(first.started_at, second.started_at);
        assert_eq!(history.started_at, first.started_at);
        assert_eq!(first.lanes[1].attempts[0].result, AttemptResult::Unfinished);
        assert_eq!(first.lanes[1].attempts[0].end, None);
        assert_eq!(second.replayed(), ["pay"]);
        assert!(first.replayed().is_empty());

        let services = history.services();
        assert_eq!(
            services[0].outcome,
            Outcome::Succeeded {
                attempt: 2,
                execution: 1
            }
        );
        assert_eq!(services[0].replayed_in, [2]);
        assert_eq!(services[0].attempts.len(), 2);
        assert_eq!(
            services[1].outcome,
            Outcome::Succeeded {
                attempt: 1,
                execution: 2
            }
        );
        // The same attempt number in each execution: the first never ended.
        let ship: Vec<_> = services[1]
            .attempts
            .iter()
            .map(|(execution, attempt)| (*execution, attempt.number, attempt.end.is_some()))
            .collect();
        assert_eq!(ship, [(1, 1, false), (2, 1, true)]);
    }

    #[test]
    fn an_unfinished_run_is_counted_from_its_attempts() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("a", 1)),
            (0, started("b", 1)),
            (0, started("c", 1)),
            (1, succeeded("a", 1)),
            (2, failed("b", 1, None)),
            (3, failed("c", 1, Some(100))),
            (4, started("d", 1)),
        ]))
        .unwrap();
        assert_eq!(history.finished(), None);
        let summary = history.summary();
        assert_eq!(
            (
                summary.succeeded,
                summary.failed,
                summary.skipped,
                summary.cancelled
            ),
            (1, 1, 0, 0)
        );
        let outcomes = outcomes(&history);
        assert_eq!(outcomes[2].1, Outcome::Retrying { attempt: 1 });
        assert_eq!(outcomes[3].1, Outcome::Running { attempt: 1 });
        assert_eq!(history.duration(), Duration::from_millis(4));
    }

    #[test]
    fn a_replay_without_its_record_says_what_the_replay_says() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (
                0,
                json!({"type": "service_replayed", "service": "a", "attempt": 3,
                       "status": "failed"}),
            ),
        ]))
        .unwrap();
        assert_eq!(
            outcomes(&history)[0].1,
            Outcome::Replayed {
                attempt: 3,
                status: Status::Failed
            }
        );
        assert_eq!(history.summary().failed, 1);
    }

    #[test]
    fn only_the_last_execution_says_whether_the_run_finished() {
        // The event id run again after it finished: the second execution has not ended.
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("a", 1)),
            (1, succeeded("a", 1)),
            (1, finished("succeeded", [1, 0, 0, 0])),
            (0, start()),
            (0, started("a", 2)),
        ]))
        .unwrap();
        assert_eq!(history.finished(), None);
        assert_eq!(history.summary().succeeded, 0);
        assert_eq!(outcomes(&history)[0].1, Outcome::Running { attempt: 2 });
    }

    #[test]
    fn a_service_with_warnings_and_no_attempt_is_undecided() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (
                1,
                json!({"type": "warning", "service": "a", "attempt": 1, "message": "hm"}),
            ),
        ]))
        .unwrap();
        assert_eq!(outcomes(&history), [("a".into(), Outcome::NoAttempt)]);
        assert_eq!(history.summary(), Summary::default());
    }

    #[test]
    fn entries_without_a_start_still_fold() {
        let history =
            History::from_entries(&entries(&[(5, started("a", 1)), (7, succeeded("a", 1))]))
                .unwrap();
        assert_eq!(history.executions.len(), 1);
        assert_eq!(history.started_at, None);
        assert_eq!(history.orchestration, "");
        assert_eq!(history.duration(), Duration::from_millis(7));
        // An end without its start: an attempt that took no time.
        let history =
            History::from_entries(&entries(&[(0, start()), (2, succeeded("a", 1))])).unwrap();
        let attempt = &history.executions[0].lanes[0].attempts[0];
        assert_eq!(
            (attempt.start, attempt.end),
            (Duration::from_millis(2), Some(Duration::from_millis(2)))
        );
    }
}
