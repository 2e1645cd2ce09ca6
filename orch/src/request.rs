//! The request an orchestration runs for.

/// One execution's identity and input: the ids the Go original promised, and a typed payload.
///
/// Every service of the run sees the same request through its [`Context`](crate::Context); the
/// ids are recorded on the journal's run-start entry and on the run's tracing span.
///
/// ```
/// let request = orch::Request::new("evt-1", "tenant-1", "org-1", 42_u32);
/// assert_eq!(request.event_id, "evt-1");
/// assert_eq!(request.payload, 42);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Request<P> {
    /// Identifies this execution; journal entries are keyed by it.
    pub event_id: String,
    /// The tenant the execution is for.
    pub tenant_id: String,
    /// The organization within the tenant.
    pub organization_id: String,
    /// The typed input of the orchestration.
    pub payload: P,
}

impl<P> Request<P> {
    /// A request with these ids and payload.
    pub fn new(
        event_id: impl Into<String>,
        tenant_id: impl Into<String>,
        organization_id: impl Into<String>,
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
