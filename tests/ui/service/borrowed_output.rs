use orch::prelude::*;

#[service]
async fn payments(ctx: &Context<String>) -> Result<&str, String> {
    Ok(ctx.payload())
}

#[service]
async fn fine(_ctx: &Context<String>) -> Result<&'static str, String> {
    Ok("static data is fine")
}

fn main() {}
