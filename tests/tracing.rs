//! Tracing: a run is an `orch.run` span with the request's ids, each attempt an `orch.attempt`
//! span inside it with the service and the attempt, and what a service logs lands inside its
//! attempt's span. Captured by a minimal hand-written `tracing::Subscriber`.

mod common;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::ms;
use orch::prelude::*;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};

#[derive(Clone, Debug)]
struct SpanRecord {
    id: u64,
    name: &'static str,
    fields: BTreeMap<String, String>,
    parent: Option<u64>,
}

#[derive(Clone, Debug)]
struct EventRecord {
    level: Level,
    fields: BTreeMap<String, String>,
    /// The spans entered when the event happened, outermost first.
    stack: Vec<u64>,
}

#[derive(Default, Debug)]
struct Captured {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
    stack: Vec<u64>,
}

/// Records every span and event. Used on one thread at a time (`set_default`).
#[derive(Clone, Default)]
struct Capture {
    next_id: Arc<AtomicU64>,
    captured: Arc<Mutex<Captured>>,
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Subscriber for Capture {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // Other tests' threads have no subscriber: ask each time.
        Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let mut fields = BTreeMap::new();
        attributes.record(&mut Fields(&mut fields));
        let mut captured = self.captured.lock().unwrap();
        let parent = if let Some(parent) = attributes.parent() {
            Some(parent.into_u64())
        } else if attributes.is_contextual() {
            captured.stack.last().copied()
        } else {
            None
        };
        captured.spans.push(SpanRecord {
            id,
            name: attributes.metadata().name(),
            fields,
            parent,
        });
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut captured = self.captured.lock().unwrap();
        if let Some(record) = captured.spans.iter_mut().find(|s| s.id == span.into_u64()) {
            values.record(&mut Fields(&mut record.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let mut captured = self.captured.lock().unwrap();
        let stack = captured.stack.clone();
        captured.events.push(EventRecord {
            level: *event.metadata().level(),
            fields,
            stack,
        });
    }

    fn enter(&self, span: &Id) {
        self.captured.lock().unwrap().stack.push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let mut captured = self.captured.lock().unwrap();
        let position = captured.stack.iter().rposition(|&id| id == span.into_u64());
        if let Some(position) = position {
            captured.stack.remove(position);
        }
    }
}

impl Capture {
    fn spans(&self, name: &str) -> Vec<SpanRecord> {
        let captured = self.captured.lock().unwrap();
        captured
            .spans
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    fn span(&self, id: u64) -> SpanRecord {
        let captured = self.captured.lock().unwrap();
        captured
            .spans
            .iter()
            .find(|s| s.id == id)
            .cloned()
            .expect("a known span")
    }

    fn events(&self) -> Vec<EventRecord> {
        self.captured.lock().unwrap().events.clone()
    }
}

fn field<'a>(fields: &'a BTreeMap<String, String>, name: &str) -> &'a str {
    fields
        .get(name)
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
}

mod traced {
    use super::*;

    /// Fails on attempt 1, succeeds on attempt 2; logs across an await.
    #[service(retry = RetryPolicy::DEFAULT.with_jitter(0.0).with_max_retries(1))]
    pub async fn a(ctx: &Context<u32>) -> Result<u32, String> {
        tokio::time::sleep(ms(1)).await;
        tracing::info!(
            marker = "inside a",
            attempt_seen = ctx.attempt(),
            event_seen = ctx.event_id()
        );
        if ctx.attempt() == 1 {
            Err("first attempt fails".to_owned())
        } else {
            Ok(*ctx.payload())
        }
    }

    #[service(depends_on = [a])]
    pub async fn b(ctx: &Context<u32>, a: &u32) -> Result<u32, String> {
        ctx.warn("careful");
        Ok(a + 1)
    }

    orchestration! {
        pub traced(u32) { a, b }
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_is_an_orch_run_span_with_one_orch_attempt_span_per_attempt() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let request = Request::new("evt-trace", "tenant-t", "org-o", 7_u32);
    let report = traced::traced::orchestrate(&request, &NoJournal).await;
    assert_eq!(report.into_result().expect("both succeed").b, 8);

    let runs = capture.spans("orch.run");
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(field(&run.fields, "orchestration"), "traced");
    assert_eq!(field(&run.fields, "event_id"), "evt-trace");
    assert_eq!(field(&run.fields, "tenant_id"), "tenant-t");
    assert_eq!(field(&run.fields, "organization_id"), "org-o");

    let attempts = capture.spans("orch.attempt");
    let mut seen: Vec<(String, String)> = attempts
        .iter()
        .map(|s| {
            (
                field(&s.fields, "service").to_owned(),
                field(&s.fields, "attempt").to_owned(),
            )
        })
        .collect();
    seen.sort();
    let pair = |s: &str, a: &str| (s.to_owned(), a.to_owned());
    assert_eq!(seen, [pair("a", "1"), pair("a", "2"), pair("b", "1")]);
    assert!(
        attempts.iter().all(|s| s.parent == Some(run.id)),
        "{attempts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn what_a_service_logs_is_inside_its_attempt_span_even_after_an_await() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let request = Request::new("evt-trace", "tenant-t", "org-o", 7_u32);
    let _report = traced::traced::orchestrate(&request, &NoJournal).await;

    let inside: Vec<EventRecord> = capture
        .events()
        .into_iter()
        .filter(|e| e.fields.get("marker").map(String::as_str) == Some("inside a"))
        .collect();
    assert_eq!(inside.len(), 2);
    for event in &inside {
        let innermost = capture.span(*event.stack.last().expect("inside a span"));
        assert_eq!(innermost.name, "orch.attempt");
        assert_eq!(field(&innermost.fields, "service"), "a");
        assert_eq!(
            field(&innermost.fields, "attempt"),
            field(&event.fields, "attempt_seen")
        );
        let outermost = capture.span(event.stack[0]);
        assert_eq!(outermost.name, "orch.run");
    }

    // `ctx.warn` goes to tracing at once, as a warning naming the service and the attempt.
    let warning = capture
        .events()
        .into_iter()
        .find(|e| e.fields.get("message").map(String::as_str) == Some("careful"))
        .expect("the warning reached tracing");
    assert_eq!(warning.level, Level::WARN);
    assert_eq!(field(&warning.fields, "service"), "b");
    assert_eq!(field(&warning.fields, "attempt"), "1");
    let innermost = capture.span(*warning.stack.last().expect("inside a span"));
    assert_eq!(field(&innermost.fields, "service"), "b");

    // The failed attempt is reported, with its service.
    assert!(
        capture.events().iter().any(|e| e.level == Level::WARN
            && e.fields.get("service").map(String::as_str) == Some("a")
            && e.fields.get("error").map(String::as_str) == Some("first attempt fails")),
        "{:?}",
        capture.events()
    );
}

#[tokio::test(start_paused = true)]
async fn concurrent_runs_keep_their_attempts_and_logs_under_their_own_run_span() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());
    let first = Request::new("evt-1", "t", "o", 1_u32);
    let second = Request::new("evt-2", "t", "o", 2_u32);
    let _reports = tokio::join!(
        traced::traced::orchestrate(&first, &NoJournal),
        traced::traced::orchestrate(&second, &NoJournal),
    );

    let runs = capture.spans("orch.run");
    assert_eq!(runs.len(), 2);
    for run in &runs {
        let attempts = capture
            .spans("orch.attempt")
            .into_iter()
            .filter(|s| s.parent == Some(run.id))
            .count();
        assert_eq!(attempts, 3, "{run:?}");
    }
    let inside: Vec<EventRecord> = capture
        .events()
        .into_iter()
        .filter(|e| e.fields.contains_key("marker"))
        .collect();
    assert_eq!(inside.len(), 4);
    for event in inside {
        let run = capture.span(event.stack[0]);
        assert_eq!(run.name, "orch.run");
        // The event's own event id (from its context) is its run span's.
        assert_eq!(
            field(&run.fields, "event_id"),
            field(&event.fields, "event_seen")
        );
    }
}

mod ending {
    use super::*;

    #[service]
    pub async fn ok(_ctx: &Context<u32>) -> Result<u32, String> {
        Ok(1)
    }

    #[service(retry = RetryPolicy::NONE)]
    pub async fn fails(_ctx: &Context<u32>) -> Result<u32, String> {
        Err("no".to_owned())
    }

    #[service(depends_on = [fails])]
    pub async fn after(_ctx: &Context<u32>, fails: &u32) -> Result<u32, String> {
        Ok(*fails)
    }

    orchestration! {
        pub ending(u32) { ok, fails, after }
    }
}

/// Awaits `run` under a subscriber of its own: what it returns, and the status and summary
/// fields of the one `run finished` event it traced.
async fn run_finished<R>(run: impl std::future::Future<Output = R>) -> (R, String, String) {
    let capture = Capture::default();
    let guard = tracing::subscriber::set_default(capture.clone());
    let output = run.await;
    drop(guard);
    let ends: Vec<EventRecord> = capture
        .events()
        .into_iter()
        .filter(|e| e.fields.get("message").map(String::as_str) == Some("run finished"))
        .collect();
    assert_eq!(ends.len(), 1, "{:?}", capture.events());
    let end = &ends[0];
    assert_eq!(end.level, Level::DEBUG);
    assert_eq!(capture.span(end.stack[0]).name, "orch.run");
    let value = |name| field(&end.fields, name).to_owned();
    (output, value("status"), value("summary"))
}

// The run's end is traced with its status and how many services ended in each, whether or not
// the run is journaled (without a journal, the summary is read only for a subscriber).
#[tokio::test(start_paused = true)]
async fn a_runs_end_is_traced_with_its_status_and_summary_with_or_without_a_journal() {
    let request = Request::new("evt-end", "t", "o", 7_u32);
    let journal = InMemoryJournal::new();
    let succeeded = "Summary { succeeded: 2, failed: 0, skipped: 0, cancelled: 0 }";
    let failed = "Summary { succeeded: 1, failed: 1, skipped: 1, cancelled: 0 }";

    let (report, status, summary) =
        run_finished(traced::traced::orchestrate(&request, &NoJournal)).await;
    assert!(report.is_success());
    assert_eq!(
        (status.as_str(), summary.as_str()),
        ("Succeeded", succeeded)
    );

    let (report, status, summary) =
        run_finished(traced::traced::orchestrate(&request, &journal)).await;
    assert!(report.is_success());
    assert_eq!(
        (status.as_str(), summary.as_str()),
        ("Succeeded", succeeded)
    );

    let (report, status, summary) =
        run_finished(ending::ending::orchestrate(&request, &NoJournal)).await;
    assert_eq!(report.summary().failed, 1);
    assert_eq!((status.as_str(), summary.as_str()), ("Failed", failed));

    let (report, status, summary) =
        run_finished(ending::ending::orchestrate(&request, &journal)).await;
    assert_eq!(report.summary().skipped, 1);
    assert_eq!((status.as_str(), summary.as_str()), ("Failed", failed));

    // `a` fails at 1 ms and waits to retry past the deadline: cancelled, and `b` skipped.
    let options = RunOptions::new().with_timeout(ms(50));
    let (report, status, summary) = run_finished(traced::traced::orchestrate_with(
        &request, &NoJournal, options,
    ))
    .await;
    assert_eq!(report.summary().cancelled, 1);
    assert_eq!(status, "Interrupted");
    assert_eq!(summary, format!("{:?}", report.summary()));
}
