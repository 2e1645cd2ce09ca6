//! `orch show` as text: the run's header, each service with its outcome, attempts and warnings,
//! then the timeline of each execution.

use orch::{RunStatus, Status, StopReason, Summary};

use crate::history::{Attempt, AttemptResult, Execution, History, Outcome, Service};
use crate::style::{self, Paint, Tone};
use crate::timeline;

/// The text view of `history`, line by line, for `width` columns.
pub fn render(history: &History, width: usize, paint: Paint) -> Vec<String> {
    let mut lines = header(history, paint);
    let services = history.services();
    let label_width = services
        .iter()
        .map(|service| style::width(&style::clean(service.name)))
        .max()
        .unwrap_or(0);
    let several = history.executions.len() > 1;

    lines.push(String::new());
    lines.push(paint.paint(Tone::Strong, "services"));
    let attempt_lines: Vec<Vec<[String; 3]>> = services
        .iter()
        .map(|service| {
            service
                .attempts
                .iter()
                .map(|(execution, attempt)| attempt_columns(*execution, attempt, several))
                .collect()
        })
        .collect();
    let mut widths = [0; 3];
    for columns in attempt_lines.iter().flatten() {
        for (width, column) in widths.iter_mut().zip(columns) {
            *width = (*width).max(style::width(column));
        }
    }
    // The attempt column lines up with the service names, under the outcomes.
    let first = widths[0].max(label_width.saturating_sub(2));
    let last_execution = history.executions.len();
    for (service, attempts) in services.iter().zip(&attempt_lines) {
        let (text, tone) = outcome(service, several);
        lines.push(format!(
            "  {}  {}",
            style::pad(&style::clean(service.name), label_width),
            paint.paint(tone, &text)
        ));
        for ((execution, attempt), columns) in service.attempts.iter().zip(attempts) {
            let result = attempt_result(attempt, *execution == last_execution, paint);
            lines.push(format!(
                "    {}  {}  {}  {}",
                style::pad(&columns[0], first),
                style::pad(&columns[1], widths[1]),
                style::pad(&columns[2], widths[2]),
                result
            ));
        }
        for (execution, warning) in &service.warnings {
            let whence = if several {
                format!("attempt {}, execution {execution}", warning.attempt)
            } else {
                format!("attempt {}", warning.attempt)
            };
            lines.push(format!(
                "    {}{}  {} ({whence})",
                paint.paint(Tone::Attention, "warning"),
                " ".repeat(first.saturating_sub(style::width("warning"))),
                style::clean(&warning.message)
            ));
        }
    }

    lines.push(String::new());
    let cells = timeline::bar_cells(width, label_width);
    let legend = timeline::legend(&history.executions, cells, paint);
    lines.push(
        format!("{}  {legend}", paint.paint(Tone::Strong, "timeline"))
            .trim_end()
            .to_owned(),
    );
    for execution in &history.executions {
        if several {
            lines.push(String::new());
            lines.push(format!(
                "  {}",
                execution_heading(execution, history.executions.len())
            ));
        }
        lines.extend(timeline::render(execution, label_width, cells, paint));
    }
    lines
}

fn header(history: &History, paint: Paint) -> Vec<String> {
    let mut fields: Vec<(&str, String)> = Vec::new();
    match history.started_at {
        // The orchestration and the request are known from the run's start only.
        Some(at) => {
            fields.push((
                "orchestration",
                style::clean(&history.orchestration).into_owned(),
            ));
            fields.push((
                "tenant",
                format!(
                    "{} (organization {})",
                    style::clean(&history.tenant_id),
                    style::clean(&history.organization_id)
                ),
            ));
            fields.push(("started", style::to_millisecond(at)));
        }
        None => fields.push(("started", "not recorded".to_owned())),
    }
    let executions = history.executions.len();
    let duration = style::duration(history.duration());
    fields.push((
        "duration",
        if executions > 1 {
            format!("{duration}, over {executions} executions")
        } else {
            duration
        },
    ));
    let finished = history.finished();
    let (status, tone) = crate::runs::status(finished.map(|finished| finished.status));
    let status = match finished {
        Some(_) => paint.paint(tone, status),
        None => format!(
            "{} (running, or its process died)",
            paint.paint(tone, status)
        ),
    };
    fields.push((
        "status",
        format!("{status}: {}", counts(&history.summary())),
    ));
    if let Some(reason) = finished.and_then(|finished| finished.reason.as_deref()) {
        fields.push(("interrupted", style::clean(reason).into_owned()));
    }
    if executions > 1 {
        let times = if executions == 2 {
            "once".to_owned()
        } else {
            format!("{} times", executions - 1)
        };
        fields.push(("executions", format!("{executions} (resumed {times})")));
    }
    let mut lines = vec![paint.paint(
        Tone::Strong,
        &format!("run {}", style::clean(&history.event_id)),
    )];
    for (name, value) in fields {
        lines.push(format!("  {}  {value}", style::pad(name, 13)));
    }
    lines
}

fn counts(summary: &Summary) -> String {
    format!(
        "{} succeeded, {} failed, {} skipped, {} cancelled",
        summary.succeeded, summary.failed, summary.skipped, summary.cancelled
    )
}

/// A service's outcome across executions, and its tone.
fn outcome(service: &Service<'_>, several: bool) -> (String, Tone) {
    let whence = |execution: usize| {
        if several {
            format!(" in execution {execution}")
        } else {
            String::new()
        }
    };
    let (mut text, tone) = match &service.outcome {
        Outcome::Succeeded {
            attempt: 1,
            execution,
        } => (format!("succeeded{}", whence(*execution)), Tone::Succeeded),
        Outcome::Succeeded { attempt, execution } => (
            format!("succeeded on attempt {attempt}{}", whence(*execution)),
            Tone::Succeeded,
        ),
        Outcome::Failed {
            attempt,
            execution,
            stop,
        } => {
            let plural = if *attempt == 1 { "" } else { "s" };
            let why = stop.map(|stop| format!(" ({})", stop_reason(stop)));
            (
                format!(
                    "failed after {attempt} attempt{plural}{}{}",
                    whence(*execution),
                    why.unwrap_or_default()
                ),
                Tone::Failed,
            )
        }
        Outcome::Skipped { dependency, cause } if dependency == cause => (
            format!(
                "skipped because {} did not succeed",
                style::clean(dependency)
            ),
            Tone::Muted,
        ),
        Outcome::Skipped { dependency, cause } => (
            format!(
                "skipped because {} did not succeed (root cause {})",
                style::clean(dependency),
                style::clean(cause)
            ),
            Tone::Muted,
        ),
        Outcome::Cancelled { reason } => (
            format!("cancelled: {}", style::clean(reason)),
            Tone::Attention,
        ),
        Outcome::Replayed { attempt, status } => (
            format!("replayed from an earlier execution: {status} on attempt {attempt}"),
            match status {
                Status::Succeeded => Tone::Succeeded,
                Status::Failed => Tone::Failed,
                Status::Skipped => Tone::Muted,
                Status::Cancelled => Tone::Attention,
            },
        ),
        Outcome::Retrying { attempt } => (
            format!("unfinished: waiting to retry after attempt {attempt} failed"),
            Tone::Attention,
        ),
        Outcome::Running { attempt } => (
            format!("unfinished: attempt {attempt} has no recorded end"),
            Tone::Attention,
        ),
        Outcome::NoAttempt => (
            "unfinished: no attempt recorded".to_owned(),
            Tone::Attention,
        ),
    };
    if !service.replayed_in.is_empty() && !matches!(service.outcome, Outcome::Replayed { .. }) {
        let executions: Vec<String> = service.replayed_in.iter().map(usize::to_string).collect();
        let plural = if executions.len() == 1 { "" } else { "s" };
        text.push_str(&format!(
            ", replayed in execution{plural} {}",
            executions.join(", ")
        ));
    }
    (text, tone)
}

fn stop_reason(stop: StopReason) -> String {
    match stop {
        StopReason::Permanent => "permanent error".to_owned(),
        StopReason::Panicked => "panicked".to_owned(),
        StopReason::AttemptsExhausted => "no attempts left".to_owned(),
        StopReason::BudgetExhausted => "retry budget spent".to_owned(),
        StopReason::RetryAfterTooLong { after } => format!(
            "asked to retry in {}, later than the policy allows",
            style::duration(after)
        ),
        _ => "stopped".to_owned(),
    }
}

/// `attempt 2`, `at 21 ms` (with the execution when there are several), `took 0.1 ms`.
fn attempt_columns(execution: usize, attempt: &Attempt, several: bool) -> [String; 3] {
    let at = if several {
        format!(
            "execution {execution}, at {}",
            style::duration(attempt.start)
        )
    } else {
        format!("at {}", style::duration(attempt.start))
    };
    let took = match attempt.end {
        Some(end) => format!(
            "took {}",
            style::duration(end.saturating_sub(attempt.start))
        ),
        None => "took ?".to_owned(),
    };
    [format!("attempt {}", attempt.number), at, took]
}

/// How an attempt ended: its first word, in its tone, then the details, plain.
fn attempt_result(attempt: &Attempt, in_last_execution: bool, paint: Paint) -> String {
    let (word, tone, details) = match &attempt.result {
        AttemptResult::Succeeded => ("succeeded", Tone::Succeeded, String::new()),
        AttemptResult::Failed(failed) => {
            let mut details = String::new();
            if failed.timed_out {
                details.push_str(", timed out");
            }
            if failed.panicked {
                details.push_str(", panicked");
            }
            details.push_str(": ");
            details.push_str(&style::clean(&failed.error));
            if let Some(wait) = failed.retry_in {
                details.push_str(&format!("; retry in {}", style::duration(wait)));
            }
            ("failed", Tone::Failed, details)
        }
        AttemptResult::Cancelled { reason } => (
            "cancelled",
            Tone::Attention,
            format!(": {}", style::clean(reason)),
        ),
        AttemptResult::Unfinished if in_last_execution => (
            "no end recorded",
            Tone::Attention,
            ": running, or its process died".to_owned(),
        ),
        AttemptResult::Unfinished => (
            "no end recorded",
            Tone::Attention,
            ": its execution stopped while it ran".to_owned(),
        ),
    };
    format!("{}{details}", paint.paint(tone, word))
}

/// `execution 2 of 2 (resumed: payments, fraud_check replayed)`.
fn execution_heading(execution: &Execution, of: usize) -> String {
    let mut notes = Vec::new();
    if execution.number > 1 {
        let replayed: Vec<String> = execution
            .replayed()
            .iter()
            .map(|service| style::clean(service).into_owned())
            .collect();
        notes.push(if replayed.is_empty() {
            "resumed: nothing replayed".to_owned()
        } else {
            format!("resumed: {} replayed", replayed.join(", "))
        });
    }
    match &execution.finished {
        Some(finished) if finished.status == RunStatus::Interrupted => {
            notes.push("interrupted".to_owned());
        }
        Some(_) => {}
        None if execution.number < of => notes.push("stopped without finishing".to_owned()),
        None => notes.push("unfinished: running, or its process died".to_owned()),
    }
    format!(
        "execution {} of {of} ({})",
        execution.number,
        notes.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::{entries, failed, start, started, succeeded};
    use serde_json::json;

    #[test]
    fn an_interrupted_run_says_why_and_how_each_service_ended() {
        let deadline = "the run's deadline passed";
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("pay", 1)),
            (0, started("fraud", 1)),
            (0, started("slow", 1)),
            (
                2000,
                json!({"type": "attempt_failed", "service": "pay", "attempt": 1,
                       "error": "timed out after 2s", "panicked": false, "timed_out": true,
                       "retry_in_ns": 100_000_000u64}),
            ),
            (
                5,
                json!({"type": "attempt_failed", "service": "fraud", "attempt": 1,
                       "error": "index out of bounds", "panicked": true,
                       "stop": {"reason": "panicked"}}),
            ),
            (2100, started("pay", 2)),
            (2150, succeeded("pay", 2)),
            (
                2150,
                json!({"type": "service_skipped", "service": "ship", "dependency": "fraud",
                       "cause": "fraud"}),
            ),
            (
                2150,
                json!({"type": "service_skipped", "service": "mail", "dependency": "ship",
                       "cause": "fraud"}),
            ),
            (
                3000,
                json!({"type": "service_cancelled", "service": "slow", "attempt": 1,
                       "reason": deadline}),
            ),
            (
                3000,
                json!({"type": "run_finished", "status": "interrupted", "reason": deadline,
                       "summary": {"succeeded": 1, "failed": 1, "skipped": 2, "cancelled": 1}}),
            ),
        ]))
        .unwrap();
        let lines = render(&history, 60, Paint::new(false));
        let text = lines.join("\n");
        assert_eq!(
            text,
            "\
run evt-1
  orchestration  checkout
  tenant         t (organization o)
  started        2026-11-29T10:01:00.000Z
  duration       3 s
  status         interrupted: 1 succeeded, 1 failed, 2 skipped, 1 cancelled
  interrupted    the run's deadline passed

services
  pay    succeeded on attempt 2
    attempt 1  at 0 ms   took 2 s    failed, timed out: timed out after 2s; retry in 100 ms
    attempt 2  at 2.1 s  took 50 ms  succeeded
  fraud  failed after 1 attempt (panicked)
    attempt 1  at 0 ms   took 5 ms   failed, panicked: index out of bounds
  slow   cancelled: the run's deadline passed
    attempt 1  at 0 ms   took 3 s    cancelled: the run's deadline passed
  ship   skipped because fraud did not succeed
  mail   skipped because ship did not succeed (root cause fraud)

timeline  █ succeeded  ▒ failed  · waiting to retry  × cancelled  - skipped
  pay    ▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒▒·██
  fraud  ▒
  slow   ×××××××××××××××××××××××××××××××××××××××××××××××××××
  ship                                       -
  mail                                       -
         0                                               3 s"
        );
        // 3 s over 51 cells: pay's first attempt takes cells 0-33, its wait 34, its second
        // attempt (2100-2150 ms) 35-36; the skips are at 2150 ms, in cell 36.
        let timeline = lines
            .iter()
            .skip_while(|line| !line.starts_with("timeline"));
        assert!(timeline.skip(1).all(|line| line.chars().count() <= 60));
    }

    #[test]
    fn a_journal_without_a_start_or_an_attempt_says_what_it_lacks() {
        let history = History::from_entries(&entries(&[
            (
                1,
                json!({"type": "warning", "service": "a", "attempt": 1, "message": "hm"}),
            ),
            (2, started("b", 1)),
        ]))
        .unwrap();
        let lines = render(&history, 40, Paint::new(false));
        assert_eq!(
            lines[..8],
            [
                "run evt-1",
                "  started        not recorded",
                "  duration       2 ms",
                "  status         unfinished (running, or its process died): 0 succeeded, 0 \
                 failed, 0 skipped, 0 cancelled",
                "",
                "services",
                "  a  unfinished: no attempt recorded",
                "    warning    hm (attempt 1)",
            ]
        );
    }

    #[test]
    fn an_unfinished_run_says_so() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("pay", 1)),
            (3, failed("pay", 1, Some(50))),
            (3, started("ship", 1)),
        ]))
        .unwrap();
        let text = render(&history, 40, Paint::new(false)).join("\n");
        assert!(
            text.contains(
                "  status         unfinished (running, or its process died): 0 succeeded"
            ),
            "{text}"
        );
        assert!(
            text.contains("  pay   unfinished: waiting to retry after attempt 1 failed"),
            "{text}"
        );
        assert!(
            text.contains("  ship  unfinished: attempt 1 has no recorded end"),
            "{text}"
        );
        assert!(
            text.contains("took ?     no end recorded: running, or its process died"),
            "{text}"
        );
    }
}
