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

/// The longest chain of nodes each depending on the one before, in dependency order: the
/// fewest steps any run takes one after another. `order` is a topological order. Ties go to the
/// earliest-listed node, so the answer is stable.
pub fn critical_path(deps: &[Vec<usize>], order: &[usize]) -> Vec<usize> {
    // `longest[i]`: the most nodes on a chain ending at `i`; `previous[i]`: the chain's node
    // before `i`.
    let mut longest = vec![0usize; deps.len()];
    let mut previous = vec![None; deps.len()];
    for &node in order {
        let before = deps[node]
            .iter()
            .copied()
            .max_by_key(|&dep| (longest[dep], std::cmp::Reverse(dep)));
        longest[node] = 1 + before.map_or(0, |dep| longest[dep]);
        previous[node] = before;
    }
    let Some(last) = (0..deps.len()).max_by_key(|&i| (longest[i], std::cmp::Reverse(i))) else {
        return Vec::new();
    };
    let mut path = vec![last];
    while let Some(before) = previous[*path.last().unwrap_or(&last)] {
        path.push(before);
    }
    path.reverse();
    path
}

/// The most nodes that can run at once: the largest set of which no node depends on another,
/// directly or not (a maximum antichain). By Dilworth's theorem that is the fewest chains that
/// cover the graph, which is the node count minus a maximum matching between each node and the
/// nodes that depend on it transitively (Fulkerson's reduction; Kuhn's augmenting paths, cubic
/// in the node count: a few milliseconds for hundreds of services). `order` is a topological
/// order.
pub fn width(deps: &[Vec<usize>], order: &[usize]) -> usize {
    let n = deps.len();
    // `ancestors[i]`: every node `i` depends on, directly or not, as a bit set.
    let words = n.div_ceil(64);
    let mut ancestors = vec![vec![0u64; words]; n];
    for &node in order {
        for &dep in &deps[node] {
            let (done, rest) = if dep < node {
                let (left, right) = ancestors.split_at_mut(node);
                (&left[dep], &mut right[0])
            } else {
                let (left, right) = ancestors.split_at_mut(dep);
                (&right[0], &mut left[node])
            };
            for (word, ancestor_word) in rest.iter_mut().zip(done) {
                *word |= ancestor_word;
            }
            rest[dep / 64] |= 1 << (dep % 64);
        }
    }
    let mut descendants = vec![Vec::new(); n];
    for (node, set) in ancestors.iter().enumerate() {
        for ancestor in (0..n).filter(|&a| set[a / 64] & (1 << (a % 64)) != 0) {
            descendants[ancestor].push(node);
        }
    }
    // `matched[v]`: the node whose chain continues with `v`.
    let mut matched: Vec<Option<usize>> = vec![None; n];
    let mut matching = 0;
    for node in 0..n {
        let mut seen = vec![false; n];
        if augment(node, &descendants, &mut matched, &mut seen) {
            matching += 1;
        }
    }
    n - matching
}

/// Kuhn's step: finds a successor for `node`, moving earlier choices along if need be.
fn augment(
    node: usize,
    descendants: &[Vec<usize>],
    matched: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    for &next in &descendants[node] {
        if seen[next] {
            continue;
        }
        seen[next] = true;
        let free = match matched[next] {
            None => true,
            Some(other) => augment(other, descendants, matched, seen),
        };
        if free {
            matched[next] = Some(node);
            return true;
        }
    }
    false
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

    fn plan(deps: &[Vec<usize>]) -> (Vec<usize>, usize) {
        let order = topological_order(deps).unwrap();
        (critical_path(deps, &order), width(deps, &order))
    }

    #[test]
    fn a_chain_is_one_wide_and_all_critical() {
        assert_eq!(plan(&[vec![], vec![0], vec![1]]), (vec![0, 1, 2], 1));
        assert_eq!(plan(&[vec![]]), (vec![0], 1));
        assert_eq!(plan(&[]), (vec![], 0));
    }

    #[test]
    fn independent_services_all_run_at_once() {
        assert_eq!(plan(&[vec![], vec![], vec![], vec![]]), (vec![0], 4));
    }

    #[test]
    fn the_layered_graph_is_four_wide_and_three_deep() {
        // 0 -> {1..4} -> {5..8} -> 9, every node depending on every node of the layer before.
        let mut deps = vec![vec![]];
        deps.extend((1..=4).map(|_| vec![0]));
        deps.extend((5..=8).map(|_| vec![1, 2, 3, 4]));
        deps.push(vec![5, 6, 7, 8]);
        assert_eq!(plan(&deps), (vec![0, 1, 5, 9], 4));
    }

    #[test]
    fn the_critical_path_is_the_longest_chain_not_the_first() {
        // 0 -> 1 is short; 2 -> 3 -> 4 -> 1 is longer and ends at the same node.
        let deps = vec![vec![], vec![0, 4], vec![], vec![2], vec![3]];
        assert_eq!(plan(&deps).0, vec![2, 3, 4, 1]);
    }

    #[test]
    fn width_counts_services_that_overlap_across_layers() {
        // 0 -> 1 -> 2, 0 -> 3, and 4 alone. Layers by depth are {0, 4}, {1, 3}, {2}: at most 2;
        // yet 1, 3 and 4 can all be in flight at once.
        let deps = vec![vec![], vec![0], vec![1], vec![0], vec![]];
        assert_eq!(plan(&deps).1, 3);
    }

    #[test]
    fn width_needs_the_transitive_order() {
        // 0 -> 1 -> 2 -> 3 and 4 -> 2: 4 may overlap 0 or 1, never 3, which needs it through 2.
        let deps = vec![vec![], vec![0], vec![1, 4], vec![2], vec![]];
        assert_eq!(plan(&deps).1, 2);
    }

    #[test]
    fn width_equals_the_largest_antichain_found_by_brute_force() {
        // Random DAGs of up to 12 nodes (each node depends on some earlier ones), against every
        // subset of nodes.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            state >> 33
        };
        for _ in 0..300 {
            let n = 1 + (next() % 12) as usize;
            let deps: Vec<Vec<usize>> = (0..n)
                .map(|i| (0..i).filter(|_| next() % 4 == 0).collect())
                .collect();
            let order = topological_order(&deps).unwrap();
            let mut reaches = vec![vec![false; n]; n];
            for &node in &order {
                for &dep in &deps[node] {
                    reaches[dep][node] = true;
                    for row in &mut reaches {
                        if row[dep] {
                            row[node] = true;
                        }
                    }
                }
            }
            let antichain = |set: u32| {
                (0..n).all(|a| {
                    (0..n).all(|b| set & (1 << a) == 0 || set & (1 << b) == 0 || !reaches[a][b])
                })
            };
            let widest = (0..1u32 << n)
                .filter(|&set| antichain(set))
                .map(u32::count_ones)
                .max()
                .unwrap_or(0);
            assert_eq!(width(&deps, &order), widest as usize, "{deps:?}");
            let path = critical_path(&deps, &order);
            assert!(path.windows(2).all(|pair| deps[pair[1]].contains(&pair[0])));
        }
    }
}
