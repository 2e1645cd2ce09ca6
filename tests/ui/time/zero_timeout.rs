use orch::prelude::*;
use std::time::Duration;

#[service(timeout = Duration::ZERO)]
async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

fn main() {}
