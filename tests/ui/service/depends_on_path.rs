use orch::prelude::*;

#[service(depends_on = [billing::payments])]
async fn analytics(_ctx: &Context<u32>, receipt: &u32) -> Result<u32, std::convert::Infallible> {
    Ok(*receipt)
}

fn main() {}
