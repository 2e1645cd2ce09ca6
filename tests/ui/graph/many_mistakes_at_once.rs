// An unlisted dependency, a duplicate and a cycle: all three are reported in one compile.
use orch::prelude::*;
use std::convert::Infallible;

#[service(depends_on = [b, missing])]
async fn a(_ctx: &Context<()>, _b: &(), _m: &()) -> Result<(), Infallible> { Ok(()) }
#[service(depends_on = [a])]
async fn b(_ctx: &Context<()>, _a: &()) -> Result<(), Infallible> { Ok(()) }
#[service]
async fn c(_ctx: &Context<()>) -> Result<(), Infallible> { Ok(()) }
#[service]
async fn missing(_ctx: &Context<()>) -> Result<(), Infallible> { Ok(()) }

orchestration! {
    broken(()) { a, b, c, c }
}

fn main() {}
