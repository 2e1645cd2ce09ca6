//! The drawings and numbers `orchestration!` writes at compile time, for a known graph.

mod common;

use std::convert::Infallible;
use std::time::Duration;

use common::assert_snapshot;
use orch::prelude::*;

const GATEWAY: RetryPolicy = RetryPolicy::DEFAULT
    .with_max_retries(2)
    .with_initial_delay(Duration::from_millis(250))
    .with_multiplier(1.5)
    .with_max_elapsed(Duration::from_secs(5));

#[service(retry = GATEWAY, timeout = Duration::from_millis(1500))]
async fn payments(_ctx: &Context<()>) -> Result<u32, Infallible> {
    Ok(1)
}

#[service(retry = RetryPolicy::DEFAULT)]
async fn fraud_check(_ctx: &Context<()>) -> Result<u32, Infallible> {
    Ok(2)
}

#[service(timeout = Duration::from_secs(2))]
async fn inventory(_ctx: &Context<()>) -> Result<u32, Infallible> {
    Ok(3)
}

#[service(depends_on = [payments, fraud_check])]
async fn analytics(
    _ctx: &Context<()>,
    _receipt: &u32,
    _verdict: Option<&u32>,
) -> Result<u32, Infallible> {
    Ok(4)
}

/// Named after a Mermaid keyword: the drawing must not read it as one.
#[service(depends_on = [analytics, inventory])]
async fn end(_ctx: &Context<()>, _analytics: &u32, _inventory: &u32) -> Result<u32, Infallible> {
    Ok(5)
}

orchestration! {
    shop(()) { payments, fraud_check, inventory, analytics, end }
}

orchestration! {
    single(()) { inventory }
}

#[test]
fn the_mermaid_drawing_of_a_known_graph_is_the_reviewed_one() {
    assert_snapshot("tests/snapshots/graph/shop.mmd", shop::MERMAID);
    assert_snapshot("tests/snapshots/graph/single.mmd", single::MERMAID);
}

#[test]
fn the_dot_drawing_of_a_known_graph_is_the_reviewed_one() {
    assert_snapshot("tests/snapshots/graph/shop.dot", shop::DOT);
    assert_snapshot("tests/snapshots/graph/single.dot", single::DOT);
}

#[test]
fn the_critical_path_and_the_width_are_the_graphs() {
    // payments -> analytics -> end is the longest chain (fraud_check ties with payments; the
    // earlier-listed one wins); payments, fraud_check and inventory can all run at once.
    assert_eq!(shop::CRITICAL_PATH, ["payments", "analytics", "end"]);
    assert_eq!(shop::WIDTH, 3);
    assert_eq!(single::CRITICAL_PATH, ["inventory"]);
    assert_eq!(single::WIDTH, 1);
}

/// The drawings are constants: usable where only constants are, such as an array's length.
const DRAWN: [u8; shop::MERMAID.len() + shop::DOT.len()] =
    [0; shop::MERMAID.len() + shop::DOT.len()];

#[test]
fn the_drawings_are_usable_in_constant_context() {
    assert_eq!(DRAWN.len(), shop::MERMAID.len() + shop::DOT.len());
}
