//! What only generated code calls. Not a public API: it changes without notice.

mod attempts;
mod declared;
mod deps;
mod drive;
mod erased;
mod plan;
mod probe;
mod replay;
mod run;
mod slot;
mod task;
mod watch;

pub use declared::{Declared, ends_late, latest_end};
pub use deps::{Dep, optional, required};
pub use drive::{Drive, drive};
pub use plan::{Plan, Planned, Text, dot, mermaid};
pub use probe::*;
pub use replay::{Replay, fingerprint};
pub use run::{OutcomeSlot, Run, assert_timeout, resume, status, take};
pub use slot::Slot;
pub use task::{Stopping, Task, Tasks, stop_all};

pub use crate::context::ContextScope;
pub use core::pin::pin;
pub use core::task::Poll;
pub use orch_macros::__finish as finish;
pub use serde_json::Value as JsonValue;
pub use tracing::Instrument;

mod report;
pub use report::{DebugWith, ServiceResult, fmt_failure, probe_of, unreachable_incomplete};
