use orch::prelude::*;
use std::convert::Infallible;

#[service(depends_on = [c])]
async fn a(_ctx: &Context<()>, _c: &()) -> Result<(), Infallible> { Ok(()) }
#[service(depends_on = [a])]
async fn b(_ctx: &Context<()>, _a: &()) -> Result<(), Infallible> { Ok(()) }
#[service(depends_on = [b])]
async fn c(_ctx: &Context<()>, _b: &()) -> Result<(), Infallible> { Ok(()) }
#[service]
async fn independent(_ctx: &Context<()>) -> Result<(), Infallible> { Ok(()) }

orchestration! {
    loops(()) { independent, a, b, c }
}

fn main() {}
