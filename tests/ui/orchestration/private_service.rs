use orch::prelude::*;

mod billing {
    use orch::prelude::*;

    #[service]
    async fn payments(_ctx: &Context<u32>) -> Result<u32, String> {
        Ok(1)
    }
}

orchestration! {
    checkout(u32) { billing::payments }
}

fn main() {}
