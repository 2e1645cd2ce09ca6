use orch::prelude::*;
use std::convert::Infallible;

#[service(depends_on = [payments])]
async fn analytics(_ctx: &Context<u32>, receipt: &u32, fraud: &bool) -> Result<u32, Infallible> {
    Ok(*receipt + u32::from(*fraud))
}

#[service]
async fn lonely(_ctx: &Context<u32>, stray: &u32) -> Result<u32, Infallible> {
    Ok(*stray)
}

fn main() {}
