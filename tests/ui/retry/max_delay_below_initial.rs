use orch::prelude::*;
use std::time::Duration;

const IMPATIENT: RetryPolicy = RetryPolicy::DEFAULT
    .with_initial_delay(Duration::from_secs(5))
    .with_max_delay(Duration::from_secs(1));

#[service(retry = IMPATIENT)]
async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

fn main() {}
