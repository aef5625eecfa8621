//! Siblings that live and restart together.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use crate::limit::Window;
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
    /// Boxed, and `None` while all are the defaults (most groups): a group rides in the
    /// processor's message that adds it, and every message is as big as the biggest.
    settings: Option<Box<Settings>>,
}

/// What a group may set besides its members.
#[derive(Debug, Default, Clone, Copy)]
struct Settings {
    limit: Option<RestartLimit>,
    strategy: Strategy,
    ordered: bool,
}

/// How the members of a [`Group`] restart when one of them dies (OTP's restart strategies).
///
/// Whatever the strategy, a member restarts only once its own subtree has stopped, and not
/// before the backoff of the death that cancelled it (members owe it together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[non_exhaustive]
pub enum Strategy {
    /// Every other member is cancelled, and each one restarts as soon as its own subtree has
    /// stopped, without waiting for the others (the default). A member that ignores
    /// cancellation holds back only itself; for a moment a new run of one member may overlap
    /// the old run of another that is still stopping.
    #[default]
    Staggered,
    /// OTP's `one_for_all`: every other member is cancelled, and none restarts until every
    /// member told to stop has stopped, whole subtree and all; then they all restart together.
    /// No two generations of the group ever overlap, but a member that ignores cancellation
    /// holds the whole group back (give it a [`StopTimeout`](crate::StopTimeout)); status
    /// shows whom the others wait for ([`NodeStatus::waiting_for`](crate::NodeStatus::waiting_for)).
    AllTogether,
    /// OTP's `rest_for_one`: members are ordered as they were added; a member's death cancels
    /// and restarts it and the members after it, and leaves those before it running. For
    /// members that depend on the ones before them.
    RestForOne,
}

/// What members of a group with more than the default policy share.
#[derive(Debug)]
pub(crate) struct GroupPolicy {
    pub(crate) strategy: Strategy,
    pub(crate) ordered: bool,
    pub(crate) limit: Option<Mutex<Window>>,
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

    /// A group of `child` alone, with room for it only.
    pub(crate) fn of_one(child: Child) -> Self {
        let mut group = Group::new();
        group.members = Vec::with_capacity(1);
        group.members.push(child);
        group
    }

    /// Adds a member with its own policy, such as a [`Restart`](crate::Restart) type.
    pub fn child(mut self, child: Child) -> Self {
        // Most groups built here have two members (`Context::run` makes its groups of one
        // with `of_one`): room for two at once spares them a reallocation, then growing one at
        // a time up to four, a group holds no room for members it will never have (a `Vec`
        // would take four at once), and only bigger ones grow by doubling.
        if self.members.capacity() == 0 {
            self.members.reserve_exact(2);
        } else if self.members.len() == self.members.capacity() && self.members.len() < 4 {
            self.members.reserve_exact(1);
        }
        self.members.push(child);
        self
    }

    /// How the members restart when one dies (default: [`Strategy::Staggered`]).
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.settings_mut().strategy = strategy;
        self
    }

    /// Starts the members in order and stops them in reverse (OTP's synchronous start;
    /// compose's "depends on healthy"):
    ///
    /// - each member's run, the first and every restart, is entered only once every member
    ///   added before it is Healthy (or Done). A member that dies before Healthy stops the
    ///   sequence there, and the group follows its [`Strategy`]. Status shows a member not
    ///   started yet as New, [`waiting_for`](crate::NodeStatus::waiting_for) the member before it.
    /// - when the members must stop (a death in the group, an ancestor's, or shutdown), each is
    ///   told to stop only once the members added after it have stopped.
    ///
    /// # Examples
    ///
    /// ```
    /// use arbor::{Context, Group, Signal};
    ///
    /// # async fn db(_: Context) -> anyhow::Result<()> { Ok(()) }
    /// # async fn api(_: Context) -> anyhow::Result<()> { Ok(()) }
    /// async fn service(ctx: Context) -> anyhow::Result<()> {
    ///     // api starts once db is Healthy, and is stopped before db is.
    ///     ctx.run_group(Group::new().ordered().add("db", db).add("api", api))?;
    ///     ctx.signal(Signal::Healthy)?;
    ///     ctx.cancelled().await;
    ///     Ok(())
    /// }
    /// ```
    pub fn ordered(mut self) -> Self {
        self.settings_mut().ordered = true;
        self
    }

    /// Counts the restarts of this group's members against `limit` instead of their
    /// parent's: more than that within its period, and the parent dies (see
    /// [`RestartLimit`]).
    pub fn restart_limit(mut self, limit: RestartLimit) -> Self {
        self.settings_mut().limit = Some(limit);
        self
    }

    fn settings_mut(&mut self) -> &mut Settings {
        self.settings.get_or_insert_with(Box::default)
    }

    fn settings(&self) -> Settings {
        self.settings.as_deref().copied().unwrap_or_default()
    }

    /// Whether its members start in order ([`ordered`](Group::ordered)).
    pub(crate) fn is_ordered(&self) -> bool {
        self.settings().ordered
    }

    /// Its own restart limit ([`restart_limit`](Group::restart_limit)).
    pub(crate) fn limit(&self) -> Option<RestartLimit> {
        self.settings().limit
    }

    /// The policy its members share, if it is not the default.
    pub(crate) fn policy(&self) -> Option<GroupPolicy> {
        let settings = self.settings();
        let default = settings.strategy == Strategy::Staggered
            && settings.limit.is_none()
            && !settings.ordered;
        (!default).then(|| GroupPolicy {
            strategy: settings.strategy,
            ordered: settings.ordered,
            limit: settings.limit.map(|limit| Mutex::new(Window::new(limit))),
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn member(i: usize) -> Child {
        Child::new(format!("m{i}"), |_ctx: crate::Context| async { Ok(()) })
    }

    /// The room a group holds is what its `AddChildren` message carries until the processor
    /// takes it: for the usual one or two members, none to spare, and no reallocation.
    #[test]
    fn a_group_holds_room_for_its_members_only() {
        assert_eq!(Group::of_one(member(0)).members.capacity(), 1);
        let rooms: Vec<usize> = (1..=5)
            .scan(Group::new(), |group, i| {
                *group = std::mem::take(group).child(member(i));
                Some(group.members.capacity())
            })
            .collect();
        assert_eq!(rooms, [2, 2, 3, 4, 8]);
    }
}
