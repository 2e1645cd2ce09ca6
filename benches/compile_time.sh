#!/usr/bin/env bash
# Compile time of orchestrations with 50, 100 and 200 services, as a chain (each service depends
# on the one before) and as a wide graph (every service depends on the first only): a debug
# `cargo build` of a generated binary, after its dependencies are built, timed with `date`; not
# incremental, so each figure is a whole build of the generated crate.
#
#   bash benches/compile_time.sh                      # 50 100 200
#   bash benches/compile_time.sh 120                  # other sizes
#   PROFILE=release bash benches/compile_time.sh 100  # a release build
#   CARGO_PROFILE_DEV_DEBUG=line-tables-only bash benches/compile_time.sh 100  # less debug info
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/target/compile-time
mkdir -p "$work"

generate() { # name shape n
    local dir=$work/$1 shape=$2 n=$3
    mkdir -p "$dir/src"
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$1"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
orch = { path = "$root/orch" }

[workspace]
TOML
    {
        # One expansion level per service: above 125, the default recursion_limit is too low.
        echo '#![recursion_limit = "512"]'
        echo 'use orch::prelude::*;'
        echo 'use std::convert::Infallible;'
        echo '#[service] async fn s0(_ctx: &Context<u64>) -> Result<u64, Infallible> { Ok(1) }'
        for ((i = 1; i < n; i++)); do
            if [ "$shape" = chain ]; then dep=$((i - 1)); else dep=0; fi
            echo "#[service(depends_on = [s$dep])] async fn s$i(_ctx: &Context<u64>, d: &u64) -> Result<u64, Infallible> { Ok(d + 1) }"
        done
        echo 'orchestration! { plan(u64) {'
        for ((i = 0; i < n; i++)); do echo "    s$i,"; done
        echo '} }'
        # A binary that polls the plan once, so that all of it is generated, not only checked.
        echo 'fn main() {'
        echo '    let request = Request::new("e", "t", "o", 0);'
        echo '    let mut plan = std::pin::pin!(plan::orchestrate(&request, &NoJournal));'
        echo '    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());'
        echo '    assert!(plan.as_mut().poll(&mut cx).is_ready());'
        echo '}'
    } > "$dir/src/main.rs"
}

export CARGO_TARGET_DIR=$work/target
# A full build of the generated crate each time: incremental compilation would reuse the last
# build's work after the `touch` below and time almost nothing.
export CARGO_INCREMENTAL=0
profile=${PROFILE:-dev}
printf '%-8s %6s %10s  (%s)\n' shape services seconds "$profile"
for n in ${@:-50 100 200}; do
    for shape in chain wide; do
        name=${shape}_$n
        generate "$name" "$shape" "$n"
        # Build the dependencies first, so that only the generated crate is timed.
        (cd "$work/$name" && cargo build -q --profile "$profile" 2>/dev/null || true)
        touch "$work/$name/src/main.rs"
        start=$(date +%s.%N)
        (cd "$work/$name" && cargo build -q --profile "$profile")
        end=$(date +%s.%N)
        printf "%-8s %6s %10.2f\n" "$shape" "$n" "$(python3 -c "print($end - $start)")"
    done
done
