//! The journal of a run, entry by entry, with exact offsets under the paused clock; and its JSON
//! Lines form.

mod common;

use std::any::type_name;
use std::convert::Infallible;
use std::time::Duration;

use common::{ms, of_service, request};
use orch::prelude::*;
use orch::{Event, JournalEntry, RunStatus, StopReason, Summary};
use serde_json::{Value, json};

/// A serializable payload.
#[derive(Debug, serde::Serialize)]
pub struct Cart {
    pub items: Vec<&'static str>,
    pub coupon: Option<&'static str>,
}

/// A serializable output.
#[derive(Debug, PartialEq, serde::Serialize)]
pub struct Price {
    pub cents: u64,
}

/// An output that cannot be serialized.
#[derive(Debug, PartialEq)]
pub struct Opaque(pub u8);

mod shop {
    use super::*;

    /// Warns half-way, succeeds at 10 ms.
    #[service]
    pub async fn fetch(ctx: &Context<Cart>) -> Result<Price, String> {
        tokio::time::sleep(ms(5)).await;
        ctx.warn("slow upstream");
        tokio::time::sleep(ms(5)).await;
        Ok(Price { cents: 1200 })
    }

    /// Warns and fails on attempt 1, succeeds on attempt 2 (at 100 ms) with an opaque output.
    #[service(retry = RetryPolicy::DEFAULT.with_jitter(0.0).with_max_retries(1))]
    pub async fn flaky(ctx: &Context<Cart>) -> Result<Opaque, String> {
        if ctx.attempt() == 1 {
            ctx.warn("first try");
            return Err("transient".to_owned());
        }
        Ok(Opaque(2))
    }

    /// Fails for good at 20 ms.
    #[service]
    pub async fn broken(_ctx: &Context<Cart>) -> Result<u8, String> {
        tokio::time::sleep(ms(20)).await;
        Err("broken for good".to_owned())
    }

    #[service(depends_on = [broken])]
    pub async fn dependent(_ctx: &Context<Cart>, broken: &u8) -> Result<u8, Infallible> {
        Ok(*broken)
    }

    /// Returns `()`: recorded as JSON `null`.
    #[service]
    pub async fn unit(_ctx: &Context<Cart>) -> Result<(), Infallible> {
        Ok(())
    }

    orchestration! {
        pub journaled(Cart) { fetch, flaky, broken, dependent, unit }
    }
}

fn cart() -> Cart {
    Cart {
        items: vec!["kbd", "cable"],
        coupon: None,
    }
}

async fn run_shop() -> (shop::journaled::Report, Vec<JournalEntry>) {
    let journal = InMemoryJournal::new();
    let report = shop::journaled::orchestrate(&request(cart()), &journal).await;
    (report, journal.entries())
}

fn started(service: &'static str, attempt: u32) -> Event {
    Event::AttemptStarted {
        service: service.into(),
        attempt,
    }
}

fn failed(service: &'static str, attempt: u32, error: &str, retry_in: Option<Duration>) -> Event {
    Event::AttemptFailed {
        service: service.into(),
        attempt,
        error: error.to_owned(),
        panicked: false,
        timed_out: false,
        retry_after: None,
        retry_in,
        stop: retry_in.is_none().then_some(StopReason::AttemptsExhausted),
    }
}

fn warning(service: &'static str, attempt: u32, message: &str) -> Event {
    Event::Warning {
        service: service.into(),
        attempt,
        message: message.to_owned(),
    }
}

fn succeeded<T>(service: &'static str, attempt: u32, output: Option<Value>) -> Event {
    Event::AttemptSucceeded {
        service: service.into(),
        attempt,
        output_type: type_name::<T>().into(),
        output,
    }
}

#[tokio::test(start_paused = true)]
async fn the_run_starts_and_finishes_with_its_request_status_and_summary() {
    let (_, entries) = run_shop().await;
    assert!(entries.iter().all(|entry| &*entry.event_id == "evt-1"));

    let first = entries.first().expect("entries");
    assert_eq!(first.offset, ms(0));
    assert_eq!(
        first.event,
        Event::RunStarted {
            orchestration: "journaled".into(),
            tenant_id: "tenant-1".into(),
            organization_id: "org-1".into(),
            payload_type: type_name::<Cart>().into(),
            payload: Some(json!({"items": ["kbd", "cable"], "coupon": null})),
            // Recorded by durable orchestrations only.
            fingerprint: None,
        }
    );
    let run_started = entries
        .iter()
        .filter(|e| matches!(e.event, Event::RunStarted { .. }))
        .count();
    assert_eq!(run_started, 1);

    let last = entries.last().expect("entries");
    assert_eq!(last.offset, ms(100));
    assert_eq!(
        last.event,
        Event::RunFinished {
            status: RunStatus::Failed,
            summary: Summary {
                succeeded: 3,
                failed: 1,
                skipped: 1,
                cancelled: 0
            },
            reason: None,
        }
    );
    let run_finished = entries
        .iter()
        .filter(|e| matches!(e.event, Event::RunFinished { .. }))
        .count();
    assert_eq!(run_finished, 1);
}

#[tokio::test(start_paused = true)]
async fn each_service_has_its_attempts_warnings_and_outputs_in_causal_order_at_exact_offsets() {
    let (report, entries) = run_shop().await;
    assert_eq!(report.flaky.output(), Some(&Opaque(2)));

    assert_eq!(
        of_service(&entries, "fetch"),
        [
            (ms(0), started("fetch", 1)),
            // The warning carries the time it was made, and sits inside its attempt.
            (ms(5), warning("fetch", 1, "slow upstream")),
            (
                ms(10),
                succeeded::<Price>("fetch", 1, Some(json!({"cents": 1200})))
            ),
        ]
    );
    assert_eq!(
        of_service(&entries, "flaky"),
        [
            (ms(0), started("flaky", 1)),
            (ms(0), warning("flaky", 1, "first try")),
            (ms(0), failed("flaky", 1, "transient", Some(ms(100)))),
            (ms(100), started("flaky", 2)),
            // Not serializable: the type is recorded, the value is not.
            (ms(100), succeeded::<Opaque>("flaky", 2, None)),
        ]
    );
    assert_eq!(
        of_service(&entries, "broken"),
        [
            (ms(0), started("broken", 1)),
            (ms(20), failed("broken", 1, "broken for good", None)),
        ]
    );
    assert_eq!(
        of_service(&entries, "dependent"),
        [(
            ms(20),
            Event::ServiceSkipped {
                service: "dependent".into(),
                dependency: "broken".into(),
                cause: "broken".into(),
            }
        )]
    );
    assert_eq!(
        of_service(&entries, "unit"),
        [
            (ms(0), started("unit", 1)),
            (ms(0), succeeded::<()>("unit", 1, Some(Value::Null))),
        ]
    );
    // Nothing else: 2 run entries and the 13 above.
    assert_eq!(entries.len(), 15);
}

#[tokio::test(start_paused = true)]
async fn entries_are_appended_in_the_order_things_happened() {
    let (_, entries) = run_shop().await;
    let position = |wanted: &Event| {
        entries
            .iter()
            .position(|entry| &entry.event == wanted)
            .unwrap_or_else(|| panic!("{wanted:?} not journaled"))
    };
    // A retry's start follows the failure that asked for it; a skip follows its cause; the run
    // ends after everything.
    assert!(
        position(&failed("flaky", 1, "transient", Some(ms(100)))) < position(&started("flaky", 2))
    );
    assert!(
        position(&failed("broken", 1, "broken for good", None))
            < entries
                .iter()
                .position(|e| e.service() == Some("dependent"))
                .unwrap()
    );
    // Apart from warnings (stamped when made, written when their attempt ends), offsets never
    // go backwards.
    let offsets: Vec<Duration> = entries
        .iter()
        .filter(|e| !matches!(e.event, Event::Warning { .. }))
        .map(|e| e.offset)
        .collect();
    assert!(offsets.is_sorted(), "{offsets:?}");
}

#[tokio::test(start_paused = true)]
async fn json_lines_hold_one_object_per_entry_that_reads_back_into_the_entry() {
    let journal = InMemoryJournal::new();
    let _report = shop::journaled::orchestrate(&request(cart()), &journal).await;
    let entries = journal.entries();
    let text = journal.to_json_lines();
    assert!(text.ends_with('\n'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), entries.len());

    for (line, entry) in lines.iter().zip(&entries) {
        let value: Value = serde_json::from_str(line).expect("each line is JSON");
        assert!(value.is_object(), "{line}");
        assert_eq!(value["event_id"], "evt-1");
        assert_eq!(
            value["offset_ns"],
            u64::try_from(entry.offset.as_nanos()).unwrap()
        );
        let at: orch::Timestamp = value["at"].as_str().expect("at").parse().expect("RFC 3339");
        assert_eq!(at, entry.at);
        let back: JournalEntry = serde_json::from_str(line).expect("reads back");
        assert_eq!(&back, entry, "{line}");
        assert_eq!(entry.to_json(), *line);
    }

    let object = |kind: &str, service: &str| -> Value {
        lines
            .iter()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .find(|v| v["event"]["type"] == kind && v["event"]["service"] == service)
            .unwrap_or_else(|| panic!("no {kind} for {service}"))
    };
    // Retry delays in nanoseconds; absent after the last attempt.
    let failed = object("attempt_failed", "flaky");
    assert_eq!(failed["event"]["retry_in_ns"], 100_000_000);
    assert_eq!(failed["event"]["panicked"], false);
    let last_failure = object("attempt_failed", "broken");
    assert!(last_failure["event"].get("retry_in_ns").is_none());
    // Serializable outputs as JSON, `()` as null, others only by type.
    assert_eq!(
        object("attempt_succeeded", "fetch")["event"]["output"],
        json!({"cents": 1200})
    );
    let unit = object("attempt_succeeded", "unit");
    assert_eq!(unit["event"].get("output"), Some(&Value::Null));
    let opaque = object("attempt_succeeded", "flaky");
    assert!(opaque["event"].get("output").is_none(), "{opaque}");
    assert_eq!(opaque["event"]["output_type"], type_name::<Opaque>());
    let skipped = object("service_skipped", "dependent");
    assert_eq!(skipped["event"]["dependency"], "broken");
    assert_eq!(skipped["event"]["cause"], "broken");
    let finished: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(
        finished["event"],
        json!({
            "type": "run_finished",
            "status": "failed",
            "summary": {"succeeded": 3, "failed": 1, "skipped": 1, "cancelled": 0}
        })
    );
}

/// A payload that cannot be serialized, and a successful run.
mod plain {
    use super::*;

    pub struct Secret(pub u8);

    #[service]
    pub async fn reveal(ctx: &Context<Secret>) -> Result<u8, Infallible> {
        Ok(ctx.payload().0)
    }

    /// Warns, then panics: the warning is still journaled, inside the attempt.
    #[service]
    pub async fn doomed(ctx: &Context<Secret>) -> Result<u8, Infallible> {
        tokio::time::sleep(ms(3)).await;
        ctx.warn("about to fail");
        tokio::time::sleep(ms(4)).await;
        panic!("doomed");
    }

    orchestration! {
        pub plain(Secret) { reveal }
    }

    orchestration! {
        pub doomed_run(Secret) { reveal, doomed }
    }
}

#[tokio::test(start_paused = true)]
async fn a_payload_that_is_not_serializable_is_recorded_by_type_only() {
    let journal = InMemoryJournal::new();
    let report = plain::plain::orchestrate(&request(plain::Secret(7)), &journal).await;
    assert!(report.is_success());
    let entries = journal.entries();
    match &entries[0].event {
        Event::RunStarted {
            payload,
            payload_type,
            ..
        } => {
            assert_eq!(payload, &None);
            assert_eq!(payload_type, type_name::<plain::Secret>());
        }
        other => panic!("expected run_started, got {other:?}"),
    }
    let line = entries[0].to_json();
    let value: Value = serde_json::from_str(&line).unwrap();
    assert!(value["event"].get("payload").is_none(), "{line}");
    assert_eq!(
        entries.last().unwrap().event,
        Event::RunFinished {
            status: RunStatus::Succeeded,
            summary: Summary {
                succeeded: 1,
                ..Summary::default()
            },
            reason: None,
        }
    );
    assert_eq!(entries.len(), 4);
}

#[tokio::test(start_paused = true)]
async fn a_warning_made_before_a_panic_is_journaled_inside_that_attempt() {
    let journal = InMemoryJournal::new();
    let _report = plain::doomed_run::orchestrate(&request(plain::Secret(7)), &journal).await;
    assert_eq!(
        of_service(&journal.entries(), "doomed"),
        [
            (ms(0), started("doomed", 1)),
            (ms(3), warning("doomed", 1, "about to fail")),
            (
                ms(7),
                Event::AttemptFailed {
                    service: "doomed".into(),
                    attempt: 1,
                    error: "doomed".to_owned(),
                    panicked: true,
                    timed_out: false,
                    retry_after: None,
                    retry_in: None,
                    stop: Some(StopReason::Panicked),
                }
            ),
        ]
    );
}

/// Two services whose attempts warn while the other's warnings wait to be journaled.
mod overlapping {
    use super::*;

    /// Warns at 1 ms, succeeds at 201 ms.
    #[service]
    pub async fn slow(ctx: &Context<u8>) -> Result<u8, Infallible> {
        tokio::time::sleep(ms(1)).await;
        ctx.warn("slow: cache cold");
        tokio::time::sleep(ms(200)).await;
        Ok(1)
    }

    /// Attempt 1 warns twice and fails at 3 ms; attempt 2 (at 103 ms) warns and succeeds at
    /// 107 ms. `slow`'s warning waits all along.
    #[service(retry = RetryPolicy::DEFAULT.with_jitter(0.0).with_max_retries(1))]
    pub async fn quick(ctx: &Context<u8>) -> Result<u8, String> {
        tokio::time::sleep(ms(2)).await;
        ctx.warn(format!("quick: attempt {}", ctx.attempt()));
        tokio::time::sleep(ms(1)).await;
        if ctx.attempt() == 1 {
            ctx.warn("quick: giving up on attempt 1");
            return Err("transient".to_owned());
        }
        tokio::time::sleep(ms(1)).await;
        Ok(2)
    }

    orchestration! {
        pub both(u8) { slow, quick }
    }
}

#[tokio::test(start_paused = true)]
async fn each_attempt_journals_its_own_warnings_when_others_wait() {
    let journal = InMemoryJournal::new();
    let report = overlapping::both::orchestrate(&request(0), &journal).await;
    assert!(report.is_success(), "{report:?}");
    let entries = journal.entries();
    assert_eq!(
        of_service(&entries, "quick"),
        [
            (ms(0), started("quick", 1)),
            (ms(2), warning("quick", 1, "quick: attempt 1")),
            (ms(3), warning("quick", 1, "quick: giving up on attempt 1")),
            (ms(3), failed("quick", 1, "transient", Some(ms(100)))),
            (ms(103), started("quick", 2)),
            (ms(105), warning("quick", 2, "quick: attempt 2")),
            (ms(107), succeeded::<u8>("quick", 2, Some(json!(2)))),
        ]
    );
    assert_eq!(
        of_service(&entries, "slow"),
        [
            (ms(0), started("slow", 1)),
            (ms(1), warning("slow", 1, "slow: cache cold")),
            (ms(201), succeeded::<u8>("slow", 1, Some(json!(1)))),
        ]
    );
    // `slow`'s warning is written when its attempt ends, after all of `quick`'s entries.
    let position = |wanted: &Event| {
        entries
            .iter()
            .position(|entry| &entry.event == wanted)
            .unwrap_or_else(|| panic!("{wanted:?} not journaled"))
    };
    assert!(
        position(&succeeded::<u8>("quick", 2, Some(json!(2))))
            < position(&warning("slow", 1, "slow: cache cold"))
    );
}

/// A payload and an output whose `Serialize` notes if it runs while a journal makes an entry.
mod watched {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Set by `Watchful` while it makes an entry: a journal may hold its lock then.
    pub static MAKING: AtomicBool = AtomicBool::new(false);
    /// How many serializations ran while `MAKING` was set.
    pub static INSIDE: AtomicUsize = AtomicUsize::new(0);
    pub static SERIALIZED: AtomicUsize = AtomicUsize::new(0);

    /// A user type: its `Serialize` is user code.
    #[derive(Debug)]
    pub struct Watched(pub u8);

    impl serde::Serialize for Watched {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            if MAKING.load(Ordering::SeqCst) {
                INSIDE.fetch_add(1, Ordering::SeqCst);
            }
            SERIALIZED.fetch_add(1, Ordering::SeqCst);
            serializer.serialize_u8(self.0)
        }
    }

    /// A journal that writes at once, as the in-memory one does, making each entry under a lock.
    #[derive(Default)]
    pub struct Watchful(pub std::sync::Mutex<Vec<JournalEntry>>);

    impl Journal for Watchful {
        const WRITES_NOW: bool = true;

        fn record(
            &self,
            entry: JournalEntry,
        ) -> impl std::future::Future<Output = Result<(), orch::JournalError>> + Send {
            std::future::ready(self.record_now(|| entry))
        }

        fn record_now(
            &self,
            entry: impl FnOnce() -> JournalEntry,
        ) -> Result<(), orch::JournalError> {
            let mut entries = self.0.lock().unwrap();
            MAKING.store(true, Ordering::SeqCst);
            let entry = entry();
            MAKING.store(false, Ordering::SeqCst);
            entries.push(entry);
            Ok(())
        }
    }

    #[service]
    pub async fn echo(ctx: &Context<Watched>) -> Result<Watched, Infallible> {
        Ok(Watched(ctx.payload().0 + 1))
    }

    orchestration! {
        pub watched(Watched) { echo }
    }
}

#[tokio::test(start_paused = true)]
async fn no_serialize_of_the_users_runs_while_a_journal_makes_an_entry() {
    use std::sync::atomic::Ordering;
    let journal = watched::Watchful::default();
    let report = watched::watched::orchestrate(&request(watched::Watched(1)), &journal).await;
    assert_eq!(report.echo.output().map(|output| output.0), Some(2));
    // The payload, for the run's start, and the output, for the success: both recorded.
    assert_eq!(watched::SERIALIZED.load(Ordering::SeqCst), 2);
    let events: Vec<Event> = journal
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|entry| entry.event.clone())
        .collect();
    let Event::RunStarted { payload, .. } = &events[0] else {
        panic!("expected run_started, got {:?}", events[0]);
    };
    assert_eq!(payload, &Some(json!(1)));
    assert!(events.contains(&succeeded::<watched::Watched>("echo", 1, Some(json!(2)))));
    assert_eq!(watched::INSIDE.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn two_runs_into_one_journal_are_told_apart_by_event_id() {
    let journal = InMemoryJournal::new();
    let first = Request::new("evt-a", "t", "o", plain::Secret(1));
    let second = Request::new("evt-b", "t", "o", plain::Secret(2));
    let (a, b) = tokio::join!(
        plain::doomed_run::orchestrate(&first, &journal),
        plain::doomed_run::orchestrate(&second, &journal),
    );
    assert_eq!(a.reveal.output(), Some(&1));
    assert_eq!(b.reveal.output(), Some(&2));
    let entries = journal.take();
    assert!(journal.entries().is_empty(), "take empties the journal");
    for id in ["evt-a", "evt-b"] {
        let events: Vec<&Event> = entries
            .iter()
            .filter(|e| &*e.event_id == id)
            .map(|e| &e.event)
            .collect();
        assert_eq!(events.len(), 7, "{id}: {events:?}");
        assert!(matches!(events[0], Event::RunStarted { .. }));
        assert!(matches!(
            events[6],
            Event::RunFinished {
                status: RunStatus::Failed,
                ..
            }
        ));
    }
}
