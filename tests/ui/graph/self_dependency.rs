use orch::prelude::*;

#[service(depends_on = [payments])]
async fn payments(_ctx: &Context<u32>, _me: &u32) -> Result<u32, std::convert::Infallible> {
    Ok(1)
}

fn main() {}
