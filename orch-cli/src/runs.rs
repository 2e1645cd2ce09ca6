//! `orch runs`: the table of runs.

use std::time::Duration;

use orch::{JournalError, JournalReader, RunQuery, RunRecord, RunStatus, Summary, Timestamp};

use crate::history::History;
use crate::style::{self, Paint, Tone};

/// One row of the table.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The run's event id.
    pub event_id: String,
    /// Its orchestration.
    pub orchestration: String,
    /// Its tenant.
    pub tenant_id: String,
    /// When it first started.
    pub started_at: Timestamp,
    /// The time it spent running; `None` if its entries cannot be read.
    pub duration: Option<Duration>,
    /// How it ended; `None` if it has not.
    pub status: Option<RunStatus>,
    /// Its counts; `None` if its entries cannot be read.
    pub summary: Option<Summary>,
}

/// The rows of the runs `query` selects, newest first. A run whose entries cannot be read gets
/// a row without duration and counts, and its error is pushed to `problems`.
pub fn rows(
    reader: &JournalReader,
    query: &RunQuery,
    problems: &mut Vec<JournalError>,
) -> Result<Vec<Row>, JournalError> {
    let mut rows = Vec::new();
    for record in reader.runs(query)? {
        let history = match reader.entries(&record.event_id) {
            Ok(entries) => History::from_entries(&entries),
            Err(error) => {
                problems.push(error);
                None
            }
        };
        rows.push(row(record, history.as_ref()));
    }
    Ok(rows)
}

/// The row of `record`, with what its entries say when they could be read.
fn row(record: RunRecord, history: Option<&History>) -> Row {
    Row {
        duration: history.map(History::duration),
        summary: history.map(History::summary),
        status: current_status(record.status, history),
        event_id: record.event_id,
        orchestration: record.orchestration,
        tenant_id: record.tenant_id,
        started_at: record.started_at,
    }
}

/// How a run ended: as its entries say when they could be read, so that the status matches the
/// counts taken from them (the entries are read after the list of runs, and the run may have
/// finished in between; an event id run again after it finished keeps its earlier end in the
/// list), else as the list says.
fn current_status(listed: Option<RunStatus>, history: Option<&History>) -> Option<RunStatus> {
    match history {
        Some(history) => history.finished().map(|finished| finished.status),
        None => listed,
    }
}

/// The table: a header, then a line per row, columns aligned (numbers to the right).
pub fn table(rows: &[Row], paint: Paint) -> Vec<String> {
    const HEADER: [&str; 9] = [
        "event id",
        "orchestration",
        "tenant",
        "started (UTC)",
        "duration",
        "status",
        "succeeded",
        "failed",
        "skipped",
    ];
    /// Columns aligned to the right.
    const NUMERIC: [bool; 9] = [false, false, false, false, true, false, true, true, true];

    let unknown = || "?".to_owned();
    let cells: Vec<([String; 9], Tone)> = rows
        .iter()
        .map(|row| {
            let (status, tone) = status(row.status);
            let count = |pick: fn(&Summary) -> u32| {
                row.summary
                    .as_ref()
                    .map_or_else(unknown, |summary| pick(summary).to_string())
            };
            let cells = [
                style::clean(&row.event_id).into_owned(),
                style::clean(&row.orchestration).into_owned(),
                style::clean(&row.tenant_id).into_owned(),
                style::to_second(row.started_at),
                row.duration.map_or_else(unknown, style::duration),
                status.to_owned(),
                count(|summary| summary.succeeded),
                count(|summary| summary.failed),
                count(|summary| summary.skipped),
            ];
            (cells, tone)
        })
        .collect();
    let mut widths = HEADER.map(style::width);
    for (row, _) in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(style::width(cell));
        }
    }
    let line = |texts: [&str; 9], paint_cell: &dyn Fn(usize, String) -> String| {
        let columns: Vec<String> = texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let padded = if NUMERIC[index] {
                    style::pad_left(text, widths[index])
                } else {
                    style::pad(text, widths[index])
                };
                paint_cell(index, padded)
            })
            .collect();
        columns.join("  ").trim_end().to_owned()
    };
    let mut lines = vec![line(HEADER, &|_, text| paint.paint(Tone::Strong, &text))];
    for (row, tone) in &cells {
        let texts = [0, 1, 2, 3, 4, 5, 6, 7, 8].map(|index| row[index].as_str());
        lines.push(line(texts, &|index, text| {
            if index == 5 {
                // Padding stays outside the colour, so that a trailing trim cannot cut it.
                let trimmed = text.trim_end();
                let padding = &text[trimmed.len()..];
                format!("{}{padding}", paint.paint(*tone, trimmed))
            } else {
                text
            }
        }));
    }
    lines
}

/// A run's status as the table writes it.
pub fn status(status: Option<RunStatus>) -> (&'static str, Tone) {
    match status {
        Some(RunStatus::Succeeded) => ("succeeded", Tone::Succeeded),
        Some(RunStatus::Failed) => ("failed", Tone::Failed),
        Some(RunStatus::Interrupted) => ("interrupted", Tone::Attention),
        None => ("unfinished", Tone::Attention),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(event_id: &str, status: Option<RunStatus>, summary: Option<[u32; 3]>) -> Row {
        Row {
            event_id: event_id.to_owned(),
            orchestration: "checkout".to_owned(),
            tenant_id: "tenant-eu".to_owned(),
            started_at: Timestamp::from_unix(Duration::new(1_795_946_400, 5)),
            duration: summary.map(|_| Duration::from_micros(62_400)),
            status,
            summary: summary.map(|[succeeded, failed, skipped]| Summary {
                succeeded,
                failed,
                skipped,
                cancelled: 0,
            }),
        }
    }

    #[test]
    fn columns_are_aligned_and_numbers_right_aligned() {
        let rows = [
            row("evt-ord-1002", Some(RunStatus::Failed), Some([1, 2, 12])),
            row("evt-9", None, Some([3, 0, 0])),
            row("evt-bad", Some(RunStatus::Succeeded), None),
        ];
        let lines = table(&rows, Paint::new(false));
        assert_eq!(
            lines,
            [
                "event id      orchestration  tenant     started (UTC)         duration  status      succeeded  failed  skipped",
                "evt-ord-1002  checkout       tenant-eu  2026-11-29T10:00:00Z   62.4 ms  failed              1       2       12",
                "evt-9         checkout       tenant-eu  2026-11-29T10:00:00Z   62.4 ms  unfinished          3       0        0",
                "evt-bad       checkout       tenant-eu  2026-11-29T10:00:00Z         ?  succeeded           ?       ?        ?",
            ]
        );
    }

    #[test]
    fn the_status_is_the_one_the_counts_come_from() {
        use crate::history::tests::{entries, start, started, succeeded};
        use serde_json::json;
        let finished = History::from_entries(&entries(&[
            (0, start()),
            (0, started("a", 1)),
            (1, succeeded("a", 1)),
            (
                1,
                json!({"type": "run_finished", "status": "succeeded",
                       "summary": {"succeeded": 1, "failed": 0, "skipped": 0, "cancelled": 0}}),
            ),
        ]))
        .unwrap();
        // Listed unfinished, finished by the time its entries were read.
        assert_eq!(
            current_status(None, Some(&finished)),
            Some(RunStatus::Succeeded)
        );
        let running = History::from_entries(&entries(&[(0, start())])).unwrap();
        assert_eq!(
            current_status(Some(RunStatus::Failed), Some(&running)),
            None
        );
        // Entries that cannot be read: what the list says.
        assert_eq!(
            current_status(Some(RunStatus::Failed), None),
            Some(RunStatus::Failed)
        );
    }

    #[test]
    fn colour_does_not_move_the_columns() {
        let rows = [row("evt-1", Some(RunStatus::Failed), Some([1, 1, 0]))];
        let plain = table(&rows, Paint::new(false));
        let coloured = table(&rows, Paint::new(true));
        assert!(coloured[1].contains("\x1b[31mfailed\x1b[0m     "));
        let stripped: Vec<String> = coloured
            .iter()
            .map(|line| {
                line.replace("\x1b[31m", "")
                    .replace("\x1b[1m", "")
                    .replace("\x1b[0m", "")
            })
            .collect();
        assert_eq!(stripped, plain);
    }
}
