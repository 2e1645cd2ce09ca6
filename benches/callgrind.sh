#!/usr/bin/env bash
# Instructions and heap allocations per orchestration, for every runner on every graph, with
# the ratio of instructions to the hand-written floor. Instruction counts are stable on a noisy
# machine where wall time is not: each case runs N1 and N2 orchestrations under callgrind, and the
# difference divided by N2 - N1 is the cost of one, setup excluded.
#
#   bash benches/callgrind.sh            # every case
#   bash benches/callgrind.sh layered10  # one graph
#   RUNNERS="orch orch+journal" bash benches/callgrind.sh   # some runners (the floor always runs)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null; then
    echo "installing valgrind" >&2
    apt-get update -qq && apt-get install -y -qq valgrind >/dev/null
fi

N1=${N1:-200}
N2=${N2:-1200}
graphs=${*:-chain2 layered10 random100}
# The floor first: the ratios are to it.
runners="floor ${RUNNERS:-orch orch+journal naive dagrs}"

binary=$(cargo bench -p orch-benches --bench count --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "count" and m.get("executable"):
        print(m["executable"])')

instructions() { # runner graph runs
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$binary" "$1" "$2" "$3" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-10s %-13s %14s %10s %12s\n' graph runner instructions "x floor" allocations
for graph in $graphs; do
    floor=""
    for runner in $runners; do
        a=$(instructions "$runner" "$graph" "$N1")
        b=$(instructions "$runner" "$graph" "$N2")
        per=$(( (b - a) / (N2 - N1) ))
        floor=${floor:-$per}
        allocations=$("$binary" "$runner" "$graph" 1000 | sed -n 's/allocations_per_run=//p')
        ratio=$(python3 -c "print(f'{$per / $floor:.1f}')")
        printf '%-10s %-13s %14s %10s %12s\n' "$graph" "$runner" "$per" "$ratio" "$allocations"
    done
done
