//! Deadlines: every wait in wsock is measured against one of these, so no
//! call site adds a `Duration` to `Instant::now()` by hand (a setting of
//! `Duration::MAX` overflowed `Instant` and panicked that way).

use std::time::{Duration, Instant};

/// When a wait must end: at an instant, or never (a duration too long for
/// `Instant` to hold, such as `Duration::MAX`, saturates to `Never`).
///
/// Ordered: every `At` comes before `Never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Deadline {
    /// At this instant.
    At(Instant),
    /// No wait reaches it.
    Never,
}

/// The longest single wait handed to the OS (a condvar, a socket timeout,
/// `poll`): longer waits are made of slices, and a `Never` deadline waits
/// in slices of this.
pub(crate) const LONGEST_WAIT: Duration = Duration::from_secs(24 * 3600);

impl Deadline {
    /// `budget` from now.
    #[inline]
    pub(crate) fn after(budget: Duration) -> Deadline {
        Deadline::from(Instant::now(), budget)
    }

    /// `budget` after `start`.
    #[inline]
    pub(crate) fn from(start: Instant, budget: Duration) -> Deadline {
        start
            .checked_add(budget)
            .map_or(Deadline::Never, Deadline::At)
    }

    /// True once the deadline is reached.
    #[inline]
    pub(crate) fn has_passed(self) -> bool {
        self.passed_at(Instant::now())
    }

    /// True if the deadline is reached at `now`.
    #[inline]
    pub(crate) fn passed_at(self, now: Instant) -> bool {
        match self {
            Deadline::At(t) => now >= t,
            Deadline::Never => false,
        }
    }

    /// The time left from `now` (zero once passed); `None` for `Never`.
    pub(crate) fn left_at(self, now: Instant) -> Option<Duration> {
        match self {
            Deadline::At(t) => Some(t.saturating_duration_since(now)),
            Deadline::Never => None,
        }
    }

    /// The time left from now, but at most `slice` (and at most
    /// [`LONGEST_WAIT`]): one step of a wait that checks the deadline
    /// between steps.
    pub(crate) fn slice(self, slice: Duration) -> Duration {
        let cap = slice.min(LONGEST_WAIT);
        self.left_at(Instant::now())
            .map_or(cap, |left| left.min(cap))
    }

    /// The instant, or `None` for `Never` (for code where no deadline and
    /// an unreachable one mean the same).
    #[inline]
    pub(crate) fn instant(self) -> Option<Instant> {
        match self {
            Deadline::At(t) => Some(t),
            Deadline::Never => None,
        }
    }

    /// The time left from now, at most [`LONGEST_WAIT`].
    pub(crate) fn left(self) -> Duration {
        self.slice(LONGEST_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_budgets_saturate_to_never() {
        let d = Deadline::after(Duration::MAX);
        assert_eq!(d, Deadline::Never);
        assert!(!d.has_passed());
        assert_eq!(d.left(), LONGEST_WAIT);
        assert!(Deadline::after(Duration::from_secs(1)) < d);
    }

    #[test]
    fn zero_budget_has_passed() {
        let d = Deadline::after(Duration::ZERO);
        assert!(d.has_passed());
        assert_eq!(d.left(), Duration::ZERO);
        assert_eq!(d.slice(Duration::from_secs(1)), Duration::ZERO);
    }

    #[test]
    fn slices_are_capped_by_what_is_left() {
        let d = Deadline::after(Duration::from_secs(3600));
        assert_eq!(d.slice(Duration::from_secs(1)), Duration::from_secs(1));
        assert!(d.left() <= Duration::from_secs(3600));
    }
}
