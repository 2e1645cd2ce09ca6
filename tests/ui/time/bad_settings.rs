use orch::prelude::*;
use std::time::Duration;

#[service]
async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

orchestration! {
    #[orch(deadline = Duration::ZERO, max_in_flight = 0)]
    zero(u32) { payments }
}

orchestration! {
    #[orch(fail_fast, retries = 3)]
    unknown(u32) { payments }
}

orchestration! {
    #[orch(fail_fast)]
    #[orch(max_in_flight = 2)]
    twice(u32) { payments }
}

fn main() {}
