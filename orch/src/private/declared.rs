//! What an orchestration declares with `#[orch(..)]`, and its compile-time checks.

use std::time::Duration;

/// What an orchestration declares for all its runs; [`RunOptions`] given to a run override it.
///
/// [`RunOptions`]: crate::RunOptions
#[derive(Clone, Copy, Debug)]
pub struct Declared {
    /// `deadline = ..`: each run ends this long after it starts.
    pub deadline: Option<Duration>,
    /// `fail_fast`.
    pub fail_fast: bool,
    /// `max_in_flight = ..`.
    pub max_in_flight: Option<usize>,
}

impl Declared {
    /// Refuses a zero deadline, at compile time.
    #[track_caller]
    pub const fn assert_deadline(deadline: Option<Duration>) {
        if let Some(deadline) = deadline
            && deadline.is_zero()
        {
            panic!("invalid deadline: a run needs a deadline longer than zero");
        }
    }

    /// Refuses a limit of 0 services in flight, at compile time.
    #[track_caller]
    pub const fn assert_max_in_flight(limit: Option<usize>) {
        if let Some(0) = limit {
            panic!("invalid max_in_flight: at least one service must be able to run");
        }
    }
}

/// The latest a service can end after its run starts: the latest of its dependencies' ends,
/// plus its own worst case. `None` (unbounded) if any of them is.
pub const fn latest_end(deps: &[Option<Duration>], own: Option<Duration>) -> Option<Duration> {
    let Some(own) = own else {
        return None;
    };
    let mut start = Duration::ZERO;
    let mut i = 0;
    while i < deps.len() {
        match deps[i] {
            Some(end) if end.as_nanos() > start.as_nanos() => start = end,
            Some(_) => {}
            None => return None,
        }
        i += 1;
    }
    Some(start.saturating_add(own))
}

/// Whether a service can end at or after `deadline` while none of its dependencies can: the
/// first service of a path that does is the one to report. At the deadline itself the run's end
/// wins (the service is cancelled), so reaching it counts as late.
pub const fn ends_late(
    end: Option<Duration>,
    deps: &[Option<Duration>],
    deadline: Option<Duration>,
) -> bool {
    let (Some(end), Some(deadline)) = (end, deadline) else {
        return false;
    };
    if end.as_nanos() < deadline.as_nanos() {
        return false;
    }
    let mut i = 0;
    while i < deps.len() {
        if let Some(dep) = deps[i]
            && dep.as_nanos() >= deadline.as_nanos()
        {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_service_ends_its_own_worst_case_after_its_latest_dependency() {
        assert_eq!(latest_end(&[], Some(MS * 5)), Some(MS * 5));
        assert_eq!(
            latest_end(&[Some(MS * 3), Some(MS * 9)], Some(MS * 5)),
            Some(MS * 14)
        );
        assert_eq!(latest_end(&[Some(MS * 3), None], Some(MS * 5)), None);
        assert_eq!(latest_end(&[Some(MS * 3)], None), None);
    }

    #[test]
    fn only_the_first_service_past_the_deadline_is_reported() {
        let deadline = Some(MS * 10);
        assert!(!ends_late(Some(MS * 9), &[], deadline));
        // The run's deadline wins a tie: ending exactly at it is late.
        assert!(ends_late(Some(MS * 10), &[], deadline));
        assert!(ends_late(Some(MS * 11), &[Some(MS * 4)], deadline));
        assert!(!ends_late(Some(MS * 20), &[Some(MS * 10)], deadline));
        assert!(!ends_late(Some(MS * 20), &[Some(MS * 11)], deadline));
        assert!(!ends_late(None, &[], deadline));
        assert!(!ends_late(Some(MS * 20), &[], None));
    }
}
