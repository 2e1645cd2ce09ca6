use orch::prelude::*;

#[service]
async fn format(_ctx: &Context<u32>) -> Result<String, String> {
    Ok(String::new())
}

fn main() {}
