use orch::prelude::*;

#[service]
fn payments(_ctx: &Context<u32>) -> Result<u32, std::convert::Infallible> {
    Ok(1)
}

fn main() {}
