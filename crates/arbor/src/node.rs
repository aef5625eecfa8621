//! One place in the tree, as the processor sees it: the arena slot of a node and what the
//! processor keeps about it.
//!
//! # Invariants
//!
//! 1. Only the processor task reads or writes a [`Node`].
//! 2. `ctx` is the node's current run. Messages carry the context of the run they are about,
//!    so a message from an earlier run (a late return, a backoff that was cancelled) is told
//!    apart by identity and can never touch a later one.
//! 3. `has_task` is true exactly while a task for the current run exists (including one that
//!    is still waiting out its backoff); at most one such task exists per node.
//! 4. Cancellation is hereditary: if a node's run is cancelled, so is every run below it,
//!    except children whose stop is pending (`Extras::stop_pending`): members of an ordered
//!    group, told once the members after them have stopped, and children of a run that stops
//!    them itself (`Extras::defer_stop`), told by it or once it has ended.
//! 5. `active_children` counts the children whose subtree is active, where a subtree is active
//!    if any node in it has a task. A node's subtree is fully stopped iff
//!    `!has_task && active_children == 0`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::oneshot;

use crate::group::GroupPolicy;
use crate::limit::Window;
use crate::{Context, Dn, NodeState, Restart, Runnable, Significant, StopTimeout, Strategy};

/// A moment on the tree's clock (tokio's), as nanoseconds since the tree was made: half the
/// size of an `Instant`, and every node holds one (a node that died, two). Enough for 584 years of a tree's life;
/// later moments saturate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// The moment the tree's clock began: before any run can end, so never past a deadline.
    pub(crate) const ZERO: Stamp = Stamp(0);

    /// `t` on the clock of a tree made at `epoch`.
    pub(crate) fn at(epoch: Instant, t: Instant) -> Self {
        Stamp(u64::try_from(t.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX))
    }

    /// How long from `earlier` to this moment; zero if `earlier` is later.
    pub(crate) fn since(self, earlier: Stamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// A node's slot in the tree's arena. Only meaningful to the processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NodeId(NonZeroU32);

impl NodeId {
    pub(crate) fn from_raw(raw: u32) -> Option<Self> {
        NonZeroU32::new(raw).map(NodeId)
    }

    pub(crate) fn raw(self) -> u32 {
        self.0.get()
    }

    pub(crate) fn from_index(index: usize) -> Self {
        let raw =
            u32::try_from(index + 1).expect("more than u32::MAX - 1 nodes cannot fit in memory");
        NodeId(NonZeroU32::new(raw).expect("index + 1 is never zero"))
    }

    pub(crate) fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

/// One node of the tree. Fields are documented where their meaning is not obvious.
pub(crate) struct Node {
    /// The current run's context: its DN, its span, and its stop signal, which is set when
    /// this node, an ancestor or a group sibling must stop.
    pub(crate) ctx: Context,
    pub(crate) runnable: Arc<dyn Runnable>,
    pub(crate) state: NodeState,
    /// When the tree restarts it; fixed for the node's life.
    pub(crate) restart: Restart,
    /// When `state` was entered, for status.
    pub(crate) since: Stamp,
    /// A task exists for the current run (invariant 3).
    pub(crate) has_task: bool,
    /// That task is still waiting out the backoff before it enters the runnable.
    pub(crate) awaiting_backoff: bool,
    pub(crate) active_children: u32,
    pub(crate) parent: Option<NodeId>,
    pub(crate) first_child: Option<NodeId>,
    pub(crate) last_child: Option<NodeId>,
    pub(crate) next_sibling: Option<NodeId>,
    /// The next member of this node's group, in a ring; a node started alone points to itself.
    pub(crate) next_in_group: NodeId,
    /// What few nodes have; `None` for most.
    pub(crate) extras: Option<Box<Extras>>,
}

/// What few nodes have, kept out of line so that the others pay one pointer for it.
#[derive(Debug, Default)]
pub(crate) struct Extras {
    /// Runs entered again after the first.
    pub(crate) restarts: u32,
    /// Deaths since the last Healthy or Done: the exponent of the next backoff.
    pub(crate) failures: u32,
    /// The earliest moment this node may start again: the end of the backoff of the last death
    /// of this node or of a member of its group (processor invariant 4); [`Stamp::ZERO`] while
    /// it owes none. Cancellation never lowers it, so a cancelled backoff is still owed.
    pub(crate) not_before: Stamp,
    /// The current run's limit on its children's restarts (`Context::limit_restarts`);
    /// cleared by a restart.
    pub(crate) limit: Option<Window>,
    /// The policy of the node's group (`Group::strategy`, `Group::restart_limit`), shared by
    /// its members; `None` for the default policy.
    pub(crate) group: Option<Arc<GroupPolicy>>,
    /// Its place in its group, counting from 0 in the order the members were added.
    pub(crate) rank: u32,
    /// The go-ahead a restart waiting out its backoff waits for, when it counts against a
    /// limit: sent once the processor has counted it (`Msg::Due`).
    pub(crate) gate: Option<oneshot::Sender<crate::task::Go>>,
    /// The current restart was counted at its gate, not to be counted again when it starts.
    pub(crate) counted: bool,
    /// How long its run may take to return once told to stop (`Child::stop_timeout`); fixed
    /// for the node's life.
    pub(crate) stop: Option<StopTimeout>,
    /// In an ordered group: its current run exists but waits, with no task, for the members
    /// before it to be up.
    pub(crate) held: bool,
    /// It must stop, and will be told later: in an ordered group, once the members after it
    /// have stopped; under a parent with `defer_stop`, by that parent's run or once it has
    /// ended. Its run is not cancelled yet (the one exception to invariant 4).
    pub(crate) stop_pending: bool,
    /// The current run stops its children itself (`Context::defer_children_stop`): when it
    /// is told to stop, its children are marked `stop_pending` instead, and told once the run
    /// has ended. Cleared by a restart.
    pub(crate) defer_stop: bool,
    /// Stopped by order: once its run has ended it is Stopped, until started by order.
    pub(crate) stop_ordered: bool,
    /// Restarted by order: its cancellation is reported as a bounce.
    pub(crate) restart_ordered: bool,
    /// A significant child (`Child::significant`): its clean end may finish its parent.
    pub(crate) significant: bool,
    /// The current run ends when its significant children do (`Context::finish_with`);
    /// cleared by a restart.
    pub(crate) finish: Option<Significant>,
    /// The current run was told to finish: its return of `Ok` makes it Done (row 16).
    pub(crate) finishing: bool,
    /// Its `dn` label and handles in the metrics, once it has needed them; boxed, since
    /// nodes with extras that never restart or die need none.
    pub(crate) metrics: Option<Box<crate::metrics::NodeMetrics>>,
    /// Its own backoff (`Child::backoff`), instead of the supervisor's.
    pub(crate) backoff: Option<crate::Backoff>,
    /// Why it last died. Kept here, out of line, because most nodes never die (16 bytes per
    /// node otherwise), and a node that dies has extras anyway (its metrics).
    pub(crate) last_error: Option<Arc<str>>,
}

impl Node {
    pub(crate) fn dn(&self) -> &Dn {
        self.ctx.dn()
    }

    /// Whether the current run has been told to stop.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.ctx.is_cancelled()
    }

    /// Whether it was stopped by order (`Supervisor::stop_node`).
    pub(crate) fn is_stop_ordered(&self) -> bool {
        self.extras.as_ref().is_some_and(|e| e.stop_ordered)
    }

    /// Whether it is a member of an ordered group.
    pub(crate) fn is_ordered(&self) -> bool {
        self.extras
            .as_ref()
            .and_then(|e| e.group.as_ref())
            .is_some_and(|g| g.ordered)
    }

    /// Whether its current run stops its children itself.
    pub(crate) fn defers_stop(&self) -> bool {
        self.extras.as_ref().is_some_and(|e| e.defer_stop)
    }

    /// Whether its run waits for the members before it (ordered groups).
    pub(crate) fn is_held(&self) -> bool {
        self.extras.as_ref().is_some_and(|e| e.held)
    }

    /// Whether it waits to be told to stop: after the members after it (ordered groups), or
    /// by its parent's run (`defer_stop`).
    pub(crate) fn is_stop_pending(&self) -> bool {
        self.extras.as_ref().is_some_and(|e| e.stop_pending)
    }

    /// Up, for the members after it in an ordered group: Healthy or Done, and neither stopping
    /// nor about to (a member due to stop holds back the restart of those after it).
    pub(crate) fn is_up(&self) -> bool {
        matches!(self.state, NodeState::Healthy | NodeState::Done)
            && !self.is_cancelled()
            && !self.is_stop_pending()
    }

    /// Its group's strategy.
    pub(crate) fn strategy(&self) -> Strategy {
        self.extras
            .as_ref()
            .and_then(|e| e.group.as_ref())
            .map_or(Strategy::Staggered, |g| g.strategy)
    }

    /// Its place in its group.
    pub(crate) fn rank(&self) -> u32 {
        self.extras.as_ref().map_or(0, |e| e.rank)
    }

    /// How long its run may take to return once told to stop, if not for ever.
    pub(crate) fn stop_timeout(&self) -> Option<StopTimeout> {
        self.extras.as_ref().and_then(|e| e.stop)
    }

    /// Why it last died, if it ever did.
    pub(crate) fn last_error(&self) -> Option<&Arc<str>> {
        self.extras.as_ref().and_then(|e| e.last_error.as_ref())
    }

    /// Runs entered again after the first.
    pub(crate) fn restarts(&self) -> u32 {
        self.extras.as_ref().map_or(0, |e| e.restarts)
    }

    /// Deaths since the last Healthy or Done: the exponent of the next backoff.
    pub(crate) fn failures(&self) -> u32 {
        self.extras.as_ref().map_or(0, |e| e.failures)
    }

    /// The earliest moment it may start again ([`Stamp::ZERO`] while it owes no backoff).
    pub(crate) fn not_before(&self) -> Stamp {
        self.extras.as_ref().map_or(Stamp::ZERO, |e| e.not_before)
    }

    /// Healthy or Done: its deaths so far no longer count towards the next backoff.
    pub(crate) fn reset_failures(&mut self) {
        if let Some(extras) = &mut self.extras {
            extras.failures = 0;
        }
    }

    /// An order forgave what it owed: it may start at once.
    pub(crate) fn forgive_backoff(&mut self) {
        if let Some(extras) = &mut self.extras {
            extras.not_before = Stamp::ZERO;
        }
    }

    /// It owes a backoff until `until`, or until later if it owed one already.
    pub(crate) fn owe_backoff(&mut self, until: Stamp) {
        let extras = self.extras_mut();
        extras.not_before = extras.not_before.max(until);
    }

    /// The node's extras, made on first use.
    pub(crate) fn extras_mut(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Default::default)
    }

    /// Whether the GC must look at this node once its whole subtree has stopped: to restart it
    /// (row 10 of the state table), or to remove it, for a temporary node whose run has ended.
    pub(crate) fn awaits_gc(&self) -> bool {
        if self.is_held() {
            return false; // its new run is made already; it waits for its turn, not the GC
        }
        match self.state {
            NodeState::Dead | NodeState::Canceled => true,
            NodeState::Done => self.restart == Restart::Temporary,
            NodeState::New | NodeState::Healthy | NodeState::Stopped => false,
        }
    }

    /// Whether any node in this subtree has a task (invariant 5).
    pub(crate) fn subtree_active(&self) -> bool {
        self.has_task || self.active_children > 0
    }
}
/// The bytes of a node in the arena, the second largest cost of a node after its task:
/// `docs/benchmarks.md` cites it, and the build fails if it grows. What few nodes need lives
/// behind `extras` instead (so do the restart count, the failures and the backoff owed, which
/// only nodes that died or restarted need, and those have extras anyway); its moment is a
/// [`Stamp`], not an `Instant`.
pub(crate) const NODE_SIZE: usize = 72;

const _: () = assert!(std::mem::size_of::<Node>() <= NODE_SIZE);
