//! Property tests over random graphs: whatever the services do and whenever the run is cut
//! short, a run keeps the rules orch promises.
//!
//! The graphs are fixed (orchestrations are compile-time): `tests/properties/gen_graphs.py`
//! draws 16 of them, of 1 to 40 services, from a fixed seed and writes
//! `tests/properties/graphs.rs`.
//! Each case draws a graph, a [`Script`] that says what every attempt of every service does
//! (succeed, fail retryably, fail asking for a `Retry-After` wait, fail permanently, panic, hang
//! for an hour, each after 0 to 20 ms), and how the run is driven: a cancellation (before the
//! run, from a spawned task, or raced in the caller's task) at a random virtual time, a deadline
//! (as an instant or a timeout), fail-fast on, off or as declared, a concurrency limit, a jitter
//! seed, an in-memory journal (written inline) or, for graphs of up to 20 services, none or one
//! whose writes are awaited (each yields to the runtime once before it writes), and sometimes dropping
//! the `orchestrate` future mid-run. Every case runs on its own current-thread runtime with
//! tokio's paused clock: all times below are virtual and exact.
//!
//! Services record into a side channel (the script's [`Log`]): the start of each attempt (with
//! the dependency values it received) and its exit (returned `Ok`, returned `Err`, panicked, or
//! was dropped), each with its virtual time. The log is one `Vec` behind a lock on one thread, so
//! its order (a mark's *seq*, its index) is the order in which things happened, also between marks
//! of the same virtual instant. A drop guard in every attempt counts the live service futures.
//!
//! Checked on every case (the eight properties, made precise):
//!
//! 1. **Dependencies first.** An attempt of a service starts (in log order) only after each
//!    required dependency's attempt that returned `Ok` exited, and after every attempt of each
//!    optional dependency exited, with no attempt of it starting later; it received exactly those
//!    outputs (`None` for an optional dependency that did not succeed). In the journal, each
//!    dependency's outcome-ending record (its `attempt_succeeded` for a required one) comes before
//!    the dependent's first `attempt_started`.
//! 2. **At most `1 + max_retries` attempts**, in the log and in the journal.
//! 3. **Skipped exactly when a required dependency did not succeed**, and `Skip::dependency` is
//!    such a dependency, with `Skip::cause` its own cause when it was skipped itself, else itself.
//!    A skipped service never started.
//! 4. **One outcome per service**: the report has one (the summary counts them all), and the
//!    journal has exactly one outcome-ending record per service (`attempt_succeeded`, an
//!    `attempt_failed` with `stop`, `service_skipped`, or `service_cancelled`), which agrees with
//!    the report's outcome (attempts, stop reason, skip, interruption); `run_finished` agrees with
//!    the report's summary and interruption.
//! 5. **Nothing starts after an interruption.** Cancellation: no attempt starts after the
//!    canceller's mark in log order (it is written just before `cancel()`), nor at a later virtual
//!    time in the journal; a cancel before the run's end interrupts it, at that instant. Deadline:
//!    every attempt starts strictly before it, a run that is not interrupted ends strictly before
//!    it, and one interrupted by it ends exactly at it. Fail-fast: no attempt starts after the exit
//!    of the failing service's last attempt in log order (services polled earlier in the same
//!    instant may legitimately have started at that same virtual time, before the failure; the
//!    log's order tells them apart), nor after the first `attempt_failed` with `stop` in the
//!    journal; a fail-fast run in which a service failed is interrupted.
//! 6. **One start and one end per attempt, in causal order**: per service, `attempt_started`
//!    1, 2, 3.. each followed by its `attempt_succeeded`/`attempt_failed` or the
//!    `service_cancelled` naming that attempt, before the next start; nothing after the
//!    outcome-ending record; journal offsets never decrease and match the log's start times.
//!    The one start the log does not show: with an awaited journal, a start written while the
//!    run was being interrupted, whose attempt is then not called; the `service_cancelled`
//!    naming it must follow at the same instant.
//!    Beyond the words, each attempt's end is checked against the script (what it did,
//!    when, whether it timed out) and each retry against the policy: the journaled `retry_in` or
//!    `stop` is what `RetryPolicy::schedule(seed, index)`, the `Retry-After` hint and the
//!    `max_elapsed` budget give, and the next attempt starts exactly `retry_in` (rounded up to
//!    tokio's millisecond tick) later.
//! 7. **Nothing left behind**: no service future is alive when the run returns or right after
//!    its future is dropped, every started attempt has exited, and after advancing the paused
//!    clock by six hours nothing else was started, exited or journaled and no task is alive.
//!    (And every run ends: one still running after 1,000 virtual hours is reported as stuck.)
//! 8. **Concurrency limit**: with `max_in_flight = n` (given, or declared), at no point in log
//!    order are more than `n` services between their first start and their last attempt's exit,
//!    and at no point in journal order more than `n` between their first `attempt_started` and
//!    their outcome-ending record. (Log order, not virtual instants: a service that ends at the
//!    instant another starts has freed its place before, and that is allowed.)
//!
//! And, beyond the words, the README's "earliest start" (which also catches a lost
//! wake-up, since the paused clock would then jump to the next timer, or the test would hang):
//!
//! 9. **No idle wait.** In a run that is not interrupted, with every service's outcome time
//!    taken from the log (its last attempt's exit; for a skipped service, the earliest outcome
//!    time among its required dependencies that did not succeed), each service that ran first
//!    started exactly when its last dependency's outcome was known (`ready`), or, with a
//!    concurrency limit, later only while all `n` places were taken at the end of every instant
//!    from `ready` to its start; skips are journaled at their outcome time; and the run returns
//!    at the last outcome time.

#[path = "properties/graphs.rs"]
mod graphs;

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::task::Poll;
use std::time::Duration;

use orch::{
    AttemptError, Cancellation, Context, Event, InMemoryJournal, Interruption, Journal,
    JournalEntry, JournalError, Outcome, Request, RetryPolicy, Retryable, RunOptions, RunStatus,
    Skip, StopReason, Summary,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use tokio::time::Instant;

use graphs::GRAPHS;

/// The most attempts any generated policy allows (3 retries).
const MAX_ATTEMPTS: usize = 4;

/// How long a hanging attempt sleeps.
const HANG: Duration = Duration::from_secs(3600);

/// How long a run may take before it counts as stuck.
const STUCK: Duration = Duration::from_secs(1000 * 3600);

/// How far the clock is advanced after a run to catch anything left behind.
const AFTERWARDS: Duration = Duration::from_secs(6 * 3600);

/// The message of a scripted panic; the panic hook keeps these off stderr.
const SCRIPTED_PANIC: &str = "scripted panic";

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `duration` rounded up to tokio's millisecond tick, as a sleep of it ends under the paused
/// clock when it starts on a tick.
fn ceil_ms(duration: Duration) -> Duration {
    let ms = duration.as_nanos().div_ceil(1_000_000);
    Duration::from_millis(u64::try_from(ms).expect("a delay of the test's policies"))
}

// ---------------------------------------------------------------------------------------------
// What services do, and what they record.

/// What one attempt of one service does. Durations are in milliseconds; 0 returns without
/// awaiting at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Returns `Ok` after the delay.
    Succeed(u64),
    /// Returns a retryable error after the delay.
    Retryable(u64),
    /// Returns a retryable error asking for a wait of `hint` ms, after `after` ms.
    RetryAfter { after: u64, hint: u64 },
    /// Returns a permanent error after the delay.
    Permanent(u64),
    /// Panics after the delay.
    Panic(u64),
    /// Sleeps an hour, then returns a retryable error.
    Hang,
}

impl Behaviour {
    /// How long the attempt runs if nothing stops it.
    fn duration(self) -> Duration {
        match self {
            Behaviour::Succeed(d)
            | Behaviour::Retryable(d)
            | Behaviour::RetryAfter { after: d, .. }
            | Behaviour::Permanent(d)
            | Behaviour::Panic(d) => ms(d),
            Behaviour::Hang => HANG,
        }
    }
}

/// The payload of every run: what each attempt does, and where services record themselves.
pub struct Script {
    /// By service number, then attempt - 1.
    behaviours: Vec<[Behaviour; MAX_ATTEMPTS]>,
    log: Arc<Log>,
    /// Service futures alive now (attempts started and not yet exited).
    live: Arc<AtomicUsize>,
}

impl Script {
    fn behaviour(&self, service: usize, attempt: u32) -> Behaviour {
        let attempt = usize::try_from(attempt).unwrap_or(usize::MAX);
        self.behaviours
            .get(service)
            .and_then(|row| row.get(attempt.wrapping_sub(1)))
            .copied()
            // An attempt past the script: property 2 reports it.
            .unwrap_or(Behaviour::Permanent(0))
    }
}

/// The side channel: every mark, in the order they were made.
pub struct Log {
    base: Instant,
    marks: Mutex<Vec<Mark>>,
}

impl Log {
    fn lock(&self) -> MutexGuard<'_, Vec<Mark>> {
        // Nothing panics while holding the lock; a poisoned lock still holds whole marks.
        self.marks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mark(&self, service: usize, attempt: u32, what: What) {
        let at = self.base.elapsed();
        self.lock().push(Mark {
            service,
            attempt,
            at,
            what,
        });
    }

    fn marks(&self) -> Vec<Mark> {
        self.lock().clone()
    }
}

/// One record of the side channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Mark {
    service: usize,
    attempt: u32,
    /// Virtual time since the run started.
    at: Duration,
    what: What,
}

#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// An attempt started, with the dependency values it received (in `depends_on` order).
    Start(Vec<Option<u32>>),
    /// An attempt's future ended.
    Exit(Exit),
    /// The test is about to cancel the run (`service` and `attempt` are meaningless).
    Cancel,
}

/// How an attempt's future ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok(u32),
    Err,
    Panicked,
    /// Dropped before it returned: timed out, interrupted, or the run's future was dropped.
    Dropped,
}

/// The output of a service's successful attempt: tells dependents' inputs apart.
fn output_of(service: usize, attempt: u32) -> u32 {
    u32::try_from(service).expect("a small graph") * 100 + attempt
}

/// The error of every service.
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptError {
    permanent: bool,
    retry_after: Option<Duration>,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.permanent {
            "permanent"
        } else {
            "retryable"
        };
        write!(f, "scripted {kind} error")
    }
}

impl Retryable for ScriptError {
    fn is_permanent(&self) -> bool {
        self.permanent
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

/// Counts a live attempt and records its exit, however its future ends.
struct Running<'a> {
    script: &'a Script,
    service: usize,
    attempt: u32,
    returned: Option<Exit>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let exit = self.returned.unwrap_or(if std::thread::panicking() {
            Exit::Panicked
        } else {
            Exit::Dropped
        });
        self.script
            .log
            .mark(self.service, self.attempt, What::Exit(exit));
        self.script.live.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The body of every generated service: does what the script says for this attempt.
pub async fn behave(
    ctx: &Context<Script>,
    service: usize,
    deps: &[Option<u32>],
) -> Result<u32, ScriptError> {
    let script = ctx.payload();
    let attempt = ctx.attempt();
    script.live.fetch_add(1, Ordering::SeqCst);
    script
        .log
        .mark(service, attempt, What::Start(deps.to_vec()));
    let mut running = Running {
        script,
        service,
        attempt,
        returned: None,
    };
    let behaviour = script.behaviour(service, attempt);
    let duration = behaviour.duration();
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
    let result = match behaviour {
        Behaviour::Succeed(_) => Ok(output_of(service, attempt)),
        Behaviour::Retryable(_) | Behaviour::Hang => Err(ScriptError {
            permanent: false,
            retry_after: None,
        }),
        Behaviour::RetryAfter { hint, .. } => Err(ScriptError {
            permanent: false,
            retry_after: Some(ms(hint)),
        }),
        Behaviour::Permanent(_) => Err(ScriptError {
            permanent: true,
            retry_after: None,
        }),
        Behaviour::Panic(_) => panic!("scripted panic"),
    };
    running.returned = Some(match result {
        Ok(output) => Exit::Ok(output),
        Err(_) => Exit::Err,
    });
    result
}

// ---------------------------------------------------------------------------------------------
// What the generated graphs hand back.

/// A service as the checks see it.
pub struct ServiceSpec {
    /// `(service number, required)` per dependency, in `depends_on` order.
    pub deps: &'static [(usize, bool)],
    pub retry: RetryPolicy,
    pub timeout: Option<Duration>,
    /// The position in the orchestration's list: the index of its jitter draws.
    pub index: u32,
}

/// A graph as the checks see it: services by number, and its declared settings.
pub struct GraphSpec {
    pub name: &'static str,
    pub services: &'static [ServiceSpec],
    pub deadline: Option<Duration>,
    pub fail_fast: bool,
    pub max_in_flight: Option<usize>,
    /// Whether the graph also runs without a journal (`graphs::run_unjournaled`): only small
    /// ones, to bound the compile time.
    pub unjournaled: bool,
}

/// What the checks keep of one outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    Succeeded { output: u32, attempts: u32 },
    Failed { errors: Vec<Kind>, stop: StopReason },
    Skipped(Skip),
    Cancelled(Interruption),
}

/// What an attempt did, as the run saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Ok,
    Retryable { retry_after: Option<Duration> },
    Permanent,
    Panicked,
    TimedOut,
}

pub fn seen(outcome: &Outcome<u32, ScriptError>) -> Seen {
    match outcome {
        Outcome::Succeeded(success) => Seen::Succeeded {
            output: success.output,
            attempts: success.attempts,
        },
        Outcome::Failed(failure) => Seen::Failed {
            errors: failure
                .errors()
                .iter()
                .map(|error| match error {
                    AttemptError::Error(error) if error.permanent => Kind::Permanent,
                    AttemptError::Error(error) => Kind::Retryable {
                        retry_after: error.retry_after,
                    },
                    AttemptError::Panicked(_) => Kind::Panicked,
                    AttemptError::TimedOut(_) => Kind::TimedOut,
                    AttemptError::Replayed(text) => panic!("a fresh run replays nothing: {text}"),
                })
                .collect(),
            stop: failure.stop_reason(),
        },
        Outcome::Skipped(skip) => Seen::Skipped(*skip),
        Outcome::Cancelled(why) => Seen::Cancelled(why.clone()),
    }
}

/// What the checks keep of a report.
#[derive(Clone, Debug)]
pub struct Ran {
    pub outcomes: Vec<Seen>,
    pub summary: Summary,
    pub interruption: Option<Interruption>,
}

// ---------------------------------------------------------------------------------------------
// Cases.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CancelHow {
    /// Cancelled before the run starts (the time is ignored).
    Before,
    /// By a spawned task sleeping until the time.
    Spawned,
    /// In the caller's task: the run's future raced against a sleep until the time.
    Raced,
}

#[derive(Clone, Debug)]
struct Case {
    graph: usize,
    behaviours: Vec<[Behaviour; MAX_ATTEMPTS]>,
    /// How and when (ms) the run is cancelled.
    cancel: Option<(CancelHow, u64)>,
    /// The run's deadline (ms from its start), given as an instant (`true`) or a timeout.
    deadline: Option<(u64, bool)>,
    fail_fast: Option<bool>,
    max_in_flight: Option<usize>,
    seed: u64,
    /// When (ms) the `orchestrate` future is dropped, if it has not finished.
    drop_at: Option<u64>,
    journal: Journaling,
}

/// The journal a case runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Journaling {
    /// `NoJournal` (small graphs only).
    None,
    /// `InMemoryJournal`, which writes at once: first attempts run inline, as without one.
    InMemory,
    /// [`AwaitedJournal`] (small graphs only): every service goes through the boxed rest of its
    /// task, and every write is a point where the run waits.
    Awaited,
}

/// An in-memory journal whose writes are awaited, as a database's are: each yields to the
/// runtime once, and keeps its entry only when polled again, as an `async fn record` would.
pub struct AwaitedJournal(InMemoryJournal);

impl Journal for AwaitedJournal {
    async fn record(&self, entry: JournalEntry) -> Result<(), JournalError> {
        tokio::task::yield_now().await;
        self.0.record(entry).await
    }
}

/// The settings a run ends up with: the case's options over the graph's declared ones.
struct Effective {
    deadline: Option<Duration>,
    fail_fast: bool,
    max_in_flight: Option<usize>,
}

impl Case {
    fn spec(&self) -> &'static GraphSpec {
        &GRAPHS[self.graph]
    }

    fn effective(&self) -> Effective {
        let spec = self.spec();
        let given = self.deadline.map(|(at, _)| ms(at));
        Effective {
            deadline: match (spec.deadline, given) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            fail_fast: self.fail_fast.unwrap_or(spec.fail_fast),
            max_in_flight: self.max_in_flight.map(|n| n.max(1)).or(spec.max_in_flight),
        }
    }
}

fn delay() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0_u64), 3 => 1_u64..=20]
}

/// Behaviours in one of three moods: mostly successes, some failures, many failures.
fn behaviour(mood: u8) -> BoxedStrategy<Behaviour> {
    let (ok, retryable, hint, permanent, panic, hang) = match mood {
        0 => (200, 2, 1, 1, 1, 1),
        1 => (12, 4, 2, 1, 1, 1),
        _ => (4, 4, 2, 2, 2, 2),
    };
    prop_oneof![
        ok => delay().prop_map(Behaviour::Succeed),
        retryable => delay().prop_map(Behaviour::Retryable),
        hint => (delay(), 0_u64..=30).prop_map(|(after, hint)| Behaviour::RetryAfter { after, hint }),
        permanent => delay().prop_map(Behaviour::Permanent),
        panic => delay().prop_map(Behaviour::Panic),
        hang => Just(Behaviour::Hang),
    ]
    .boxed()
}

fn cancel_how() -> impl Strategy<Value = CancelHow> {
    prop_oneof![
        1 => Just(CancelHow::Before),
        3 => Just(CancelHow::Spawned),
        3 => Just(CancelHow::Raced),
    ]
}

fn case() -> impl Strategy<Value = Case> {
    (0..GRAPHS.len(), 0_u8..3)
        .prop_flat_map(|(graph, mood)| {
            let services = GRAPHS[graph].services.len();
            (
                Just(graph),
                proptest::collection::vec(proptest::array::uniform4(behaviour(mood)), services),
                proptest::option::weighted(0.3, (cancel_how(), 0_u64..=200)),
                proptest::option::weighted(0.3, (1_u64..=250, any::<bool>())),
                proptest::option::of(any::<bool>()),
                // 0 is taken as 1.
                proptest::option::weighted(0.3, 0_usize..=6),
                any::<u64>(),
                proptest::option::weighted(0.15, 0_u64..=200),
                if GRAPHS[graph].unjournaled {
                    prop_oneof![
                        15 => Just(Journaling::None),
                        55 => Just(Journaling::InMemory),
                        30 => Just(Journaling::Awaited),
                    ]
                    .boxed()
                } else {
                    Just(Journaling::InMemory).boxed()
                },
            )
        })
        .prop_map(
            |(
                graph,
                behaviours,
                cancel,
                deadline,
                fail_fast,
                max_in_flight,
                seed,
                drop_at,
                journal,
            )| Case {
                graph,
                behaviours,
                cancel,
                deadline,
                fail_fast,
                max_in_flight,
                seed,
                drop_at,
                journal,
            },
        )
}

// ---------------------------------------------------------------------------------------------
// Running a case.

/// Everything a case's checks look at.
struct Observed {
    /// The run neither returned nor was dropped within [`STUCK`].
    stuck: bool,
    /// The log when the run returned, or just after its future was dropped.
    marks: Vec<Mark>,
    /// The report, unless the future was dropped first.
    ran: Option<Ran>,
    /// Virtual time when the run returned or was dropped.
    end: Duration,
    /// The journal at that point (empty without a journal).
    entries: Vec<JournalEntry>,
    live_at_end: usize,
    /// Starts and exits marked after that point, once the clock was advanced.
    late_marks: Vec<Mark>,
    /// Journal entries written after that point.
    late_entries: Vec<JournalEntry>,
    live_afterwards: usize,
    tasks_afterwards: usize,
}

/// Keeps scripted panics (caught by orch) off stderr; every other panic is printed as usual.
fn quiet_scripted_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.payload().downcast_ref::<&str>() != Some(&SCRIPTED_PANIC) {
                previous(info);
            }
        }));
    });
}

fn execute(case: &Case) -> Observed {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread runtime");
    let observed = runtime.block_on(async {
        let base = Instant::now();
        let log = Arc::new(Log {
            base,
            marks: Mutex::new(Vec::new()),
        });
        let live = Arc::new(AtomicUsize::new(0));
        let request = Request::new(
            "evt-prop",
            "tenant-prop",
            "org-prop",
            Script {
                behaviours: case.behaviours.clone(),
                log: Arc::clone(&log),
                live: Arc::clone(&live),
            },
        );
        let journal = AwaitedJournal(InMemoryJournal::new());
        let cancellation = Cancellation::new();
        let mut options = RunOptions::new()
            .with_seed(case.seed)
            .with_cancellation(cancellation.clone());
        if let Some((at, as_instant)) = case.deadline {
            options = if as_instant {
                options.with_deadline(base + ms(at))
            } else {
                options.with_timeout(ms(at))
            };
        }
        if let Some(fail_fast) = case.fail_fast {
            options = options.with_fail_fast(fail_fast);
        }
        if let Some(limit) = case.max_in_flight {
            options = options.with_max_in_flight(limit);
        }
        let mut canceller = None;
        match case.cancel {
            Some((CancelHow::Before, _)) => {
                log.mark(0, 0, What::Cancel);
                cancellation.cancel();
            }
            Some((CancelHow::Spawned, at)) => {
                let (log, cancellation) = (Arc::clone(&log), cancellation.clone());
                canceller = Some(tokio::spawn(async move {
                    tokio::time::sleep_until(base + ms(at)).await;
                    log.mark(0, 0, What::Cancel);
                    cancellation.cancel();
                }));
            }
            Some((CancelHow::Raced, _)) | None => {}
        }

        // A run always ends (the longest path of hangs is 40 services of 4 hour-long attempts):
        // one that does not is reported, not waited for.
        let run: Pin<Box<dyn Future<Output = Ran> + '_>> = match case.journal {
            Journaling::None => Box::pin(graphs::run_unjournaled(case.graph, &request, options)),
            Journaling::InMemory => Box::pin(graphs::run_journaled(
                case.graph, &request, &journal.0, options,
            )),
            Journaling::Awaited => {
                Box::pin(graphs::run_awaited(case.graph, &request, &journal, options))
            }
        };
        let driven = tokio::time::timeout(STUCK, drive(case, run, &cancellation, &log)).await;
        let stuck = driven.is_err();
        let ran = driven.ok().flatten();
        let end = base.elapsed();
        let marks = log.marks();
        let entries = journal.0.entries();
        let live_at_end = live.load(Ordering::SeqCst);

        tokio::time::sleep(AFTERWARDS).await;
        if let Some(canceller) = canceller {
            canceller.await.expect("the canceller ends");
        }
        let late_marks = log.marks()[marks.len()..]
            .iter()
            .filter(|mark| mark.what != What::Cancel)
            .cloned()
            .collect();
        let late_entries = journal.0.entries()[entries.len()..].to_vec();
        Observed {
            stuck,
            marks,
            ran,
            end,
            entries,
            live_at_end,
            late_marks,
            late_entries,
            live_afterwards: live.load(Ordering::SeqCst),
            tasks_afterwards: tokio::runtime::Handle::current()
                .metrics()
                .num_alive_tasks(),
        }
    });
    drop(runtime);
    observed
}

/// Runs the case's graph, racing a cancellation and dropping the future as the case says.
async fn drive(
    case: &Case,
    // Boxed: the 40-service graph's future is large for a debug build's stack.
    mut run: Pin<Box<dyn Future<Output = Ran> + '_>>,
    cancellation: &Cancellation,
    log: &Log,
) -> Option<Ran> {
    let raced = async move {
        let Some((CancelHow::Raced, at)) = case.cancel else {
            return run.await;
        };
        let mut sleep = pin!(tokio::time::sleep_until(log.base + ms(at)));
        // Biased: the run first, so that it can finish at the cancel's instant.
        let finished = poll_fn(|cx| {
            if let Poll::Ready(ran) = run.as_mut().poll(cx) {
                return Poll::Ready(Some(ran));
            }
            match sleep.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match finished {
            Some(ran) => ran,
            None => {
                log.mark(0, 0, What::Cancel);
                cancellation.cancel();
                run.await
            }
        }
    };
    match case.drop_at {
        Some(at) => tokio::time::timeout_at(log.base + ms(at), raced).await.ok(),
        None => Some(raced.await),
    }
}

// ---------------------------------------------------------------------------------------------
// The checks.

/// One attempt, as the log shows it.
#[derive(Clone, Debug)]
struct Attempt {
    start_seq: usize,
    start: Duration,
    deps: Vec<Option<u32>>,
    exit: Option<(usize, Duration, Exit)>,
}

impl Attempt {
    fn exit_seq(&self) -> usize {
        self.exit.map_or(usize::MAX, |(seq, _, _)| seq)
    }
}

/// What an attempt should do, by the script and the service's timeout, and when it should end.
fn expected(behaviour: Behaviour, timeout: Option<Duration>) -> (Kind, Duration) {
    let natural = behaviour.duration();
    if let Some(timeout) = timeout
        && natural > timeout
    {
        return (Kind::TimedOut, timeout);
    }
    let kind = match behaviour {
        Behaviour::Succeed(_) => Kind::Ok,
        Behaviour::Retryable(_) | Behaviour::Hang => Kind::Retryable { retry_after: None },
        Behaviour::RetryAfter { hint, .. } => Kind::Retryable {
            retry_after: Some(ms(hint)),
        },
        Behaviour::Permanent(_) => Kind::Permanent,
        Behaviour::Panic(_) => Kind::Panicked,
    };
    (kind, natural)
}

/// The exit an attempt of this kind makes when it runs to its end.
fn natural_exit(kind: Kind, service: usize, attempt: u32) -> Exit {
    match kind {
        Kind::Ok => Exit::Ok(output_of(service, attempt)),
        Kind::Retryable { .. } | Kind::Permanent => Exit::Err,
        Kind::Panicked => Exit::Panicked,
        Kind::TimedOut => Exit::Dropped,
    }
}

/// After attempt `attempt` failed with `kind`, `since_first` after the first attempt started:
/// the delay before the next attempt, or why there is none (the README's failure rules).
fn next_step(
    spec: &ServiceSpec,
    seed: u64,
    attempt: u32,
    kind: Kind,
    since_first: Duration,
) -> Result<Duration, StopReason> {
    let policy = spec.retry;
    let hint = match kind {
        Kind::Panicked => return Err(StopReason::Panicked),
        Kind::Permanent => return Err(StopReason::Permanent),
        Kind::Retryable { retry_after } => retry_after,
        Kind::TimedOut | Kind::Ok => None,
    };
    if attempt >= policy.max_attempts() {
        return Err(StopReason::AttemptsExhausted);
    }
    let retry = usize::try_from(attempt - 1).expect("a small attempt number");
    let backoff = policy
        .schedule(seed, spec.index)
        .nth(retry)
        .expect("a delay for every retry the policy allows");
    if let Some(after) = hint
        && after > policy.max_delay()
    {
        return Err(StopReason::RetryAfterTooLong { after });
    }
    let delay = hint.map_or(backoff, |hint| hint.max(backoff));
    if let Some(budget) = policy.max_elapsed()
        && since_first.saturating_add(delay) > budget
    {
        return Err(StopReason::BudgetExhausted);
    }
    Ok(delay)
}

fn service_number(name: &str) -> usize {
    name.strip_prefix('s')
        .and_then(|n| n.parse().ok())
        .expect("services are named s<number>")
}

/// The log's attempts, by service; checks that each service's attempts are numbered 1, 2, 3..
/// and that each starts after the previous one exited.
fn attempts_by_service(
    services: usize,
    marks: &[Mark],
) -> Result<Vec<Vec<Attempt>>, TestCaseError> {
    let mut by: Vec<Vec<Attempt>> = vec![Vec::new(); services];
    for (seq, mark) in marks.iter().enumerate() {
        match &mark.what {
            What::Cancel => {}
            What::Start(deps) => {
                prop_assert!(mark.service < services, "unknown service: {mark:?}");
                let attempts = &mut by[mark.service];
                if let Some(previous) = attempts.last() {
                    prop_assert!(
                        previous.exit.is_some(),
                        "s{} started attempt {} while attempt {} runs",
                        mark.service,
                        mark.attempt,
                        attempts.len()
                    );
                }
                prop_assert_eq!(
                    usize::try_from(mark.attempt).ok(),
                    Some(attempts.len() + 1),
                    "s{} attempts are numbered 1, 2, 3..",
                    mark.service
                );
                attempts.push(Attempt {
                    start_seq: seq,
                    start: mark.at,
                    deps: deps.clone(),
                    exit: None,
                });
            }
            What::Exit(exit) => {
                let open = by[mark.service].last_mut().filter(|a| a.exit.is_none());
                let Some(open) = open else {
                    return Err(TestCaseError::fail(format!(
                        "an exit with no attempt running: {mark:?}"
                    )));
                };
                open.exit = Some((seq, mark.at, *exit));
            }
        }
    }
    Ok(by)
}

fn check(case: &Case, obs: &Observed) -> Result<(), TestCaseError> {
    let spec = case.spec();
    let n = spec.services.len();
    prop_assert!(!obs.stuck, "the run did not end within {STUCK:?}");
    let by = attempts_by_service(n, &obs.marks)?;
    check_leftovers(obs, &by)?;
    check_attempts(case, obs, &by)?;
    check_dependencies(case, &by)?;
    if let Some(ran) = &obs.ran {
        check_outcomes(case, ran, &by)?;
    }
    if case.journal != Journaling::None {
        check_journal(case, obs, &by)?;
    } else {
        prop_assert!(obs.entries.is_empty());
    }
    check_interruptions(case, obs, &by)?;
    check_in_flight(case, obs, &by)?;
    check_no_idle_wait(case, obs, &by)?;
    Ok(())
}

/// Property 7.
fn check_leftovers(obs: &Observed, by: &[Vec<Attempt>]) -> Result<(), TestCaseError> {
    prop_assert_eq!(obs.live_at_end, 0, "service futures alive after the run");
    for (service, attempts) in by.iter().enumerate() {
        for (k, attempt) in attempts.iter().enumerate() {
            prop_assert!(
                attempt.exit.is_some(),
                "s{service} attempt {} never exited",
                k + 1
            );
        }
    }
    prop_assert!(
        obs.late_marks.is_empty(),
        "services ran after the run: {:?}",
        obs.late_marks
    );
    prop_assert!(
        obs.late_entries.is_empty(),
        "journaled after the run: {:?}",
        obs.late_entries
    );
    prop_assert_eq!(obs.live_afterwards, 0);
    prop_assert_eq!(obs.tasks_afterwards, 0, "tasks alive after the run");
    Ok(())
}

/// Property 2, and every attempt against the script and the policy (part of property 6).
fn check_attempts(case: &Case, obs: &Observed, by: &[Vec<Attempt>]) -> Result<(), TestCaseError> {
    let spec = case.spec();
    let cut_short = obs
        .ran
        .as_ref()
        .is_none_or(|ran| ran.interruption.is_some());
    for (service, attempts) in by.iter().enumerate() {
        let s = &spec.services[service];
        prop_assert!(
            attempts.len() <= usize::try_from(s.retry.max_attempts()).unwrap_or(usize::MAX),
            "s{service} made {} attempts, its policy allows {}",
            attempts.len(),
            s.retry.max_attempts()
        );
        let Some(first) = attempts.first() else {
            continue;
        };
        for (k, attempt) in attempts.iter().enumerate() {
            let number = u32::try_from(k + 1).expect("a small attempt number");
            let (kind, duration) = expected(case.behaviours[service][k], s.timeout);
            let Some((_, at, exit)) = attempt.exit else {
                continue;
            };
            let natural = natural_exit(kind, service, number);
            if (exit, at) != (natural, attempt.start + duration) {
                // Only an interruption or a drop ends an attempt early (or at its natural end's
                // instant, when the deadline or a cancel is seen first).
                prop_assert!(
                    cut_short && exit == Exit::Dropped && at <= attempt.start + duration,
                    "s{service} attempt {number} ({:?}, timeout {:?}) exited {exit:?} at {at:?}, \
                     expected {natural:?} at {:?}",
                    case.behaviours[service][k],
                    s.timeout,
                    attempt.start + duration
                );
            }
            if let Some(next) = attempts.get(k + 1) {
                prop_assert_eq!(
                    exit,
                    natural,
                    "s{} retried after a cut-short attempt",
                    service
                );
                let since_first = at - first.start;
                let step = next_step(s, case.seed, number, kind, since_first);
                let Ok(delay) = step else {
                    return Err(TestCaseError::fail(format!(
                        "s{service} attempt {number} failed with {kind:?} and stops ({step:?}), \
                         yet attempt {} started",
                        number + 1
                    )));
                };
                prop_assert_eq!(
                    next.start,
                    at + ceil_ms(delay),
                    "s{} attempt {} starts retry_in {:?} after attempt {} failed",
                    service,
                    number + 1,
                    delay,
                    number
                );
            }
        }
    }
    Ok(())
}

/// Property 1.
fn check_dependencies(case: &Case, by: &[Vec<Attempt>]) -> Result<(), TestCaseError> {
    let spec = case.spec();
    for (service, attempts) in by.iter().enumerate() {
        let Some(first) = attempts.first() else {
            continue;
        };
        for (k, &(dep, required)) in spec.services[service].deps.iter().enumerate() {
            let dep_attempts = &by[dep];
            let value = if required {
                let succeeded = dep_attempts.iter().find_map(|a| match a.exit {
                    Some((seq, _, Exit::Ok(output))) if seq < first.start_seq => Some(output),
                    _ => None,
                });
                prop_assert!(
                    succeeded.is_some(),
                    "s{service} started before its required dependency s{dep} succeeded"
                );
                succeeded
            } else {
                for a in dep_attempts {
                    prop_assert!(
                        a.start_seq < first.start_seq && a.exit_seq() < first.start_seq,
                        "s{service} started before its optional dependency s{dep} finished"
                    );
                }
                match dep_attempts.last().and_then(|a| a.exit) {
                    Some((_, _, Exit::Ok(output))) => Some(output),
                    _ => None,
                }
            };
            for (number, attempt) in attempts.iter().enumerate() {
                prop_assert_eq!(
                    attempt.deps.get(k).copied().flatten(),
                    value,
                    "s{} attempt {} received the wrong value of s{}",
                    service,
                    number + 1,
                    dep
                );
            }
        }
    }
    Ok(())
}

/// Properties 3 and 4 (the report's side), and the report against the log and the script.
fn check_outcomes(case: &Case, ran: &Ran, by: &[Vec<Attempt>]) -> Result<(), TestCaseError> {
    let spec = case.spec();
    let n = spec.services.len();
    prop_assert_eq!(ran.outcomes.len(), n);
    let mut summary = Summary::default();
    for outcome in &ran.outcomes {
        summary.add(match outcome {
            Seen::Succeeded { .. } => orch::Status::Succeeded,
            Seen::Failed { .. } => orch::Status::Failed,
            Seen::Skipped(_) => orch::Status::Skipped,
            Seen::Cancelled(_) => orch::Status::Cancelled,
        });
    }
    prop_assert_eq!(ran.summary, summary);
    let counted = summary.succeeded + summary.failed + summary.skipped + summary.cancelled;
    prop_assert_eq!(usize::try_from(counted).ok(), Some(n));

    for (service, outcome) in ran.outcomes.iter().enumerate() {
        let s = &spec.services[service];
        let attempts = &by[service];
        let made = u32::try_from(attempts.len()).expect("a small attempt count");

        // Property 3.
        let missing: Vec<usize> = s
            .deps
            .iter()
            .filter(|&&(dep, required)| {
                required && !matches!(ran.outcomes[dep], Seen::Succeeded { .. })
            })
            .map(|&(dep, _)| dep)
            .collect();
        prop_assert_eq!(
            matches!(outcome, Seen::Skipped(_)),
            !missing.is_empty(),
            "s{} is {:?}; required dependencies that did not succeed: {:?}",
            service,
            outcome,
            missing
        );
        if let Seen::Skipped(skip) = outcome {
            let dep = service_number(skip.dependency);
            prop_assert!(
                missing.contains(&dep),
                "s{service} skipped for s{dep}, which it does not need or which succeeded"
            );
            let cause = match &ran.outcomes[dep] {
                Seen::Skipped(inner) => inner.cause,
                _ => skip.dependency,
            };
            prop_assert_eq!(skip.cause, cause, "s{} skip cause", service);
            prop_assert_eq!(made, 0, "s{} was skipped yet started", service);
        }

        match outcome {
            Seen::Succeeded { output, attempts } => {
                prop_assert_eq!(*attempts, made, "s{} attempts", service);
                let last = by[service].last().and_then(|a| a.exit);
                prop_assert_eq!(
                    last.map(|(_, _, exit)| exit),
                    Some(Exit::Ok(*output)),
                    "s{} output",
                    service
                );
            }
            Seen::Failed { errors, stop } => {
                prop_assert_eq!(
                    errors.len(),
                    attempts.len(),
                    "s{} errors, one per attempt",
                    service
                );
                for (k, error) in errors.iter().enumerate() {
                    let (kind, _) = expected(case.behaviours[service][k], s.timeout);
                    prop_assert_eq!(
                        *error,
                        kind,
                        "s{} attempt {} error ({:?})",
                        service,
                        k + 1,
                        case.behaviours[service][k]
                    );
                }
                let (Some(kind), Some(first), Some(last)) =
                    (errors.last(), attempts.first(), attempts.last())
                else {
                    return Err(TestCaseError::fail(format!(
                        "s{service} failed without errors"
                    )));
                };
                let since_first = last.exit.map_or(Duration::ZERO, |(_, at, _)| at) - first.start;
                prop_assert_eq!(
                    next_step(s, case.seed, made, *kind, since_first),
                    Err(*stop),
                    "s{} stop reason",
                    service
                );
            }
            Seen::Skipped(_) => {}
            Seen::Cancelled(why) => {
                prop_assert_eq!(
                    Some(why),
                    ran.interruption.as_ref(),
                    "s{} cancelled in a run that was not interrupted so",
                    service
                );
                let succeeded = attempts
                    .iter()
                    .any(|a| matches!(a.exit, Some((_, _, Exit::Ok(_)))));
                prop_assert!(
                    !succeeded,
                    "s{service} succeeded, yet its outcome is cancelled"
                );
            }
        }
    }
    Ok(())
}

/// Where a service is in the journal.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    /// No attempt yet.
    Idle,
    /// Attempt `k` is running: started at this offset.
    Open(u32, Duration),
    /// Attempt `k`'s start was written at this offset as the run was interrupted, and the
    /// attempt was not called: the `service_cancelled` naming it must follow at once.
    Uncalled(u32, Duration),
    /// Attempt `k` failed and will be retried at this offset.
    Between(u32, Duration),
    /// The outcome-ending record is at this index.
    Ended(usize),
}

/// Properties 4 (the journal's side) and 6.
fn check_journal(case: &Case, obs: &Observed, by: &[Vec<Attempt>]) -> Result<(), TestCaseError> {
    let spec = case.spec();
    let n = spec.services.len();
    let entries = &obs.entries;
    if entries.is_empty() && obs.ran.is_none() && case.journal == Journaling::Awaited {
        // Dropped before its first write finished: a journal that writes only when polled loses
        // the write in progress with the run's future. No service can have started.
        prop_assert!(
            by.iter().all(Vec::is_empty),
            "a service started, nothing journaled"
        );
        return Ok(());
    }
    prop_assert!(
        matches!(
            entries.first().map(|e| &e.event),
            Some(Event::RunStarted { .. })
        ),
        "the journal starts with run_started"
    );
    let finished = entries
        .iter()
        .filter(|e| matches!(e.event, Event::RunFinished { .. }))
        .count();
    prop_assert_eq!(
        finished,
        usize::from(obs.ran.is_some()),
        "run_finished records"
    );
    for pair in entries.windows(2) {
        prop_assert!(pair[0].offset <= pair[1].offset, "journal offsets go back");
    }

    let mut state = vec![State::Idle; n];
    let mut first_start: Vec<Option<(usize, Duration)>> = vec![None; n];
    let mut uncalled = vec![0; n];
    for (index, entry) in entries.iter().enumerate() {
        let Some(name) = entry.service() else {
            if let Event::RunFinished { .. } = entry.event {
                prop_assert_eq!(index, entries.len() - 1, "run_finished is the last entry");
            }
            continue;
        };
        let service = service_number(name);
        prop_assert!(service < n, "unknown service {name}");
        let s = &spec.services[service];
        let current = state[service];
        prop_assert!(
            !matches!(current, State::Ended(_)),
            "{name} has an entry after its outcome: {:?}",
            entry.event
        );
        let at = entry.offset;
        state[service] = match &entry.event {
            Event::AttemptStarted { attempt, .. } => {
                let expected = match current {
                    State::Idle => 1,
                    State::Between(k, retry_at) => {
                        prop_assert_eq!(at, retry_at, "{} retried at retry_in", name);
                        k + 1
                    }
                    _ => {
                        return Err(TestCaseError::fail(format!(
                            "{name} attempt {attempt} started in state {current:?}"
                        )));
                    }
                };
                prop_assert_eq!(*attempt, expected, "{} attempt numbers", name);
                let logged = usize::try_from(*attempt)
                    .ok()
                    .and_then(|k| by[service].get(k - 1))
                    .map(|a| a.start);
                first_start[service].get_or_insert((index, at));
                match logged {
                    Some(start) => {
                        prop_assert_eq!(start, at, "{} attempt {} start time", name, attempt);
                        State::Open(*attempt, at)
                    }
                    None => {
                        prop_assert_eq!(
                            case.journal,
                            Journaling::Awaited,
                            "{} attempt {} journaled, never called",
                            name,
                            attempt
                        );
                        uncalled[service] += 1;
                        State::Uncalled(*attempt, at)
                    }
                }
            }
            Event::AttemptSucceeded { attempt, .. } => {
                let State::Open(open, started) = current else {
                    return Err(TestCaseError::fail(format!(
                        "{name} attempt {attempt} succeeded in state {current:?}"
                    )));
                };
                prop_assert_eq!(*attempt, open);
                let k = usize::try_from(open - 1).expect("a small attempt number");
                let (kind, duration) = expected(case.behaviours[service][k], s.timeout);
                prop_assert_eq!(kind, Kind::Ok, "{} attempt {} succeeded", name, attempt);
                prop_assert_eq!(at, started + duration, "{} attempt {} end", name, attempt);
                State::Ended(index)
            }
            Event::AttemptFailed {
                attempt,
                panicked,
                timed_out,
                retry_after,
                retry_in,
                stop,
                ..
            } => {
                let State::Open(open, started) = current else {
                    return Err(TestCaseError::fail(format!(
                        "{name} attempt {attempt} failed in state {current:?}"
                    )));
                };
                prop_assert_eq!(*attempt, open);
                let k = usize::try_from(open - 1).expect("a small attempt number");
                let behaviour = case.behaviours[service][k];
                let (kind, duration) = expected(behaviour, s.timeout);
                prop_assert_eq!(at, started + duration, "{} attempt {} end", name, attempt);
                prop_assert_eq!(*panicked, kind == Kind::Panicked, "{} panicked", name);
                prop_assert_eq!(*timed_out, kind == Kind::TimedOut, "{} timed_out", name);
                let hint = match kind {
                    Kind::Retryable { retry_after } => retry_after,
                    _ => None,
                };
                prop_assert_eq!(*retry_after, hint, "{} retry_after", name);
                let since_first = first_start[service].map_or(Duration::ZERO, |(_, t)| at - t);
                let step = next_step(s, case.seed, open, kind, since_first);
                prop_assert_eq!(
                    (*retry_in, *stop),
                    (step.ok(), step.err()),
                    "{} attempt {} ({:?}) retry_in and stop",
                    name,
                    attempt,
                    behaviour
                );
                match step {
                    Ok(delay) => State::Between(open, at + ceil_ms(delay)),
                    Err(_) => State::Ended(index),
                }
            }
            Event::ServiceSkipped { .. } => {
                prop_assert_eq!(current, State::Idle, "{} skipped after starting", name);
                State::Ended(index)
            }
            Event::ServiceCancelled { attempt, .. } => {
                match (current, attempt) {
                    (State::Open(open, started), Some(attempt)) => {
                        prop_assert_eq!(*attempt, open, "{} cancelled attempt", name);
                        let k = usize::try_from(open - 1).expect("a small attempt number");
                        let (_, duration) = expected(case.behaviours[service][k], s.timeout);
                        prop_assert!(
                            at <= started + duration,
                            "{name} attempt {open} cancelled after it would have ended"
                        );
                    }
                    (State::Uncalled(open, started), Some(attempt)) => {
                        prop_assert_eq!(*attempt, open, "{} cancelled attempt", name);
                        prop_assert_eq!(
                            at,
                            started,
                            "{} attempt {} was never called but ended later",
                            name,
                            open
                        );
                    }
                    (State::Idle, None) => {}
                    (State::Between(_, retry_at), None) => {
                        prop_assert!(at <= retry_at, "{name} cancelled after its retry time");
                    }
                    _ => {
                        return Err(TestCaseError::fail(format!(
                            "{name} cancelled with attempt {attempt:?} in state {current:?}"
                        )));
                    }
                }
                State::Ended(index)
            }
            other => {
                return Err(TestCaseError::fail(format!(
                    "unexpected entry for {name}: {other:?}"
                )));
            }
        };
    }

    // Property 2 in the journal, and the journal's starts are the log's.
    for (service, attempts) in by.iter().enumerate() {
        let started = entries
            .iter()
            .filter(|e| {
                matches!(&e.event, Event::AttemptStarted { service: s, .. } if service_number(s) == service)
            })
            .count();
        prop_assert_eq!(
            started - uncalled[service],
            attempts.len(),
            "s{} starts, journal vs log",
            service
        );
    }

    // Property 1 in the journal: each dependency's outcome is recorded before the first start.
    for (service, start) in first_start.iter().enumerate() {
        let Some((start, _)) = start else {
            continue;
        };
        for &(dep, required) in spec.services[service].deps {
            let State::Ended(ended) = state[dep] else {
                return Err(TestCaseError::fail(format!(
                    "s{service} started, its dependency s{dep} never ended"
                )));
            };
            prop_assert!(
                ended < *start,
                "s{service} started before s{dep}'s outcome was journaled"
            );
            if required {
                prop_assert!(
                    matches!(entries[ended].event, Event::AttemptSucceeded { .. }),
                    "s{service} started, its required dependency s{dep} did not succeed"
                );
            }
        }
    }

    // Property 4: exactly one outcome-ending record per service, agreeing with the report.
    let Some(ran) = &obs.ran else {
        return Ok(());
    };
    for (service, outcome) in ran.outcomes.iter().enumerate() {
        let State::Ended(index) = state[service] else {
            return Err(TestCaseError::fail(format!(
                "s{service} has no outcome-ending record (state {:?})",
                state[service]
            )));
        };
        let event = &entries[index].event;
        let agrees = match (outcome, event) {
            (Seen::Succeeded { attempts, .. }, Event::AttemptSucceeded { attempt, .. }) => {
                attempts == attempt
            }
            (
                Seen::Failed { errors, stop },
                Event::AttemptFailed {
                    attempt,
                    stop: Some(journaled),
                    ..
                },
            ) => usize::try_from(*attempt).ok() == Some(errors.len()) && stop == journaled,
            (
                Seen::Skipped(skip),
                Event::ServiceSkipped {
                    dependency, cause, ..
                },
            ) => skip.dependency == dependency && skip.cause == cause,
            (Seen::Cancelled(why), Event::ServiceCancelled { reason, .. }) => {
                why.to_string() == *reason
            }
            _ => false,
        };
        prop_assert!(
            agrees,
            "s{service}: the report says {outcome:?}, the journal {event:?}"
        );
    }
    let Some(Event::RunFinished {
        status,
        summary,
        reason,
    }) = entries.last().map(|e| &e.event)
    else {
        return Err(TestCaseError::fail("no run_finished at the end"));
    };
    prop_assert_eq!(*summary, ran.summary);
    prop_assert_eq!(
        reason.clone(),
        ran.interruption.as_ref().map(ToString::to_string)
    );
    let expected_status = if ran.interruption.is_some() || ran.summary.cancelled > 0 {
        RunStatus::Interrupted
    } else if ran.summary.all_succeeded() {
        RunStatus::Succeeded
    } else {
        RunStatus::Failed
    };
    prop_assert_eq!(*status, expected_status);
    Ok(())
}

/// Property 5.
fn check_interruptions(
    case: &Case,
    obs: &Observed,
    by: &[Vec<Attempt>],
) -> Result<(), TestCaseError> {
    let effective = case.effective();
    let starts: Vec<(usize, &Mark)> = obs
        .marks
        .iter()
        .enumerate()
        .filter(|(_, m)| matches!(m.what, What::Start(_)))
        .collect();
    let journal_starts: Vec<(usize, Duration)> = obs
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e.event, Event::AttemptStarted { .. }))
        .map(|(i, e)| (i, e.offset))
        .collect();
    let interruption = obs.ran.as_ref().and_then(|ran| ran.interruption.clone());

    // Cancellation: the canceller's mark, if it came before the run's end (or drop).
    let cancel = obs
        .marks
        .iter()
        .enumerate()
        .find(|(_, m)| m.what == What::Cancel)
        .map(|(seq, m)| (seq, m.at));
    if let Some((seq, at)) = cancel {
        for (start_seq, start) in &starts {
            prop_assert!(
                start_seq < &seq,
                "s{} attempt {} started after the cancel",
                start.service,
                start.attempt
            );
        }
        for (_, offset) in &journal_starts {
            prop_assert!(
                *offset <= at,
                "an attempt journaled after the cancel's time"
            );
        }
        if let Some(ran) = &obs.ran {
            prop_assert!(
                ran.interruption.is_some(),
                "cancelled at {at:?}, yet the run ended uninterrupted"
            );
        }
    }
    if interruption == Some(Interruption::Cancelled) {
        let Some((_, at)) = cancel else {
            return Err(TestCaseError::fail(
                "interrupted as cancelled, never cancelled",
            ));
        };
        prop_assert_eq!(obs.end, at, "a cancelled run ends at the cancel");
    }

    // Deadline.
    match effective.deadline {
        Some(deadline) => {
            for (_, start) in &starts {
                prop_assert!(
                    start.at < deadline,
                    "s{} attempt {} started at {:?}, the deadline is {deadline:?}",
                    start.service,
                    start.attempt,
                    start.at
                );
            }
            for (_, offset) in &journal_starts {
                prop_assert!(*offset < deadline, "an attempt journaled at the deadline");
            }
            if obs.ran.is_some() {
                match &interruption {
                    None => prop_assert!(obs.end < deadline, "ran past the deadline"),
                    Some(Interruption::DeadlineExceeded) => {
                        prop_assert_eq!(obs.end, deadline, "ended at the deadline");
                        if let Some((_, at)) = cancel {
                            prop_assert!(at >= deadline, "cancelled before, yet the deadline");
                        }
                    }
                    Some(_) => prop_assert!(obs.end <= deadline),
                }
            }
        }
        None => prop_assert!(interruption != Some(Interruption::DeadlineExceeded)),
    }

    // Fail-fast.
    if !effective.fail_fast {
        prop_assert!(
            !matches!(interruption, Some(Interruption::FailFast { .. })),
            "a fail-fast interruption in a run that is not fail-fast"
        );
        return Ok(());
    }
    if let Some(ran) = &obs.ran {
        let failed = ran
            .outcomes
            .iter()
            .any(|outcome| matches!(outcome, Seen::Failed { .. }));
        prop_assert!(
            !failed || interruption.is_some(),
            "a service failed in a fail-fast run, which went on"
        );
    }
    // The failure that triggers fail-fast: the journal's first final failure, or the one the
    // report names.
    let first_failure = obs
        .entries
        .iter()
        .position(|e| matches!(&e.event, Event::AttemptFailed { stop: Some(_), .. }));
    if let Some(index) = first_failure {
        for (start, _) in &journal_starts {
            prop_assert!(
                *start < index,
                "an attempt started after the first failure of a fail-fast run"
            );
        }
    }
    let failing = match (&interruption, first_failure) {
        (Some(Interruption::FailFast { service }), _) => Some(service_number(service)),
        (_, Some(index)) => obs.entries[index].service().map(service_number),
        _ => None,
    };
    if let (Some(Interruption::FailFast { service }), Some(index)) = (&interruption, first_failure)
    {
        prop_assert_eq!(
            obs.entries[index].service(),
            Some(*service),
            "the fail-fast service is the first to fail"
        );
    }
    if let Some(failing) = failing {
        let Some(last) = by[failing].last() else {
            return Err(TestCaseError::fail(format!(
                "s{failing} failed without starting"
            )));
        };
        let failed_seq = last.exit_seq();
        for (seq, start) in &starts {
            prop_assert!(
                *seq < failed_seq,
                "s{} attempt {} started after s{failing} failed in a fail-fast run",
                start.service,
                start.attempt
            );
        }
        if matches!(interruption, Some(Interruption::FailFast { .. })) {
            let failed_at = last.exit.map(|(_, at, _)| at);
            prop_assert_eq!(
                Some(obs.end),
                failed_at,
                "a fail-fast run ends at the failure"
            );
        }
    }
    Ok(())
}

/// Property 9.
fn check_no_idle_wait(
    case: &Case,
    obs: &Observed,
    by: &[Vec<Attempt>],
) -> Result<(), TestCaseError> {
    let Some(ran) = obs.ran.as_ref().filter(|ran| ran.interruption.is_none()) else {
        return Ok(());
    };
    let spec = case.spec();
    let n = spec.services.len();
    let limit = case.effective().max_in_flight;
    // When each service's outcome was known, and when each service that ran was ready.
    let mut done = vec![Duration::ZERO; n];
    let mut waited = Vec::new();
    for service in 0..n {
        let deps = spec.services[service].deps;
        if let Seen::Skipped(_) = ran.outcomes[service] {
            let skipped_at = deps
                .iter()
                .filter(|&&(dep, required)| {
                    required && !matches!(ran.outcomes[dep], Seen::Succeeded { .. })
                })
                .map(|&(dep, _)| done[dep])
                .min();
            let Some(skipped_at) = skipped_at else {
                return Err(TestCaseError::fail(format!(
                    "s{service} skipped for nothing"
                )));
            };
            done[service] = skipped_at;
            continue;
        }
        let ready = deps
            .iter()
            .map(|&(dep, _)| done[dep])
            .max()
            .unwrap_or(Duration::ZERO);
        let (Some(first), Some((_, ended, _))) =
            (by[service].first(), by[service].last().and_then(|a| a.exit))
        else {
            return Err(TestCaseError::fail(format!(
                "s{service} neither ran nor was skipped in an uninterrupted run"
            )));
        };
        done[service] = ended;
        match limit {
            None => prop_assert_eq!(
                first.start,
                ready,
                "s{} started later than its dependencies allowed",
                service
            ),
            Some(_) => {
                prop_assert!(
                    first.start >= ready,
                    "s{service} started before it was ready"
                );
                if first.start > ready {
                    waited.push((service, ready, first.start));
                }
            }
        }
    }
    let last = done.iter().max().copied().unwrap_or(Duration::ZERO);
    prop_assert_eq!(
        obs.end,
        last,
        "the run returned later than its last outcome"
    );
    for entry in &obs.entries {
        if let Event::ServiceSkipped { service, .. } = &entry.event {
            let service = service_number(service);
            prop_assert_eq!(entry.offset, done[service], "s{} skip time", service);
        }
    }

    // With a limit, a ready service waits only while every place is taken.
    let Some(limit) = limit else {
        return Ok(());
    };
    let spans: Vec<(Duration, Duration)> = by
        .iter()
        .filter_map(|attempts| {
            let first = attempts.first()?;
            let (_, ended, _) = attempts.last()?.exit?;
            Some((first.start, ended))
        })
        .collect();
    for (service, ready, started) in waited {
        let instants = std::iter::once(ready).chain(
            spans
                .iter()
                .flat_map(|&(from, to)| [from, to])
                .filter(|&t| ready < t && t < started),
        );
        for t in instants {
            let taken = spans
                .iter()
                .filter(|&&(from, to)| from <= t && t < to)
                .count();
            prop_assert_eq!(
                taken,
                limit,
                "s{} was ready at {:?} and waited until {:?}, with a place free at {:?}",
                service,
                ready,
                started,
                t
            );
        }
    }
    Ok(())
}

/// Property 8.
fn check_in_flight(case: &Case, obs: &Observed, by: &[Vec<Attempt>]) -> Result<(), TestCaseError> {
    let Some(limit) = case.effective().max_in_flight else {
        return Ok(());
    };
    // The log: from a service's first start to its last attempt's exit.
    let mut changes: Vec<(usize, i32)> = Vec::new();
    for attempts in by {
        if let (Some(first), Some(last)) = (attempts.first(), attempts.last()) {
            changes.push((first.start_seq, 1));
            changes.push((last.exit_seq(), -1));
        }
    }
    changes.sort_unstable();
    let mut in_flight = 0_i32;
    for (seq, change) in changes {
        in_flight += change;
        prop_assert!(
            usize::try_from(in_flight).unwrap_or(0) <= limit,
            "{in_flight} services in flight at log seq {seq}, the limit is {limit}"
        );
    }
    // The journal: from a service's first attempt_started to its outcome-ending record.
    let mut in_flight = 0_usize;
    let mut flying = vec![false; by.len()];
    for (index, entry) in obs.entries.iter().enumerate() {
        let Some(service) = entry.service().map(service_number) else {
            continue;
        };
        let ends = match &entry.event {
            Event::AttemptStarted { attempt: 1, .. } => {
                flying[service] = true;
                in_flight += 1;
                false
            }
            Event::AttemptSucceeded { .. }
            | Event::AttemptFailed { stop: Some(_), .. }
            | Event::ServiceCancelled { .. } => true,
            _ => false,
        };
        if ends && std::mem::take(&mut flying[service]) {
            in_flight -= 1;
        }
        prop_assert!(
            in_flight <= limit,
            "{in_flight} services in flight at journal entry {index}, the limit is {limit}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config {
        // 2,000 cases (about 6 s in a debug build); `PROPTEST_CASES=n` runs more, never fewer.
        cases: Config::default().cases.max(2000),
        // The failing case is printed, shrunk; nothing is written next to the test.
        failure_persistence: None,
        ..Config::default()
    })]

    #[test]
    fn runs_keep_the_rules_whatever_services_do_and_however_the_run_is_cut_short(case in case()) {
        quiet_scripted_panics();
        let observed = execute(&case);
        check(&case, &observed)?;
    }
}
