//! The `orch` command: lists the runs an orch [`SqliteJournal`](orch::SqliteJournal) holds and
//! shows what each run did, as text with a timeline, as a Mermaid gantt chart, or as the
//! journal's JSON.
//!
//! The whole command is [`run`], which takes its arguments, its two output streams and the
//! [`Style`] the environment sets, so that tests run it in-process with fixed settings:
//!
//! ```
//! let (mut out, mut err) = (Vec::new(), Vec::new());
//! let args = ["orch", "--journal", "/nonexistent/orch.db", "runs"];
//! let code = orch_cli::run(args, &mut out, &mut err, orch_cli::Style::plain(100));
//! assert_eq!(code, 1);
//! assert_eq!(String::from_utf8(err).unwrap(), "orch: /nonexistent/orch.db: no such file\n");
//! ```
//!
//! The journal is opened read-only ([`orch::JournalReader`]): the command never creates or
//! changes it, and reads it while a process writes it.

#![warn(missing_docs)]

pub mod cli;
pub mod gantt;
pub mod history;
pub mod runs;
pub mod show;
pub mod style;
pub mod timeline;

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::Parser;
use orch::{JournalError, JournalReader, RunQuery, RunState, RunStatus};

use crate::cli::{Cli, ColorWhen, Command, Format, RunsArgs, ShowArgs, StatusFilter};
use crate::history::History;
pub use crate::style::Style;

/// The journal read when neither `--journal` nor `ORCH_JOURNAL` names one.
pub const DEFAULT_JOURNAL: &str = "orch.db";

/// Exit code: done (also when stdout was closed early, as by `head`).
pub const SUCCESS: u8 = 0;
/// Exit code: the journal is missing, foreign or damaged, or the run is not in it.
pub const FAILURE: u8 = 1;
/// Exit code: the command line is wrong (clap's usage errors).
pub const USAGE: u8 = 2;

/// Runs the command: `args` as the process got them (the program's name first), normal output to
/// `out`, errors to `err`, one line each (`orch: <file>: <what is wrong>`). Returns the exit code:
/// [`SUCCESS`], [`FAILURE`] or [`USAGE`].
///
/// `style` is what the environment says about colour and width ([`Style::from_env`] in the real
/// command); `--color` and `--width` override it.
pub fn run<I, T>(args: I, out: &mut dyn Write, err: &mut dyn Write, style: Style) -> u8
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to stdout with success; usage errors to stderr. Both plain.
            let text = error.render().to_string();
            let written = if error.use_stderr() {
                write_all(err, &text)
            } else {
                write_all(out, &text)
            };
            return match written {
                Ok(()) => u8::try_from(error.exit_code()).unwrap_or(USAGE),
                Err(error) if error.kind() == io::ErrorKind::BrokenPipe => SUCCESS,
                Err(_) => FAILURE,
            };
        }
    };
    let color = match cli.color {
        ColorWhen::Auto => style.color,
        ColorWhen::Always => true,
        ColorWhen::Never => false,
    };
    let paint = style::Paint::new(color);
    let journal = cli
        .journal
        .unwrap_or_else(|| PathBuf::from(DEFAULT_JOURNAL));
    let result = match &cli.command {
        Command::Runs(args) => runs(&journal, args, out, err, paint),
        Command::Show(args) => {
            let width = args.width.map_or(style.width, usize::from);
            show(&journal, args, width, out, paint)
        }
    };
    let result = result.and_then(|code| {
        out.flush()?;
        Ok(code)
    });
    match result {
        Ok(code) => code,
        // The reader went away (`orch runs | head -1`): nothing more to say to anyone.
        Err(Error::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => SUCCESS,
        Err(Error::Output(error)) => {
            let _ = writeln!(err, "orch: cannot write the output: {error}");
            FAILURE
        }
        Err(Error::Journal(error)) => {
            let _ = writeln!(err, "orch: {}", style::clean(&error.to_string()));
            FAILURE
        }
    }
}

fn write_all(stream: &mut dyn Write, text: &str) -> io::Result<()> {
    stream.write_all(text.as_bytes())?;
    stream.flush()
}

/// Why a command stopped.
enum Error {
    /// The journal could not be read.
    Journal(JournalError),
    /// The output could not be written.
    Output(io::Error),
}

impl From<JournalError> for Error {
    fn from(error: JournalError) -> Self {
        Error::Journal(error)
    }
}

impl From<io::Error> for Error {
    fn from(error: io::Error) -> Self {
        Error::Output(error)
    }
}

fn runs(
    journal: &Path,
    args: &RunsArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
    paint: style::Paint,
) -> Result<u8, Error> {
    let reader = JournalReader::open(journal)?;
    let mut query = RunQuery::new().limit(args.limit);
    let mut filters = String::new();
    if let Some(tenant) = &args.tenant {
        query = query.tenant(tenant.as_str());
        filters.push_str(&format!(" of tenant {}", style::clean(tenant)));
    }
    if let Some(status) = args.status {
        let (state, name) = match status {
            StatusFilter::Succeeded => (RunState::Finished(RunStatus::Succeeded), "succeeded"),
            StatusFilter::Failed => (RunState::Finished(RunStatus::Failed), "failed"),
            StatusFilter::Interrupted => {
                (RunState::Finished(RunStatus::Interrupted), "interrupted")
            }
            StatusFilter::Unfinished => (RunState::Unfinished, "unfinished"),
        };
        query = query.status(state);
        filters.push_str(&format!(" with status {name}"));
    }
    let mut problems = Vec::new();
    let rows = runs::rows(&reader, &query, &mut problems)?;
    if rows.is_empty() {
        // Not an error: a journal with no run yet, or none that matches.
        let _ = writeln!(
            err,
            "no runs{filters} in {}",
            style::clean(&journal.display().to_string())
        );
        return Ok(SUCCESS);
    }
    for line in runs::table(&rows, paint) {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    // The runs whose entries cannot be read are listed with `?`; say why, and fail.
    for problem in &problems {
        let _ = writeln!(err, "orch: {}", style::clean(&problem.to_string()));
    }
    Ok(if problems.is_empty() {
        SUCCESS
    } else {
        FAILURE
    })
}

fn show(
    journal: &Path,
    args: &ShowArgs,
    width: usize,
    out: &mut dyn Write,
    paint: style::Paint,
) -> Result<u8, Error> {
    let reader = JournalReader::open(journal)?;
    let entries = reader.entries(&args.event_id)?;
    let Some(history) = History::from_entries(&entries) else {
        return Err(Error::Journal(JournalError::new(format!(
            "{}: no run with event id {}",
            journal.display(),
            args.event_id
        ))));
    };
    match args.format {
        Format::Json => {
            for entry in &entries {
                writeln!(out, "{}", entry.to_json())?;
            }
        }
        Format::Mermaid => out.write_all(gantt::render(&history).as_bytes())?,
        Format::Text => {
            for line in show::render(&history, width, paint) {
                writeln!(out, "{line}")?;
            }
        }
    }
    Ok(SUCCESS)
}
