use orch::prelude::*;

// A bare number: is it seconds or milliseconds? A `Duration` says.
#[service(timeout = 5)]
async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

fn main() {}
