use orch::prelude::*;

/// Not a serde type: a durable run could not read it back from its journal.
pub struct Session {
    pub token: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Receipt {
    pub amount: u32,
}

#[service]
async fn login(_ctx: &Context<u32>) -> Result<Session, String> {
    Ok(Session { token: "t".into() })
}

#[service]
async fn charge(ctx: &Context<u32>) -> Result<Receipt, String> {
    Ok(Receipt { amount: *ctx.payload() })
}

orchestration! {
    #[orch(durable)]
    checkout(u32) { charge, login }
}

fn main() {}
