use orch::prelude::*;

orchestration! {
    checkout(u32) {}
}

fn main() {}
