//! Issue 5: a durable run survives `SIGKILL` at any point.
//!
//! `crash_recovery` (the parent) re-executes this test binary to run `crash_child` (the child)
//! in a process of its own: the child opens a [`SqliteJournal`] and runs the durable `shop`
//! orchestration under the event id it is given. The parent kills it with `SIGKILL` after a
//! random delay, many times per event id, then lets it finish. After every execution it reopens
//! the journal (it must open, and read back), and checks, against a side channel of what really
//! ran, that:
//!
//! - no service whose success was in the journal before an execution started again in it;
//! - every attempt a service really started was journaled first, and every success it journaled
//!   was really returned;
//! - a service that died in an attempt runs again under the same attempt number, so with the
//!   same idempotency key (`{event}/{service}/{attempt}`);
//! - the journal is consistent: every ended attempt was started in the same execution, at most
//!   one success per service, nothing after the run's end, recorded outputs are the right ones;
//! - the finished run's outputs are the right ones (deterministic functions of the payload), the
//!   services that succeeded before its last execution are reported `replayed`, and running it
//!   once more runs nothing.
//!
//! The kills use a fixed seed (`ORCH_CRASH_SEED` overrides it); where they land still depends on
//! timing, so the seed picks the delays and payloads, not the exact interleaving. Nothing here
//! asserts a duration: a slow machine only moves where the kills land.
#![cfg(unix)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use orch::prelude::*;
use orch::{Event, JournalEntry, RunStatus, SqliteJournal, Status};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// The orchestration the child runs.
//
//   fetch          (no dependency)
//   fraud          (no dependency)
//   quote  ← fetch
//   stock  ← fetch
//   charge ← quote, fraud
//   ship   ← stock, charge
//   notify ← ship, fraud
//
// `fetch` and `fraud` run concurrently, as do `quote` and `stock`; `fetch → {quote, stock} →
// ship` is a diamond. `charge` fails its first attempt and is retried, so that attempts other
// than 1 (and kills during a backoff) are covered.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cart {
    items: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    score: u32,
    approved: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stock {
    skus: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    id: String,
    cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shipment {
    tracking: String,
    parcels: u32,
}

/// The services, in the orchestration's order.
const SERVICES: [&str; 7] = [
    "fetch", "fraud", "quote", "stock", "charge", "ship", "notify",
];

/// The attempt in which `charge` succeeds: its first one always fails.
const CHARGE_SUCCEEDS_AT: u32 = 2;

const CHARGE_RETRY: RetryPolicy = RetryPolicy::DEFAULT
    .with_max_retries(3)
    .with_initial_delay(Duration::from_millis(2))
    .with_max_delay(Duration::from_millis(8));

// The outputs, as pure functions of the payload (and of the event id, for the receipt): what
// the services return and what the parent expects.

fn cart_of(payload: u64) -> Cart {
    Cart {
        items: vec![
            (payload % 7) as u32 + 1,
            (payload % 5) as u32 + 2,
            (payload % 3) as u32 + 3,
        ],
    }
}

fn verdict_of(payload: u64) -> Verdict {
    let score = (payload.wrapping_mul(37) % 100) as u32;
    Verdict {
        score,
        approved: score < 90,
    }
}

fn quote_of(cart: &Cart) -> Quote {
    Quote {
        cents: cart.items.iter().map(|&item| u64::from(item) * 125).sum(),
    }
}

fn stock_of(cart: &Cart) -> Stock {
    Stock {
        skus: cart
            .items
            .iter()
            .map(|item| format!("sku-{item}"))
            .collect(),
    }
}

fn receipt_of(idempotency_key: &str, quote: &Quote, verdict: &Verdict) -> Receipt {
    Receipt {
        id: format!("rcpt:{idempotency_key}:{}", verdict.score),
        cents: quote.cents,
    }
}

fn shipment_of(stock: &Stock, receipt: &Receipt) -> Shipment {
    Shipment {
        tracking: format!("trk:{}:{}", receipt.id, stock.skus.join("+")),
        parcels: stock.skus.len() as u32,
    }
}

fn notice_of(shipment: &Shipment, verdict: &Verdict) -> String {
    format!(
        "{} parcel(s), tracking {}, fraud score {} ({})",
        shipment.parcels,
        shipment.tracking,
        verdict.score,
        if verdict.approved {
            "approved"
        } else {
            "review"
        }
    )
}

/// Every service's right output for a run, as JSON.
fn expected_outputs(event: &str, payload: u64) -> BTreeMap<&'static str, Value> {
    let cart = cart_of(payload);
    let verdict = verdict_of(payload);
    let quote = quote_of(&cart);
    let stock = stock_of(&cart);
    let receipt = receipt_of(
        &format!("{event}/charge/{CHARGE_SUCCEEDS_AT}"),
        &quote,
        &verdict,
    );
    let shipment = shipment_of(&stock, &receipt);
    let notice = notice_of(&shipment, &verdict);
    BTreeMap::from([
        ("fetch", json!(cart)),
        ("fraud", json!(verdict)),
        ("quote", json!(quote)),
        ("stock", json!(stock)),
        ("charge", json!(receipt)),
        ("ship", json!(shipment)),
        ("notify", json!(notice)),
    ])
}

/// How long a service works, in real time: 2 to 6 ms, varying with the service and the payload,
/// so that kills land in different services from one run to the next.
fn work_time(service: &str, payload: u64) -> Duration {
    let hash = service
        .bytes()
        .fold(payload ^ 0xcbf2_9ce4_8422_2325, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    Duration::from_millis(2 + hash % 5)
}

/// The side channel's directory: set in the child only.
static SIDE_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Appends `"{service} {attempt} {what} {idempotency key}"` to the run's side channel.
///
/// The side channel is one file per run, opened with `O_APPEND`: each line is one `write(2)` of
/// a few dozen bytes at the end of the file, so lines of concurrent services never interleave,
/// and a `SIGKILL` cannot tear one (a write to a regular file completes or never starts). It is
/// synced (`sync_data`) before the service goes on, as the journal's commits are
/// (`synchronous = FULL`), so that it never holds less than really ran: a "start" line is
/// written before the service does its work, an "ok" line just before it returns `Ok`.
fn note(ctx: &Context<u64>, what: &str) {
    let Some(dir) = SIDE_DIR.get() else {
        return;
    };
    let line = format!(
        "{} {} {what} {}\n",
        ctx.service(),
        ctx.attempt(),
        ctx.idempotency_key()
    );
    let path = dir.join(format!("{}.side", ctx.event_id()));
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let written = file
        .write(line.as_bytes())
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    assert_eq!(written, line.len(), "a short append to {}", path.display());
    file.sync_data()
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
}

/// A service's work: noted as started, then a few milliseconds of real time.
async fn work(ctx: &Context<u64>) {
    note(ctx, "start");
    tokio::time::sleep(work_time(ctx.service(), *ctx.payload())).await;
}

/// A service's success: noted, then returned.
fn done<T>(ctx: &Context<u64>, output: T) -> Result<T, String> {
    note(ctx, "ok");
    Ok(output)
}

#[service]
async fn fetch(ctx: &Context<u64>) -> Result<Cart, String> {
    work(ctx).await;
    done(ctx, cart_of(*ctx.payload()))
}

#[service]
async fn fraud(ctx: &Context<u64>) -> Result<Verdict, String> {
    work(ctx).await;
    done(ctx, verdict_of(*ctx.payload()))
}

#[service(depends_on = [fetch])]
async fn quote(ctx: &Context<u64>, cart: &Cart) -> Result<Quote, String> {
    work(ctx).await;
    done(ctx, quote_of(cart))
}

#[service(depends_on = [fetch])]
async fn stock(ctx: &Context<u64>, cart: &Cart) -> Result<Stock, String> {
    work(ctx).await;
    done(ctx, stock_of(cart))
}

#[service(depends_on = [quote, fraud], retry = CHARGE_RETRY)]
async fn charge(ctx: &Context<u64>, quote: &Quote, verdict: &Verdict) -> Result<Receipt, String> {
    work(ctx).await;
    if ctx.attempt() < CHARGE_SUCCEEDS_AT {
        note(ctx, "err");
        return Err("the gateway timed out".to_owned());
    }
    done(ctx, receipt_of(&ctx.idempotency_key(), quote, verdict))
}

#[service(depends_on = [stock, charge])]
async fn ship(ctx: &Context<u64>, stock: &Stock, receipt: &Receipt) -> Result<Shipment, String> {
    work(ctx).await;
    done(ctx, shipment_of(stock, receipt))
}

#[service(depends_on = [ship, fraud])]
async fn notify(
    ctx: &Context<u64>,
    shipment: &Shipment,
    verdict: &Verdict,
) -> Result<String, String> {
    work(ctx).await;
    done(ctx, notice_of(shipment, verdict))
}

orchestration! {
    #[orch(durable)]
    shop(u64) { fetch, fraud, quote, stock, charge, ship, notify }
}

// ---------------------------------------------------------------------------------------------
// The child.
// ---------------------------------------------------------------------------------------------

/// The directory of the journal and the side channels; set only in the child's environment.
const CHILD_DIR: &str = "ORCH_CRASH_CHILD";
const CHILD_EVENT: &str = "ORCH_CRASH_EVENT";
const CHILD_PAYLOAD: &str = "ORCH_CRASH_PAYLOAD";
/// The journal's file, in the directory.
const DB: &str = "orch.db";
/// The child's stdout line holding its report, as JSON.
const RESULT: &str = "ORCH_CRASH_RESULT ";

fn outcome_json<T: Serialize + std::fmt::Debug>(outcome: &Outcome<T, String>) -> Value {
    match outcome {
        Outcome::Succeeded(success) => json!({
            "output": success.output,
            "attempts": success.attempts,
            "replayed": success.replayed,
        }),
        other => json!({ "not_succeeded": format!("{other:?}") }),
    }
}

/// Runs one execution of a run, as `crash_recovery` asks; does nothing when run alone.
#[test]
#[ignore = "the child process of `crash_recovery`, which runs it"]
fn crash_child() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let event = std::env::var(CHILD_EVENT).expect(CHILD_EVENT);
    let payload: u64 = std::env::var(CHILD_PAYLOAD)
        .expect(CHILD_PAYLOAD)
        .parse()
        .expect(CHILD_PAYLOAD);
    SIDE_DIR.set(dir.clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let result = runtime.block_on(async {
        let path = dir.join(DB);
        let journal = SqliteJournal::open(&path)
            .unwrap_or_else(|error| panic!("the child cannot open the journal: {error}"));
        let request = Request::new(event.as_str(), "tenant-crash", "org-crash", payload);
        let report = shop::orchestrate(&request, &journal).await;
        let result = json!({
            "success": report.is_success(),
            "services": {
                "fetch": outcome_json(&report.fetch),
                "fraud": outcome_json(&report.fraud),
                "quote": outcome_json(&report.quote),
                "stock": outcome_json(&report.stock),
                "charge": outcome_json(&report.charge),
                "ship": outcome_json(&report.ship),
                "notify": outcome_json(&report.notify),
            },
        });
        // Waits for the journal's writer to close the file.
        drop(journal);
        result
    });
    // On a line of its own: the test harness prints its own text before it.
    println!("\n{RESULT}{result}");
}

// ---------------------------------------------------------------------------------------------
// The parent.
// ---------------------------------------------------------------------------------------------

const DEFAULT_SEED: u64 = 0x0005_eed0_c4a5_4001;
/// At least this many runs (event ids), and this many kills in all.
const MIN_RUNS: usize = 10;
const MIN_KILLS: usize = 50;
/// Gives up (and fails) past this many runs: cannot happen unless kills never land.
const MAX_RUNS: usize = 100;

/// SplitMix64: a small, good enough PRNG with a 64-bit state.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn seed() -> u64 {
    match std::env::var("ORCH_CRASH_SEED") {
        Ok(text) => {
            let text = text.trim();
            let parsed = match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => text.parse(),
            };
            parsed.unwrap_or_else(|error| panic!("ORCH_CRASH_SEED={text}: {error}"))
        }
        Err(_) => DEFAULT_SEED,
    }
}

/// The test's directory, removed when the test ends (also when it fails), unless
/// `ORCH_CRASH_KEEP` is set.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("ORCH_CRASH_KEEP").is_some() {
            eprintln!("crash test: kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// One line of a side channel.
#[derive(Clone, Debug, PartialEq)]
struct Line {
    service: String,
    attempt: u32,
    what: String,
    key: String,
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.service, self.attempt, self.what, self.key
        )
    }
}

/// A run's side channel: every line, in order. A torn or malformed line is an error.
fn read_side(path: &Path) -> Result<Vec<Line>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(format!("{}: {error}", path.display())),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        return Err(format!("the side channel ends with a torn line: {text:?}"));
    }
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let malformed = || format!("a malformed side channel line: {line:?}");
            let [service, attempt, what, key] = fields[..] else {
                return Err(malformed());
            };
            Ok(Line {
                service: service.to_owned(),
                attempt: attempt.parse().map_err(|_| malformed())?,
                what: what.to_owned(),
                key: key.to_owned(),
            })
        })
        .collect()
}

/// What a run's journal says of one service, across executions.
#[derive(Clone, Copy, Debug, Default)]
struct Recorded {
    last_started: u32,
    last_ended: u32,
    /// The attempt that succeeded.
    succeeded: Option<u32>,
}

impl Recorded {
    /// The attempt a new execution starts the service with: the one it died in, if it died in
    /// one, else the one after the last that ended.
    fn next_attempt(self) -> u32 {
        if self.last_started > self.last_ended {
            self.last_started
        } else {
            self.last_ended + 1
        }
    }
}

/// A run's journal, folded (and checked).
#[derive(Clone, Debug, Default)]
struct Journaled {
    services: BTreeMap<String, Recorded>,
    finished: bool,
    entries: usize,
}

impl Journaled {
    fn service(&self, service: &str) -> Recorded {
        self.services.get(service).copied().unwrap_or_default()
    }

    fn succeeded(&self) -> BTreeSet<&str> {
        self.services
            .iter()
            .filter(|(_, recorded)| recorded.succeeded.is_some())
            .map(|(service, _)| service.as_str())
            .collect()
    }
}

/// Folds a run's journal, checking that it is consistent: entries of this run only, each
/// execution opened by `RunStarted`, attempts numbered as a resumed run numbers them, every
/// ended attempt started in the same execution, no attempt of a service after its success, at
/// most one success per service, with the right output, and nothing after the run's end.
fn fold_journal(
    event: &str,
    expected: &BTreeMap<&'static str, Value>,
    entries: &[JournalEntry],
) -> Result<Journaled, String> {
    let mut journaled = Journaled {
        entries: entries.len(),
        ..Journaled::default()
    };
    let mut executions = 0;
    // The attempts started in the current execution.
    let mut started_here = BTreeSet::new();
    // The services whose success was recorded before the current execution.
    let mut succeeded_before = BTreeSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("journal entry {i} ({:?})", entry.event);
        if &*entry.event_id != event {
            return Err(format!("{at}: recorded for run {}", entry.event_id));
        }
        if journaled.finished {
            return Err(format!("{at}: after the run's end"));
        }
        if executions == 0 && !matches!(entry.event, Event::RunStarted { .. }) {
            return Err(format!("{at}: before the run started"));
        }
        let known = |service: &str| {
            if SERVICES.contains(&service) {
                Ok(())
            } else {
                Err(format!("{at}: an unknown service"))
            }
        };
        match &entry.event {
            Event::RunStarted { .. } => {
                executions += 1;
                started_here.clear();
                succeeded_before = journaled
                    .succeeded()
                    .into_iter()
                    .map(str::to_owned)
                    .collect();
            }
            Event::ServiceReplayed {
                service,
                attempt,
                status,
            } => {
                known(service)?;
                let recorded = journaled.service(service);
                if !succeeded_before.contains(&**service)
                    || recorded.succeeded != Some(*attempt)
                    || *status != Status::Succeeded
                {
                    return Err(format!(
                        "{at}: replayed, but the journal before this execution says {recorded:?}"
                    ));
                }
            }
            Event::AttemptStarted { service, attempt } => {
                known(service)?;
                let recorded = journaled.services.entry(service.to_string()).or_default();
                if let Some(succeeded) = recorded.succeeded {
                    return Err(format!(
                        "{at}: {service} started again after its success (attempt {succeeded}) \
                         was recorded"
                    ));
                }
                if *attempt != recorded.next_attempt() {
                    return Err(format!(
                        "{at}: expected attempt {} after {recorded:?}",
                        recorded.next_attempt()
                    ));
                }
                recorded.last_started = *attempt;
                started_here.insert((service.to_string(), *attempt));
            }
            Event::AttemptSucceeded {
                service,
                attempt,
                output,
                ..
            } => {
                known(service)?;
                if !started_here.contains(&(service.to_string(), *attempt)) {
                    return Err(format!(
                        "{at}: no matching AttemptStarted earlier in this execution"
                    ));
                }
                let recorded = journaled.services.entry(service.to_string()).or_default();
                if recorded.last_ended >= *attempt {
                    return Err(format!("{at}: the attempt had already ended: {recorded:?}"));
                }
                if output.as_ref() != Some(&expected[&**service]) {
                    return Err(format!(
                        "{at}: the recorded output is not {}",
                        expected[&**service]
                    ));
                }
                recorded.last_ended = *attempt;
                recorded.succeeded = Some(*attempt);
            }
            Event::AttemptFailed {
                service,
                attempt,
                stop,
                ..
            } => {
                known(service)?;
                if !started_here.contains(&(service.to_string(), *attempt)) {
                    return Err(format!(
                        "{at}: no matching AttemptStarted earlier in this execution"
                    ));
                }
                if service != "charge" || *attempt >= CHARGE_SUCCEEDS_AT || stop.is_some() {
                    return Err(format!("{at}: a failure the services never return"));
                }
                let recorded = journaled.services.entry(service.to_string()).or_default();
                if recorded.last_ended >= *attempt {
                    return Err(format!("{at}: the attempt had already ended: {recorded:?}"));
                }
                recorded.last_ended = *attempt;
            }
            Event::RunFinished { status, .. } => {
                if *status != RunStatus::Succeeded {
                    return Err(format!("{at}: the run did not succeed"));
                }
                if journaled.succeeded().len() != SERVICES.len() {
                    return Err(format!(
                        "{at}: the run ended, but only {:?} succeeded",
                        journaled.succeeded()
                    ));
                }
                journaled.finished = true;
            }
            _ => return Err(format!("{at}: unexpected in this orchestration")),
        }
    }
    Ok(journaled)
}

/// Checks a run's side channel against its journal: keys are `{event}/{service}/{attempt}`,
/// every attempt that really started was journaled as started, every journaled end was really
/// reached (an `ok` line for a success, an `err` line for a failure).
fn check_side(event: &str, lines: &[Line], entries: &[JournalEntry]) -> Result<(), String> {
    let mut started = BTreeSet::new();
    for (i, line) in lines.iter().enumerate() {
        let at = format!("side channel line {i} ({line})");
        if !SERVICES.contains(&line.service.as_str()) {
            return Err(format!("{at}: an unknown service"));
        }
        let key = format!("{event}/{}/{}", line.service, line.attempt);
        if line.key != key {
            return Err(format!("{at}: the idempotency key is not {key}"));
        }
        let journaled_start = entries.iter().any(|entry| {
            matches!(&entry.event, Event::AttemptStarted { service, attempt }
                if *service == line.service && *attempt == line.attempt)
        });
        match line.what.as_str() {
            "start" if !journaled_start => {
                return Err(format!(
                    "{at}: the attempt ran, but its start is not in the journal"
                ));
            }
            "start" => {
                started.insert((line.service.as_str(), line.attempt));
            }
            "ok" | "err" if !started.contains(&(line.service.as_str(), line.attempt)) => {
                return Err(format!("{at}: no start line before it"));
            }
            "ok" | "err" => {}
            _ => return Err(format!("{at}: an unknown mark")),
        }
    }
    let reached = |service: &str, attempt: u32, what: &str| {
        lines
            .iter()
            .any(|line| line.service == service && line.attempt == attempt && line.what == what)
    };
    for entry in entries {
        let (service, attempt, what) = match &entry.event {
            Event::AttemptSucceeded {
                service, attempt, ..
            } => (service, *attempt, "ok"),
            Event::AttemptFailed {
                service, attempt, ..
            } => (service, *attempt, "err"),
            _ => continue,
        };
        if !reached(service, attempt, what) {
            return Err(format!(
                "the journal records {:?}, but the side channel has no `{service} {attempt} \
                 {what}` line",
                entry.event
            ));
        }
    }
    Ok(())
}

/// Checks what one execution really ran (`new`, its side channel lines) against the journal it
/// resumed from (`before`): no service that had succeeded ran again, and each service that ran
/// started from the attempt it died in (same idempotency key), or the one after its last.
fn check_execution(before: &Journaled, new: &[Line]) -> Result<(), String> {
    let mut last: BTreeMap<&str, u32> = BTreeMap::new();
    for line in new.iter().filter(|line| line.what == "start") {
        let recorded = before.service(&line.service);
        if let Some(succeeded) = recorded.succeeded {
            return Err(format!(
                "{} RAN TWICE: its success (attempt {succeeded}) was in the journal before this \
                 execution, yet it started again (`{line}`)",
                line.service
            ));
        }
        let expected = match last.get(line.service.as_str()) {
            Some(previous) => previous + 1,
            None => recorded.next_attempt(),
        };
        if line.attempt != expected {
            return Err(format!(
                "{} started attempt {} (`{line}`), expected attempt {expected} (the journal \
                 before this execution: {recorded:?})",
                line.service, line.attempt
            ));
        }
        last.insert(&line.service, line.attempt);
    }
    Ok(())
}

/// Checks a finished execution's report: it succeeded, with the right outputs; a service is
/// `replayed` exactly when its success was recorded before the execution.
fn check_result(
    result: &Value,
    expected: &BTreeMap<&'static str, Value>,
    before: &Journaled,
    after: &Journaled,
) -> Result<(), String> {
    if result["success"] != json!(true) {
        return Err(format!("the run did not succeed: {result}"));
    }
    if !after.finished {
        return Err("the run succeeded, but its end is not in the journal".to_owned());
    }
    for service in SERVICES {
        let reported = &result["services"][service];
        if reported["output"] != expected[service] {
            return Err(format!(
                "{service}'s output is {}, expected {}",
                reported["output"], expected[service]
            ));
        }
        let replayed = before.service(service).succeeded.is_some();
        if reported["replayed"] != json!(replayed) {
            return Err(format!(
                "{service} is reported {reported}, but its success was {}in the journal before \
                 this execution",
                if replayed { "" } else { "not " }
            ));
        }
        let attempts = after.service(service).succeeded;
        if reported["attempts"] != json!(attempts) {
            return Err(format!(
                "{service} is reported {reported}, but the journal says attempt {attempts:?}"
            ));
        }
    }
    Ok(())
}

/// How one execution ended.
struct Execution {
    /// Killed by our `SIGKILL`; otherwise it exited 0 (a child that failed fails the test).
    killed: bool,
    /// Its report, if it printed one.
    result: Option<Value>,
    took: Duration,
}

/// Where the kills landed, for the final summary.
#[derive(Debug, Default)]
struct Landed {
    /// Before the run's start was committed (the process was starting, or opening the journal).
    before_start: usize,
    /// While the run went on.
    mid_run: usize,
    /// Of those: after a service returned `Ok` and before its success was committed.
    before_success_commit: usize,
    /// Of those: after a start was committed and before the service noted it.
    after_start_commit: usize,
    /// After the run's end was committed, before the process exited.
    after_end: usize,
    /// Executions that ran a service attempt again, under its same idempotency key.
    reran_attempts: usize,
}

struct Crash {
    seed: u64,
    dir: PathBuf,
    runtime: tokio::runtime::Runtime,
    kills: usize,
    executions: usize,
    landed: Landed,
}

/// One run, as the parent tracks it.
struct Run {
    event: String,
    payload: u64,
    expected: BTreeMap<&'static str, Value>,
    /// Our kills of it so far.
    kills: usize,
    executions: usize,
    /// The delay of the last execution's kill, if it was to be killed.
    delay: Option<Duration>,
    /// Whether the last execution was killed.
    killed: bool,
    /// Its journal as of the end of the last execution, folded and as recorded.
    journaled: Journaled,
    entries: Vec<JournalEntry>,
    /// How many side channel lines the last executions wrote.
    lines: usize,
}

impl Crash {
    fn side_path(&self, event: &str) -> PathBuf {
        self.dir.join(format!("{event}.side"))
    }

    /// Runs one execution of `run` in a child process, killing it after `delay` if it has not
    /// exited by then.
    fn execute(&mut self, event: &str, payload: u64, delay: Option<Duration>) -> Execution {
        let start = Instant::now();
        let mut child = Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "--exact",
                "crash_child",
                "--nocapture",
                "--include-ignored",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, &self.dir)
            .env(CHILD_EVENT, event)
            .env(CHILD_PAYLOAD, payload.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot spawn the child");
        if let Some(delay) = delay {
            std::thread::sleep(delay);
            // `SIGKILL`; does nothing if it has already exited.
            child.kill().expect("cannot kill the child");
        }
        let output = child.wait_with_output().expect("cannot wait for the child");
        let took = start.elapsed();
        self.executions += 1;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let result = stdout
            .lines()
            .find_map(|line| line.split_once(RESULT).map(|(_, json)| json))
            .map(|json| serde_json::from_str(json).expect("the child's report"));
        let killed = output.status.signal() == Some(9);
        if !killed && !output.status.success() {
            panic!(
                "crash test seed: {} (ORCH_CRASH_SEED={0}): run {event}: the child failed on its \
                 own ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
                self.seed,
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Execution {
            killed,
            result,
            took,
        }
    }

    /// Reopens the journal (as a restarted process would) and reads the run back.
    fn recall(&self, event: &str) -> Result<Vec<JournalEntry>, String> {
        let path = self.dir.join(DB);
        let journal = SqliteJournal::open(&path)
            .map_err(|error| format!("the journal does not open after the kill: {error}"))?;
        let entries = self
            .runtime
            .block_on(journal.recall(event))
            .map_err(|error| format!("the journal cannot be read back: {error}"))?;
        drop(journal);
        Ok(entries)
    }

    /// Panics with everything needed to understand and reproduce a failure.
    fn fail(&self, run: &Run, what: &str) -> ! {
        let mut message = format!(
            "CRASH TEST FAILED\n  seed: {seed} (rerun with ORCH_CRASH_SEED={seed})\n  run: {} \
             (payload {})\n  execution #{} of the run: {}; {} kills of this run so far, {} in \
             all\n  what: {what}\n",
            run.event,
            run.payload,
            run.executions,
            match (run.delay, run.killed) {
                (Some(delay), true) => format!("killed (SIGKILL) {delay:?} after its spawn"),
                (Some(delay), false) =>
                    format!("exited before its kill, due {delay:?} after spawn"),
                (None, _) => "not killed, ran to its end".to_owned(),
            },
            run.kills,
            self.kills,
            seed = self.seed,
        );
        match read_side(&self.side_path(&run.event)) {
            Ok(lines) => {
                let _ = writeln!(
                    message,
                    "side channel (lines before #{} come from earlier executions):",
                    run.lines
                );
                for (i, line) in lines.iter().enumerate() {
                    let _ = writeln!(message, "  #{i} {line}");
                }
            }
            Err(error) => {
                let _ = writeln!(message, "side channel: {error}");
            }
        }
        match self.recall(&run.event) {
            Ok(entries) => {
                let _ = writeln!(message, "journal:");
                for (i, entry) in entries.iter().enumerate() {
                    let _ = writeln!(message, "  #{i} {:?}", entry.event);
                }
            }
            Err(error) => {
                let _ = writeln!(message, "journal: {error}");
            }
        }
        panic!("{message}");
    }

    /// Runs one execution of `run` and checks everything after it.
    fn step(&mut self, run: &mut Run, delay: Option<Duration>) -> Execution {
        run.delay = delay;
        let execution = self.execute(&run.event, run.payload, delay);
        run.executions += 1;
        run.killed = execution.killed;
        if execution.killed {
            run.kills += 1;
            self.kills += 1;
        }
        let entries = match self.recall(&run.event) {
            Ok(entries) => entries,
            Err(error) => self.fail(run, &error),
        };
        // Committed entries stay as they were: a kill only ever adds to the journal.
        if entries.get(..run.entries.len()) != Some(&run.entries[..]) {
            self.fail(
                run,
                &format!(
                    "the journal lost or changed entries it had committed: it had {} entries \
                     before this execution, now {}",
                    run.entries.len(),
                    entries.len()
                ),
            );
        }
        let lines = match read_side(&self.side_path(&run.event)) {
            Ok(lines) => lines,
            Err(error) => self.fail(run, &error),
        };
        if lines.len() < run.lines {
            self.fail(run, "the side channel lost lines");
        }
        // First what really ran (the side channel) against what this execution resumed from.
        let new = &lines[run.lines.min(lines.len())..];
        if let Err(error) = check_execution(&run.journaled, new) {
            self.fail(run, &error);
        }
        if let Err(error) = check_side(&run.event, &lines, &entries) {
            self.fail(run, &error);
        }
        let after = match fold_journal(&run.event, &run.expected, &entries) {
            Ok(after) => after,
            Err(error) => self.fail(run, &format!("the journal is inconsistent: {error}")),
        };
        if !execution.killed || execution.result.is_some() {
            let Some(result) = &execution.result else {
                self.fail(run, "the child exited 0 without a report");
            };
            if let Err(error) = check_result(result, &run.expected, &run.journaled, &after) {
                self.fail(run, &error);
            }
        }
        if run.journaled.finished && (!new.is_empty() || after.entries != run.journaled.entries) {
            self.fail(run, "a finished run ran again, or recorded more");
        }
        if execution.killed {
            self.tally(run, &after, &entries[run.journaled.entries..], new);
        }
        let started: BTreeSet<_> = lines[..run.lines.min(lines.len())]
            .iter()
            .filter(|line| line.what == "start")
            .map(|line| &line.key)
            .collect();
        if new
            .iter()
            .any(|line| line.what == "start" && started.contains(&line.key))
        {
            self.landed.reran_attempts += 1;
        }
        run.journaled = after;
        run.entries = entries;
        run.lines = lines.len();
        execution
    }

    /// Notes where a kill landed.
    fn tally(&mut self, run: &Run, after: &Journaled, new_entries: &[JournalEntry], new: &[Line]) {
        if new_entries.is_empty() {
            self.landed.before_start += 1;
            return;
        }
        if after.finished && !run.journaled.finished {
            self.landed.after_end += 1;
            return;
        }
        self.landed.mid_run += 1;
        if new.iter().any(|line| {
            line.what == "ok" && after.service(&line.service).succeeded != Some(line.attempt)
        }) {
            self.landed.before_success_commit += 1;
        }
        if new_entries.iter().any(|entry| {
            matches!(&entry.event, Event::AttemptStarted { service, attempt }
                if !new.iter().any(|line| line.service == *service && line.attempt == *attempt))
        }) {
            self.landed.after_start_commit += 1;
        }
    }
}

/// Issue 5: kills durable runs with `SIGKILL` at random points, resumes them, and checks that
/// nothing that succeeded runs again, the journal always opens and is consistent, and every run
/// ends with the right outputs. See the module docs.
#[test]
fn crash_recovery() {
    if std::env::var_os(CHILD_DIR).is_some() {
        return;
    }
    let seed = seed();
    eprintln!("crash test seed: {seed}");
    let began = Instant::now();
    let mut rng = SplitMix64(seed);
    let dir = std::env::temp_dir().join(format!("orch-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = TempDir(dir.clone());
    let mut crash = Crash {
        seed,
        dir,
        runtime: tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
        kills: 0,
        executions: 0,
        landed: Landed::default(),
    };

    // How long a whole execution takes here, from spawn to exit: the kills are spread over it.
    // Measured, not assumed, so that a slow machine still sees kills land mid-run.
    let mut calibration: Vec<Duration> = (0..3)
        .map(|i| {
            let event = format!("calibrate-{i}");
            let execution = crash.execute(&event, 1, None);
            assert!(
                execution.result.is_some(),
                "the calibration run printed no report"
            );
            execution.took
        })
        .collect();
    calibration.sort();
    let span = calibration[1].clamp(Duration::from_millis(10), Duration::from_secs(2));
    // Shrunk whenever an execution ends before its kill: then the kills came too late.
    let mut span_us = span.as_micros() as u64;
    eprintln!("crash test: an execution takes about {span:?}; kills land within it");

    let mut runs = 0;
    while runs < MIN_RUNS || crash.kills < MIN_KILLS {
        if runs == MAX_RUNS {
            panic!(
                "crash test seed: {seed}: only {} kills landed in {MAX_RUNS} runs",
                crash.kills
            );
        }
        let event = format!("evt-{runs}");
        let payload = rng.below(1000);
        let mut run = Run {
            expected: expected_outputs(&event, payload),
            event,
            payload,
            kills: 0,
            executions: 0,
            delay: None,
            killed: false,
            journaled: Journaled::default(),
            entries: Vec::new(),
            lines: 0,
        };
        runs += 1;
        // 4 to 8 kills each, spread over the execution: one in 8 early (mostly before the run
        // starts, while the process starts), the others anywhere. A resumed execution has less
        // to do: the delays shrink with the services left to run.
        let kills = 4 + rng.below(5) as usize;
        while run.kills < kills {
            let left = (SERVICES.len() - run.journaled.succeeded().len()) as u64;
            let window = span_us * (left + 2) / (SERVICES.len() as u64 + 2);
            let delay_us = if rng.below(8) == 0 {
                rng.below(window / 8)
            } else {
                rng.below(window)
            };
            let execution = crash.step(&mut run, Some(Duration::from_micros(delay_us)));
            if !execution.killed {
                // It finished before the kill: the kills left go to the next runs.
                span_us = (span_us * 7 / 8).max(10_000);
                break;
            }
        }
        // Then resumed, without kills, until it finishes: one execution must do.
        if !run.journaled.finished {
            let execution = crash.step(&mut run, None);
            if execution.result.is_none() {
                crash.fail(&run, "the resumed run printed no report");
            }
        }
        // Finished: runs nothing, reads back every output (checked in `step`).
        let before = run.journaled.entries;
        crash.step(&mut run, None);
        if run.journaled.entries != before {
            crash.fail(&run, "running a finished run recorded more");
        }
    }
    let landed = &crash.landed;
    eprintln!(
        "crash test: {runs} runs, {} executions, {} kills in {:?}: {} before a run started, {} \
         mid-run ({} between a service's return and its success's commit, {} between an \
         attempt's start commit and its service starting), {} after a run's end; {} executions \
         ran an attempt again under its same idempotency key; the kill window ended at {:?}",
        crash.executions,
        crash.kills,
        began.elapsed(),
        landed.before_start,
        landed.mid_run,
        landed.before_success_commit,
        landed.after_start_commit,
        landed.after_end,
        landed.reran_attempts,
        Duration::from_micros(span_us),
    );
    assert!(crash.kills >= MIN_KILLS);
}
