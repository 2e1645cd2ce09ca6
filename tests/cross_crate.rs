//! Services defined in one crate, orchestrated in another.

use orch::prelude::*;
use std::convert::Infallible;

#[service(depends_on = [payments, audit])]
async fn receipt(_ctx: &Context<u32>, charged: &u32, audit: &String) -> Result<String, Infallible> {
    Ok(format!("{charged} ({audit})"))
}

orchestration! {
    checkout(u32) {
        shared_services::billing::payments,
        shared_services::audit::audit,
        receipt,
    }
}

#[tokio::test]
async fn services_from_another_crate_run_with_local_ones() {
    let report = checkout::orchestrate(&Request::new("evt", "t", "o", 42), &NoJournal).await;
    let outputs = report.into_result().expect("every service succeeds");
    assert_eq!(outputs.payments, 42);
    assert_eq!(outputs.receipt, "42 (audited 42)");
}
