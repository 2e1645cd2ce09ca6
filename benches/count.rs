//! Runs one case many times, for instruction counts under callgrind and allocation counts:
//!
//! ```text
//! cargo bench -p orch-benches --bench count -- <runner> <graph> <runs>
//! ```
//!
//! It prints `allocations_per_run=<n>`; `benches/callgrind.sh` runs it under valgrind for every
//! case and divides the instructions.

mod runners;

#[path = "counting.rs"]
mod counting;

use std::sync::atomic::Ordering;

use runners::{Graph, Runner};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| arg != "--bench")
        .collect();
    let [runner, graph, runs] = args.as_slice() else {
        eprintln!(
            "usage: count <orch|orch+journal|floor|naive|dagrs> <chain2|layered10|random100> <runs>"
        );
        std::process::exit(2);
    };
    let Some(runner) = Runner::ALL.into_iter().find(|r| r.name() == runner) else {
        eprintln!("unknown runner {runner}");
        std::process::exit(2);
    };
    let Some(graph) = Graph::ALL.into_iter().find(|g| g.name() == graph) else {
        eprintln!("unknown graph {graph}");
        std::process::exit(2);
    };
    let Ok(runs) = runs.parse::<u64>() else {
        eprintln!("runs must be a number");
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let expected = graph.expected();
    runtime.block_on(async {
        // One run outside the count: first-use costs (tracing's call sites, lazy statics).
        runners::repeat(runner, graph, 1, |sum| assert_eq!(sum, expected)).await;
        let before = counting::TOTAL.load(Ordering::Relaxed);
        runners::repeat(runner, graph, runs, |sum| assert_eq!(sum, expected)).await;
        let allocations = counting::TOTAL.load(Ordering::Relaxed) - before;
        println!(
            "allocations_per_run={:.1}",
            allocations as f64 / runs.max(1) as f64
        );
    });
}
