//! When services start: each as soon as the dependencies it needs are done, independent ones at
//! the same time. Every test runs under tokio's paused clock and asserts exact virtual times.

mod common;

use std::convert::Infallible;

use common::{Timeline, attempt_starts, ms, request};
use orch::prelude::*;

/// A sleeps 10 ms, B 100 ms; C needs A only, D needs A and B.
mod diamond {
    use super::*;

    #[service]
    pub async fn a(ctx: &Context<Timeline>) -> Result<u32, Infallible> {
        ctx.payload().mark("a", "start");
        tokio::time::sleep(ms(10)).await;
        ctx.payload().mark("a", "end");
        Ok(1)
    }

    #[service]
    pub async fn b(ctx: &Context<Timeline>) -> Result<u32, Infallible> {
        ctx.payload().mark("b", "start");
        tokio::time::sleep(ms(100)).await;
        ctx.payload().mark("b", "end");
        Ok(2)
    }

    #[service(depends_on = [a])]
    pub async fn c(ctx: &Context<Timeline>, a: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("c", "start");
        tokio::time::sleep(ms(5)).await;
        ctx.payload().mark("c", "end");
        Ok(a + 10)
    }

    #[service(depends_on = [a, b])]
    pub async fn d(ctx: &Context<Timeline>, a: &u32, b: &u32) -> Result<u32, Infallible> {
        ctx.payload().mark("d", "start");
        Ok(a + b + 100)
    }

    orchestration! {
        pub diamond(Timeline) { a, b, c, d }
    }
}

#[tokio::test(start_paused = true)]
async fn each_service_starts_as_soon_as_its_own_dependencies_are_done() {
    let request = request(Timeline::new());
    let report = diamond::diamond::orchestrate(&request, &NoJournal).await;
    let timeline = &request.payload;

    assert_eq!(timeline.once("a", "start"), ms(0));
    assert_eq!(timeline.once("b", "start"), ms(0));
    // C waits for A only, not for B.
    assert_eq!(timeline.once("c", "start"), ms(10));
    assert_eq!(timeline.once("c", "end"), ms(15));
    // D waits for the later of its two dependencies.
    assert_eq!(timeline.once("d", "start"), ms(100));
    // The run ends with its longest path.
    assert_eq!(timeline.elapsed(), ms(100));

    let outputs = report.into_result().expect("every service succeeds");
    assert_eq!(
        (outputs.a, outputs.b, outputs.c, outputs.d),
        (1, 2, 11, 103)
    );
}

#[tokio::test(start_paused = true)]
async fn journal_offsets_show_the_same_start_times() {
    let request = request(Timeline::new());
    let journal = InMemoryJournal::new();
    let report = diamond::diamond::orchestrate(&request, &journal).await;
    assert!(report.is_success());

    let entries = journal.entries();
    assert_eq!(attempt_starts(&entries, "a"), [ms(0)]);
    assert_eq!(attempt_starts(&entries, "b"), [ms(0)]);
    assert_eq!(attempt_starts(&entries, "c"), [ms(10)]);
    assert_eq!(attempt_starts(&entries, "d"), [ms(100)]);
    // A success is journaled before any dependent starts.
    let position = |wanted: &dyn Fn(&orch::Event) -> bool| {
        entries
            .iter()
            .position(|e| wanted(&e.event))
            .expect("journaled")
    };
    let a_succeeded =
        position(&|e| matches!(e, orch::Event::AttemptSucceeded { service, .. } if service == "a"));
    let c_started =
        position(&|e| matches!(e, orch::Event::AttemptStarted { service, .. } if service == "c"));
    assert!(a_succeeded < c_started);
    let last = entries.last().expect("a run_finished entry");
    assert!(matches!(last.event, orch::Event::RunFinished { .. }));
    assert_eq!(last.offset, ms(100));
}

/// Two chains side by side: x1 (20 ms) then x2 (30 ms), and y (40 ms) alone; z waits for both.
mod paths {
    use super::*;

    #[service]
    pub async fn x1(ctx: &Context<Timeline>) -> Result<(), Infallible> {
        ctx.payload().mark("x1", "start");
        tokio::time::sleep(ms(20)).await;
        Ok(())
    }

    #[service(depends_on = [x1])]
    pub async fn x2(ctx: &Context<Timeline>, _x1: &()) -> Result<(), Infallible> {
        ctx.payload().mark("x2", "start");
        tokio::time::sleep(ms(30)).await;
        Ok(())
    }

    #[service]
    pub async fn y(ctx: &Context<Timeline>) -> Result<(), Infallible> {
        ctx.payload().mark("y", "start");
        tokio::time::sleep(ms(40)).await;
        Ok(())
    }

    #[service(depends_on = [x2, y])]
    pub async fn z(ctx: &Context<Timeline>, _x2: &(), _y: &()) -> Result<(), Infallible> {
        ctx.payload().mark("z", "start");
        Ok(())
    }

    orchestration! {
        pub paths(Timeline) { x1, x2, y, z }
    }
}

#[tokio::test(start_paused = true)]
async fn independent_services_run_concurrently_so_a_run_lasts_its_longest_path() {
    let request = request(Timeline::new());
    let report = paths::paths::orchestrate(&request, &NoJournal).await;
    assert!(report.is_success());
    let timeline = &request.payload;

    assert_eq!(timeline.once("x1", "start"), ms(0));
    assert_eq!(timeline.once("y", "start"), ms(0));
    assert_eq!(timeline.once("x2", "start"), ms(20));
    assert_eq!(timeline.once("z", "start"), ms(50));
    // 20 + 30 on the longest path, not 20 + 30 + 40.
    assert_eq!(timeline.elapsed(), ms(50));
}

/// Many independent services of the same length.
mod wide {
    use super::*;

    macro_rules! sleeper {
        ($($name:ident),*) => {$(
            #[service]
            pub async fn $name(ctx: &Context<Timeline>) -> Result<(), Infallible> {
                ctx.payload().mark(stringify!($name), "start");
                tokio::time::sleep(ms(25)).await;
                ctx.payload().mark(stringify!($name), "end");
                Ok(())
            }
        )*};
    }
    sleeper!(s0, s1, s2, s3, s4, s5, s6, s7);

    orchestration! {
        pub wide(Timeline) { s0, s1, s2, s3, s4, s5, s6, s7 }
    }
}

#[tokio::test(start_paused = true)]
async fn eight_independent_services_take_the_time_of_one() {
    let request = request(Timeline::new());
    let report = wide::wide::orchestrate(&request, &NoJournal).await;
    assert_eq!(report.summary().succeeded, 8);
    let timeline = &request.payload;
    assert_eq!(timeline.who("start").len(), 8);
    assert!(
        timeline.marks().iter().all(|&(_, what, at)| match what {
            "start" => at == ms(0),
            _ => at == ms(25),
        }),
        "{:?}",
        timeline.marks()
    );
    assert_eq!(timeline.elapsed(), ms(25));
}

/// A service listed before the service it depends on: the listing order need not be a
/// topological order, and the generated constants keep the listing order.
mod backwards {
    use super::*;

    #[service(depends_on = [source])]
    pub async fn sink(ctx: &Context<Timeline>, source: &String) -> Result<usize, Infallible> {
        ctx.payload().mark("sink", "start");
        Ok(source.len())
    }

    #[service]
    pub async fn source(ctx: &Context<Timeline>) -> Result<String, Infallible> {
        ctx.payload().mark("source", "start");
        tokio::time::sleep(ms(7)).await;
        Ok("seven".to_owned())
    }

    orchestration! {
        pub backwards(Timeline) { sink, source }
    }
}

#[tokio::test(start_paused = true)]
async fn a_dependent_listed_first_still_waits_for_its_dependency() {
    assert_eq!(backwards::backwards::NAME, "backwards");
    assert_eq!(backwards::backwards::SERVICES, ["sink", "source"]);

    let request = request(Timeline::new());
    let report = backwards::backwards::orchestrate(&request, &NoJournal).await;
    let timeline = &request.payload;
    assert_eq!(timeline.who("start"), ["source", "sink"]);
    assert_eq!(timeline.once("sink", "start"), ms(7));
    let outputs = report.into_result().expect("both succeed");
    assert_eq!((outputs.sink, outputs.source.as_str()), (5, "seven"));
}
