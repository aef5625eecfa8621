//! How a component's run can end besides succeeding or failing: the seed's sentinel errors, as
//! types. A bounce (restart now) is arbor's own [`arbor::Bounce`].

/// Returned by a component (`Err(Missing::new(..).into())`) when an input it got is not usable
/// yet: it stays stopped, with no error and no backoff, until one of its inputs changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an input is not usable yet: {reason}")]
pub struct Missing {
    reason: String,
}

impl Missing {
    /// Why the input is not usable, for the report.
    pub fn new(reason: impl Into<String>) -> Self {
        Missing {
            reason: reason.into(),
        }
    }
}

/// Returned by a component (`Err(Uninstall.into())`) to remove itself from its engine for
/// good: its node leaves the tree, and its dependents wait for a provider again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("uninstall")]
pub struct Uninstall;
