use orch::prelude::*;

#[service]
async fn payments<T: Default>(_ctx: &Context<T>) -> Result<T, std::convert::Infallible> {
    Ok(T::default())
}

fn main() {}
