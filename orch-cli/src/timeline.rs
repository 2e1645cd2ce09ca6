//! The terminal timeline of one execution: a row per service, a bar per attempt on a shared time
//! axis, the waits between attempts, skips and cancellations, and an axis from 0 to the
//! execution's end.
//!
//! Glyphs tell outcomes apart without colour: `█` an attempt that succeeded, `▒` one that failed,
//! `░` one with no recorded end, `·` waiting to retry, `×` cancelled, `-` skipped. Every attempt
//! gets at least one cell, however short: when two would share a cell, the later one moves to
//! the next.

use std::time::Duration;

use crate::history::{AttemptResult, Execution, Lane, Mark};
use crate::style::{self, Paint, Tone};

/// The fewest cells a bar gets, however narrow the output.
pub const MIN_CELLS: usize = 10;

/// Maps instants of an execution (offsets from its start) to cells of a bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    end: u128,
    cells: usize,
}

impl Scale {
    /// `cells` cells (at least one) for the time from 0 to `end`.
    pub fn new(end: Duration, cells: usize) -> Self {
        Scale {
            end: end.as_nanos(),
            cells: cells.max(1),
        }
    }

    /// How many cells the bar has.
    pub fn cells(&self) -> usize {
        self.cells
    }

    /// The cell instant `at` falls in: `floor(at / end * cells)`, the last one for `end` (and
    /// for every instant when `end` is 0).
    pub fn cell(&self, at: Duration) -> usize {
        if self.end == 0 {
            return 0;
        }
        let cell = at.as_nanos().saturating_mul(self.cells as u128) / self.end;
        usize::try_from(cell).map_or(self.cells - 1, |cell| cell.min(self.cells - 1))
    }

    /// The cells `[first, last)` the time from `start` to `end` covers: at least one.
    pub fn span(&self, start: Duration, end: Duration) -> (usize, usize) {
        let first = self.cell(start);
        let last = if self.end == 0 {
            first + 1
        } else {
            let scaled = end.as_nanos().saturating_mul(self.cells as u128);
            let last = scaled.div_ceil(self.end);
            usize::try_from(last).map_or(self.cells, |last| last.min(self.cells))
        };
        (first, last.max(first + 1))
    }
}

/// What one cell of a bar shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    /// Nothing happened.
    Empty,
    /// An attempt that succeeded.
    Succeeded,
    /// An attempt that failed (an error, a panic, a timeout).
    Failed,
    /// An attempt with no recorded end: running when the execution's journal ends.
    Unfinished,
    /// Waiting to retry after a failed attempt.
    Waiting,
    /// An attempt stopped, or a service not started, because the run was interrupted.
    Cancelled,
    /// A service not called because a dependency did not succeed.
    Skipped,
}

impl Cell {
    /// Its glyph.
    pub fn glyph(self) -> char {
        match self {
            Cell::Empty => ' ',
            Cell::Succeeded => '█',
            Cell::Failed => '▒',
            Cell::Unfinished => '░',
            Cell::Waiting => '·',
            Cell::Cancelled => '×',
            Cell::Skipped => '-',
        }
    }

    fn tone(self) -> Tone {
        match self {
            Cell::Succeeded => Tone::Succeeded,
            Cell::Failed => Tone::Failed,
            Cell::Unfinished | Cell::Cancelled => Tone::Attention,
            Cell::Empty | Cell::Waiting | Cell::Skipped => Tone::Muted,
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            Cell::Empty => "",
            Cell::Succeeded => "succeeded",
            Cell::Failed => "failed",
            Cell::Unfinished => "no end recorded",
            Cell::Waiting => "waiting to retry",
            Cell::Cancelled => "cancelled",
            Cell::Skipped => "skipped",
        }
    }
}

/// The cells of one service's row.
pub fn cells(lane: &Lane, scale: &Scale, execution_end: Duration) -> Vec<Cell> {
    let n = scale.cells();
    let mut cells = vec![Cell::Empty; n];
    let mark_at = match &lane.mark {
        Some(Mark::Skipped { at, .. } | Mark::Cancelled { at, .. }) => Some(*at),
        Some(Mark::Replayed { .. }) | None => None,
    };
    // The first cell after the previous attempt: the next one starts there at the earliest.
    let mut free = 0;
    for (index, attempt) in lane.attempts.iter().enumerate() {
        let end = attempt.end.unwrap_or(execution_end).max(attempt.start);
        let (first, last) = scale.span(attempt.start, end);
        let first = first.max(free).min(n - 1);
        let last = last.max(first + 1).min(n);
        let cell = match &attempt.result {
            AttemptResult::Succeeded => Cell::Succeeded,
            AttemptResult::Failed(_) => Cell::Failed,
            AttemptResult::Cancelled { .. } => Cell::Cancelled,
            AttemptResult::Unfinished => Cell::Unfinished,
        };
        cells[first..last].fill(cell);
        free = last;
        if let AttemptResult::Failed(failed) = &attempt.result
            && let Some(wait) = failed.retry_in
        {
            // Until the next attempt; else for the wait asked, within the execution, up to a
            // cancellation.
            let until = match lane.attempts.get(index + 1) {
                Some(next) => scale.cell(next.start),
                None => {
                    let mut until = end.saturating_add(wait).min(execution_end);
                    if let Some(at) = mark_at {
                        until = until.min(at);
                    }
                    scale.span(end, until).1
                }
            };
            for cell in cells.iter_mut().take(until).skip(last) {
                *cell = Cell::Waiting;
            }
        }
    }
    let mark = match &lane.mark {
        Some(Mark::Skipped { at, .. }) => Some((*at, Cell::Skipped)),
        Some(Mark::Cancelled { at, .. }) => Some((*at, Cell::Cancelled)),
        Some(Mark::Replayed { .. }) | None => None,
    };
    if let Some((at, mark)) = mark {
        let cell = scale.cell(at);
        if matches!(cells[cell], Cell::Empty | Cell::Waiting) {
            cells[cell] = mark;
        }
    }
    cells
}

/// How many cells a bar gets in `width` columns, after the row's label.
pub fn bar_cells(width: usize, label_width: usize) -> usize {
    width.saturating_sub(label_width + 4).max(MIN_CELLS)
}

/// The rows of one execution's timeline, then its axis: `label_width` is the width of the
/// service names' column, `cells` the bar's.
pub fn render(
    execution: &Execution,
    label_width: usize,
    cells: usize,
    paint: Paint,
) -> Vec<String> {
    let scale = Scale::new(execution.end, cells);
    let mut lines = Vec::new();
    for lane in &execution.lanes {
        let label = style::pad(&style::clean(&lane.service), label_width);
        let bar = match &lane.mark {
            Some(Mark::Replayed {
                attempt, status, ..
            }) => {
                let text =
                    format!("replayed: {status} on attempt {attempt} in an earlier execution");
                paint.paint(
                    Tone::Replayed,
                    &text.chars().take(cells).collect::<String>(),
                )
            }
            _ => paint_cells(&self::cells(lane, &scale, execution.end), paint),
        };
        lines.push(format!("  {label}  {bar}").trim_end().to_owned());
    }
    let end = style::duration(execution.end);
    let axis = if cells >= end.chars().count() + 2 {
        format!("0{}", style::pad_left(&end, cells - 1))
    } else {
        format!("0 {end}")
    };
    lines.push(format!(
        "  {}  {}",
        " ".repeat(label_width),
        paint.paint(Tone::Muted, &axis)
    ));
    lines
}

/// The legend of the glyphs these executions' timelines use, in a fixed order.
pub fn legend(executions: &[Execution], cells: usize, paint: Paint) -> String {
    let mut used = Vec::new();
    for execution in executions {
        let scale = Scale::new(execution.end, cells);
        for lane in &execution.lanes {
            used.extend(self::cells(lane, &scale, execution.end));
        }
    }
    used.sort();
    used.dedup();
    used.iter()
        .filter(|cell| **cell != Cell::Empty)
        .map(|cell| {
            format!(
                "{} {}",
                paint.paint(cell.tone(), &cell.glyph().to_string()),
                cell.meaning()
            )
        })
        .collect::<Vec<_>>()
        .join("  ")
}

/// Cells as glyphs, each run of one kind painted once.
fn paint_cells(cells: &[Cell], paint: Paint) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let mut kind = None;
    for &cell in cells {
        if kind != Some(cell) {
            if let Some(kind) = kind {
                out.push_str(&paint_run(kind, &run, paint));
            }
            run.clear();
            kind = Some(cell);
        }
        run.push(cell.glyph());
    }
    if let Some(kind) = kind {
        out.push_str(&paint_run(kind, &run, paint));
    }
    out
}

fn paint_run(kind: Cell, run: &str, paint: Paint) -> String {
    if kind == Cell::Empty {
        run.to_owned()
    } else {
        paint.paint(kind.tone(), run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::history::tests::{entries, failed, start, started, succeeded};
    use serde_json::json;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn row(cells: &[Cell]) -> String {
        cells.iter().map(|cell| cell.glyph()).collect()
    }

    #[test]
    fn instants_fall_in_exact_cells() {
        let scale = Scale::new(ms(100), 10);
        assert_eq!(scale.cell(ms(0)), 0);
        assert_eq!(scale.cell(ms(9)), 0);
        assert_eq!(scale.cell(ms(10)), 1);
        assert_eq!(scale.cell(ms(55)), 5);
        assert_eq!(scale.cell(ms(99)), 9);
        assert_eq!(scale.cell(ms(100)), 9);
        assert_eq!(scale.cell(ms(500)), 9);
        assert_eq!(scale.span(ms(20), ms(40)), (2, 4));
        assert_eq!(scale.span(ms(20), ms(41)), (2, 5));
        assert_eq!(scale.span(ms(0), ms(100)), (0, 10));
        // However short, a cell.
        assert_eq!(scale.span(ms(33), ms(33)), (3, 4));
        assert_eq!(scale.span(ms(100), ms(100)), (9, 10));
        // A run that took no time at all: everything in the first cell.
        let instant = Scale::new(Duration::ZERO, 10);
        assert_eq!(instant.cell(ms(5)), 0);
        assert_eq!(instant.span(ms(0), ms(0)), (0, 1));
        assert_eq!(Scale::new(ms(1), 0).cells(), 1);
    }

    #[test]
    fn bars_sit_at_their_offsets_with_the_waits_between_attempts() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("pay", 1)),
            (10, failed("pay", 1, Some(20))),
            (30, started("pay", 2)),
            (30, failed("pay", 2, Some(40))),
            (70, started("pay", 3)),
            (80, succeeded("pay", 3)),
            (0, started("stock", 1)),
            (50, succeeded("stock", 1)),
            (
                100,
                json!({"type": "run_finished", "status": "succeeded",
                         "summary": {"succeeded": 2, "failed": 0, "skipped": 0, "cancelled": 0}}),
            ),
        ]))
        .unwrap();
        let execution = &history.executions[0];
        let scale = Scale::new(execution.end, 20);
        let pay = cells(&execution.lanes[0], &scale, execution.end);
        // 5 ms a cell: attempt 1 in cells 0-1, waits 2-5, attempt 2 (no time) in 6, waits 7-13,
        // attempt 3 in 14-15.
        assert_eq!(row(&pay), "▒▒····▒·······██    ");
        let stock = cells(&execution.lanes[1], &scale, execution.end);
        assert_eq!(row(&stock), "██████████          ");
    }

    #[test]
    fn attempts_too_short_or_too_close_for_a_cell_each_still_get_one() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("a", 1)),
            (0, failed("a", 1, Some(0))),
            (0, started("a", 2)),
            (0, failed("a", 2, Some(0))),
            (0, started("a", 3)),
            (0, succeeded("a", 3)),
            (1000, started("b", 1)),
            (1000, succeeded("b", 1)),
        ]))
        .unwrap();
        let execution = &history.executions[0];
        let scale = Scale::new(execution.end, 10);
        assert_eq!(
            row(&cells(&execution.lanes[0], &scale, execution.end)),
            "▒▒█       "
        );
        assert_eq!(
            row(&cells(&execution.lanes[1], &scale, execution.end)),
            "         █"
        );
    }

    #[test]
    fn skips_cancellations_and_unfinished_attempts_have_their_glyphs() {
        let history = History::from_entries(&entries(&[
            (0, start()),
            (0, started("pay", 1)),
            (10, failed("pay", 1, Some(100))),
            (
                10,
                json!({"type": "service_skipped", "service": "ship", "dependency": "pay",
                        "cause": "pay"}),
            ),
            (0, started("stock", 1)),
            (
                40,
                json!({"type": "service_cancelled", "service": "pay",
                        "reason": "the run was cancelled"}),
            ),
            (
                40,
                json!({"type": "service_cancelled", "service": "stock", "attempt": 1,
                        "reason": "the run was cancelled"}),
            ),
            (0, started("mail", 1)),
        ]))
        .unwrap();
        let execution = &history.executions[0];
        let scale = Scale::new(execution.end, 8);
        let rows: Vec<String> = execution
            .lanes
            .iter()
            .map(|lane| row(&cells(lane, &scale, execution.end)))
            .collect();
        // 5 ms a cell. pay waits from 10 ms until it is cancelled at 40 ms, in the last cell.
        assert_eq!(rows, ["▒▒·····×", "  -     ", "××××××××", "░░░░░░░░"]);
        let rows = render(execution, 5, 8, Paint::new(false));
        assert_eq!(
            rows,
            [
                "  pay    ▒▒·····×",
                "  ship     -",
                "  stock  ××××××××",
                "  mail   ░░░░░░░░",
                "         0  40 ms",
            ]
        );
        assert_eq!(
            legend(&history.executions, 8, Paint::new(false)),
            "▒ failed  ░ no end recorded  · waiting to retry  × cancelled  - skipped"
        );
    }

    #[test]
    fn colour_wraps_each_run_of_a_kind_once() {
        let painted = paint_cells(
            &[
                Cell::Failed,
                Cell::Failed,
                Cell::Waiting,
                Cell::Empty,
                Cell::Succeeded,
            ],
            Paint::new(true),
        );
        assert_eq!(painted, "\x1b[31m▒▒\x1b[0m\x1b[2m·\x1b[0m \x1b[32m█\x1b[0m");
    }

    #[test]
    fn the_bar_fills_the_width_after_the_names() {
        assert_eq!(bar_cells(100, 12), 84);
        assert_eq!(bar_cells(20, 12), MIN_CELLS);
    }
}
