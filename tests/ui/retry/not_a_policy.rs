use orch::prelude::*;

#[service(retry = 3)]
async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

fn main() {}
