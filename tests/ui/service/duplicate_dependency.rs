use orch::prelude::*;

#[service(depends_on = [payments, payments])]
async fn analytics(_ctx: &Context<u32>, a: &u32, b: &u32) -> Result<u32, std::convert::Infallible> {
    Ok(a + b)
}

fn main() {}
