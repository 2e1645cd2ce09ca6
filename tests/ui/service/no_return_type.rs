use orch::prelude::*;

#[service]
async fn payments(_ctx: &Context<u32>) {}

fn main() {}
