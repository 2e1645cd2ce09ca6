//! Compile errors are part of the product: each file under `tests/ui/<topic>/` breaks one rule
//! (or several, where the point is that all are reported at once), and its `.stderr` is what the
//! user reads. `tests/ui/pass/` must compile warning-free under `#![deny(warnings)]`.
//!
//! The `.stderr` files are pinned to the toolchain this project builds with (stable 1.95); after
//! reviewing a change, regenerate them with `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/graph/*.rs");
    t.compile_fail("tests/ui/service/*.rs");
    t.compile_fail("tests/ui/retry/*.rs");
    t.compile_fail("tests/ui/orchestration/*.rs");
    t.compile_fail("tests/ui/time/*.rs");
    t.compile_fail("tests/ui/durable/*.rs");
}
