use orch::prelude::*;

#[service(retry = RetryPolicy::DEFAULT.with_jitter(1.5))]
async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

fn main() {}
