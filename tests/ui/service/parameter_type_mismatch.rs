// `analytics` takes a `&String` from `payments`, whose output is a `Receipt`: the error points at
// the `depends_on` entry and the parameter.
use orch::prelude::*;
use std::convert::Infallible;

pub struct Receipt;

#[service]
async fn payments(_ctx: &Context<u32>) -> Result<Receipt, Infallible> {
    Ok(Receipt)
}

#[service(depends_on = [payments])]
async fn analytics(_ctx: &Context<u32>, receipt: &String) -> Result<usize, Infallible> {
    Ok(receipt.len())
}

orchestration! {
    checkout(u32) { payments, analytics }
}

fn main() {}
