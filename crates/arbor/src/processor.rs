//! The one task that owns the tree.
//!
//! Every change reaches it as a [`Msg`]. After each batch of messages it asks the
//! [GC](crate::gc) which of the subtrees that stopped to restart. It sleeps on its channel
//! while nothing happens: an idle tree costs no CPU and arms no timer (the only timers are
//! backoff sleeps of dead nodes, and the shutdown deadline).
//!
//! # The state table, row by row
//!
//! Each row of the [state table](crate::NodeState#state-table) is made by one handler here,
//! whose doc starts with its row:
//!
//! | row | handler |
//! |---|---|
//! | 1 | [`on_add_children`](Processor::on_add_children) (the root: [`run`](Processor::run)) |
//! | 2 | [`on_became_healthy`](Processor::on_became_healthy) |
//! | 3, 4, 7 | [`on_returned`](Processor::on_returned), one arm each; 7 for a bounce: [`on_bounced`](Processor::on_bounced) |
//! | 5 | [`on_misused`](Processor::on_misused) |
//! | 6 | [`on_panicked`](Processor::on_panicked) |
//! | 8 | [`cancel_group_of`](Processor::cancel_group_of) |
//! | 9 | [`on_not_started`](Processor::on_not_started) |
//! | 10 | [`restart`](Processor::restart), then [`on_due`](Processor::on_due) and [`on_started`](Processor::on_started) after a backoff |
//! | 11 | [`abort`](Processor::abort) (a stop timeout), then [`on_aborted`](Processor::on_aborted); [`abort_stuck`](Processor::abort_stuck) (the shutdown deadline) |
//! | 12 | [`restart`](Processor::restart) (the parent's), [`remove`](Processor::remove) (a temporary child) |
//!
//! | 13 | [`escalates`](Processor::escalates), from [`restart`](Processor::restart) or [`on_due`](Processor::on_due); a limit that waits holds the restart instead ([`held_by_limit`](Processor::held_by_limit)) |
//! | 14 | [`stop_by_order`](Processor::stop_by_order), and [`on_exited`](Processor::on_exited) for a run that returns after it |
//! | 15 | [`start_by_order`](Processor::start_by_order) |
//! | 16 | [`significant_done`](Processor::significant_done), then [`on_returned`](Processor::on_returned) |
//!
//! Rows 4–6 and 13 share [`die`](Processor::die), which does what every death does.
//!
//! # Invariants
//!
//! 1. Nothing else mutates the tree; runnables only send messages.
//! 2. A message about a run other than the node's current one is dropped (node invariant 2).
//! 3. Every death cancels the dead node's subtree (so its children stop) and its group
//!    siblings' subtrees.
//! 4. **No restart comes sooner than the death that caused it allows.** A death draws its
//!    backoff at once and raises the `not_before` of the dead node and of every member of its
//!    group to the end of it; a restart, whatever the restarted node's state, waits until its
//!    own `not_before`; nothing ever lowers it. A node is restarted only because it died, a
//!    member of its group died (both covered), or an ancestor died (then the ancestor restarts,
//!    after its own backoff, and creates it anew). So members that keep failing each other back
//!    off together and can never take turns restarting in a tight loop.
//! 5. **A storm under one parent does not hold up the rest of the tree.** While the processor
//!    keeps up, it handles messages as they come. Once a batch shows a backlog, each node's
//!    news waits in its parent's queue, and the queues take turns ([`lanes`](crate::lanes)),
//!    as OTP's supervisors, each a process, take turns on its schedulers. Each run's news, and
//!    each group's, keeps its order.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::builder::Config;
use crate::events::{Publisher, Subscription};
use crate::handoff::Handoff;
use crate::lanes::Backlog;
use crate::limit::Window;
use crate::link::SharedLink;
use crate::message::{Msg, Order, Outcome};
use crate::metrics::Metrics;
use crate::node::{NodeId, Stamp};
use crate::task::Go;
use crate::tree::{waits_for_its_turn, Cancelled, Tree};
use crate::{
    clock, gc, task, Context, Error, Event, Group, NodeState, PanicReport, Restart, ShutdownReport,
    Significant, StateCounts, StopTimeout, Strategy, TreeStatus,
};

/// How many queued messages are handled before the GC runs. Batching makes start-up of big
/// trees cheap; the bound keeps a flood from delaying restarts.
const BATCH: usize = 1024;

/// A batch at least this big is part of a burst, after which the processor yields.
const BURST: usize = 16;

/// A batch this big means a backlog: from then on, until it is gone, news waits in the queue
/// of its node's parent and the queues take turns (invariant 5). The workspace's tests (the
/// `invariants` feature) take that path from two messages on, so that their small trees go
/// through it as often as through the other.
const BACKLOG: usize = if cfg!(feature = "invariants") { 2 } else { 256 };

/// How many of a batch's messages [`Processor::one_parent_floods`] looks at.
const FLOOD_SAMPLE: usize = 64;

/// How many of a backlog's messages are handled before the GC runs: few, since the restarts
/// of a batch wait for its end. Side by side in a storm of 100,000 leaves, 64 against 256 gave
/// the unrelated group a p99 of 0.30 against 0.75 ms, for a storm 16 % longer.
const FAIR_BATCH: usize = if cfg!(feature = "invariants") { 4 } else { 64 };

pub(crate) struct Processor {
    /// Holds a sender for every run's context, so `rx` never sees the channel close.
    tree: Tree,
    rx: mpsc::UnboundedReceiver<Msg>,
    /// A backlog's news, by parent (invariant 5).
    backlog: Backlog<Msg>,
    /// Runs with a message waiting in the backlog as a barrier (their node was not in the tree
    /// when it came), by [`Context::run_key`], with how many: the rest of their news waits as
    /// barriers too, behind it, so that a run's news keeps its order.
    unplaced: HashMap<usize, u32>,
    /// The lanes of a batch's sample, for [`one_parent_floods`](Self::one_parent_floods);
    /// kept for its room.
    lanes_seen: Vec<u32>,
    config: Config,
    /// How many nodes are in each state, for `Supervisor::counts`.
    counts: StateCounts,
    events: Publisher,
    /// Nodes whose subtree stopped since the last GC pass and that want a restart.
    restart_candidates: Vec<NodeId>,
    shutdown: Option<Shutdown>,
    panic: Option<PanicReport>,
    rng: fastrand::Rng,
    /// The time of the batch being handled: one clock read per batch, not per message.
    now: Instant,
    /// `now` on the tree's clock, computed once with it: most messages stamp a node.
    now_stamp: Stamp,
    handoff: Arc<Handoff>,
    metrics: Metrics,
    /// The report has been handed over (`finish`).
    finished: bool,
}

/// The run a message is news of, if it is.
fn run_of(msg: &Msg) -> Option<&Context> {
    match msg {
        Msg::AddChildren { parent: ctx, .. }
        | Msg::FinishWith { ctx, .. }
        | Msg::LimitRestarts { ctx, .. }
        | Msg::DeferChildrenStop { ctx }
        | Msg::BecameHealthy { ctx }
        | Msg::Misused { ctx, .. }
        | Msg::Due { ctx }
        | Msg::Started { ctx, .. }
        | Msg::Exited { ctx, .. }
        | Msg::StopTimedOut { ctx } => Some(ctx),
        Msg::Order { .. }
        | Msg::ReportCounts { .. }
        | Msg::ReportStatus { .. }
        | Msg::Subscribe { .. }
        | Msg::Shutdown => None,
    }
}

/// Where a message of a backlog waits (invariant 5).
enum Lane {
    /// In the queue of this parent (raw node id).
    Queue(u32),
    /// Behind everything that came before it.
    Barrier,
    /// Nowhere: it is about a run that is not current.
    Stale,
}

/// What a transition's event says besides the states.
enum Detail {
    None,
    /// Why the node died, or was aborted.
    Error(Arc<str>),
    /// Why the run bounced.
    Bounce(Arc<str>),
    /// How long a restart waited.
    Delay(Duration),
}

struct Shutdown {
    began: Instant,
    deadline: Instant,
    /// `deadline` on the tree's clock, to compare with an exit's `at`.
    deadline_stamp: Stamp,
    /// Nodes whose runs returned, but only after the deadline: a runnable that blocked its
    /// thread (and so the timer) past it. They count as stuck.
    late: Vec<crate::Dn>,
}

impl Processor {
    pub(crate) fn new(
        root: Arc<dyn crate::Runnable>,
        config: Config,
        link: SharedLink,
        rx: mpsc::UnboundedReceiver<Msg>,
        events: Publisher,
        handoff: Arc<Handoff>,
    ) -> Self {
        let now = Instant::now();
        let mut counts = StateCounts::default();
        counts.count(None, NodeState::New);
        let mut metrics = Metrics::new(config.metric_dns);
        metrics.transition(None, NodeState::New);
        let tree = Tree::new(root, link, now);
        Processor {
            now_stamp: tree.stamp(now),
            tree,
            rx,
            backlog: Backlog::default(),
            unplaced: HashMap::new(),
            lanes_seen: Vec::new(),
            config,
            counts,
            events,
            restart_candidates: Vec::new(),
            shutdown: None,
            panic: None,
            rng: fastrand::Rng::new(),
            now,
            handoff,
            metrics,
            finished: false,
        }
    }

    /// Reads the clock, for the batch about to be handled.
    fn tick(&mut self) {
        self.now = Instant::now();
        self.now_stamp = self.tree.stamp(self.now);
    }

    /// Row 1 for the root, which the tree already holds; then the loop, until shutdown ends.
    pub(crate) async fn run(mut self) {
        let root = self.tree.root();
        self.launch(root, Duration::ZERO);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let mut handled = 0;
            if self.backlog.is_empty() {
                let received = match self.shutdown.as_ref().map(|s| s.deadline) {
                    None => self.rx.recv_many(&mut batch, BATCH).await,
                    Some(deadline) => tokio::select! {
                        // Exits already queued are handled before the deadline is looked at.
                        biased;
                        n = self.rx.recv_many(&mut batch, BATCH) => n,
                        () = tokio::time::sleep_until(deadline) => {
                            let stuck = self.abort_stuck();
                            return self.finish(stuck, false);
                        }
                    },
                };
                if received == 0 {
                    break; // unreachable while the tree holds a sender, but ending is the right answer
                }
                self.tick();
                if received >= BACKLOG && self.one_parent_floods(&batch) {
                    for msg in batch.drain(..) {
                        self.take(msg);
                    }
                } else {
                    for msg in batch.drain(..) {
                        self.handle(msg);
                    }
                    handled = received;
                }
            } else {
                self.tick();
                if self
                    .shutdown
                    .as_ref()
                    .is_some_and(|s| self.now >= s.deadline)
                {
                    let stuck = self.abort_stuck();
                    return self.finish(stuck, false);
                }
            }
            if !self.backlog.is_empty() {
                // What came meanwhile joins the queues first, so that it has its turn in this
                // pass: a failure elsewhere waits for one turn of each busy parent, no more.
                while !self.rx.is_empty() {
                    self.rx.recv_many(&mut batch, BATCH).await;
                    for msg in batch.drain(..) {
                        self.take(msg);
                    }
                }
                while handled < FAIR_BATCH {
                    let Some(msg) = self.backlog.pop() else {
                        break;
                    };
                    self.serve(msg);
                    handled += 1;
                }
            }
            self.restart_stopped();
            self.metrics
                .flush(&self.counts, self.rx.len() + self.backlog.len(), self.now);
            #[cfg(feature = "invariants")]
            crate::invariants::check(&self.tree, &self.counts, self.shutdown.is_some());
            if self.shutdown.is_some() && self.tree.tasks() == 0 {
                break;
            }
            // In a burst (a big tree starting or stopping, a storm), let the tasks just woken
            // run before looking for more messages: theirs then arrive as one batch instead of
            // waking this task one at a time. A small batch is latency-bound (a restart): on
            // tokio's multi-thread runtime a yield costs a poll of the I/O driver, so skip it.
            if handled >= BURST {
                tokio::task::yield_now().await;
            }
        }
        let late = self
            .shutdown
            .as_mut()
            .map(|s| std::mem::take(&mut s.late))
            .unwrap_or_default();
        self.finish(late, false);
    }

    /// A message of a backlog (invariant 5). A run's messages (its news, settings and
    /// children) wait in its parent's queue, in the order it sent them. Two kinds wait for
    /// everything that came before them: anything not from a run (a snapshot, an order), and
    /// the messages of a run whose node is not in the tree yet (its parent's message adding it
    /// still waits in a queue), with the rest of that run's news behind them. A message of a
    /// run that is not current is handled at once (dropped, or its children stopped), as it
    /// would have been.
    fn take(&mut self, msg: Msg) {
        match self.lane_of(&msg) {
            Lane::Queue(lane) => self.backlog.push_news(lane, msg),
            Lane::Stale => self.handle(msg),
            Lane::Barrier => {
                let run = run_of(&msg).map(Context::run_key);
                match self.backlog.push_barrier(msg) {
                    Some(msg) => self.handle(msg),
                    None => {
                        if let Some(run) = run {
                            *self.unplaced.entry(run).or_default() += 1;
                        }
                    }
                }
            }
        }
    }

    /// Handles a message that waited in the backlog.
    fn serve(&mut self, msg: Msg) {
        if !self.unplaced.is_empty() {
            if let Some(run) = run_of(&msg).map(Context::run_key) {
                if let Entry::Occupied(mut waiting) = self.unplaced.entry(run) {
                    *waiting.get_mut() -= 1;
                    if *waiting.get() == 0 {
                        waiting.remove();
                    }
                }
            }
        }
        self.handle(msg);
    }

    /// Where a message of a backlog waits.
    fn lane_of(&self, msg: &Msg) -> Lane {
        let Some(ctx) = run_of(msg) else {
            return Lane::Barrier;
        };
        if ctx.node().is_none() {
            return Lane::Barrier; // added by a message still queued
        }
        if !self.unplaced.is_empty() && self.unplaced.contains_key(&ctx.run_key()) {
            return Lane::Barrier; // behind its earlier news
        }
        match self.tree.node_of(ctx) {
            Some(id) => Lane::Queue(self.tree.get(id).parent.unwrap_or(id).raw()),
            None => Lane::Stale,
        }
    }

    /// Whether a quarter or more of `batch` is news of one parent's children: a storm, which
    /// turns on the parents' queues (invariant 5). A big tree starting has a backlog too, of
    /// news spread over many parents: served as it comes, it keeps the order in which its
    /// tasks were spawned, which is the fastest.
    ///
    /// Finding a message's lane means a look into its context and its node, which at a big
    /// tree's start-up (a full batch every time, and no storm) cost more than the counting.
    /// So the lanes are those of an even sample of [`FLOOD_SAMPLE`] messages from all over
    /// the batch: a parent with a quarter of the batch, in one stretch or spread out, has
    /// about a quarter of the sample. A storm the sample misses is found in the next batch.
    fn one_parent_floods(&mut self, batch: &[Msg]) -> bool {
        let step = (batch.len() / FLOOD_SAMPLE).max(1);
        let sampled = batch.len().div_ceil(step);
        let mut lanes = std::mem::take(&mut self.lanes_seen);
        lanes.clear();
        lanes.extend(
            batch
                .iter()
                .step_by(step)
                .filter_map(|msg| match self.lane_of(msg) {
                    Lane::Queue(lane) => Some(lane),
                    Lane::Stale | Lane::Barrier => None,
                }),
        );
        let floods = crate::lanes::has_heavy(lanes.iter().copied(), |lane| {
            lanes.iter().filter(|&&l| l == lane).count() * 4 >= sampled
        });
        self.lanes_seen = lanes;
        floods
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::AddChildren { parent, group } => self.on_add_children(&parent, group),
            Msg::BecameHealthy { ctx } => {
                if let Some(id) = self.tree.node_of(&ctx) {
                    self.on_became_healthy(id);
                }
            }
            Msg::FinishWith { ctx, mode } => {
                if let Some(id) = self.tree.node_of(&ctx) {
                    self.tree.get_mut(id).extras_mut().finish = Some(mode);
                }
            }
            Msg::LimitRestarts { ctx, limit } => {
                if let Some(id) = self.tree.node_of(&ctx) {
                    self.tree.get_mut(id).extras_mut().limit = Some(Window::new(limit));
                }
            }
            Msg::DeferChildrenStop { ctx } => {
                if let Some(id) = self.tree.node_of(&ctx) {
                    self.tree.get_mut(id).extras_mut().defer_stop = true;
                }
            }
            Msg::Misused { ctx, error } => {
                if let Some(id) = self.tree.node_of(&ctx) {
                    self.on_misused(id, error);
                }
            }
            Msg::StopTimedOut { ctx } => {
                if let Some(id) = self.tree.node_of(&ctx) {
                    self.abort(id);
                }
            }
            Msg::Due { ctx } => {
                if let Some(id) = self.tree.node_of(&ctx) {
                    self.on_due(id);
                }
            }
            Msg::Started { ctx, delay } => {
                if let Some(id) = self.tree.node_of(&ctx) {
                    self.on_started(id, delay);
                }
            }
            Msg::Exited { ctx, outcome, at } => {
                if let Some(id) = self.tree.node_of(&ctx) {
                    self.note_late_exit(id, at);
                    self.on_exited(id, outcome);
                }
            }
            Msg::Order {
                dn,
                parent,
                order,
                reply,
            } => {
                let _ = reply.send(self.on_order(&dn, parent.as_ref(), order));
            }
            Msg::ReportStatus { reply } => {
                let _ = reply.send(TreeStatus::of(&self.tree, self.now));
            }
            Msg::ReportCounts { reply } => {
                let _ = reply.send(self.counts);
            }
            Msg::Subscribe { reply, only } => self.on_subscribe(reply, only.as_deref()),
            Msg::Shutdown => self.begin_shutdown(),
        }
    }

    /// Row 1: `Context::run_group`'s children, whose tasks their parent is spawning, are New,
    /// in one group.
    fn on_add_children(&mut self, parent: &Context, group: Group) {
        let Some(parent) = self.tree.node_of(parent) else {
            // Unreachable: a run is current until its Exited, which comes after its AddChildren. If
            // it ever happened, stop the children: nobody else would.
            for member in &group.members {
                member.ctx.as_ref().map(Context::cancel);
            }
            let _ = crate::unwind::drop_guarded(group);
            return;
        };
        let mut first: Option<NodeId> = None;
        let policy = group.policy().map(Arc::new);
        for (rank, member) in group.members.into_iter().enumerate() {
            let ctx = member
                .ctx
                .expect("the context makes a run for every member it sends");
            let rare = member.rare;
            let id = self.tree.insert(
                Some(parent),
                ctx,
                member.runnable,
                member.restart,
                self.now_stamp,
            );
            let held = policy.as_ref().is_some_and(|p| p.ordered) && rank > 0;
            if !held {
                self.tree.task_started(id); // its parent is spawning its task
            }
            if let Some(policy) = &policy {
                let extras = self.tree.get_mut(id).extras_mut();
                extras.group = Some(policy.clone());
                extras.rank = u32::try_from(rank).unwrap_or(u32::MAX);
                extras.held = held;
            }
            if let Some(backoff) = rare.as_ref().and_then(|r| r.backoff) {
                self.tree.get_mut(id).extras_mut().backoff = Some(backoff);
            }
            if member.significant {
                self.tree.get_mut(id).extras_mut().significant = true;
            }

            let stop = rare.as_ref().map_or(StopTimeout::Never, |r| r.stop);
            if stop != StopTimeout::Never {
                self.tree.get_mut(id).extras_mut().stop = Some(stop);
                if self.tree.get(id).is_cancelled() {
                    self.start_stop_timeout(id); // born under a cancelled parent
                }
            }
            self.counts.count(None, NodeState::New);
            self.metrics.transition(None, NodeState::New);
            self.emit(id, None, Detail::None);
            match first {
                None => first = Some(id),
                Some(first) => self.tree.join_group(id, first),
            }
        }
    }

    /// Row 2: New → Healthy, which resets the backoff (unless it waits for `reset_after`).
    fn on_became_healthy(&mut self, id: NodeId) {
        if self.tree.get(id).state != NodeState::New {
            return;
        }
        if self.backoff_of(id).resets_on_healthy() {
            self.tree.get_mut(id).reset_failures();
        }
        self.set_state(id, NodeState::Healthy, Detail::None);
    }

    /// The backoff of `id`: its own (`Child::backoff`), else the supervisor's.
    fn backoff_of(&self, id: NodeId) -> crate::Backoff {
        self.tree
            .get(id)
            .extras
            .as_ref()
            .and_then(|e| e.backoff)
            .unwrap_or(self.config.backoff)
    }

    /// Row 5: an illegal signal. The node is Dead now, though its runnable has yet to return.
    fn on_misused(&mut self, id: NodeId, error: String) {
        match self.tree.get(id).state {
            NodeState::New | NodeState::Healthy => self.die(id, error),
            NodeState::Done | NodeState::Dead | NodeState::Canceled | NodeState::Stopped => {}
        }
    }

    /// A restart waited out its backoff: Dead → New.
    fn on_started(&mut self, id: NodeId, delay: Duration) {
        if !self.tree.get(id).awaiting_backoff {
            return;
        }
        let node = self.tree.get_mut(id);
        node.awaiting_backoff = false;
        let counted = node
            .extras
            .as_mut()
            .is_some_and(|e| std::mem::take(&mut e.counted));
        if !counted {
            // Scheduled before a limit was set, so not gated: the runnable is entered already,
            // and if this restart was one too many, its parent's death cancels it.
            self.escalates(id);
        }
        self.entered_new(id, delay);
    }

    /// Row 10 or 13, at the gate of a restart that waited out its backoff: counted now, it
    /// goes ahead, or its parent gives up (whose death cancels it before it ran).
    fn on_due(&mut self, id: NodeId) {
        if let Some(wait) = self.held_by_limit(id) {
            let (tx, rx) = oneshot::channel();
            if let Some(extras) = self.tree.get_mut(id).extras.as_mut() {
                if let Some(gate) = extras.gate.replace(tx) {
                    let _ = gate.send(Go::After(wait, rx));
                }
            }
            return;
        }
        if self.escalates(id) {
            return;
        }
        if let Some(extras) = self.tree.get_mut(id).extras.as_mut() {
            extras.counted = true;
            if let Some(gate) = extras.gate.take() {
                let _ = gate.send(Go::Now);
            }
        }
    }

    /// Whether a restart of `id` counts against a restart limit: it failed, and its group or
    /// its parent has one.
    fn counts_against_limit(&self, id: NodeId) -> bool {
        let node = self.tree.get(id);
        if node.state != NodeState::Dead {
            return false;
        }
        let group = node
            .extras
            .as_ref()
            .and_then(|e| e.group.as_ref())
            .is_some_and(|g| g.limit.is_some());
        let parent = node.parent.is_some_and(|p| {
            let parent = self.tree.get(p);
            parent.extras.as_ref().is_some_and(|e| e.limit.is_some())
        });
        group || parent
    }

    /// Row 13: counts the restart of `id`, if it had failed, against its group's limit or its
    /// parent's; if that is one too many, the parent dies. True if it did.
    fn escalates(&mut self, id: NodeId) -> bool {
        let now = self.now;
        let exceeded = self
            .with_limit(id, false, |w| {
                w.exceeded_by(now).map(|count| (count, w.limit()))
            })
            .flatten();
        let Some((count, limit)) = exceeded else {
            return false;
        };
        let parent = self
            .tree
            .get(id)
            .parent
            .expect("a limited node has a parent");
        match self.tree.get(parent).state {
            NodeState::New | NodeState::Healthy | NodeState::Done => {}
            // Going down already.
            NodeState::Dead | NodeState::Canceled | NodeState::Stopped => return false,
        }
        let error = format!(
            "restart limit exceeded: {} restarted {count} times within {:?} (at most {})",
            self.tree.get(id).dn(),
            limit.period(),
            limit.max()
        );
        self.die(parent, error);
        // A Done parent whose children have all stopped has nothing left to report its end.
        if !self.tree.get(parent).subtree_active() {
            self.restart_candidates.push(parent);
        }
        true
    }

    /// For a restart of `id` that counts against a limit that waits
    /// ([`RestartLimit::or_wait`](crate::RestartLimit::or_wait)): how long it must wait first,
    /// or `None` if it may go now (and is counted).
    fn held_by_limit(&mut self, id: NodeId) -> Option<Duration> {
        let now = self.now;
        let held = self.with_limit(id, true, |w| w.wait_for(now)).flatten()?;
        tracing::info!(dn = %self.tree.get(id).dn(), wait = ?held, "restart held by its restart limit");
        Some(held)
    }

    /// Applies `f` to the window that a restart of `id`, which failed, counts against: its
    /// group's, else its parent's; only if that limit waits (`waits`) or does not (`!waits`).
    fn with_limit<R>(
        &mut self,
        id: NodeId,
        waits: bool,
        f: impl FnOnce(&mut Window) -> R,
    ) -> Option<R> {
        let node = self.tree.get(id);
        let (Some(parent), NodeState::Dead) = (node.parent, node.state) else {
            return None;
        };
        let group_limit = node
            .extras
            .as_ref()
            .and_then(|e| e.group.as_ref())
            .and_then(|g| g.limit.as_ref());
        match group_limit {
            Some(window) => {
                let mut window = window.lock();
                (window.limit().waits() == waits).then(|| f(&mut window))
            }
            None => self
                .tree
                .get_mut(parent)
                .extras
                .as_mut()
                .and_then(|e| e.limit.as_mut())
                .filter(|w| w.limit().waits() == waits)
                .map(f),
        }
    }

    /// A run's task ended: the runnable returned, panicked, or never ran. Which row applies
    /// depends on how, and on what the run had signalled.
    fn on_exited(&mut self, id: NodeId, outcome: Outcome) {
        if !self.tree.get(id).has_task {
            return;
        }
        match outcome {
            Outcome::Returned {
                error,
                done_signalled,
                misused,
            } => self.on_returned(id, error.map(String::from), done_signalled, misused),
            Outcome::Bounced { reason } => self.on_bounced(id, reason.into()),
            Outcome::Panicked { message } => self.on_panicked(id, message.into()),
            Outcome::NotStarted => self.on_not_started(id),
            Outcome::Aborted => self.on_aborted(id),
        }
        if self.tree.get(id).defers_stop() && self.tree.get(id).is_cancelled() {
            // The run that was to stop its children has ended: the rest are told now.
            let mut cancelled = Cancelled::default();
            self.tree.release_children(id, &mut cancelled);
            self.act_on(cancelled);
        }
        if self.tree.get(id).is_stop_ordered() && self.tree.get(id).state != NodeState::Stopped {
            self.set_state(id, NodeState::Stopped, Detail::None); // row 14
        }
        self.tree.task_ended(id, &mut self.restart_candidates);
    }

    /// Rows 3, 4 and 7: the runnable returned.
    fn on_returned(
        &mut self,
        id: NodeId,
        error: Option<String>,
        done_signalled: bool,
        misused: bool,
    ) {
        let node = self.tree.get(id);
        let was = node.state;
        // Already Dead by an illegal signal (row 5): the return itself changes nothing.
        if misused || was == NodeState::Dead {
            return;
        }
        let finishing = node.extras.as_ref().is_some_and(|e| e.finishing);
        match error {
            // Row 16: told to finish by its significant children, and it did.
            None if finishing => {
                self.tree.get_mut(id).reset_failures();
                self.set_state(id, NodeState::Done, Detail::None);
            }
            // Row 4 for a run that failed while finishing.
            Some(error) if finishing => self.die(id, error),
            // Row 7: told to stop, so how it returned does not matter.
            _ if node.is_cancelled() => {
                let detail = self.cancel_detail(id);
                self.set_state(id, NodeState::Canceled, detail);
            }
            // Row 3.
            None if done_signalled => {
                self.tree.get_mut(id).reset_failures();
                self.set_state(id, NodeState::Done, Detail::None);
            }
            // Row 3, for a child whose clean end is final whether or not it signalled Done.
            None if node.restart != Restart::Permanent => {
                self.tree.get_mut(id).reset_failures();
                self.set_state(id, NodeState::Done, Detail::None);
            }
            // Row 4.
            None => {
                let error = format!("returned Ok while {was:?}, without signalling Done");
                self.die(id, error);
            }
            Some(error) => self.die(id, error),
        }
    }

    /// Row 7 for a bounce: the run asked for a new run at once. Not a death: no error log, no
    /// backoff drawn or reset, the group left alone; only its own subtree is cancelled, as
    /// every restart needs. A temporary child is never restarted, so it ends cleanly (row 3).
    fn on_bounced(&mut self, id: NodeId, reason: String) {
        let node = self.tree.get(id);
        if node.state == NodeState::Dead {
            return; // already Dead by an illegal signal (row 5)
        }
        if node.is_cancelled() {
            return self.set_state(id, NodeState::Canceled, Detail::None);
        }
        if node.restart == Restart::Temporary {
            return self.set_state(id, NodeState::Done, Detail::None);
        }
        tracing::info!(parent: node.ctx.span(), dn = %node.dn(), %reason, "runnable bounced");
        self.cancel(id);
        self.set_state(id, NodeState::Canceled, Detail::Bounce(reason.into()));
    }

    /// Row 9: the restart was told to stop while it waited out its backoff; the runnable
    /// never ran. It is still owed (`not_before` stays).
    fn on_not_started(&mut self, id: NodeId) {
        let detail = self.cancel_detail(id);
        self.set_state(id, NodeState::Canceled, detail);
    }

    /// Row 16: a significant child ended cleanly. If that fulfils its parent's
    /// `Context::finish_with`, the parent is told to finish: its subtree is told to stop, and
    /// its run's return of `Ok` makes it Done.
    fn significant_done(&mut self, child: NodeId) {
        let Some(parent) = self.tree.get(child).parent else {
            return;
        };
        let node = self.tree.get(parent);
        let Some(mode) = node.extras.as_ref().and_then(|e| e.finish) else {
            return;
        };
        if node.is_cancelled() || !matches!(node.state, NodeState::New | NodeState::Healthy) {
            return;
        }
        let finished = match mode {
            Significant::Any => true,
            Significant::All => self.tree.children(parent).all(|c| {
                let c = self.tree.get(c);
                !c.extras.as_ref().is_some_and(|e| e.significant) || c.state == NodeState::Done
            }),
        };
        if finished {
            tracing::info!(dn = %self.tree.get(parent).dn(), "significant children done; finishing");
            self.tree.get_mut(parent).extras_mut().finishing = true;
            self.cancel(parent);
        }
    }

    /// What a transition to Canceled says: a bounce, for a restart by order.
    fn cancel_detail(&mut self, id: NodeId) -> Detail {
        let ordered = self
            .tree
            .get_mut(id)
            .extras
            .as_mut()
            .is_some_and(|extras| std::mem::take(&mut extras.restart_ordered));
        if ordered {
            Detail::Bounce("restarted by order".into())
        } else {
            Detail::None
        }
    }

    /// An operator's order; answered once the tree has taken it.
    fn on_order(&mut self, dn: &str, parent: Option<&Context>, order: Order) -> Result<(), Error> {
        // A run that stops its children itself (`defer_stop`) does so during a shutdown too.
        let own_stop = order == Order::Stop
            && parent
                .and_then(|p| self.tree.node_of(p))
                .is_some_and(|p| self.tree.get(p).defers_stop());
        if self.shutdown.is_some() && !own_stop {
            return Err(Error::ShuttingDown);
        }
        let no_such = || Error::NoSuchNode { dn: dn.to_owned() };
        let id = self.tree.find(dn).ok_or_else(no_such)?;
        if let Some(parent) = parent {
            // A run's order about its own child: the child of the run that gave it.
            let run = self.tree.node_of(parent).ok_or_else(|| Error::RunEnded {
                dn: parent.dn().clone(),
            })?;
            if self.tree.get(id).parent != Some(run) {
                return Err(no_such());
            }
        }
        let node = self.tree.get(id);
        let stopped = node.is_stop_ordered();
        match order {
            Order::Restart | Order::Stop if stopped => Err(Error::AlreadyStopped {
                dn: node.dn().clone(),
            }),
            Order::Start if !stopped => Err(Error::NotStopped {
                dn: node.dn().clone(),
                state: node.state,
            }),
            Order::Restart => {
                self.restart_by_order(id);
                Ok(())
            }
            Order::Stop => {
                self.stop_by_order(id);
                Ok(())
            }
            Order::Start => {
                self.start_by_order(id);
                Ok(())
            }
            Order::Remove => {
                self.remove_by_order(id);
                Ok(())
            }
        }
    }

    /// `Context::remove_child`: the child is told to stop, and leaves the tree once it has (it
    /// becomes temporary, so the GC removes it instead of restarting it); its name is then
    /// free for its parent's run again.
    fn remove_by_order(&mut self, id: NodeId) {
        tracing::info!(dn = %self.tree.get(id).dn(), "removal ordered");
        let node = self.tree.get_mut(id);
        node.restart = Restart::Temporary;
        node.extras_mut().stop_ordered = false;
        self.cancel(id);
        let node = self.tree.get(id);
        if !node.has_task {
            if !matches!(
                node.state,
                NodeState::Dead | NodeState::Canceled | NodeState::Done
            ) {
                self.set_state(id, NodeState::Canceled, Detail::None);
            }
            if !self.tree.get(id).subtree_active() {
                self.restart_candidates.push(id);
            }
        }
    }

    /// `Supervisor::restart_node`: a bounce ordered from outside. Its subtree is told to stop,
    /// what it owes is forgiven, and it restarts at once (row 7, then 10); its group is left
    /// alone.
    fn restart_by_order(&mut self, id: NodeId) {
        tracing::info!(dn = %self.tree.get(id).dn(), "restart ordered");
        let node = self.tree.get_mut(id);
        node.forgive_backoff();
        node.extras_mut().restart_ordered = true;
        self.cancel(id);
        if self.tree.get(id).has_task {
            return; // Canceled when its run returns, as a bounce
        }
        // Nothing left to return (Done, or a held run, now Canceled): Canceled now.
        let detail = self.cancel_detail(id);
        if self.tree.get(id).state != NodeState::Canceled {
            self.set_state(id, NodeState::Canceled, detail);
        }
        if !self.tree.get(id).subtree_active() {
            self.restart_candidates.push(id);
        }
    }

    /// Row 14: `Supervisor::stop_node`. Its subtree is told to stop; it is Stopped once its run
    /// has returned, at once if it has none.
    fn stop_by_order(&mut self, id: NodeId) {
        tracing::info!(dn = %self.tree.get(id).dn(), "stop ordered");
        self.tree.get_mut(id).extras_mut().stop_ordered = true;
        self.cancel(id);
        if !self.tree.get(id).has_task {
            self.set_state(id, NodeState::Stopped, Detail::None);
        }
    }

    /// Row 15: `Supervisor::start_node`. A new run at once, forgiving what it owed, once its
    /// subtree has stopped.
    fn start_by_order(&mut self, id: NodeId) {
        tracing::info!(dn = %self.tree.get(id).dn(), "start ordered");
        let node = self.tree.get_mut(id);
        node.forgive_backoff();
        node.extras_mut().stop_ordered = false;
        if self.tree.get(id).subtree_active() {
            // Its children are still stopping: restarted by the GC once they have.
            self.set_state(id, NodeState::Canceled, Detail::None);
        } else {
            self.restart(id);
        }
    }

    /// Row 6: a panic is a death, unless the node already died of an illegal signal: one
    /// death, one log line, one cancellation of its group. With `propagate_panics` it also
    /// ends the tree.
    fn on_panicked(&mut self, id: NodeId, message: String) {
        let propagate = self.config.propagate_panics && self.panic.is_none();
        if self.tree.get(id).state != NodeState::Dead {
            self.die(id, format!("panicked: {message}"));
        }
        if propagate {
            self.panic = Some(PanicReport {
                dn: self.tree.get(id).dn().clone(),
                message,
            });
            self.begin_shutdown();
        }
    }

    /// Rows 4–6, → Dead: log once in the node's span, stop its children and its group, and
    /// draw the backoff that the node and its group owe before any of them starts again
    /// (invariant 4).
    fn die(&mut self, id: NodeId, error: String) {
        let node = self.tree.get(id);
        tracing::error!(parent: node.ctx.span(), dn = %node.dn(), was = ?node.state, error = %error, "runnable died");
        let healthy_for = self.now_stamp.since(node.since);
        let backoff = self.backoff_of(id);
        if node.state == NodeState::Healthy && backoff.resets_after(healthy_for) {
            self.tree.get_mut(id).reset_failures();
        }
        let node = self.tree.get_mut(id);
        let delay = backoff.delay(node.failures(), &mut self.rng);
        let extras = node.extras_mut();
        extras.failures = extras.failures.saturating_add(1);
        let owed = clock::deadline(self.now, delay);
        self.metrics.failure(node, delay);
        let owed = self.tree.stamp(owed);
        self.tree.get_mut(id).owe_backoff(owed);
        self.cancel(id);
        let error: Arc<str> = error.into();
        self.tree.get_mut(id).extras_mut().last_error = Some(error.clone());
        self.set_state(id, NodeState::Dead, Detail::Error(error));
        // A temporary child's end, clean or not, leaves its group alone.
        if self.tree.get(id).restart != Restart::Temporary {
            self.cancel_group_of(id, owed);
        }
    }

    /// Tells `id` and its subtree to stop, and starts the stop timeouts of those that have one.
    fn cancel(&mut self, id: NodeId) {
        let mut cancelled = Cancelled::default();
        self.tree.cancel_subtree(id, &mut cancelled);
        self.act_on(cancelled);
    }

    /// Starts the stop timeouts of the nodes just told to stop, and ends the held runs.
    fn act_on(&mut self, cancelled: Cancelled) {
        for id in cancelled.timed {
            self.start_stop_timeout(id);
        }
        for id in cancelled.held {
            self.on_held_cancelled(id);
        }
    }

    /// Row 9 for a member of an ordered group whose run was held, waiting for the members
    /// before it: told to stop, that run never begins.
    fn on_held_cancelled(&mut self, id: NodeId) {
        self.tree.get_mut(id).extras_mut().held = false;
        self.set_state(id, NodeState::Canceled, Detail::None);
        self.restart_candidates.push(id);
    }

    /// Row 11's clock for a node just told to stop: abort now, or after its stop timeout.
    fn start_stop_timeout(&mut self, id: NodeId) {
        let node = self.tree.get(id);
        match node.stop_timeout() {
            None | Some(StopTimeout::Never) => {}
            Some(StopTimeout::Abort) => self.abort(id),
            Some(StopTimeout::After(timeout)) => {
                let ctx = node.ctx.clone();
                // The timer outlives a run that returns in time (holding its context), at most
                // for the timeout; its message is then stale and dropped.
                node.ctx.link().spawn(async move {
                    tokio::time::sleep(timeout).await;
                    ctx.send(Msg::StopTimedOut { ctx: ctx.clone() });
                });
            }
        }
    }

    /// Row 11: aborts the task of `id`, which still runs although told to stop. Its end comes
    /// back as `Outcome::Aborted` once its future is dropped.
    fn abort(&mut self, id: NodeId) {
        let node = self.tree.get(id);
        if !node.has_task {
            return;
        }
        match node.stop_timeout() {
            // Asked for: not worth an error.
            Some(StopTimeout::Abort) => {
                tracing::info!(parent: node.ctx.span(), dn = %node.dn(), "told to stop; aborted")
            }
            _ => {
                tracing::error!(parent: node.ctx.span(), dn = %node.dn(), "runnable did not return within its stop timeout; aborted")
            }
        }
        node.ctx.abort();
    }

    /// Row 11, once the aborted task's future is gone: Canceled, with why. During a shutdown
    /// it is named among the stuck.
    fn on_aborted(&mut self, id: NodeId) {
        let why: Arc<str> = match self.tree.get(id).stop_timeout() {
            Some(StopTimeout::After(timeout)) => {
                format!("aborted: did not return within its stop timeout of {timeout:?}").into()
            }
            _ => "aborted when told to stop".into(),
        };
        if let Some(shutdown) = self.shutdown.as_mut() {
            shutdown.late.push(self.tree.get(id).dn().clone());
        }
        self.set_state(id, NodeState::Canceled, Detail::Error(why));
    }

    /// Cancels the other members of `id`'s group, which may not start again before `owed`.
    /// Row 8: members that were Done must restart with the group, so they become Canceled;
    /// one with no task left below it can restart as soon as it is due.
    /// With [`Strategy::RestForOne`], only the members after `id`.
    fn cancel_group_of(&mut self, id: NodeId, owed: Stamp) {
        let node = self.tree.get(id);
        let (strategy, rank) = (node.strategy(), node.rank());
        let siblings: Vec<NodeId> = self
            .tree
            .group_siblings(id)
            .filter(|&s| strategy != Strategy::RestForOne || self.tree.get(s).rank() > rank)
            .collect();
        let ordered = self.tree.get(id).is_ordered();
        for &sibling in &siblings {
            if ordered {
                // Told in reverse order, below.
                self.tree.get_mut(sibling).extras_mut().stop_pending = true;
            } else {
                self.cancel(sibling);
            }
            let node = self.tree.get_mut(sibling);
            node.owe_backoff(owed);
            if node.state == NodeState::Done {
                let active = node.subtree_active();
                self.set_state(sibling, NodeState::Canceled, Detail::None);
                if !active {
                    self.restart_candidates.push(sibling);
                }
            }
        }
        if ordered {
            self.stop_in_reverse(id);
        }
    }

    /// Tells to stop the members of `member`'s ordered group that may be told now: those whose
    /// later members have all stopped.
    fn stop_in_reverse(&mut self, member: NodeId) {
        for due in self.tree.due_in_reverse(member) {
            self.cancel(due);
        }
    }

    /// Asks the GC which of the subtrees that stopped in this batch to restart, and restarts
    /// them.
    fn restart_stopped(&mut self) {
        if self.restart_candidates.is_empty() {
            return;
        }
        // The batch took time: a backoff shorter than that (a storm's microsecond) is over,
        // and its restart needs no wait, which on a busy runtime would be a trip through its
        // whole run queue.
        self.tick();
        // A restart can make more candidates (a parent that gives up on its restart limit).
        while !self.restart_candidates.is_empty() {
            // A member of an ordered group that stopped may let the one before it stop.
            let ordered: Vec<NodeId> = self
                .restart_candidates
                .iter()
                .copied()
                .filter(|&id| self.tree.get(id).is_ordered())
                .collect();
            for member in ordered {
                self.stop_in_reverse(member);
            }
            let plan = gc::plan(
                &self.tree,
                &mut self.restart_candidates,
                self.shutdown.is_some(),
            );
            for id in plan.remove {
                self.remove(id);
            }
            for id in plan.restart {
                self.restart(id);
            }
        }
    }

    /// Row 12 for a temporary child whose run has ended: it leaves the tree, with whatever
    /// stopped below it.
    fn remove(&mut self, id: NodeId) {
        let next = self
            .tree
            .get(id)
            .is_ordered()
            .then(|| self.tree.group_siblings(id).next())
            .flatten();
        let node = self.tree.get(id);
        let (parent, dn) = (node.parent, node.dn().clone());
        // Its name is free again in its parent's run (context invariant 1 allows this), before
        // the removal is published: whoever waits for it may start a child of that name at once.
        if let Some(parent) = parent {
            self.tree.get(parent).ctx.forget_child(&dn);
        }
        let (counts, events) = (&mut self.counts, &self.events);
        self.tree
            .remove(id, |node| Self::removed(counts, events, node));
        // A member held for the removed one now waits for one member fewer.
        if let Some(member) = next {
            self.release_next(member);
        }
    }

    /// Counts out a node that left the tree, and tells the subscribers.
    fn removed(counts: &mut StateCounts, events: &Publisher, node: &crate::node::Node) {
        counts.uncount(node.state);
        if events.is_watched() {
            let mut event = Event::new(node.dn().clone(), Some(node.state), node.state);
            event.removed = true;
            event.run = node.restarts();
            events.publish(event);
        }
    }

    /// Row 10: a new run of `id`, once it is due (invariant 4): at once for a node that owes
    /// nothing, else after the rest of its backoff. Row 12: its children are removed first.
    fn restart(&mut self, id: NodeId) {
        let now = self.now_stamp;
        let delay = self.tree.get(id).not_before().since(now);
        let (counts, events) = (&mut self.counts, &self.events);
        self.tree
            .renew(id, |node| Self::removed(counts, events, node));
        if self.waits_for_its_turn(id).is_some() {
            // Ordered group: the new run begins once the members before it are up.
            self.tree.get_mut(id).extras_mut().held = true;
            return;
        }
        self.begin(id, delay);
    }

    /// For a member of an ordered group: the first member before it that is not up yet.
    fn waits_for_its_turn(&self, id: NodeId) -> Option<NodeId> {
        waits_for_its_turn(&self.tree, id)
    }

    /// A member of an ordered group is up (Healthy or Done): the next member, if held, begins.
    fn release_next(&mut self, member: NodeId) {
        if self.shutdown.is_some() {
            return; // nothing starts once the supervisor shuts down
        }
        let mut members: Vec<NodeId> = std::iter::once(member)
            .chain(self.tree.group_siblings(member))
            .collect();
        members.sort_unstable_by_key(|&m| self.tree.get(m).rank());
        let next = members.into_iter().find(|&m| !self.tree.get(m).is_up());
        let Some(next) = next.filter(|&m| self.tree.get(m).is_held()) else {
            return;
        };
        if self.waits_for_its_turn(next).is_some() {
            return;
        }
        self.tree.get_mut(next).extras_mut().held = false;
        let node = self.tree.get(next);
        if node.state == NodeState::New {
            self.launch(next, Duration::ZERO); // its first run: nothing to count
        } else {
            let delay = node.not_before().since(self.now_stamp);
            self.begin(next, delay);
        }
    }

    /// Begins the new run of `id`: at once, or after `delay`.
    fn begin(&mut self, id: NodeId, delay: Duration) {
        if delay.is_zero() {
            if let Some(wait) = self.held_by_limit(id) {
                self.launch(id, wait); // asks again at its gate once the wait has passed
                return;
            }
            if self.escalates(id) {
                return; // one restart too many: the parent is going down, and takes it along
            }
            self.entered_new(id, delay);
        } else {
            tracing::info!(dn = %self.tree.get(id).dn(), ?delay, "restart scheduled");
        }
        self.launch(id, delay);
    }

    /// A restart entered the runnable, at once or after `delay`.
    fn entered_new(&mut self, id: NodeId, delay: Duration) {
        let node = self.tree.get_mut(id);
        let extras = node.extras_mut();
        extras.restarts = extras.restarts.saturating_add(1);
        self.metrics.restart(node);
        self.set_state(id, NodeState::New, Detail::Delay(delay));
    }

    /// Spawns the task for `id`'s current run.
    fn launch(&mut self, id: NodeId, delay: Duration) {
        if let Some(extras) = self.tree.get_mut(id).extras.as_mut() {
            // Left from a restart that was cancelled at its gate.
            (extras.gate, extras.counted) = (None, false);
        }
        let gate = (!delay.is_zero() && self.counts_against_limit(id)).then(|| {
            let (tx, rx) = oneshot::channel();
            self.tree.get_mut(id).extras_mut().gate = Some(tx);
            rx
        });
        self.tree.task_started(id);
        let node = self.tree.get_mut(id);
        node.awaiting_backoff = !delay.is_zero();
        task::spawn(node.ctx.clone(), node.runnable.clone(), delay, gate);
    }

    /// Moves `id` to `to` and tells the subscribers.
    fn set_state(&mut self, id: NodeId, to: NodeState, detail: Detail) {
        let now = self.now_stamp;
        let node = self.tree.get_mut(id);
        let from = node.state;
        node.state = to;
        node.since = now;
        self.counts.count(Some(from), to);
        self.metrics.transition(Some(from), to);
        self.emit(id, Some(from), detail);
        if to == NodeState::Done
            && self
                .tree
                .get(id)
                .extras
                .as_ref()
                .is_some_and(|e| e.significant)
        {
            self.significant_done(id);
        }
        if matches!(to, NodeState::Healthy | NodeState::Done) && self.tree.get(id).is_ordered() {
            self.release_next(id);
        }
    }

    fn emit(&mut self, id: NodeId, from: Option<NodeState>, detail: Detail) {
        if !self.events.is_watched() {
            return;
        }
        let node = self.tree.get(id);
        let mut event = Event::new(node.dn().clone(), from, node.state);
        event.run = node.restarts();
        match detail {
            Detail::None => {}
            Detail::Error(error) => event.error = Some(error),
            Detail::Bounce(reason) => event.bounce = Some(reason),
            Detail::Delay(delay) => event.delay = Some(delay),
        }
        self.events.publish(event);
    }

    /// A new stream first gets the current state of every node, then every transition.
    /// With `only`, the snapshot holds that node alone (or nothing, if the tree has no such
    /// node): a watch.
    fn on_subscribe(&mut self, reply: oneshot::Sender<Subscription>, only: Option<&str>) {
        let nodes: Vec<NodeId> = match only {
            Some(dn) => self.tree.find(dn).into_iter().collect(),
            None => self.tree.preorder(self.tree.root()).collect(),
        };
        let snapshot = nodes
            .into_iter()
            .map(|id| {
                let node = self.tree.get(id);
                let mut event = Event::new(node.dn().clone(), None, node.state);
                event.error = node.last_error().cloned();
                event.run = node.restarts();
                event
            })
            .collect();
        let _ = reply.send(self.events.subscribe(snapshot));
    }

    /// Cancels the whole tree; the loop ends once every task has, or at the deadline.
    fn begin_shutdown(&mut self) {
        if self.shutdown.is_some() {
            return;
        }
        tracing::info!(nodes = self.tree.len(), "supervisor shutting down");
        let deadline = clock::deadline(self.now, self.config.shutdown_timeout);
        self.shutdown = Some(Shutdown {
            began: self.now,
            deadline,
            deadline_stamp: self.tree.stamp(deadline),
            late: Vec::new(),
        });
        self.cancel(self.tree.root());
    }

    /// During shutdown, a run that ended after the deadline is stuck all the same.
    fn note_late_exit(&mut self, id: NodeId, at: Stamp) {
        if let Some(shutdown) = self.shutdown.as_mut() {
            if at > shutdown.deadline_stamp && self.tree.get(id).has_task {
                shutdown.late.push(self.tree.get(id).dn().clone());
            }
        }
    }

    /// Handles every message already queued, in the backlog's queues and in the inbox: a run
    /// that ended before the shutdown's deadline is not stuck, however long its exit waited
    /// behind a flood of other news.
    fn handle_queued(&mut self) {
        self.tick();
        while let Ok(msg) = self.rx.try_recv() {
            if self.backlog.is_empty() {
                self.handle(msg);
            } else {
                self.take(msg);
            }
        }
        while let Some(msg) = self.backlog.pop() {
            self.serve(msg);
        }
    }

    /// Row 11: the deadline passed. Aborts every task still running and names its node, which
    /// is then Canceled (with why), not left looking as it did when it was told to stop.
    fn abort_stuck(&mut self) -> Vec<crate::Dn> {
        self.handle_queued();
        let stuck: Vec<NodeId> = self
            .tree
            .preorder(self.tree.root())
            .filter(|&id| self.tree.get(id).has_task)
            .collect();
        let mut dns = self
            .shutdown
            .as_mut()
            .map(|s| std::mem::take(&mut s.late))
            .unwrap_or_default();
        let why: Arc<str> = "aborted: ignored cancellation until the shutdown deadline".into();
        for id in stuck {
            let node = self.tree.get(id);
            node.ctx.abort();
            tracing::error!(parent: node.ctx.span(), dn = %node.dn(), "runnable ignored cancellation; aborted at the shutdown deadline");
            dns.push(node.dn().clone());
            self.set_state(id, NodeState::Canceled, Detail::Error(why.clone()));
            self.tree.task_ended(id, &mut self.restart_candidates);
        }
        self.restart_candidates.clear();
        dns
    }

    /// Hands the tree and the report to the [`Supervisor`](crate::Supervisor) handle, once.
    /// `interrupted`: the processor is being dropped before the tree has stopped.
    fn finish(&mut self, stuck: Vec<crate::Dn>, interrupted: bool) {
        if self.finished {
            return;
        }
        self.finished = true;
        let elapsed = self.shutdown.as_ref().map_or(Duration::ZERO, |s| {
            Instant::now().saturating_duration_since(s.began)
        });
        let report = ShutdownReport {
            stuck,
            panic: self.panic.take(),
            elapsed,
            interrupted,
        };
        // The tree first, so that a status request that finds the processor gone finds it.
        *self.handoff.tree.lock() = Some(self.tree.take());
        self.handoff.report.send_replace(Some(report));
        tracing::info!(?elapsed, "supervisor stopped");
    }
}

impl Drop for Processor {
    /// The processor is dropped unfinished when its runtime shuts down (or a bug unwinds it).
    /// Whatever still runs is told to stop, since nobody else will, and the handle gets an
    /// interrupted report instead of waiting for ever.
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let root = self.tree.root();
        // A bug may have left the tree half-changed; a second panic here would abort.
        let _ = crate::unwind::catch(|| self.tree.cancel_subtree(root, &mut Cancelled::default()));
        self.finish(Vec::new(), true);
    }
}
