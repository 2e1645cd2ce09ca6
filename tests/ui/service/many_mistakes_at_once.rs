// A sync fn, a parameter by value and a missing parameter: all reported in one compile.
use orch::prelude::*;

#[service(depends_on = [payments, fraud_check, inventory])]
fn analytics(_ctx: &Context<u32>, receipt: u32, fraud: &bool) -> Result<u32, std::convert::Infallible> {
    Ok(receipt + u32::from(*fraud))
}

fn main() {}
