// A module in its own file, for `cycle_across_files.rs`.
use orch::prelude::*;

#[service(depends_on = [analytics])]
pub async fn payments(_ctx: &Context<u32>, summary: &u32) -> Result<u32, std::convert::Infallible> {
    Ok(*summary)
}
