use orch::prelude::*;

#[service(retry = RetryPolicy::DEFAULT.with_multiplier(0.5))]
async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

fn main() {}
