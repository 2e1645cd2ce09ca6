use orch::prelude::*;
use std::convert::Infallible;

mod billing {
    use orch::prelude::*;
    #[derive(Debug)]
    pub struct Receipt(pub u32);

    #[service(retry = RetryPolicy::DEFAULT)]
    pub async fn payments(ctx: &Context<u32>) -> Result<Receipt, String> {
        Ok(Receipt(*ctx.payload()))
    }
}

#[service(depends_on = [payments])]
async fn analytics(_ctx: &Context<u32>, receipt: &billing::Receipt) -> Result<u32, Infallible> {
    Ok(receipt.0 + 1)
}

orchestration! {
    /// Checkout.
    checkout(u32) {
        billing::payments,
        analytics,
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let journal = InMemoryJournal::new();
    let report = checkout::orchestrate(Request::new("e", "t", "o", 5), &journal).await;
    println!("{report:?}");
    println!("{}", journal.to_json_lines());
}
