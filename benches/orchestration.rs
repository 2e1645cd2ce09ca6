//! Wall-clock time of every runner on every graph, side by side (criterion):
//!
//! ```text
//! cargo bench -p orch-benches --bench orchestration
//! ```
//!
//! Each iteration loop runs inside one task of a current-thread runtime, so that the figure is
//! the runner's, not `block_on`'s.

mod runners;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use runners::{Graph, Runner};

fn orchestration(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    for graph in Graph::ALL {
        let mut group = c.benchmark_group(graph.name());
        for runner in Runner::ALL {
            group.bench_function(runner.name(), |b| {
                b.to_async(&runtime).iter_custom(|iterations| async move {
                    let expected = graph.expected();
                    runners::repeat(runner, graph, 1, |sum| assert_eq!(sum, expected)).await;
                    let start = Instant::now();
                    runners::repeat(runner, graph, iterations, |sum| assert_eq!(sum, expected))
                        .await;
                    start.elapsed()
                });
            });
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = orchestration
}
criterion_main!(benches);
