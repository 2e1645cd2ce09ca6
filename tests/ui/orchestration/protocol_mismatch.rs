// What a service's callback says when an orchestration speaks another version of the protocol
// (simulated: a real mismatch needs two versions of orch in one build).
use orch::prelude::*;

#[service]
async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

payments! { @orch_v0 { } { } }

fn main() {}
