// `payments` is written for `Context<u32>`, the orchestration's payload is `String`.
use orch::prelude::*;

#[service]
async fn payments(ctx: &Context<u32>) -> Result<u32, String> {
    Ok(*ctx.payload())
}

orchestration! {
    checkout(String) { payments }
}

fn main() {}
