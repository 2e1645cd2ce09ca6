use orch::prelude::*;

#[service]
struct Payments;

fn main() {}
