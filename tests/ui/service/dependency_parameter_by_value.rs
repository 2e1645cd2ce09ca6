use orch::prelude::*;
use std::convert::Infallible;

#[service(depends_on = [payments, fraud_check])]
async fn analytics(_ctx: &Context<u32>, receipt: u32, fraud: &mut bool) -> Result<u32, Infallible> {
    Ok(receipt + u32::from(*fraud))
}

fn main() {}
