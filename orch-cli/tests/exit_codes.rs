//! The `orch` binary as a shell sees it: exit codes, one-line errors on stderr, no escape
//! sequences unless asked, a quiet exit when its reader goes away, and a journal read while
//! another process writes it.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use orch::{
    Durability, Event, Journal, JournalEntry, RunStatus, SqliteJournal, Summary, Timestamp,
};

/// A directory of its own, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("orch-cli-exit-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `orch` with these arguments, in `dir`, with none of the variables it reads set.
fn orch(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_orch"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("ORCH_JOURNAL")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS");
    command
}

fn output(command: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    (
        status.code().expect("exited, not killed by a signal"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// Expects failure with exactly one line on stderr, `orch: <file>: <message>`, and nothing on
/// stdout.
fn assert_one_line_error(command: &mut Command, file: &Path, message: &str) {
    let (code, stdout, stderr) = output(command);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "not one line: {stderr:?}");
    assert!(stderr.ends_with('\n'));
    let expected = format!("orch: {}: {message}", file.display());
    assert!(
        stderr.starts_with(&expected),
        "{stderr:?} is not {expected:?}..."
    );
}

fn at(seconds: u64) -> Timestamp {
    Timestamp::from_unix(Duration::from_secs(1_795_946_400 + seconds))
}

fn entry(event_id: &str, seconds: u64, event: Event) -> JournalEntry {
    JournalEntry {
        event_id: Arc::from(event_id),
        at: at(seconds),
        offset: Duration::from_secs(seconds % 60),
        event,
    }
}

/// A whole run: started, one attempt that succeeded, finished.
fn run(event_id: &str, seconds: u64) -> Vec<JournalEntry> {
    vec![
        entry(
            event_id,
            seconds,
            Event::RunStarted {
                orchestration: "checkout".into(),
                tenant_id: "tenant-eu".into(),
                organization_id: "org-shop".into(),
                payload_type: "u32".into(),
                payload: Some(serde_json::json!(1)),
                fingerprint: None,
            },
        ),
        entry(
            event_id,
            seconds,
            Event::AttemptStarted {
                service: "payments".into(),
                attempt: 1,
            },
        ),
        entry(
            event_id,
            seconds + 1,
            Event::AttemptSucceeded {
                service: "payments".into(),
                attempt: 1,
                output_type: "u32".into(),
                output: Some(serde_json::json!(2)),
            },
        ),
        entry(
            event_id,
            seconds + 1,
            Event::RunFinished {
                status: RunStatus::Succeeded,
                summary: Summary {
                    succeeded: 1,
                    ..Summary::default()
                },
                reason: None,
            },
        ),
    ]
}

fn write(journal: &SqliteJournal, entries: &[JournalEntry]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        for entry in entries {
            journal.record(entry.clone()).await.unwrap();
        }
    });
}

/// A journal at `dir/orch.db` holding run `evt-1`.
fn journal(dir: &TempDir) -> PathBuf {
    let path = dir.join("orch.db");
    write(&SqliteJournal::open(&path).unwrap(), &run("evt-1", 0));
    path
}

fn fixture(dir: &TempDir, name: &str) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/durable_input")
        .join(name);
    let to = dir.join(name);
    std::fs::copy(&from, &to).unwrap_or_else(|error| panic!("{}: {error}", from.display()));
    to
}

// ---------------------------------------------------------------------------------------------
// Errors: one line, `orch: <file>: ...`, exit code 1
// ---------------------------------------------------------------------------------------------

#[test]
fn a_missing_journal_is_one_line_and_is_not_created() {
    let dir = TempDir::new("missing");
    let path = dir.join("missing.db");
    for args in [&["runs"][..], &["show", "evt-1"]] {
        let mut full = vec!["--journal", path.to_str().unwrap()];
        full.extend(args);
        assert_one_line_error(&mut orch(&dir.0, &full), &path, "no such file");
    }
    assert!(!path.exists());
    // Without --journal: $ORCH_JOURNAL, else ./orch.db.
    assert_one_line_error(
        orch(&dir.0, &["runs"]).env("ORCH_JOURNAL", &path),
        &path,
        "no such file",
    );
    assert_one_line_error(
        &mut orch(&dir.0, &["runs"]),
        Path::new("orch.db"),
        "no such file",
    );
    assert!(!dir.join("orch.db").exists());
}

#[test]
fn an_unknown_event_id_is_one_line() {
    let dir = TempDir::new("unknown");
    let path = journal(&dir);
    let journal = path.to_str().unwrap();
    for format in ["text", "mermaid", "json"] {
        assert_one_line_error(
            &mut orch(
                &dir.0,
                &["--journal", journal, "show", "evt-nope", "--format", format],
            ),
            &path,
            "no run with event id evt-nope",
        );
    }
}

#[test]
fn a_corrupt_file_is_one_line() {
    let dir = TempDir::new("corrupt");
    let path = dir.join("random.db");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..16_384)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[5]
        })
        .collect();
    std::fs::write(&path, &bytes).unwrap();
    assert_one_line_error(
        &mut orch(&dir.0, &["--journal", path.to_str().unwrap(), "runs"]),
        &path,
        "not an orch journal (file is not a database)",
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "changed");
}

#[test]
fn another_programs_database_a_newer_journal_and_a_damaged_one_are_one_line() {
    let dir = TempDir::new("foreign");
    let foreign = fixture(&dir, "foreign.db");
    assert_one_line_error(
        &mut orch(&dir.0, &["--journal", foreign.to_str().unwrap(), "runs"]),
        &foreign,
        "not an orch journal: a SQLite database of another program",
    );
    let newer = fixture(&dir, "future_format.db");
    assert_one_line_error(
        &mut orch(&dir.0, &["--journal", newer.to_str().unwrap(), "show", "x"]),
        &newer,
        "written by a newer version of orch",
    );
    let empty = dir.join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert_one_line_error(
        &mut orch(&dir.0, &["--journal", empty.to_str().unwrap(), "runs"]),
        &empty,
        "not an orch journal: an empty database",
    );

    let damaged = dir.join("damaged.db");
    {
        let journal = SqliteJournal::open(&damaged).unwrap();
        let runs: Vec<JournalEntry> = (0..200).flat_map(|i| run(&format!("evt-{i}"), i)).collect();
        write(&journal, &runs);
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&damaged)
        .unwrap();
    let len = file.metadata().unwrap().len();
    file.set_len(len / 2).unwrap();
    drop(file);
    assert_one_line_error(
        &mut orch(&dir.0, &["--journal", damaged.to_str().unwrap(), "runs"]),
        &damaged,
        "the journal is damaged",
    );
}

#[test]
fn runs_whose_entries_cannot_be_read_are_listed_with_question_marks_and_fail() {
    let dir = TempDir::new("bad_entry");
    let path = fixture(&dir, "bad_entry.db");
    let (code, stdout, stderr) = output(&mut orch(
        &dir.0,
        &["--journal", path.to_str().unwrap(), "runs"],
    ));
    assert_eq!(code, 1);
    // Runs evt-a and evt-c each have an entry this orch cannot read: a line on stderr each.
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(errors.len(), 2, "{stderr}");
    for (error, run) in errors.iter().zip(["evt-c", "evt-a"]) {
        let expected = format!("orch: {}: run {run}: journal entry ", path.display());
        assert!(error.starts_with(&expected), "{error}");
    }
    let rows: Vec<&str> = stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{stdout}");
    assert!(
        rows.iter().all(|row| row.ends_with("?       ?        ?")),
        "{stdout}"
    );
}

// ---------------------------------------------------------------------------------------------
// The command line
// ---------------------------------------------------------------------------------------------

#[test]
fn help_succeeds_and_usage_errors_exit_2() {
    let dir = TempDir::new("usage");
    for args in [
        &["--help"][..],
        &["runs", "--help"],
        &["show", "--help"],
        &["--version"],
    ] {
        let (code, stdout, stderr) = output(&mut orch(&dir.0, args));
        assert_eq!((code, stderr.as_str()), (0, ""), "{args:?}");
        assert!(!stdout.is_empty());
        assert!(!stdout.contains('\x1b'), "{args:?}: escapes into a pipe");
    }
    let (_, help, _) = output(&mut orch(&dir.0, &["--help"]));
    assert!(help.contains("Examples:"), "{help}");
    assert!(help.contains("--journal <PATH>"), "{help}");
    for args in [
        &["--bogus"][..],
        &["runs", "--status", "bogus"],
        &["runs", "--limit", "many"],
        &["show"],
        &["show", "evt-1", "--width", "5"],
        &["show", "evt-1", "--format", "pdf"],
        &[],
    ] {
        let (code, stdout, stderr) = output(&mut orch(&dir.0, args));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert_eq!(stdout, "", "{args:?}");
        // Without a command: the help, on stderr.
        let expected = if args.is_empty() {
            "Lists the runs"
        } else {
            "error: "
        };
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn no_escape_codes_into_a_pipe_or_with_no_color_unless_asked() {
    let dir = TempDir::new("colour");
    let path = journal(&dir);
    let journal = path.to_str().unwrap();
    for args in [&["runs"][..], &["show", "evt-1"]] {
        let mut full = vec!["--journal", journal];
        full.extend(args);
        // Piped (not a terminal): no colour.
        let (code, piped, _) = output(&mut orch(&dir.0, &full));
        assert_eq!(code, 0);
        assert!(!piped.contains('\x1b'), "{piped}");
        assert!(piped.contains("evt-1"), "{piped}");
        let (_, no_color, _) = output(orch(&dir.0, &full).env("NO_COLOR", "1"));
        assert_eq!(no_color, piped);
        // Asked for: colour, even into a pipe and with NO_COLOR.
        full.extend(["--color", "always"]);
        let (_, always, _) = output(orch(&dir.0, &full).env("NO_COLOR", "1"));
        assert!(always.contains("\x1b["), "{always}");
    }
}

#[test]
fn the_timeline_takes_the_width_of_the_flag_else_columns_else_100() {
    let dir = TempDir::new("width");
    let path = journal(&dir);
    // The timeline's axis, the last line, ends at the last column.
    let axis = |command: &mut Command| {
        let (code, stdout, _) = output(command);
        assert_eq!(code, 0);
        stdout.lines().last().unwrap().chars().count()
    };
    let journal = path.to_str().unwrap();
    let show = ["--journal", journal, "show", "evt-1"];
    assert_eq!(axis(&mut orch(&dir.0, &show)), 100);
    assert_eq!(axis(orch(&dir.0, &show).env("COLUMNS", "60")), 60);
    let mut narrow = show.to_vec();
    narrow.extend(["--width", "72"]);
    assert_eq!(axis(orch(&dir.0, &narrow).env("COLUMNS", "60")), 72);
}

#[test]
fn an_empty_journal_or_filter_says_no_runs_and_succeeds() {
    let dir = TempDir::new("empty");
    let path = dir.join("orch.db");
    drop(SqliteJournal::open(&path).unwrap());
    let (code, stdout, stderr) = output(&mut orch(&dir.0, &["runs"]));
    assert_eq!((code, stdout.as_str()), (0, ""));
    assert_eq!(stderr, "no runs in orch.db\n");
    write(&SqliteJournal::open(&path).unwrap(), &run("evt-1", 0));
    let (code, stdout, stderr) = output(&mut orch(
        &dir.0,
        &["runs", "--tenant", "tenant-us", "--status", "unfinished"],
    ));
    assert_eq!((code, stdout.as_str()), (0, ""));
    assert_eq!(
        stderr,
        "no runs of tenant tenant-us with status unfinished in orch.db\n"
    );
}

#[test]
fn json_is_one_entry_per_line() {
    let dir = TempDir::new("json");
    let path = journal(&dir);
    let (code, stdout, _) = output(&mut orch(
        &dir.0,
        &[
            "--journal",
            path.to_str().unwrap(),
            "show",
            "evt-1",
            "--format",
            "json",
        ],
    ));
    assert_eq!(code, 0);
    let entries: Vec<JournalEntry> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(entries, run("evt-1", 0));
}

// ---------------------------------------------------------------------------------------------
// Pipes and concurrent writers
// ---------------------------------------------------------------------------------------------

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    let dir = TempDir::new("pipe");
    let path = dir.join("orch.db");
    {
        let journal = SqliteJournal::open_with(&path, Durability::ProcessCrash).unwrap();
        let runs: Vec<JournalEntry> = (0..2000)
            .flat_map(|i| run(&format!("evt-{i:05}"), i))
            .collect();
        write(&journal, &runs);
    }
    // About 250 kB of table: more than a pipe holds, so the command is still writing when the
    // pipe closes.
    let mut child = orch(&dir.0, &["runs", "--limit", "2000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0; 64];
    stdout.read_exact(&mut first).unwrap();
    assert!(first.starts_with(b"event id"));
    drop(stdout);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}

#[test]
fn a_journal_is_read_while_another_process_writes_it() {
    let dir = TempDir::new("concurrent");
    let path = dir.join("orch.db");
    // This process is the writer, and stays open: its commits are in the WAL.
    let journal = SqliteJournal::open(&path).unwrap();
    let entries = run("evt-1", 0);
    write(&journal, &entries[..2]);
    let journal_arg = path.to_str().unwrap();
    let (code, stdout, stderr) = output(&mut orch(&dir.0, &["--journal", journal_arg, "runs"]));
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(stdout.contains("unfinished"), "{stdout}");
    write(&journal, &entries[2..]);
    let (code, stdout, _) = output(&mut orch(&dir.0, &["--journal", journal_arg, "runs"]));
    assert_eq!(code, 0);
    assert!(stdout.contains("succeeded"), "{stdout}");
    let (code, stdout, _) = output(&mut orch(
        &dir.0,
        &[
            "--journal",
            journal_arg,
            "show",
            "evt-1",
            "--format",
            "json",
        ],
    ));
    assert_eq!((code, stdout.lines().count()), (0, 4));
    // The writer goes on writing after the reads.
    write(&journal, &run("evt-2", 100));
    drop(journal);
    let (_, stdout, _) = output(&mut orch(&dir.0, &["--journal", journal_arg, "runs"]));
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
}
