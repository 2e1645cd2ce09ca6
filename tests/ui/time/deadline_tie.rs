use orch::prelude::*;
use std::time::Duration;

// No retries: the worst case is one attempt up to its timeout, 1 s.
#[service(retry = RetryPolicy::NONE, timeout = Duration::from_secs(1))]
async fn reserve(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

// Exactly at the deadline: the run's end wins the tie and would cancel the attempt, so this is
// late too.
#[service(depends_on = [reserve], retry = RetryPolicy::NONE, timeout = Duration::from_secs(1))]
async fn confirm(_ctx: &Context<u32>, reserve: &u32) -> Result<u32, String> {
    Ok(*reserve)
}

orchestration! {
    #[orch(deadline = Duration::from_secs(2))]
    booking(u32) { reserve, confirm }
}

fn main() {}
