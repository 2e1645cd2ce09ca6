use orch::prelude::*;

#[service(depends_on = [payments], retries = 3)]
async fn analytics(_ctx: &Context<u32>, receipt: &u32) -> Result<u32, std::convert::Infallible> {
    Ok(*receipt)
}

fn main() {}
