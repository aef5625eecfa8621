//! The arena that holds every node, and the bookkeeping that tells which subtrees have stopped.
//!
//! # Invariants
//!
//! Besides those of [`node`](crate::node):
//!
//! 1. `first_child`/`next_sibling` list a node's children in the order they were started.
//! 2. `active_children` (node invariant 5) is kept exact by [`Tree::task_started`] and
//!    [`Tree::task_ended`], which walk upwards only while a subtree flips between active and
//!    stopped. Starting a child under a running parent is O(1); a stop costs one step per
//!    ancestor whose subtree stops with it. Nothing here ever visits the whole tree.
//! 3. Only a fully stopped subtree is removed, so no removed node has a task.

use std::sync::Arc;

use slab::Slab;
use tokio::time::Instant;

use crate::link::SharedLink;
use crate::node::{Extras, Node, NodeId, Stamp};
use crate::{unwind, Context, Dn, NodeState, Restart, Runnable};

/// What a cancellation leaves for the processor to act on.
#[derive(Debug, Default)]
pub(crate) struct Cancelled {
    /// Newly told nodes with a task and a stop timeout.
    pub(crate) timed: Vec<NodeId>,
    /// Newly told nodes whose run was held (ordered groups): it will never begin.
    pub(crate) held: Vec<NodeId>,
}

pub(crate) struct Tree {
    nodes: Slab<Node>,
    root: NodeId,
    /// How many nodes have a task, for shutdown.
    tasks: usize,
    /// Given to the contexts the tree makes (the root's, and every restart's); it also keeps
    /// the tree's clock, the origin of its nodes' [`Stamp`]s.
    link: SharedLink,
}

impl Tree {
    /// `t` on this tree's clock.
    pub(crate) fn stamp(&self, t: Instant) -> Stamp {
        self.link.stamp(t)
    }

    /// A tree holding only the root, which has no task yet.
    pub(crate) fn new(root: Arc<dyn Runnable>, link: SharedLink, now: Instant) -> Self {
        let ctx = Context::new(Dn::root(), link.clone(), false);
        let mut tree = Tree {
            nodes: Slab::new(),
            root: NodeId::from_index(0),
            tasks: 0,
            link,
        };
        let born = tree.stamp(now);
        tree.root = tree.insert(None, ctx, root, Restart::Permanent, born);
        tree
    }

    /// Takes the tree out, leaving one with no nodes in its place.
    pub(crate) fn take(&mut self) -> Tree {
        let empty = Tree {
            nodes: Slab::new(),
            root: self.root,
            tasks: 0,
            link: self.link.clone(),
        };
        std::mem::replace(self, empty)
    }

    pub(crate) fn root(&self) -> NodeId {
        self.root
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// How many nodes have a task.
    pub(crate) fn tasks(&self) -> usize {
        self.tasks
    }

    pub(crate) fn get(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    pub(crate) fn get_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.index()]
    }

    /// The node called `dn` (`root.api.listener`), found by walking down from the root: costs
    /// the siblings along the path.
    pub(crate) fn find(&self, dn: &str) -> Option<NodeId> {
        let mut names = dn.split('.');
        if names.next()? != Dn::ROOT {
            return None;
        }
        names.try_fold(self.root, |id, name| {
            self.children(id).find(|&c| self.get(c).dn().name() == name)
        })
    }

    /// The node whose current run `ctx` is; `None` for a run that has been replaced (a stale
    /// message) or removed.
    pub(crate) fn node_of(&self, ctx: &Context) -> Option<NodeId> {
        let id = ctx.node()?;
        let node = self.nodes.get(id.index())?;
        node.ctx.same_run(ctx).then_some(id)
    }

    /// Gives `id`, whose subtree has fully stopped, a new run: its descendants are removed
    /// (each one is passed to `removed`) and its context is replaced; the new one is
    /// cancelled from birth if the parent is (node invariant 4).
    pub(crate) fn renew(&mut self, id: NodeId, removed: impl FnMut(&Node)) {
        self.remove_descendants(id, removed);
        let node = self.get(id);
        let cancelled = node.parent.is_some_and(|p| self.get(p).is_cancelled());
        let ctx = Context::new(node.dn().clone(), self.link.clone(), cancelled);
        ctx.register(id);
        let node = self.get_mut(id);
        node.ctx = ctx;
        // A new run sets its own limit on its (new) children.
        if let Some(extras) = node.extras.as_mut() {
            (extras.limit, extras.finish, extras.finishing) = (None, None, false);
            extras.defer_stop = false;
        }
    }

    /// Adds a node for the run `ctx`, with no task yet, as the last child of `parent`, in a
    /// group of its own. A child of a cancelled parent is cancelled (node invariant 4), unless
    /// the parent's run stops its children itself: then its stop is pending.
    pub(crate) fn insert(
        &mut self,
        parent: Option<NodeId>,
        ctx: Context,
        runnable: Arc<dyn Runnable>,
        restart: Restart,
        born: Stamp,
    ) -> NodeId {
        let id = NodeId::from_index(self.nodes.vacant_key());
        ctx.register(id);
        let cancelled_parent = parent.map(|p| self.get(p)).filter(|p| p.is_cancelled());
        let pending = cancelled_parent.is_some_and(|p| p.has_task && p.defers_stop());
        if cancelled_parent.is_some() && !pending {
            ctx.cancel();
        }
        let key = self.nodes.insert(Node {
            ctx,
            runnable,
            state: NodeState::New,
            restart,
            since: born,
            has_task: false,
            awaiting_backoff: false,
            active_children: 0,
            parent,
            first_child: None,
            last_child: None,
            next_sibling: None,
            next_in_group: id,
            extras: pending.then(|| {
                Box::new(Extras {
                    stop_pending: true,
                    ..Extras::default()
                })
            }),
        });
        debug_assert_eq!(key, id.index());
        if let Some(parent) = parent {
            match self.get(parent).last_child {
                Some(last) => self.get_mut(last).next_sibling = Some(id),
                None => self.get_mut(parent).first_child = Some(id),
            }
            self.get_mut(parent).last_child = Some(id);
        }
        id
    }

    /// Adds `id`, in a group of its own so far, to the group of `member`: a ring through
    /// `next_in_group`.
    pub(crate) fn join_group(&mut self, id: NodeId, member: NodeId) {
        debug_assert_eq!(self.get(id).next_in_group, id);
        let next = self.get(member).next_in_group;
        self.get_mut(member).next_in_group = id;
        self.get_mut(id).next_in_group = next;
    }

    /// The other members of `id`'s group.
    pub(crate) fn group_siblings(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let mut cur = self.get(id).next_in_group;
        std::iter::from_fn(move || {
            (cur != id).then(|| {
                let this = cur;
                cur = self.get(cur).next_in_group;
                this
            })
        })
    }

    pub(crate) fn children(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let mut next = self.get(id).first_child;
        std::iter::from_fn(move || {
            let this = next?;
            next = self.get(this).next_sibling;
            Some(this)
        })
    }

    /// `id` and its descendants, parents before children, siblings in start order.
    pub(crate) fn preorder(&self, id: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let mut stack = vec![id];
        std::iter::from_fn(move || {
            let this = stack.pop()?;
            let first = stack.len();
            stack.extend(self.children(this));
            stack[first..].reverse();
            Some(this)
        })
    }

    /// Records that a task now exists for `id`'s current run.
    pub(crate) fn task_started(&mut self, id: NodeId) {
        let node = self.get_mut(id);
        debug_assert!(!node.has_task, "at most one task per node");
        let was_active = node.subtree_active();
        node.has_task = true;
        self.tasks += 1;
        if !was_active {
            self.propagate_active(id);
        }
    }

    /// Records that `id`'s task has ended. Every node whose subtree stops with it and that
    /// awaits the GC is pushed to `candidates`, lowest first, for the GC to consider.
    pub(crate) fn task_ended(&mut self, id: NodeId, candidates: &mut Vec<NodeId>) {
        let node = self.get_mut(id);
        debug_assert!(node.has_task, "only a node with a task can stop");
        node.has_task = false;
        node.awaiting_backoff = false;
        self.tasks -= 1;
        let mut cur = id;
        loop {
            let node = self.get(cur);
            if node.subtree_active() {
                return;
            }
            // An ordered member's stop may let the member before it be told to stop.
            if node.awaits_gc() || node.is_ordered() {
                candidates.push(cur);
            }
            let Some(parent) = node.parent else { return };
            self.get_mut(parent).active_children -= 1;
            cur = parent;
        }
    }

    /// `id`'s subtree has just become active: count it in each ancestor that was not yet.
    fn propagate_active(&mut self, id: NodeId) {
        let mut cur = id;
        while let Some(parent) = self.get(cur).parent {
            let p = self.get_mut(parent);
            let was_active = p.subtree_active();
            p.active_children += 1;
            if was_active {
                return;
            }
            cur = parent;
        }
    }

    /// Tells `id` and everything below it to stop. Stops descending at nodes that were already
    /// told, whose subtrees were too (node invariant 4): the cost is what is newly cancelled.
    ///
    /// Members of an ordered group are not told at once: they are marked `stop_pending`, and
    /// only those that [`due_in_reverse`](Tree::due_in_reverse) allows are told now; the
    /// processor tells the others as the members after them stop. Nor are the children of a
    /// run that stops them itself (`defer_stop`): they too are marked, and told by that run or
    /// once it has ended ([`release_children`](Tree::release_children)). What the processor
    /// must act on is pushed to `out`.
    pub(crate) fn cancel_subtree(&mut self, id: NodeId, out: &mut Cancelled) {
        self.cancel_from(vec![id], out);
    }

    /// Tells the children of `id`, whose run stopped its children itself and has ended, to
    /// stop, with their subtrees: those its run did not stop.
    pub(crate) fn release_children(&mut self, id: NodeId, out: &mut Cancelled) {
        let mut stack = Vec::new();
        self.tell_children(id, &mut stack);
        self.cancel_from(stack, out);
    }

    fn cancel_from(&mut self, mut stack: Vec<NodeId>, out: &mut Cancelled) {
        while let Some(this) = stack.pop() {
            if !self.get(this).ctx.cancel() {
                continue;
            }
            let node = self.get_mut(this);
            if let Some(extras) = node.extras.as_mut() {
                extras.stop_pending = false;
            }
            if node.has_task && node.stop_timeout().is_some() {
                out.timed.push(this);
            }
            if node.is_held() {
                out.held.push(this);
            }
            if node.has_task && node.defers_stop() {
                // Its run stops them; the rest are told once it has ended.
                let children: Vec<NodeId> = self.children(this).collect();
                for child in children {
                    if !self.get(child).is_cancelled() {
                        self.get_mut(child).extras_mut().stop_pending = true;
                    }
                }
                continue;
            }
            self.tell_children(this, &mut stack);
        }
    }

    /// Pushes the children of `this` that may be told to stop now onto `stack`; an ordered
    /// group's members are marked `stop_pending`, and only the due ones pushed.
    fn tell_children(&mut self, this: NodeId, stack: &mut Vec<NodeId>) {
        let mut ordered = None;
        let children: Vec<NodeId> = self.children(this).collect();
        for child in children {
            if self.get(child).is_ordered() {
                self.get_mut(child).extras_mut().stop_pending = true;
                ordered.get_or_insert(Vec::new()).push(child);
            } else {
                stack.push(child);
            }
        }
        // One member per group is enough to find the group's next.
        for member in ordered.into_iter().flatten() {
            for due in self.due_in_reverse(member) {
                if !stack.contains(&due) {
                    stack.push(due);
                }
            }
        }
    }

    /// The members of `member`'s ordered group whose stop is pending and may be told now:
    /// from the last member down, each one whose later members have all stopped.
    pub(crate) fn due_in_reverse(&self, member: NodeId) -> Vec<NodeId> {
        let mut members: Vec<NodeId> = std::iter::once(member)
            .chain(self.group_siblings(member))
            .collect();
        members.sort_unstable_by_key(|&m| std::cmp::Reverse(self.get(m).rank()));
        let mut due = Vec::new();
        for m in members {
            let node = self.get(m);
            if node.is_stop_pending() {
                due.push(m);
            }
            if node.subtree_active() {
                break; // the members before it wait until it has stopped
            }
        }
        due
    }

    /// Removes `id`, whose subtree has fully stopped, with its descendants: from its parent's
    /// children and from its group. Each removed node is passed to `removed`, `id` last.
    /// Costs the node's earlier siblings and its group's size (child lists and groups are
    /// singly linked): a removal is the end of a temporary child, which is rare.
    pub(crate) fn remove(&mut self, id: NodeId, mut removed: impl FnMut(&Node)) {
        self.remove_descendants(id, &mut removed);
        let node = self.get(id);
        let (parent, next_sibling) = (
            node.parent.expect("the root is never removed"),
            node.next_sibling,
        );
        // Out of the parent's child list.
        if self.get(parent).first_child == Some(id) {
            self.get_mut(parent).first_child = next_sibling;
        } else {
            let before = self
                .children(parent)
                .find(|&c| self.get(c).next_sibling == Some(id))
                .expect("a child is in its parent's list");
            self.get_mut(before).next_sibling = next_sibling;
        }
        if self.get(parent).last_child == Some(id) {
            let last = self.children(parent).last();
            self.get_mut(parent).last_child = last;
        }
        // Out of its group's ring.
        let next_in_group = self.get(id).next_in_group;
        if next_in_group != id {
            let before = self
                .group_siblings(id)
                .find(|&m| self.get(m).next_in_group == id)
                .expect("a group is a ring");
            self.get_mut(before).next_in_group = next_in_group;
        }
        let node = self.nodes.remove(id.index());
        debug_assert!(!node.subtree_active());
        removed(&node);
        drop_node(node);
    }

    /// Removes every descendant of `id`, whose subtree has fully stopped (invariant 3).
    fn remove_descendants(&mut self, id: NodeId, mut removed: impl FnMut(&Node)) {
        debug_assert!(!self.get(id).subtree_active());
        let mut stack: Vec<NodeId> = self.children(id).collect();
        while let Some(this) = stack.pop() {
            stack.extend(self.children(this));
            let node = self.nodes.remove(this.index());
            debug_assert!(!node.has_task);
            removed(&node);
            drop_node(node);
        }
        let node = self.get_mut(id);
        node.first_child = None;
        node.last_child = None;
    }
}

/// For a member of an ordered group: the first member before it that is not up (Healthy or
/// Done, and not stopping), which its run waits for.
pub(crate) fn waits_for_its_turn(tree: &Tree, id: NodeId) -> Option<NodeId> {
    let node = tree.get(id);
    if !node.is_ordered() {
        return None;
    }
    let rank = node.rank();
    let mut before: Vec<NodeId> = tree
        .group_siblings(id)
        .filter(|&m| tree.get(m).rank() < rank)
        .collect();
    before.sort_unstable_by_key(|&m| tree.get(m).rank());
    before.into_iter().find(|&m| !tree.get(m).is_up())
}

/// Drops a removed node. Its runnable is user code, whose `Drop` may panic: that is logged,
/// and must not unwind into the processor.
fn drop_node(node: Node) {
    let dn = node.dn().clone();
    if let Err(message) = unwind::drop_guarded(node) {
        tracing::error!(%dn, panic = %message, "a runnable panicked while being dropped");
    }
}

impl Drop for Tree {
    /// The last tree (kept for `Supervisor::status` after the end) is dropped by whoever drops
    /// the handle last; the runnables' drops must not panic there either.
    fn drop(&mut self) {
        for node in self.nodes.drain() {
            drop_node(node);
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tree built by hand, for the pure tests of this module and of the GC.
    pub(crate) fn tree_with_root() -> Tree {
        // Nothing listens and nothing is spawned: the runtime only has to exist.
        static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
        let runtime = RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a runtime for the tree tests")
        });
        let (tx, _) = tokio::sync::mpsc::unbounded_channel();
        let link = crate::link::Link::new(tx, runtime.handle().clone(), Default::default());
        Tree::new(idle(), link, Instant::now())
    }

    fn idle() -> Arc<dyn Runnable> {
        Arc::new(|_ctx: crate::Context| async { Ok(()) })
    }

    pub(crate) fn add(tree: &mut Tree, parent: NodeId, name: &str) -> NodeId {
        let name = crate::Name::new(name.to_owned()).expect("a valid test name");
        let dn = tree.get(parent).dn().child(name);
        let ctx = Context::new(dn, tree.link.clone(), false);
        let id = tree.insert(
            Some(parent),
            ctx,
            idle(),
            Restart::Permanent,
            tree.stamp(Instant::now()),
        );
        tree.task_started(id);
        id
    }

    #[test]
    fn stop_flips_only_the_stopped_part() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let a = add(&mut tree, root, "a");
        let b = add(&mut tree, root, "b");
        let a1 = add(&mut tree, a, "a1");
        assert_eq!(tree.get(root).active_children, 2);
        assert_eq!(tree.get(a).active_children, 1);

        let mut stopped = Vec::new();
        tree.get_mut(a).state = NodeState::Dead;
        tree.task_ended(a, &mut stopped);
        assert!(
            stopped.is_empty(),
            "a1 still runs, so a's subtree has not stopped"
        );
        assert_eq!(tree.get(root).active_children, 2);

        tree.get_mut(a1).state = NodeState::Canceled;
        tree.task_ended(a1, &mut stopped);
        assert_eq!(stopped, vec![a1, a], "both flipped, lowest first");
        assert_eq!(tree.get(root).active_children, 1);
        assert_eq!(tree.tasks(), 2, "root and b");

        let mut removed = Vec::new();
        tree.renew(a, |n| removed.push(n.state));
        assert_eq!(removed, [NodeState::Canceled]);
        assert_eq!(tree.children(a).count(), 0);
        assert_eq!(tree.children(root).collect::<Vec<_>>(), vec![a, b]);
        tree.task_started(a);
        assert_eq!(tree.get(root).active_children, 2);
    }

    #[test]
    fn groups_are_rings() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let ids: Vec<_> = ["x", "y", "z"]
            .iter()
            .map(|n| add(&mut tree, root, n))
            .collect();
        tree.join_group(ids[1], ids[0]);
        tree.join_group(ids[2], ids[0]);
        let lone = add(&mut tree, root, "lone");
        let mut siblings: Vec<_> = tree.group_siblings(ids[1]).collect();
        siblings.sort_by_key(|id| id.index());
        assert_eq!(siblings, vec![ids[0], ids[2]]);
        assert_eq!(tree.group_siblings(lone).count(), 0);
        let order: Vec<_> = tree
            .preorder(root)
            .map(|id| tree.get(id).dn().to_string())
            .collect();
        assert_eq!(order, ["root", "root.x", "root.y", "root.z", "root.lone"]);
    }
}

#[cfg(test)]
mod remove_tests {
    use super::tests::{add, tree_with_root};
    use super::*;

    #[test]
    fn removal_unlinks_from_the_child_list_and_the_group_ring() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let ids: Vec<NodeId> = ["a", "b", "c", "d"]
            .iter()
            .map(|n| add(&mut tree, root, n))
            .collect();
        for &id in &ids[1..] {
            tree.join_group(id, ids[0]);
        }
        let b1 = add(&mut tree, ids[1], "b1");
        let names = |tree: &Tree| -> Vec<String> {
            tree.children(tree.root())
                .map(|c| tree.get(c).dn().name().to_owned())
                .collect()
        };
        let mut gone = Vec::new();
        for (id, expected) in [
            (ids[1], vec!["a", "c", "d"]),
            (ids[3], vec!["a", "c"]),
            (ids[0], vec!["c"]),
        ] {
            for n in tree.preorder(id).collect::<Vec<_>>().into_iter().rev() {
                tree.task_ended(n, &mut Vec::new());
            }
            tree.remove(id, |n| gone.push(n.dn().to_string()));
            assert_eq!(names(&tree), expected);
        }
        assert_eq!(gone, ["root.b.b1", "root.b", "root.d", "root.a"]);
        assert!(!tree.nodes.contains(b1.index()));
        assert_eq!(tree.group_siblings(ids[2]).count(), 0, "alone in its ring");
        assert_eq!(tree.get(root).last_child, Some(ids[2]));
        assert_eq!(tree.get(root).active_children, 1);
    }
}

#[cfg(test)]
mod cancel_tests {
    use super::tests::{add, tree_with_root};

    #[test]
    fn cancellation_reaches_the_subtree_and_is_inherited_by_new_children() {
        let mut tree = tree_with_root();
        let root = tree.root();
        tree.task_started(root);
        let a = add(&mut tree, root, "a");
        let a1 = add(&mut tree, a, "a1");
        let b = add(&mut tree, root, "b");
        tree.cancel_subtree(a, &mut super::Cancelled::default());
        assert!(tree.get(a).is_cancelled() && tree.get(a1).is_cancelled());
        assert!(!tree.get(b).is_cancelled() && !tree.get(root).is_cancelled());
        let a2 = add(&mut tree, a, "a2");
        assert!(
            tree.get(a2).is_cancelled(),
            "born cancelled under a cancelled parent"
        );
    }
}
