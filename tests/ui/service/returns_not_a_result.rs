use orch::prelude::*;

#[service]
async fn payments(_ctx: &Context<u32>) -> Option<u32> {
    Some(1)
}

fn main() {}
