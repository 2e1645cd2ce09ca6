// `analytics` depends on `fraud_check`, which this orchestration does not list.
use orch::prelude::*;
use std::convert::Infallible;

#[service]
async fn payments(_ctx: &Context<u32>) -> Result<u32, Infallible> { Ok(1) }

#[service]
async fn fraud_check(_ctx: &Context<u32>) -> Result<bool, Infallible> { Ok(true) }

#[service(depends_on = [payments, fraud_check])]
async fn analytics(_ctx: &Context<u32>, _p: &u32, _f: &bool) -> Result<(), Infallible> { Ok(()) }

orchestration! {
    checkout(u32) { payments, analytics }
}

fn main() {}
