// The cycle closes in this file, through a service defined in another file.
use orch::prelude::*;

#[path = "support/billing.rs"]
mod billing;

#[service(depends_on = [payments])]
async fn analytics(_ctx: &Context<u32>, receipt: &u32) -> Result<u32, std::convert::Infallible> {
    Ok(*receipt)
}

orchestration! {
    checkout(u32) { analytics, billing::payments }
}

fn main() {}
