//! `orch show --format mermaid`: a run as a Mermaid gantt chart.
//!
//! Times are milliseconds from the run's start (`dateFormat x`: Mermaid reads them as instants
//! of 1970-01-01, and the axis shows seconds and milliseconds). One section per service, one
//! task per attempt (`crit` when it failed), the waits between attempts (`done`), skips and
//! replays as milestones. A run resumed after a crash lays its executions end to end, as the
//! time it spent running (a millisecond apart), with a first section marking each execution.
//!
//! Mermaid has millisecond resolution here: starts are rounded down, ends up, and every task
//! lasts at least 1 ms. Text Mermaid gives a meaning to (`:` ends a task's name, `;` and `#`
//! start statements and entities, `%%` a comment) is replaced by `_`.

use std::fmt::Write as _;
use std::time::Duration;

use crate::history::{AttemptResult, Execution, History, Lane, Mark};

/// The chart, as Mermaid source ending with a newline.
pub fn render(history: &History) -> String {
    let mut chart = String::new();
    let (status, _) = crate::runs::status(history.finished().map(|finished| finished.status));
    let total = history.duration();
    let axis = if total < Duration::from_secs(60) {
        "%S.%L s"
    } else if total < Duration::from_secs(3600) {
        "%M:%S"
    } else {
        "%H:%M:%S"
    };
    // `compact`: a service's attempts share a row when they do not overlap.
    chart.push_str("---\ndisplayMode: compact\n---\ngantt\n");
    let _ = writeln!(
        chart,
        "    title {} ({}), {status}",
        text(&history.event_id),
        text(&history.orchestration)
    );
    chart.push_str("    dateFormat x\n");
    let _ = writeln!(chart, "    axisFormat {axis}");
    chart.push_str("    todayMarker off\n");

    // Where each execution starts on the chart: a millisecond after the previous one ends, so
    // that its last tasks, drawn at least 1 ms long, do not overlap the next one's.
    let mut shifts = Vec::new();
    let mut shift = 0;
    for execution in &history.executions {
        shifts.push(shift);
        shift = end_ms(shift, execution.end).saturating_add(1);
    }
    let count = history.executions.len();
    let several = count > 1;
    if several {
        chart.push_str("    section executions\n");
        for (execution, &shift) in history.executions.iter().zip(&shifts) {
            let ended = match execution.finished {
                Some(_) => "finished",
                None if execution.number < count => "stopped",
                None => "unfinished",
            };
            let end = end_ms(shift, execution.end).max(shift.saturating_add(1));
            let name = format!("execution {} ({ended})", execution.number);
            task(&mut chart, &name, "active", shift, end);
        }
    }

    let mut names: Vec<&str> = Vec::new();
    for execution in &history.executions {
        for lane in &execution.lanes {
            if !names.contains(&lane.service.as_str()) {
                names.push(&lane.service);
            }
        }
    }
    for name in names {
        let _ = writeln!(chart, "    section {}", text(name));
        for (execution, &shift) in history.executions.iter().zip(&shifts) {
            if let Some(lane) = execution.lanes.iter().find(|lane| lane.service == name) {
                lane_tasks(&mut chart, lane, execution, shift);
            }
        }
    }
    chart
}

/// A service's tasks in one execution. Names are short: Mermaid writes a name that does not fit
/// in its bar beside it, over its neighbours'; the execution is told by the time axis.
fn lane_tasks(chart: &mut String, lane: &Lane, execution: &Execution, shift: u64) {
    let mark_at = match &lane.mark {
        Some(Mark::Skipped { at, .. } | Mark::Cancelled { at, .. }) => Some(*at),
        Some(Mark::Replayed { .. }) | None => None,
    };
    let mut previous_end = None;
    for (index, attempt) in lane.attempts.iter().enumerate() {
        let start = start_ms(shift, attempt.start).max(previous_end.unwrap_or(0));
        let end = end_ms(shift, attempt.end.unwrap_or(execution.end)).max(start.saturating_add(1));
        let (what, tag) = match &attempt.result {
            AttemptResult::Succeeded => ("succeeded", ""),
            AttemptResult::Failed(_) => ("failed", "crit"),
            AttemptResult::Cancelled { .. } => ("cancelled", "done"),
            AttemptResult::Unfinished => ("unfinished", "active"),
        };
        let name = format!("{} {what}", attempt.number);
        task(chart, &name, tag, start, end);
        previous_end = Some(end);
        if let AttemptResult::Failed(failed) = &attempt.result
            && let Some(wait) = failed.retry_in
        {
            let until = match lane.attempts.get(index + 1) {
                Some(next) => start_ms(shift, next.start),
                // For the wait asked, within the execution, up to a cancellation.
                None => {
                    let ended = attempt.end.unwrap_or(execution.end);
                    let mut until = ended.saturating_add(wait).min(execution.end);
                    if let Some(at) = mark_at {
                        until = until.min(at);
                    }
                    end_ms(shift, until)
                }
            };
            if until > end {
                task(chart, "wait", "done", end, until);
                previous_end = Some(until);
            }
        }
    }
    let (name, at) = match &lane.mark {
        Some(Mark::Skipped {
            at,
            dependency,
            cause,
        }) if dependency == cause => (format!("skipped (needs {dependency})"), at),
        Some(Mark::Skipped {
            at,
            dependency,
            cause,
        }) => (format!("skipped (needs {dependency}, root {cause})"), at),
        // Unless the attempt it stopped, drawn above, shows it.
        Some(Mark::Cancelled { at, .. })
            if !matches!(
                lane.attempts.last(),
                Some(attempt) if matches!(attempt.result, AttemptResult::Cancelled { .. })
            ) =>
        {
            ("cancelled".to_owned(), at)
        }
        Some(Mark::Replayed { at, status, .. }) => (format!("replayed ({status})"), at),
        _ => return,
    };
    let at = start_ms(shift, *at);
    task(chart, &name, "milestone", at, at);
}

fn task(chart: &mut String, name: &str, tag: &str, start: u64, end: u64) {
    let tag = if tag.is_empty() {
        String::new()
    } else {
        format!("{tag}, ")
    };
    let _ = writeln!(chart, "    {} :{tag}{start}, {end}", text(name));
}

/// `offset` after `shift` ms, in whole ms rounded down.
fn start_ms(shift: u64, offset: Duration) -> u64 {
    shift.saturating_add(u64::try_from(offset.as_millis()).unwrap_or(u64::MAX))
}

/// `offset` after `shift` ms, in whole ms rounded up.
fn end_ms(shift: u64, offset: Duration) -> u64 {
    let ms = offset.as_nanos().div_ceil(1_000_000);
    shift.saturating_add(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// Text as Mermaid reads it literally in a title, a section or a task name.
fn text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " -_.,/()[]@+='!?&*~".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        "_".to_owned()
    } else {
        trimmed.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::tests::{entries, failed, start, started, succeeded};
    use serde_json::json;

    #[test]
    fn attempts_waits_and_skips_are_tasks_in_their_service_section() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("pay", 1)),
            (0, failed("pay", 1, Some(20))),
            (21, started("pay", 2)),
            (23, succeeded("pay", 2)),
            (
                23,
                json!({"type": "service_skipped", "service": "ship", "dependency": "pay",
                        "cause": "pay"}),
            ),
        ]))
        .unwrap();
        assert_eq!(
            render(&history),
            "---\ndisplayMode: compact\n---\ngantt\n    title evt-1 (checkout), unfinished\n    \
             dateFormat x\n    axisFormat %S.%L s\n    todayMarker off\n    section pay\n    \
             1 failed :crit, 0, 1\n    wait :done, 1, 21\n    \
             2 succeeded :21, 23\n    section ship\n    \
             skipped (needs pay) :milestone, 23, 23\n"
        );
    }

    #[test]
    fn a_service_cancelled_while_waiting_to_retry_stops_waiting_there() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("pay", 1)),
            (10, failed("pay", 1, Some(1000))),
            (
                40,
                json!({"type": "service_cancelled", "service": "pay",
                       "reason": "the run was cancelled"}),
            ),
            (100, started("slow", 1)),
        ]))
        .unwrap();
        let chart = render(&history);
        assert!(
            chart.contains(
                "    section pay\n    1 failed :crit, 0, 10\n    wait :done, 10, 40\n    \
                 cancelled :milestone, 40, 40\n"
            ),
            "{chart}"
        );
    }

    #[test]
    fn times_at_the_end_of_the_range_do_not_overflow() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (5, started("pay", 1)),
            (9, succeeded("pay", 1)),
        ]))
        .unwrap();
        let execution = &history.executions[0];
        let mut chart = String::new();
        lane_tasks(&mut chart, &execution.lanes[0], execution, u64::MAX - 1);
        assert_eq!(
            chart,
            format!("    1 succeeded :{max}, {max}\n", max = u64::MAX)
        );
    }

    #[test]
    fn text_mermaid_would_read_as_syntax_is_replaced() {
        assert_eq!(text("evt:1; #x %% y\nz"), "evt_1_ _x __ y_z");
        assert_eq!(text("  "), "_");
        assert_eq!(text("évt-1 (ok)"), "évt-1 (ok)");
    }

    #[test]
    fn executions_are_laid_end_to_end() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("pay", 1)),
            (10, succeeded("pay", 1)),
            (12, started("ship", 1)),
            (0, start()),
            (
                0,
                json!({"type": "service_replayed", "service": "pay", "attempt": 1,
                       "status": "succeeded"}),
            ),
            (0, started("ship", 1)),
            (5, succeeded("ship", 1)),
        ]))
        .unwrap();
        let chart = render(&history);
        assert!(
            chart.contains(
                "    section executions\n    \
             execution 1 (stopped) :active, 0, 12\n    \
             execution 2 (unfinished) :active, 13, 18\n"
            ),
            "{chart}"
        );
        assert!(
            chart.contains(
                "    section pay\n    1 succeeded :0, 10\n    \
             replayed (succeeded) :milestone, 13, 13\n"
            ),
            "{chart}"
        );
        assert!(
            chart.contains(
                "    section ship\n    1 unfinished :active, 12, 13\n    \
             1 succeeded :13, 18\n"
            ),
            "{chart}"
        );
    }

    #[test]
    fn cancelled_and_unfinished_attempts_and_root_causes() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("pay", 1)),
            (0, started("slow", 1)),
            (0, started("hang", 1)),
            (4, failed("pay", 1, None)),
            (
                4,
                json!({"type": "service_skipped", "service": "ship", "dependency": "pay",
                       "cause": "pay"}),
            ),
            (
                4,
                json!({"type": "service_skipped", "service": "mail", "dependency": "ship",
                       "cause": "pay"}),
            ),
            (
                9,
                json!({"type": "service_cancelled", "service": "slow", "attempt": 1,
                       "reason": "the run was cancelled"}),
            ),
            (
                9,
                json!({"type": "service_cancelled", "service": "never",
                       "reason": "the run was cancelled"}),
            ),
        ]))
        .unwrap();
        let chart = render(&history);
        for line in [
            "    title evt-1 (checkout), unfinished\n",
            "    section pay\n    1 failed :crit, 0, 4\n",
            "    section slow\n    1 cancelled :done, 0, 9\n",
            "    section hang\n    1 unfinished :active, 0, 9\n",
            "    section ship\n    skipped (needs pay) :milestone, 4, 4\n",
            "    section mail\n    skipped (needs ship, root pay) :milestone, 4, 4\n",
            "    section never\n    cancelled :milestone, 9, 9\n",
        ] {
            assert!(chart.contains(line), "{line:?} not in\n{chart}");
        }
    }
}
