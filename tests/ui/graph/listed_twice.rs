use orch::prelude::*;
use std::convert::Infallible;

mod billing {
    use orch::prelude::*;
    #[service]
    pub async fn payments(_ctx: &Context<u32>) -> Result<u32, std::convert::Infallible> { Ok(1) }
}

mod legacy {
    use orch::prelude::*;
    #[service]
    pub async fn payments(_ctx: &Context<u32>) -> Result<u32, std::convert::Infallible> { Ok(2) }
}

#[service]
async fn analytics(_ctx: &Context<u32>) -> Result<(), Infallible> { Ok(()) }

orchestration! {
    checkout(u32) { billing::payments, analytics, analytics, legacy::payments }
}

fn main() {}
