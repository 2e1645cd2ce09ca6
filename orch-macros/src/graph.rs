//! Graph algorithms on an orchestration, free of any syntax: nodes are indices in listing order,
//! and `deps[i]` lists the nodes node `i` depends on.

/// A dependency cycle: `path[0]` depends on `path[1]`, ..., and the last node depends on
/// `path[0]`, which closes it.
#[derive(Debug, PartialEq, Eq)]
pub struct Cycle {
    pub path: Vec<usize>,
}

/// A topological order (every node after all of its dependencies), listing order breaking ties;
/// or, if there is none, one cycle for each group of nodes that depend on each other.
pub fn topological_order(deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<Cycle>> {
    let n = deps.len();
    let mut missing: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); n];
    for (node, node_deps) in deps.iter().enumerate() {
        for &dep in node_deps {
            dependents[dep].push(node);
        }
    }
    // Kahn's algorithm with a min-heap keeps the order stable: the earliest-listed ready node
    // goes first, so the generated code reads in the user's order where the graph allows.
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&i| missing[i] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(node)) = ready.pop() {
        order.push(node);
        for &dependent in &dependents[node] {
            missing[dependent] -= 1;
            if missing[dependent] == 0 {
                ready.push(std::cmp::Reverse(dependent));
            }
        }
    }
    if order.len() == n {
        Ok(order)
    } else {
        Err(cycles(deps))
    }
}

/// One shortest cycle through the earliest-listed node of each strongly connected component that
/// has a cycle (a component of several nodes, or a node depending on itself).
pub fn cycles(deps: &[Vec<usize>]) -> Vec<Cycle> {
    let mut found: Vec<Cycle> = strongly_connected_components(deps)
        .into_iter()
        .filter(|component| component.len() > 1 || deps[component[0]].contains(&component[0]))
        .filter_map(|component| {
            let start = *component.iter().min()?;
            shortest_cycle(deps, &component, start)
        })
        .collect();
    found.sort_by_key(|cycle| cycle.path[0]);
    found
}

/// The shortest cycle from `start` back to itself inside `component`, by breadth-first search.
fn shortest_cycle(deps: &[Vec<usize>], component: &[usize], start: usize) -> Option<Cycle> {
    let mut in_component = vec![false; deps.len()];
    for &member in component {
        in_component[member] = true;
    }
    let mut parent = vec![None; deps.len()];
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        for &dep in &deps[node] {
            if dep == start {
                let mut path = vec![node];
                while let Some(previous) = parent[*path.last()?] {
                    path.push(previous);
                }
                path.reverse();
                return Some(Cycle { path });
            }
            if in_component[dep] && parent[dep].is_none() && dep != start {
                parent[dep] = Some(node);
                queue.push_back(dep);
            }
        }
    }
    None
}

/// Tarjan's algorithm, iterative so that deep graphs cannot overflow the compiler's stack.
fn strongly_connected_components(deps: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNVISITED: usize = usize::MAX;
    let n = deps.len();
    let mut index = vec![UNVISITED; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut components = Vec::new();
    let mut next_index = 0;
    for root in 0..n {
        if index[root] != UNVISITED {
            continue;
        }
        // (node, position of the next dependency to visit)
        let mut work = vec![(root, 0)];
        while let Some(&mut (node, ref mut next)) = work.last_mut() {
            if *next == 0 && index[node] == UNVISITED {
                index[node] = next_index;
                low[node] = next_index;
                next_index += 1;
                stack.push(node);
                on_stack[node] = true;
            }
            if let Some(&dep) = deps[node].get(*next) {
                *next += 1;
                if index[dep] == UNVISITED {
                    work.push((dep, 0));
                } else if on_stack[dep] {
                    low[node] = low[node].min(index[dep]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == index[node] {
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                components.push(component);
            }
        }
    }
    components
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cycle(path: &[usize]) -> Cycle {
        Cycle {
            path: path.to_vec(),
        }
    }

    #[test]
    fn orders_dependencies_first_and_keeps_listing_order_otherwise() {
        // 0 depends on 2, 1 on nothing, 2 on 1, 3 on nothing.
        let deps = vec![vec![2], vec![], vec![1], vec![]];
        assert_eq!(topological_order(&deps), Ok(vec![1, 2, 0, 3]));
        assert_eq!(
            topological_order(&[vec![], vec![], vec![]]),
            Ok(vec![0, 1, 2])
        );
        assert_eq!(topological_order(&[]), Ok(vec![]));
    }

    #[test]
    fn layered_graph_orders_each_layer_after_the_one_before() {
        // 1 -> 4 -> 4 -> 1, listed last layer first.
        let deps = vec![
            vec![1, 2, 3, 4],
            vec![5, 6, 7, 8],
            vec![5, 6, 7, 8],
            vec![5, 6, 7, 8],
            vec![5, 6, 7, 8],
            vec![9],
            vec![9],
            vec![9],
            vec![9],
            vec![],
        ];
        let order = topological_order(&deps).unwrap();
        let position = |node| order.iter().position(|&n| n == node).unwrap();
        for (node, node_deps) in deps.iter().enumerate() {
            for &dep in node_deps {
                assert!(
                    position(dep) < position(node),
                    "{dep} before {node} in {order:?}"
                );
            }
        }
    }

    #[test]
    fn finds_a_two_node_cycle_from_the_first_listed_node() {
        let deps = vec![vec![1], vec![0]];
        assert_eq!(topological_order(&deps), Err(vec![cycle(&[0, 1])]));
    }

    #[test]
    fn finds_a_self_dependency() {
        assert_eq!(
            topological_order(&[vec![], vec![1]]),
            Err(vec![cycle(&[1])])
        );
    }

    #[test]
    fn finds_the_shortest_cycle_in_a_component() {
        // 0 -> 1 -> 2 -> 3 -> 0 and a shortcut 1 -> 0.
        let deps = vec![vec![1], vec![2, 0], vec![3], vec![0]];
        assert_eq!(cycles(&deps), vec![cycle(&[0, 1])]);
    }

    #[test]
    fn reports_each_independent_cycle_once() {
        // Two separate cycles, 0 <-> 2 and 3 -> 4 -> 5 -> 3, and 1 depending on the first.
        let deps = vec![vec![2], vec![0], vec![0], vec![4], vec![5], vec![3]];
        assert_eq!(cycles(&deps), vec![cycle(&[0, 2]), cycle(&[3, 4, 5])]);
        assert!(topological_order(&deps).is_err());
    }

    #[test]
    fn a_long_chain_does_not_overflow_the_stack() {
        let n = 100_000;
        let deps: Vec<Vec<usize>> = (0..n)
            .map(|i| if i == 0 { vec![n - 1] } else { vec![i - 1] })
            .collect();
        let found = cycles(&deps);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].path.len(), n);
        assert_eq!(found[0].path[..3], [0, n - 1, n - 2]);
    }
}
