use orch::prelude::*;

#[service]
async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

orchestration! {
    #[derive(Debug)]
    checkout(u32) { payments }
}

fn main() {}
