use orch::prelude::*;

#[service]
async fn payments() -> Result<u32, std::convert::Infallible> {
    Ok(1)
}

#[service]
async fn refunds(ctx: Context<u32>) -> Result<u32, std::convert::Infallible> {
    Ok(*ctx.payload())
}

fn main() {}
