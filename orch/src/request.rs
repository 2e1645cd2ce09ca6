//! The request an orchestration runs for.

use std::sync::Arc;

/// One execution's identity and input: the ids the Go original promised, and a typed payload.
///
/// Every service of the run sees the same request through its [`Context`](crate::Context); the
/// ids are recorded on the journal's run-start entry and on the run's tracing span.
///
/// The ids are shared, not copied: every journal entry of a run holds its event id, and the
/// run-start entry its tenant and organization, so a journaled run takes a reference to each
/// instead of allocating a copy. `Request::new` takes a `&str`, a `String` or an `Arc<str>`;
/// a clone of the request (to run it again) copies no string.
///
/// ```
/// let request = orch::Request::new("evt-1", "tenant-1", "org-1", 42_u32);
/// assert_eq!(&*request.event_id, "evt-1");
/// assert_eq!(request.payload, 42);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Request<P> {
    /// Identifies this execution; journal entries are keyed by it.
    pub event_id: Arc<str>,
    /// The tenant the execution is for.
    pub tenant_id: Arc<str>,
    /// The organization within the tenant.
    pub organization_id: Arc<str>,
    /// The typed input of the orchestration.
    pub payload: P,
}

impl<P> Request<P> {
    /// A request with these ids and payload.
    pub fn new(
        event_id: impl Into<Arc<str>>,
        tenant_id: impl Into<Arc<str>>,
        organization_id: impl Into<Arc<str>>,
        payload: P,
    ) -> Self {
        Request {
            event_id: event_id.into(),
            tenant_id: tenant_id.into(),
            organization_id: organization_id.into(),
            payload,
        }
    }
}
