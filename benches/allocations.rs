//! Heap allocations per orchestration, counted exactly. orch's plan with no journal must make
//! none on the success path; with the in-memory journal, one (its list of entries) whatever
//! the number of services; the other runners' counts are reported by
//! `benches/callgrind.sh`.

mod runners;

#[path = "counting.rs"]
mod counting;

use runners::{Graph, Runner};

#[tokio::test(flavor = "current_thread")]
async fn orch_without_a_journal_allocates_nothing_per_run() {
    for graph in Graph::ALL {
        let expected = graph.expected();
        // The first run registers tracing's call sites, once per process.
        runners::repeat(Runner::Orch, graph, 1, |sum| assert_eq!(sum, expected)).await;
        // `repeat` allocates a request and a loop once: count one run and four, and compare.
        let mut sums = Vec::with_capacity(5);
        let one = runners::repeat(Runner::Orch, graph, 1, |sum| sums.push(sum));
        let ((), with_one_run) = counting::allocations_of(one).await;
        let four = runners::repeat(Runner::Orch, graph, 4, |sum| sums.push(sum));
        let ((), with_four_runs) = counting::allocations_of(four).await;
        assert_eq!(sums, [expected; 5], "{}", graph.name());
        assert_eq!(
            with_one_run, 4,
            "the request's three strings and the boxed loop"
        );
        assert_eq!(
            with_four_runs - with_one_run,
            0,
            "heap allocations in three runs of {}",
            graph.name()
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn every_runner_computes_the_same_outputs() {
    for graph in Graph::ALL {
        let expected = graph.expected();
        for runner in Runner::ALL {
            let mut runs = 0;
            runners::repeat(runner, graph, 2, |sum| {
                assert_eq!(sum, expected, "{} on {}", runner.name(), graph.name());
                runs += 1;
            })
            .await;
            assert_eq!(runs, 2);
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_counter_sees_allocations() {
    let (_, allocations) =
        counting::allocations_of(async { drop(std::hint::black_box(vec![1_u8])) }).await;
    assert_eq!(allocations, 1);
}

#[tokio::test(flavor = "current_thread")]
async fn orch_with_the_in_memory_journal_allocates_once_per_run_whatever_the_number_of_services() {
    for graph in Graph::ALL {
        let expected = graph.expected();
        let check = |sum| assert_eq!(sum, expected, "{}", graph.name());
        runners::repeat(Runner::OrchJournal, graph, 1, check).await;
        let ((), with_one_run) =
            counting::allocations_of(runners::repeat(Runner::OrchJournal, graph, 1, check)).await;
        let ((), with_four_runs) =
            counting::allocations_of(runners::repeat(Runner::OrchJournal, graph, 4, check)).await;
        // Room for the run's entries, made once as it starts; the entries share the request's
        // ids. A copy of an id would add one allocation per run; a list grown entry by entry,
        // one per doubling; a service's journaled attempt going through the boxed rest of its
        // task instead of inline, one per service.
        assert_eq!(
            with_four_runs - with_one_run,
            3,
            "heap allocations in three journaled runs of {}",
            graph.name()
        );
    }
}
