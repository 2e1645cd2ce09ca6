use orch::prelude::*;

async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

orchestration! {
    checkout(u32) { payments }
}

fn main() {}
