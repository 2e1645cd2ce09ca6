//! Services another crate's orchestration uses: `tests/cross_crate.rs`.

/// Billing services.
pub mod billing {
    use orch::prelude::*;

    /// Charges the payload's amount.
    #[service(retry = RetryPolicy::NONE)]
    pub async fn payments(ctx: &Context<u32>) -> Result<u32, String> {
        Ok(*ctx.payload())
    }
}

/// A service with the same function name as one in the orchestrating crate, at the crate root.
pub mod audit {
    use orch::prelude::*;

    /// Records the charge.
    #[service(depends_on = [payments])]
    pub async fn audit(_ctx: &Context<u32>, charged: &u32) -> Result<String, String> {
        Ok(format!("audited {charged}"))
    }
}
