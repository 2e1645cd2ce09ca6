//! Services that one macro of the user defines in several modules (with one name) do not clash.
#![deny(warnings)]
macro_rules! stage {
    ($m:ident) => {
        mod $m {
            use orch::prelude::*;
            #[service]
            pub(crate) async fn run(ctx: &Context<u32>) -> Result<u32, String> { Ok(*ctx.payload()) }
        }
    };
}
stage!(one);
stage!(two);
use orch::prelude::*;
orchestration! { first(u32) { one::run } }
orchestration! { second(u32) { two::run } }
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let r = Request::new("e", "t", "o", 5);
    assert_eq!(first::orchestrate(&r, &NoJournal).await.run.output(), Some(&5));
    assert_eq!(second::orchestrate(&r, &NoJournal).await.run.output(), Some(&5));
}
