//! The graphs and every way of running them, shared by the criterion bench, the counting
//! binary and the allocation test.

#[path = "graphs/chain2.rs"]
pub mod chain2;
#[path = "graphs/layered10.rs"]
pub mod layered10;
#[path = "graphs/random100.rs"]
pub mod random100;

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// One of the benchmark graphs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Graph {
    Chain2,
    Layered10,
    Random100,
}

impl Graph {
    pub const ALL: [Graph; 3] = [Graph::Chain2, Graph::Layered10, Graph::Random100];

    pub fn name(self) -> &'static str {
        match self {
            Graph::Chain2 => "chain2",
            Graph::Layered10 => "layered10",
            Graph::Random100 => "random100",
        }
    }

    pub fn edges(self) -> &'static [&'static [usize]] {
        match self {
            Graph::Chain2 => &chain2::EDGES,
            Graph::Layered10 => &layered10::EDGES,
            Graph::Random100 => &random100::EDGES,
        }
    }

    /// The sum of every node's output, as each runner computes it.
    pub fn expected(self) -> u64 {
        let edges = self.edges();
        let mut outputs: Vec<u64> = Vec::with_capacity(edges.len());
        for deps in edges {
            outputs.push(1 + deps.iter().map(|&d| outputs[d]).sum::<u64>());
        }
        outputs.iter().sum()
    }
}

/// One way of running a graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runner {
    /// orch's generated plan, no journal.
    Orch,
    /// orch's generated plan with the in-memory journal (a new one per run).
    OrchJournal,
    /// The graph hand-written with nested `join!`s.
    Floor,
    /// Boxed closures in a map, a spawned task and a channel per service.
    Naive,
    /// The dagrs crate.
    Dagrs,
}

impl Runner {
    pub const ALL: [Runner; 5] = [
        Runner::Orch,
        Runner::OrchJournal,
        Runner::Floor,
        Runner::Naive,
        Runner::Dagrs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Runner::Orch => "orch",
            Runner::OrchJournal => "orch+journal",
            Runner::Floor => "floor",
            Runner::Naive => "naive",
            Runner::Dagrs => "dagrs",
        }
    }
}

/// Runs `runner` on `graph` `runs` times, each run's future built and awaited in a loop of its
/// own (one monomorphized loop per case, so that no case pays for another's future), and calls
/// `check` with the sum of each run's outputs. Returns after the last run.
pub async fn repeat(runner: Runner, graph: Graph, runs: u64, mut check: impl FnMut(u64)) {
    use orch::{InMemoryJournal, NoJournal};
    let request = orch::Request::new("evt-bench", "tenant", "org", 0_u64);
    let request = &request;
    // Each case's loop is boxed: one allocation per call, none per run, and a stack that holds
    // one case's future at a time (a debug build's stack could not hold them all).
    macro_rules! lap {
        ($run:expr) => {
            Box::pin(async {
                for _ in 0..runs {
                    check(std::hint::black_box($run));
                }
            })
            .await
        };
    }
    match (runner, graph) {
        (Runner::Floor, Graph::Chain2) => lap!(chain2::floor().await.unwrap_or(0)),
        (Runner::Floor, Graph::Layered10) => lap!(layered10::floor().await.unwrap_or(0)),
        (Runner::Floor, Graph::Random100) => lap!(random100::floor().await.unwrap_or(0)),
        (Runner::Orch, Graph::Chain2) => lap!(chain2_sum(
            &chain2::plan::orchestrate(request, &NoJournal).await
        )),
        (Runner::Orch, Graph::Layered10) => {
            lap!(layered10_sum(
                &layered10::plan::orchestrate(request, &NoJournal).await
            ))
        }
        (Runner::Orch, Graph::Random100) => {
            lap!(random100_sum(
                &random100::plan::orchestrate(request, &NoJournal).await
            ))
        }
        (Runner::OrchJournal, Graph::Chain2) => {
            lap!(chain2_sum(
                &chain2::plan::orchestrate(request, &InMemoryJournal::new()).await
            ))
        }
        (Runner::OrchJournal, Graph::Layered10) => {
            lap!(layered10_sum(
                &layered10::plan::orchestrate(request, &InMemoryJournal::new()).await
            ))
        }
        (Runner::OrchJournal, Graph::Random100) => {
            lap!(random100_sum(
                &random100::plan::orchestrate(request, &InMemoryJournal::new()).await
            ))
        }
        (Runner::Naive, _) => {
            let naive = naive::Naive::new(graph.edges());
            lap!(naive.run().await)
        }
        (Runner::Dagrs, _) => {
            let mut dagrs = dagrs_runner::DagrsGraph::new(graph.edges());
            lap!(dagrs.run().await)
        }
    }
}

macro_rules! orch_sum {
    ($report:expr, $($node:ident),*) => {{
        let report = $report;
        0 $(+ report.$node.output().copied().unwrap_or(0))*
    }};
}

// The report is read where the run's future left it, as a caller would: passed by value, the
// 100-service report (4 KB) was copied into the function on every run, a cost of this harness.
fn chain2_sum(report: &chain2::plan::Report) -> u64 {
    orch_sum!(report, s0, s1)
}

fn layered10_sum(report: &layered10::plan::Report) -> u64 {
    orch_sum!(report, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9)
}

fn random100_sum(report: &random100::plan::Report) -> u64 {
    orch_sum!(
        report, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15, s16, s17,
        s18, s19, s20, s21, s22, s23, s24, s25, s26, s27, s28, s29, s30, s31, s32, s33, s34, s35,
        s36, s37, s38, s39, s40, s41, s42, s43, s44, s45, s46, s47, s48, s49, s50, s51, s52, s53,
        s54, s55, s56, s57, s58, s59, s60, s61, s62, s63, s64, s65, s66, s67, s68, s69, s70, s71,
        s72, s73, s74, s75, s76, s77, s78, s79, s80, s81, s82, s83, s84, s85, s86, s87, s88, s89,
        s90, s91, s92, s93, s94, s95, s96, s97, s98, s99
    )
}

/// The design of the Go original and of most runtime DAG crates: services in a map of boxed
/// closures keyed by name, one spawned task and one channel per service, outputs as
/// `Arc<dyn Any>` downcast by each dependent.
pub mod naive {
    use super::*;
    use tokio::sync::watch;

    type Value = Arc<dyn Any + Send + Sync>;
    type BoxFuture = Pin<Box<dyn Future<Output = Value> + Send>>;
    type Handler = Arc<dyn Fn(Vec<Value>) -> BoxFuture + Send + Sync>;

    pub struct Naive {
        services: Arc<HashMap<String, (Vec<String>, Handler)>>,
        order: Vec<String>,
    }

    impl Naive {
        pub fn new(edges: &[&[usize]]) -> Self {
            let mut services = HashMap::new();
            let mut order = Vec::new();
            for (i, deps) in edges.iter().enumerate() {
                let handler: Handler = Arc::new(|inputs: Vec<Value>| {
                    Box::pin(async move {
                        let sum: u64 = inputs.iter().filter_map(|v| v.downcast_ref::<u64>()).sum();
                        Arc::new(1 + sum) as Value
                    }) as BoxFuture
                });
                let deps = deps.iter().map(|d| format!("s{d}")).collect();
                services.insert(format!("s{i}"), (deps, handler));
                order.push(format!("s{i}"));
            }
            Naive {
                services: Arc::new(services),
                order,
            }
        }

        pub async fn run(&self) -> u64 {
            let mut senders = HashMap::new();
            let mut receivers: HashMap<String, watch::Receiver<Option<Value>>> = HashMap::new();
            for name in &self.order {
                let (tx, rx) = watch::channel(None);
                senders.insert(name.clone(), tx);
                receivers.insert(name.clone(), rx);
            }
            let mut tasks = Vec::new();
            for name in &self.order {
                let services = Arc::clone(&self.services);
                let name = name.clone();
                let tx = senders.remove(&name).expect("one sender per service");
                let (deps, _) = &services[&name];
                let mut inputs: Vec<watch::Receiver<Option<Value>>> =
                    deps.iter().map(|d| receivers[d].clone()).collect();
                tasks.push(tokio::spawn(async move {
                    let mut values = Vec::with_capacity(inputs.len());
                    for rx in &mut inputs {
                        let value = rx.wait_for(Option::is_some).await.expect("sender alive");
                        values.push(value.clone().expect("checked"));
                    }
                    let (_, handler) = &services[&name];
                    let output = handler(values).await;
                    let _ = tx.send(Some(output.clone()));
                    output.downcast_ref::<u64>().copied().unwrap_or(0)
                }));
            }
            let mut sum = 0;
            for task in tasks {
                sum += task.await.unwrap_or(0);
            }
            sum
        }
    }
}

/// The same graph in dagrs: a node per service, outputs sent along the edges.
pub mod dagrs_runner {
    use dagrs::{
        Action, Content, DefaultNode, EnvVar, Graph, InChannels, Node, NodeId, NodeTable,
        OutChannels, Output,
    };

    use super::*;

    struct Sum;

    #[dagrs::async_trait::async_trait]
    impl Action for Sum {
        async fn run(
            &self,
            input: &mut InChannels,
            output: &mut OutChannels,
            _env: Arc<EnvVar>,
        ) -> Output {
            let inputs = input
                .map(|content| content.ok().and_then(|c| c.into_inner::<u64>()))
                .await;
            let value = 1 + inputs.into_iter().flatten().map(|v| *v).sum::<u64>();
            output.broadcast(Content::new(value)).await;
            Output::Out(Some(Content::new(value)))
        }
    }

    pub struct DagrsGraph {
        graph: Graph,
        ids: Vec<NodeId>,
        started: bool,
    }

    impl DagrsGraph {
        pub fn new(edges: &[&[usize]]) -> Self {
            let mut table = NodeTable::default();
            let nodes: Vec<DefaultNode> = (0..edges.len())
                .map(|i| DefaultNode::with_action(format!("s{i}"), Sum, &mut table))
                .collect();
            let ids: Vec<NodeId> = nodes.iter().map(|node| node.id()).collect();
            let mut graph = Graph::new();
            for node in nodes {
                graph.add_node(node).expect("a new node");
            }
            for (i, deps) in edges.iter().enumerate() {
                for &d in *deps {
                    graph
                        .add_edge(ids[d], vec![ids[i]])
                        .expect("an edge between known nodes");
                }
            }
            graph.set_env(EnvVar::new(table));
            DagrsGraph {
                graph,
                ids,
                started: false,
            }
        }

        pub async fn run(&mut self) -> u64 {
            if self.started {
                self.graph
                    .reset()
                    .await
                    .expect("dagrs resets a finished graph");
            }
            self.started = true;
            self.graph
                .async_start()
                .await
                .expect("dagrs runs the graph");
            let results = self.graph.get_results::<u64>();
            self.ids
                .iter()
                .filter_map(|id| results.get(id).cloned().flatten())
                .map(|v| *v)
                .sum()
        }
    }
}
