use orch::prelude::*;
use std::time::Duration;

const QUICK: RetryPolicy = RetryPolicy::DEFAULT
    .with_max_retries(2)
    .with_initial_delay(Duration::from_millis(100))
    .with_max_delay(Duration::from_millis(400));

// Worst case 3 x 1 s + 2 x 400 ms = 3.8 s.
#[service(retry = QUICK, timeout = Duration::from_secs(1))]
async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

// 3.8 s, then 1 x 2 s more = 5.8 s: past the deadline.
#[service(depends_on = [payments], timeout = Duration::from_secs(2))]
async fn receipt(_ctx: &Context<u32>, payments: &u32) -> Result<u32, String> {
    Ok(*payments)
}

// Needs `receipt`: also late, but only the first late service of the path is reported.
#[service(depends_on = [receipt], timeout = Duration::from_secs(1))]
async fn email(_ctx: &Context<u32>, receipt: &u32) -> Result<u32, String> {
    Ok(*receipt)
}

// No timeout: unbounded, so nothing can be said at compile time.
#[service]
async fn audit(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

orchestration! {
    #[orch(deadline = Duration::from_secs(5))]
    checkout(u32) { payments, receipt, email, audit }
}

fn main() {}
