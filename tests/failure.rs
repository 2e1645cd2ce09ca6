//! What a failure does to the rest of a run: required dependents are skipped transitively, with
//! the direct dependency and the root cause named; independent branches and optional dependents
//! run on; a panic is a failure like any other, not a crash.

mod common;

use std::convert::Infallible;
use std::fmt;

use common::{Timeline, ms, request};
use orch::prelude::*;
use orch::{AttemptError, Event, Outcome, RunError, Skip, Status, Summary};

/// A typed service error.
#[derive(Debug, Clone, PartialEq)]
pub struct Boom(pub &'static str);

impl fmt::Display for Boom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "boom: {}", self.0)
    }
}

impl std::error::Error for Boom {}

/// `root` fails at 10 ms. `mid` and `leaf` need it (directly, then through `mid`); `other` and
/// `other_child` do not; `tolerant` and `both` take optional dependencies.
mod branches {
    use super::*;

    #[service]
    pub async fn root(ctx: &Context<Timeline>) -> Result<u32, Boom> {
        ctx.payload().mark("root", "start");
        tokio::time::sleep(ms(10)).await;
        Err(Boom("root is down"))
    }

    #[service(depends_on = [root])]
    pub async fn mid(ctx: &Context<Timeline>, root: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("mid", "start");
        Ok(root + 1)
    }

    #[service(depends_on = [mid])]
    pub async fn leaf(ctx: &Context<Timeline>, mid: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("leaf", "start");
        Ok(mid + 1)
    }

    #[service]
    pub async fn other(ctx: &Context<Timeline>) -> Result<&'static str, Infallible> {
        ctx.payload().mark("other", "start");
        tokio::time::sleep(ms(20)).await;
        Ok("other")
    }

    #[service(depends_on = [other])]
    pub async fn other_child(
        ctx: &Context<Timeline>,
        other: &&'static str,
    ) -> Result<String, Infallible> {
        ctx.payload().mark("other_child", "start");
        Ok(format!("{other} child"))
    }

    #[service(depends_on = [root])]
    pub async fn tolerant(
        ctx: &Context<Timeline>,
        root: Option<&u32>,
    ) -> Result<Option<u32>, Infallible> {
        ctx.payload().mark("tolerant", "start");
        Ok(root.copied())
    }

    #[service(depends_on = [other, mid])]
    pub async fn both(
        ctx: &Context<Timeline>,
        other: &&'static str,
        mid: Option<&u32>,
    ) -> Result<String, Infallible> {
        ctx.payload().mark("both", "start");
        Ok(format!("{other} / {mid:?}"))
    }

    orchestration! {
        pub branches(Timeline) { root, mid, leaf, other, other_child, tolerant, both }
    }
}

#[tokio::test(start_paused = true)]
async fn required_dependents_of_a_failure_are_skipped_transitively_and_never_called() {
    let request = request(Timeline::new());
    let report = branches::branches::orchestrate(&request, &NoJournal).await;
    let timeline = &request.payload;

    let failure = report.root.failure().expect("root failed");
    assert_eq!(
        failure.errors(),
        [AttemptError::Error(Boom("root is down"))]
    );
    assert!(!failure.is_permanent());

    assert_eq!(
        report.mid,
        Outcome::Skipped(Skip {
            dependency: "root",
            cause: "root"
        })
    );
    assert_eq!(
        report.leaf,
        Outcome::Skipped(Skip {
            dependency: "mid",
            cause: "root"
        })
    );
    assert_eq!(report.mid.attempts(), 0);
    assert_eq!(report.leaf.attempts(), 0);
    assert!(timeline.times("mid", "start").is_empty());
    assert!(timeline.times("leaf", "start").is_empty());
    assert_eq!(
        report.leaf.to_string(),
        "skipped: dependency `mid` did not succeed (because `root` did not)"
    );
    assert_eq!(
        report.mid.to_string(),
        "skipped: dependency `root` did not succeed"
    );
}

#[tokio::test(start_paused = true)]
async fn independent_branches_and_optional_dependents_keep_running() {
    let request = request(Timeline::new());
    let report = branches::branches::orchestrate(&request, &NoJournal).await;
    let timeline = &request.payload;

    assert_eq!(report.other.output(), Some(&"other"));
    assert_eq!(
        report.other_child.output().map(String::as_str),
        Some("other child")
    );
    assert_eq!(timeline.once("other_child", "start"), ms(20));

    // Runs anyway, once root has finished (failed at 10 ms), and receives `None`.
    assert_eq!(report.tolerant.output(), Some(&None));
    assert_eq!(timeline.once("tolerant", "start"), ms(10));

    // Needs `other` (20 ms), takes `mid` (skipped at 10 ms) optionally.
    assert_eq!(
        report.both.output().map(String::as_str),
        Some("other / None")
    );
    assert_eq!(timeline.once("both", "start"), ms(20));

    assert_eq!(
        report.summary(),
        Summary {
            succeeded: 4,
            failed: 1,
            skipped: 2,
            cancelled: 0
        }
    );
    assert!(!report.is_success());
    assert_eq!(timeline.elapsed(), ms(20));
}

#[tokio::test(start_paused = true)]
async fn skips_are_journaled_with_dependency_and_cause_when_the_failure_is_known() {
    let journal = InMemoryJournal::new();
    let _report = branches::branches::orchestrate(&request(Timeline::new()), &journal).await;
    let entries = journal.entries();
    let skips: Vec<_> = entries
        .iter()
        .filter_map(|entry| match &entry.event {
            Event::ServiceSkipped {
                service,
                dependency,
                cause,
            } => Some((
                entry.offset,
                service.to_string(),
                dependency.to_string(),
                cause.to_string(),
            )),
            _ => None,
        })
        .collect();
    let s = |x: &str| x.to_owned();
    assert_eq!(
        skips,
        [
            (ms(10), s("mid"), s("root"), s("root")),
            (ms(10), s("leaf"), s("mid"), s("root")),
        ]
    );
    // Each skip is recorded after the failure that caused it.
    let failed_at = entries
        .iter()
        .position(|e| matches!(&e.event, Event::AttemptFailed { service, .. } if service == "root"))
        .expect("root's failure is journaled");
    let first_skip = entries
        .iter()
        .position(|e| matches!(e.event, Event::ServiceSkipped { .. }))
        .expect("a skip is journaled");
    assert!(failed_at < first_skip);
}

/// An optional dependency that succeeds is passed as `Some(&value)`.
mod optional_ok {
    use super::*;

    #[service]
    pub async fn source(ctx: &Context<Timeline>) -> Result<Vec<u8>, Infallible> {
        tokio::time::sleep(ms(30)).await;
        ctx.payload().mark("source", "end");
        Ok(vec![1, 2, 3])
    }

    #[service(depends_on = [source])]
    pub async fn reader(
        ctx: &Context<Timeline>,
        source: Option<&Vec<u8>>,
    ) -> Result<Option<usize>, Infallible> {
        ctx.payload().mark("reader", "start");
        Ok(source.map(|bytes| bytes.iter().map(|&b| usize::from(b)).sum()))
    }

    orchestration! {
        pub optional_ok(Timeline) { reader, source }
    }
}

#[tokio::test(start_paused = true)]
async fn an_optional_dependency_that_succeeds_is_passed_as_some() {
    let request = request(Timeline::new());
    let report = optional_ok::optional_ok::orchestrate(&request, &NoJournal).await;
    let outputs = report.into_result().expect("both succeed");
    assert_eq!(outputs.reader, Some(6));
    assert_eq!(outputs.source, [1, 2, 3]);
    // An optional dependency is still waited for.
    assert_eq!(request.payload.once("reader", "start"), ms(30));
}

/// Panicking services, with a `&str` payload, a `String` payload after an await, and a
/// non-string payload, beside a bystander that must be unaffected.
mod panics {
    use super::*;

    #[service(retry = RetryPolicy::DEFAULT.with_jitter(0.0))]
    pub async fn bomb(ctx: &Context<Timeline>) -> Result<u32, Boom> {
        ctx.payload().mark("bomb", "start");
        panic!("kaboom");
    }

    #[service(retry = RetryPolicy::DEFAULT.with_jitter(0.0))]
    pub async fn late_bomb(ctx: &Context<Timeline>) -> Result<u32, Boom> {
        ctx.payload().mark("late_bomb", "start");
        tokio::time::sleep(ms(5)).await;
        let code = 42;
        panic!("kaboom {code} after an await");
    }

    #[service]
    pub async fn odd_bomb(ctx: &Context<Timeline>) -> Result<u32, Boom> {
        ctx.payload().mark("odd_bomb", "start");
        std::panic::panic_any(7_u8);
    }

    #[service]
    pub async fn bystander(ctx: &Context<Timeline>) -> Result<u32, Boom> {
        ctx.payload().mark("bystander", "start");
        tokio::time::sleep(ms(50)).await;
        Ok(5)
    }

    #[service(depends_on = [late_bomb])]
    pub async fn after_bomb(ctx: &Context<Timeline>, bomb: &u32) -> Result<u32, Boom> {
        ctx.payload().mark("after_bomb", "start");
        Ok(*bomb)
    }

    #[service(depends_on = [bomb])]
    pub async fn survivor(ctx: &Context<Timeline>, bomb: Option<&u32>) -> Result<bool, Boom> {
        ctx.payload().mark("survivor", "start");
        Ok(bomb.is_none())
    }

    orchestration! {
        pub panics(Timeline) { bomb, late_bomb, odd_bomb, bystander, after_bomb, survivor }
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_a_failure_that_is_not_retried_and_stops_nothing_else() {
    let request = request(Timeline::new());
    let report = panics::panics::orchestrate(&request, &NoJournal).await;
    let timeline = &request.payload;

    // Each panic is caught, with its message, and never retried despite the retry policy.
    let bomb = report.bomb.failure().expect("bomb failed");
    assert_eq!(bomb.errors(), [AttemptError::Panicked("kaboom".to_owned())]);
    assert!(bomb.is_permanent());
    assert_eq!(timeline.times("bomb", "start"), [ms(0)]);

    let late = report.late_bomb.failure().expect("late_bomb failed");
    assert_eq!(
        late.errors(),
        [AttemptError::Panicked(
            "kaboom 42 after an await".to_owned()
        )]
    );
    assert_eq!(late.last_error().error(), None);
    assert_eq!(timeline.times("late_bomb", "start"), [ms(0)]);
    assert_eq!(
        report.late_bomb.to_string(),
        "failed permanently after 1 attempt: panicked: kaboom 42 after an await"
    );

    let odd = report.odd_bomb.failure().expect("odd_bomb failed");
    assert!(
        matches!(odd.last_error(), AttemptError::Panicked(message) if !message.is_empty()),
        "{odd:?}"
    );

    // The rest of the run goes on as for any failure.
    assert_eq!(report.bystander.output(), Some(&5));
    assert_eq!(
        report.after_bomb,
        Outcome::Skipped(Skip {
            dependency: "late_bomb",
            cause: "late_bomb"
        })
    );
    assert_eq!(report.survivor.output(), Some(&true));
    assert_eq!(
        report.statuses(),
        [
            ("bomb", Status::Failed),
            ("late_bomb", Status::Failed),
            ("odd_bomb", Status::Failed),
            ("bystander", Status::Succeeded),
            ("after_bomb", Status::Skipped),
            ("survivor", Status::Succeeded),
        ]
    );
    // No retry delay was waited for: the run lasts as long as the bystander.
    assert_eq!(timeline.elapsed(), ms(50));

    match report.into_result() {
        Err(RunError::Failed(panics::panics::Failed::bomb(failure))) => {
            assert_eq!(failure.attempts(), 1);
        }
        other => panic!("expected bomb's failure, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_journaled_as_a_failed_attempt_marked_panicked_without_retry() {
    let journal = InMemoryJournal::new();
    let _report = panics::panics::orchestrate(&request(Timeline::new()), &journal).await;
    let entries = journal.entries();
    let events = common::of_service(&entries, "late_bomb");
    assert_eq!(
        events,
        [
            (
                ms(0),
                Event::AttemptStarted {
                    service: "late_bomb".into(),
                    attempt: 1
                }
            ),
            (
                ms(5),
                Event::AttemptFailed {
                    service: "late_bomb".into(),
                    attempt: 1,
                    error: "kaboom 42 after an await".to_owned(),
                    panicked: true,
                    timed_out: false,
                    retry_after: None,
                    retry_in: None,
                    stop: Some(orch::StopReason::Panicked),
                }
            ),
        ]
    );
}

/// A required dependency that fails is waited for: the dependent is skipped at the moment of
/// the failure, after the dependency's retries.
mod late_failure {
    use super::*;

    #[service(retry = RetryPolicy::DEFAULT.with_jitter(0.0).with_max_retries(2))]
    pub async fn flaky(ctx: &Context<Timeline>) -> Result<u32, Boom> {
        ctx.payload().mark("flaky", "start");
        Err(Boom("always"))
    }

    #[service(depends_on = [flaky])]
    pub async fn needs(ctx: &Context<Timeline>, flaky: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("needs", "start");
        Ok(*flaky)
    }

    #[service(depends_on = [flaky])]
    pub async fn wants(ctx: &Context<Timeline>, flaky: Option<&u32>) -> Result<bool, Infallible> {
        ctx.payload().mark("wants", "start");
        Ok(flaky.is_some())
    }

    orchestration! {
        pub late_failure(Timeline) { flaky, needs, wants }
    }
}

#[tokio::test(start_paused = true)]
async fn dependents_wait_for_every_retry_before_being_skipped_or_run() {
    let request = request(Timeline::new());
    let journal = InMemoryJournal::new();
    let report = late_failure::late_failure::orchestrate(&request, &journal).await;
    let timeline = &request.payload;

    // 3 attempts: 0, 100, 300 ms.
    assert_eq!(timeline.times("flaky", "start"), [ms(0), ms(100), ms(300)]);
    assert_eq!(report.flaky.attempts(), 3);
    assert_eq!(timeline.once("wants", "start"), ms(300));
    assert_eq!(report.wants.output(), Some(&false));
    assert!(timeline.times("needs", "start").is_empty());
    let skipped_at: Vec<_> = journal
        .entries()
        .iter()
        .filter(|e| matches!(e.event, Event::ServiceSkipped { .. }))
        .map(|e| e.offset)
        .collect();
    assert_eq!(skipped_at, [ms(300)]);
}
