#!/usr/bin/env python3
"""Writes tests/properties/graphs.rs: the fixed random orchestrations of tests/properties.rs.

Orchestrations are compile-time, so the property test cannot draw a graph per case: this script
draws a fixed set once, from a fixed seed, with its own SplitMix64 (so the output never depends
on the Python version), and writes them as Rust. Run it from anywhere:

    python3 tests/properties/gen_graphs.py

It prints nothing. The output is formatted with `rustfmt` when one is on the PATH, so that
`cargo fmt --check` accepts it as written; it is checked in, and regenerating it without changing
this script changes nothing.

Each graph `gN` is its own module with services `s0..s{n-1}`. Service `si` depends on up to 3
earlier services, each taken as `&u32` (required) or `Option<&u32>` (optional); it has a retry
policy (0 to 3 retries, 1 to 20 ms initial delay, jitter 0 or not, sometimes a `max_elapsed`
budget) and sometimes a per-attempt timeout. Every service just calls `crate::behave`, which
does what the case's script says. Some graphs list their services shuffled (the jitter index is
the listing position) and some declare `#[orch(..)]` defaults. `run_journaled` runs any graph
with an `InMemoryJournal`; `run_unjournaled` runs the small ones with `NoJournal`, and
`run_awaited` with a journal whose writes are awaited.
"""

import os
import shutil
import subprocess

SEED = 0x0C4E_57A7_10E5_2026
MASK = (1 << 64) - 1

# Number of services of each graph: 1 to 40, at least one of 40.
SIZES = [1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 17, 20, 24, 29, 34, 40]
# Graphs of up to this many services also run without a journal (orch's inline first-attempt
# path). Each instantiation of an orchestration costs compile time that grows faster than its size
# (about 20 s for 40 services in a debug build), so the large ones are instantiated only once.
UNJOURNALED_MAX = 20
# Declared `#[orch(..)]` settings, by graph index.
DECLARED = {
    5: {"max_in_flight": 2},
    9: {"fail_fast": True},
    11: {"deadline": True},
    13: {"deadline": True, "max_in_flight": 3},
}


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        """Uniform in 0..n (the modulo bias is irrelevant here)."""
        return self.next() % n

    def between(self, lo, hi):
        """Uniform in lo..=hi."""
        return lo + self.below(hi - lo + 1)

    def chance(self, percent):
        return self.below(100) < percent

    def choice(self, items):
        return items[self.below(len(items))]

    def shuffle(self, items):
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]


def ms(n):
    return f"Duration::from_millis({n})"


def draw_service(rng, i):
    deps = []
    if i > 0:
        count = min(i, rng.choice([0, 0, 1, 1, 1, 2, 2, 3, 3]))
        while len(deps) < count:
            if rng.chance(80):
                dep = rng.between(max(0, i - 8), i - 1)
            else:
                dep = rng.below(i)
            if dep not in [d for d, _ in deps]:
                deps.append((dep, rng.chance(60)))
    policy = None
    if rng.chance(80):
        initial = rng.between(1, 20)
        policy = {
            "retries": rng.between(0, 3),
            "initial": initial,
            "max_delay": initial * rng.choice([1, 2, 3, 4]),
            "multiplier": rng.choice(["1.0", "1.5", "2.0", "3.0"]),
            "jitter": "0.0" if rng.chance(50) else rng.choice(["0.1", "0.25", "0.5", "1.0"]),
            "budget": rng.between(5, 60) if rng.chance(30) else None,
        }
    timeout = rng.between(1, 25) if rng.chance(30) else None
    return {"deps": deps, "policy": policy, "timeout": timeout}


def worst_case(service):
    """`RetryPolicy::worst_case(timeout)` in ms, or None when unbounded."""
    timeout = service["timeout"]
    if timeout is None:
        return None
    policy = service["policy"]
    if policy is None:
        return timeout
    total = timeout * (policy["retries"] + 1) + policy["max_delay"] * policy["retries"]
    if policy["budget"] is not None:
        total = min(total, policy["budget"] + timeout)
    return total


def declared_deadline(services):
    """A deadline the compile-time check accepts: 1 ms past every bounded path's latest end (a
    path that ends exactly at the deadline is refused: the deadline wins the tie)."""
    latest = []
    for service in services:
        own = worst_case(service)
        ends = [latest[d] for d, _ in service["deps"]]
        if own is None or any(end is None for end in ends):
            latest.append(None)
        else:
            latest.append(max(ends, default=0) + own)
    return max([end for end in latest if end is not None] + [90]) + 1


def policy_expr(policy):
    lines = [
        "RetryPolicy::NONE",
        f".with_max_retries({policy['retries']})",
        f".with_initial_delay({ms(policy['initial'])})",
        f".with_max_delay({ms(policy['max_delay'])})",
        f".with_multiplier({policy['multiplier']})",
        f".with_jitter({policy['jitter']})",
    ]
    if policy["budget"] is not None:
        lines.append(f".with_max_elapsed({ms(policy['budget'])})")
    return "\n        ".join(lines)


def graph_module(rng, g, size):
    services = [draw_service(rng, i) for i in range(size)]
    listing = list(range(size))
    if rng.chance(50):
        rng.shuffle(listing)
    declared = DECLARED.get(g, {})
    out = []
    w = out.append
    w(f"/// {size} service{'s' if size != 1 else ''}, listed {'in order' if listing == sorted(listing) else 'shuffled'}.")
    w(f"pub mod g{g} {{")
    w("    use crate::{GraphSpec, Ran, Script, ScriptError, ServiceSpec, behave, seen};")
    w("    use orch::prelude::*;")
    w("    use orch::{Journal, Service};")
    if any(s["policy"] is not None or s["timeout"] is not None for s in services):
        w("    use std::time::Duration;")
    w("")
    for i, service in enumerate(services):
        keys = []
        if service["deps"]:
            keys.append("depends_on = [" + ", ".join(f"s{d}" for d, _ in service["deps"]) + "]")
        if service["policy"] is not None:
            w(f"    const R{i}: RetryPolicy = {policy_expr(service['policy'])};")
            keys.append(f"retry = R{i}")
        if service["timeout"] is not None:
            w(f"    const T{i}: Duration = {ms(service['timeout'])};")
            keys.append(f"timeout = T{i}")
        attribute = "#[service]" if not keys else "#[service(" + ", ".join(keys) + ")]"
        params = ["ctx: &Context<Script>"]
        values = []
        for k, (dep, required) in enumerate(service["deps"]):
            if required:
                params.append(f"d{k}: &u32")
                values.append(f"Some(*d{k})")
            else:
                params.append(f"d{k}: Option<&u32>")
                values.append(f"d{k}.copied()")
        w(f"    {attribute}")
        w(f"    pub async fn s{i}({', '.join(params)}) -> Result<u32, ScriptError> {{")
        w(f"        behave(ctx, {i}, &[{', '.join(values)}]).await")
        w("    }")
        w("")
    settings = []
    if declared.get("deadline"):
        settings.append(f"deadline = {ms(declared_deadline(services))}")
    if declared.get("fail_fast"):
        settings.append("fail_fast")
    if "max_in_flight" in declared:
        settings.append(f"max_in_flight = {declared['max_in_flight']}")
    w("    orchestration! {")
    if settings:
        w(f"        #[orch({', '.join(settings)})]")
    w("        pub graph(Script) {")
    names = [f"s{i}" for i in listing]
    for start in range(0, len(names), 10):
        w("            " + ", ".join(names[start:start + 10]) + ",")
    w("        }")
    w("    }")
    w("")
    w("    /// The graph as the checks see it, by service number.")
    w("    pub const SPEC: GraphSpec = GraphSpec {")
    w(f"        name: \"g{g}\",")
    w("        services: &[")
    for i, service in enumerate(services):
        deps = ", ".join(f"({d}, {'true' if r else 'false'})" for d, r in service["deps"])
        w("            ServiceSpec {")
        w(f"                deps: &[{deps}],")
        w(f"                retry: <s{i} as Service>::RETRY,")
        w(f"                timeout: <s{i} as Service>::TIMEOUT,")
        w(f"                index: {listing.index(i)},")
        w("            },")
    w("        ],")
    w("        deadline: graph::DEADLINE,")
    w("        fail_fast: graph::FAIL_FAST,")
    w("        max_in_flight: graph::MAX_IN_FLIGHT,")
    w(f"        unjournaled: {'true' if size <= UNJOURNALED_MAX else 'false'},")
    w("    };")
    w("")
    w("    /// Runs the graph and keeps what the checks need of its report.")
    w("    pub async fn run<J: Journal + ?Sized>(")
    w("        request: &Request<Script>,")
    w("        journal: &J,")
    w("        options: RunOptions,")
    w("    ) -> Ran {")
    w("        let report = graph::orchestrate_with(request, journal, options).await;")
    w("        Ran {")
    w("            outcomes: vec![" + ", ".join(f"seen(&report.s{i})" for i in range(size)) + "],")
    w("            summary: report.summary(),")
    w("            interruption: report.interruption().cloned(),")
    w("        }")
    w("    }")
    w("}")
    w("")
    return out


def main():
    rng = SplitMix64(SEED)
    out = [
        "//! Generated by `tests/properties/gen_graphs.py`: do not edit, run the script.",
        "//!",
        "//! Fixed random orchestrations for `tests/properties.rs`, one module per graph.",
        "",
        "use crate::{AwaitedJournal, GraphSpec, Ran, Script};",
        "use orch::{InMemoryJournal, NoJournal, Request, RunOptions};",
        "",
    ]
    for g, size in enumerate(SIZES):
        out.extend(graph_module(rng, g, size))
    out.append("/// Every graph, by index.")
    out.append("pub const GRAPHS: &[GraphSpec] = &[" + ", ".join(f"g{g}::SPEC" for g in range(len(SIZES))) + "];")
    out.append("")
    out.append("/// Runs graph `graph` (an index into [`GRAPHS`]) with an in-memory journal.")
    out.append("pub async fn run_journaled(")
    out.append("    graph: usize,")
    out.append("    request: &Request<Script>,")
    out.append("    journal: &InMemoryJournal,")
    out.append("    options: RunOptions,")
    out.append(") -> Ran {")
    out.append("    match graph {")
    for g in range(len(SIZES)):
        out.append(f"        {g} => g{g}::run(request, journal, options).await,")
    out.append("        _ => panic!(\"there is no graph {graph}\"),")
    out.append("    }")
    out.append("}")
    out.append("")
    out.append(f"/// Runs graph `graph` without a journal: only graphs of up to {UNJOURNALED_MAX} services (see")
    out.append("/// `GraphSpec::unjournaled`).")
    out.append("pub async fn run_unjournaled(graph: usize, request: &Request<Script>, options: RunOptions) -> Ran {")
    out.append("    match graph {")
    for g, size in enumerate(SIZES):
        if size <= UNJOURNALED_MAX:
            out.append(f"        {g} => g{g}::run(request, &NoJournal, options).await,")
    out.append("        _ => panic!(\"graph {graph} runs only journaled\"),")
    out.append("    }")
    out.append("}")
    out.append("")
    out.append(f"/// Runs graph `graph` with a journal whose writes are awaited: only graphs of up to {UNJOURNALED_MAX}")
    out.append("/// services (see `GraphSpec::unjournaled`).")
    out.append("pub async fn run_awaited(")
    out.append("    graph: usize,")
    out.append("    request: &Request<Script>,")
    out.append("    journal: &AwaitedJournal,")
    out.append("    options: RunOptions,")
    out.append(") -> Ran {")
    out.append("    match graph {")
    for g, size in enumerate(SIZES):
        if size <= UNJOURNALED_MAX:
            out.append(f"        {g} => g{g}::run(request, journal, options).await,")
    out.append("        _ => panic!(\"graph {graph} runs only with the in-memory journal\"),")
    out.append("    }")
    out.append("}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "graphs.rs")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(out) + "\n")
    rustfmt = shutil.which("rustfmt")
    if rustfmt is not None:
        subprocess.run([rustfmt, "--edition", "2024", path], check=True)


if __name__ == "__main__":
    main()
