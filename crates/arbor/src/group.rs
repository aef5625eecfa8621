//! Siblings that live and restart together.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::{Child, RestartLimit, Runnable};

/// A set of siblings started by one [`Context::run_group`](crate::Context::run_group) call.
///
/// If any member dies, every other member is cancelled with its whole subtree, and all of them
/// are restarted once their subtrees have stopped and the dead one's backoff has passed.
/// Members that were Done are restarted with the group (state table row 8 of
/// [`NodeState`](crate::NodeState#state-table)). A child started with
/// [`Context::run`](crate::Context::run) is a group of one.
///
/// Names are checked when the group is started, not when it is built.
///
/// # Examples
///
/// ```
/// use arbor::{Context, Group, Signal};
///
/// async fn serve(ctx: Context) -> anyhow::Result<()> {
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// }
///
/// async fn parent(ctx: Context) -> anyhow::Result<()> {
///     // If the pool dies, the listener is cancelled and both restart.
///     ctx.run_group(Group::new().add("pool", serve).add("listener", serve))?;
///     ctx.signal(Signal::Healthy)?;
///     ctx.cancelled().await;
///     Ok(())
/// }
/// ```
#[derive(Default)]
#[must_use = "a group does nothing until it is given to `Context::run_group`"]
pub struct Group {
    pub(crate) members: Vec<Child>,
    pub(crate) limit: Option<RestartLimit>,
}

impl Group {
    /// An empty group.
    pub fn new() -> Self {
        Group::default()
    }

    /// Adds a member called `name` (a [`Name`](crate::Name): `^[a-z0-9_]{1,64}$`).
    pub fn add(self, name: impl Into<Cow<'static, str>>, runnable: impl Runnable) -> Self {
        self.add_shared(name, Arc::new(runnable))
    }

    /// Adds a member whose runnable is already shared, e.g. one value for many members.
    pub fn add_shared(
        self,
        name: impl Into<Cow<'static, str>>,
        runnable: Arc<dyn Runnable>,
    ) -> Self {
        self.child(Child::shared(name, runnable))
    }

    /// Adds a member with its own policy, such as a [`Restart`](crate::Restart) type.
    pub fn child(mut self, child: Child) -> Self {
        self.members.push(child);
        self
    }

    /// Counts the restarts of this group's members against `limit` instead of their
    /// parent's: more than that within its period, and the parent dies (see
    /// [`RestartLimit`]).
    pub fn restart_limit(mut self, limit: RestartLimit) -> Self {
        self.limit = Some(limit);
        self
    }

    /// How many members the group has.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the group has no members (starting it is an error).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

impl fmt::Debug for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.members.iter().map(|m| &m.name))
            .finish()
    }
}
