//! The command line: clap's types, with the help texts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXAMPLES: &str = "\
Examples:
  orch runs                                  # the 20 newest runs in ./orch.db
  orch --journal /var/lib/shop/orch.db runs --status failed --tenant tenant-eu
  orch show evt-ord-1001                     # what run evt-ord-1001 did, with a timeline
  orch show evt-ord-1001 --format mermaid    # the same, as a Mermaid gantt chart
  ORCH_JOURNAL=orch.db orch runs --status unfinished

Try it on the example's journal:
  cargo run --example checkout -- --journal orch.db
  cargo run -p orch-cli -- --journal orch.db runs";

const RUNS_EXAMPLES: &str = "\
Duration is the time the run spent running: for a run resumed after a crash, the sum of its
executions. A run whose end is not recorded is `unfinished`: still running, or its process died
(a durable run resumes when it is run again under the same event id); its counts are the
services decided so far.

Examples:
  orch runs
  orch runs --status failed --limit 5
  orch runs --tenant tenant-eu --status unfinished";

const SHOW_EXAMPLES: &str = "\
The text view lists each service's outcome, its attempts (with their errors and the wait before
the next one) and its warnings, then draws a timeline: one row per service, one bar per attempt
(█ succeeded, ▒ failed, ░ no end recorded, · waiting to retry, × cancelled, - skipped). A run
resumed after a crash gets a timeline per execution.

Examples:
  orch show evt-ord-1001
  orch show evt-ord-1001 --width 120 --color never
  orch show evt-ord-1001 --format mermaid > run.mmd
  orch show evt-ord-1001 --format json | jq .event.type";

/// Lists the runs an orch journal holds, and shows what each run did.
///
/// Reads a SqliteJournal file, without changing it, even while a process is writing it.
#[derive(Debug, Parser)]
#[command(name = "orch", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The journal to read [default: $ORCH_JOURNAL, else orch.db in the current directory]
    #[arg(
        long,
        global = true,
        value_name = "PATH",
        env = "ORCH_JOURNAL",
        hide_env = true
    )]
    pub journal: Option<PathBuf>,

    /// When to colour the output
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "WHEN",
        default_value_t = ColorWhen::Auto
    )]
    pub color: ColorWhen,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Lists the runs, the newest first, with their duration, status and counts
    #[command(after_help = RUNS_EXAMPLES)]
    Runs(RunsArgs),
    /// Shows what one run did: each service's attempts, errors and warnings, and a timeline
    #[command(after_help = SHOW_EXAMPLES)]
    Show(ShowArgs),
}

/// `orch runs`.
#[derive(Debug, Args)]
pub struct RunsArgs {
    /// Only the runs of this tenant
    #[arg(long, value_name = "TENANT_ID")]
    pub tenant: Option<String>,

    /// Only the runs that ended so, or have not ended
    #[arg(long, value_enum, value_name = "STATUS")]
    pub status: Option<StatusFilter>,

    /// At most this many runs (the newest)
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,
}

/// `orch show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The run's event id (`orch runs` lists them)
    pub event_id: String,

    /// `text` for people, `mermaid` for a gantt chart, `json` for the journal's entries as JSON
    /// Lines, one entry per line as orch writes it
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,

    /// The width of the timeline, in columns, at least 40 [default: $COLUMNS, else the
    /// terminal's, else 100]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(40..))]
    pub width: Option<u16>,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorWhen {
    /// When stdout is a terminal and NO_COLOR is unset or empty
    Auto,
    /// Always, even into a pipe
    Always,
    /// Never
    Never,
}

/// `runs --status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StatusFilter {
    /// Every service succeeded
    Succeeded,
    /// A service failed or was skipped
    Failed,
    /// The run was interrupted (cancelled, past its deadline, fail-fast, a journal error)
    Interrupted,
    /// No end recorded: running, or its process died
    Unfinished,
}

/// `show --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Services, attempts and a timeline, for a terminal
    Text,
    /// A Mermaid gantt chart
    Mermaid,
    /// The journal's entries as JSON Lines
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}
