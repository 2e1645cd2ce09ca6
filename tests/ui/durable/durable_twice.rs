use orch::prelude::*;

#[service]
async fn charge(ctx: &Context<u32>) -> Result<u32, String> {
    Ok(*ctx.payload())
}

orchestration! {
    #[orch(durable, fail_fast, durable)]
    checkout(u32) { charge }
}

fn main() {}
