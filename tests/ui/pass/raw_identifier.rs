//! A service may have a raw identifier as its name: it is named `type` everywhere.
use orch::prelude::*;
use std::convert::Infallible;

#[service]
async fn r#type(_ctx: &Context<u32>) -> Result<u32, Infallible> {
    Ok(1)
}

#[service(depends_on = [r#type])]
async fn after(_ctx: &Context<u32>, kind: &u32) -> Result<u32, Infallible> {
    Ok(kind + 1)
}

orchestration! {
    kinds(u32) { r#type, after }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(kinds::SERVICES, ["type", "after"]);
    let journal = InMemoryJournal::new();
    let report = kinds::orchestrate(&Request::new("evt", "t", "o", 0), &journal).await;
    assert_eq!(report.into_result().expect("no failure").after, 2);
    assert!(journal.to_json_lines().contains(r#""service":"type""#));
}
