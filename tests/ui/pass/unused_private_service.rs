//! A service that no orchestration uses (yet) does not warn, even private in a binary.
#![deny(warnings)]

use orch::prelude::*;

#[service]
async fn never_orchestrated(_ctx: &Context<u32>) -> Result<u32, String> {
    Ok(1)
}

mod inner {
    use orch::prelude::*;

    #[service(retry = RetryPolicy::DEFAULT)]
    async fn private_unused(_ctx: &Context<u32>) -> Result<u32, String> {
        Ok(1)
    }
}

fn main() {}
