//! A group's node (the root is one too): starts its members, signals Healthy once they all
//! are, applies reloads, and when told to stop, stops its members in order: dependents
//! before what they depend on, later layers before earlier ones.

use std::sync::Arc;
use std::time::Duration;

use arbor::{Child, Context, Group, NodeState, RunFuture, Runnable, Signal, StopTimeout};
use arbor_lifecycle::{Mode, RestartPolicy, Task, TaskGroup};
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::program::{command, ProgramNode};
use super::reload::{changes, Change};
use super::{LevelHandle, Shared};
use crate::plan::{Exceeded, GroupPlan, Hook, Member, ProgramPlan, RestartType, Strategy};

/// The runnable of a group's node.
pub(crate) struct Level {
    dn: String,
    /// The latest plan: a reload replaces it, and a restart of the node starts from it.
    plan: Arc<Mutex<Arc<GroupPlan>>>,
    shared: Arc<Shared>,
}

impl Level {
    pub(crate) fn new(dn: String, plan: Arc<GroupPlan>, shared: Arc<Shared>) -> Self {
        Level {
            dn,
            plan: Arc::new(Mutex::new(plan)),
            shared,
        }
    }
}

impl Runnable for Level {
    fn run(&self, ctx: Context) -> RunFuture {
        let plan = self.plan.lock().clone();
        if plan.is_lifecycle() {
            return match task_group(&plan, &self.dn, &self.shared) {
                Ok(group) => group.run(ctx),
                Err(err) => Box::pin(async move { Err(err.into()) }),
            };
        }
        let handle = LevelHandle {
            plan: self.plan.clone(),
            reload: mpsc::unbounded_channel().0,
        };
        Box::pin(run(ctx, self.dn.clone(), handle, self.shared.clone()))
    }
}

async fn run(
    ctx: Context,
    dn: String,
    mut handle: LevelHandle,
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let mut plan = handle.plan.lock().clone();
    ctx.defer_children_stop()?;
    ctx.allow_late_children()?;
    if let (Strategy::OneForOne, Some(intensity)) = (plan.strategy, plan.intensity) {
        ctx.limit_restarts(intensity.to_limit())?;
    }
    let (reload, mut reloads) = mpsc::unbounded_channel();
    handle.reload = reload;
    shared.levels.lock().insert(dn.clone(), handle);
    start(&ctx, &plan, &shared, plan.members.iter())?;

    let mut healthy = false;
    let mut all_up = Box::pin(all_up(ctx.clone(), plan.clone()));
    loop {
        tokio::select! {
            () = ctx.cancelled() => break,
            () = &mut all_up, if !healthy => {
                ctx.signal(Signal::Healthy)?;
                healthy = true;
            }
            Some(new) = reloads.recv() => {
                apply(&ctx, &dn, &plan, &new, &shared).await?;
                plan = new;
                if !healthy {
                    all_up = Box::pin(self::all_up(ctx.clone(), plan.clone()));
                }
            }
        }
    }
    stop_in_order(&ctx, &plan).await;
    Ok(())
}

/// Completes once every member has been Healthy or Done.
async fn all_up(ctx: Context, plan: Arc<GroupPlan>) {
    for member in &plan.members {
        let up = ctx
            .watch_child(member.name())
            .until(|e| !e.removed && matches!(e.to, NodeState::Healthy | NodeState::Done))
            .await;
        if up.is_err() {
            std::future::pending::<()>().await; // shutting down: never "up"
        }
    }
}

/// Starts `members` (of `plan`) as children of `ctx`.
fn start<'a>(
    ctx: &Context,
    plan: &GroupPlan,
    shared: &Arc<Shared>,
    members: impl Iterator<Item = &'a Member>,
) -> anyhow::Result<()> {
    match plan.strategy {
        Strategy::OneForOne => {
            for member in members {
                let mut group = Group::new().child(child(ctx, member, shared));
                if let Member::Program(ProgramPlan {
                    intensity: Some(intensity),
                    ..
                }) = member
                {
                    group = group.restart_limit(intensity.to_limit());
                }
                ctx.run_group(group)?;
            }
        }
        Strategy::OneForAll | Strategy::RestForOne => {
            let strategy = if plan.strategy == Strategy::OneForAll {
                arbor::Strategy::AllTogether
            } else {
                arbor::Strategy::RestForOne
            };
            let mut group = Group::new().strategy(strategy);
            if let Some(intensity) = plan.intensity {
                group = group.restart_limit(intensity.to_limit());
            }
            for member in members {
                group = group.child(child(ctx, member, shared));
            }
            if !group.is_empty() {
                ctx.run_group(group)?;
            }
        }
    }
    Ok(())
}

/// One member as a child of the level's run `ctx`.
fn child(ctx: &Context, member: &Member, shared: &Arc<Shared>) -> Child {
    let dn = format!("{}.{}", ctx.dn(), member.name());
    match member {
        Member::Program(p) => Child::new(
            p.name.clone(),
            ProgramNode {
                plan: p.clone(),
                command: command(p, &dn, shared, false),
                parent: ctx.clone(),
                shared: shared.clone(),
            },
        )
        .restart(restart(p.restart))
        .backoff(p.backoff.to_backoff())
        // The command SIGKILLs after its grace period; this is for a run that hangs anyway.
        .stop_timeout(StopTimeout::After(p.grace + Duration::from_secs(2))),
        Member::Group(name, g) => {
            let level = Level::new(dn, Arc::new(g.clone()), shared.clone());
            let waiting = Waiting {
                depends_on: g.depends_on.clone(),
                parent: ctx.clone(),
                shared: shared.clone(),
                inner: level,
            };
            Child::new(name.clone(), waiting)
                .restart(restart(g.restart))
                .backoff(g.backoff.to_backoff())
        }
    }
}

fn restart(restart: RestartType) -> arbor::Restart {
    match restart {
        RestartType::Permanent => arbor::Restart::Permanent,
        RestartType::Transient => arbor::Restart::Transient,
        RestartType::Temporary => arbor::Restart::Temporary,
    }
}

/// A group that waits for its dependencies before its level starts.
struct Waiting {
    depends_on: Vec<(String, crate::plan::Condition)>,
    parent: Context,
    shared: Arc<Shared>,
    inner: Level,
}

impl Runnable for Waiting {
    fn run(&self, ctx: Context) -> RunFuture {
        // Marked started even with no dependencies of its own: a sibling may wait for it to
        // have `started`.
        let (parent, shared, deps) = (
            self.parent.clone(),
            self.shared.clone(),
            self.depends_on.clone(),
        );
        let inner = Level {
            dn: self.inner.dn.clone(),
            plan: self.inner.plan.clone(),
            shared: self.inner.shared.clone(),
        };
        Box::pin(async move {
            let dn = ctx.dn().to_string();
            super::deps::mark_waiting(&shared, &dn);
            if !super::deps::wait_for(&ctx, &parent, &shared, &deps).await {
                return Ok(());
            }
            super::deps::mark_started(&shared, &dn);
            inner.run(ctx).await
        })
    }
}

/// Stops every member, a layer at a time from the last, the members of a layer together;
/// each layer once the one after it has stopped.
async fn stop_in_order(ctx: &Context, plan: &GroupPlan) {
    for layer in plan.layers().into_iter().rev() {
        let mut stopping = tokio::task::JoinSet::new();
        for member in layer {
            stopping.spawn(stop_member(ctx.clone(), member.name().to_owned()));
        }
        while stopping.join_next().await.is_some() {}
    }
}

/// Stops the member `name` and waits until it has (or is gone).
async fn stop_member(ctx: Context, name: String) {
    let name = name.as_str();
    let mut stopped = ctx.watch_child(name);
    match ctx.stop_child(name).await {
        Ok(()) => {
            let _ = stopped
                .until(|e| e.removed || e.to == NodeState::Stopped)
                .await;
        }
        // Already stopped by an operator, gone, or the tree is ending: nothing to wait for.
        Err(err) => tracing::debug!(member = name, error = %err, "not stopped in order"),
    }
}

/// Applies a reload to this level: what is gone is removed, what is new started, what
/// changed replaced (or, for a group that can take it, reloaded in place).
async fn apply(
    ctx: &Context,
    dn: &str,
    old: &GroupPlan,
    new: &Arc<GroupPlan>,
    shared: &Arc<Shared>,
) -> anyhow::Result<()> {
    for change in changes(old, new) {
        match change {
            Change::Removed(name) => remove(ctx, &name).await,
            Change::Added(name) => {
                if let Some(member) = new.member(&name) {
                    start(ctx, new, shared, std::iter::once(member))?;
                }
            }
            Change::Replaced(name) => {
                remove(ctx, &name).await;
                if let Some(member) = new.member(&name) {
                    start(ctx, new, shared, std::iter::once(member))?;
                }
            }
            Change::Reloaded(name) => {
                if let Some(Member::Group(_, g)) = new.member(&name) {
                    let child_dn = format!("{dn}.{name}");
                    if !shared.reload_level(&child_dn, Arc::new(g.clone())) {
                        // Not running now: it starts from the new plan next time.
                        tracing::info!(dn = %child_dn, "reloaded while not running");
                    }
                }
            }
        }
    }
    Ok(())
}

/// Takes the member `name` out of the tree and waits until it is gone and its name is free
/// again, so that a member of that name can be started at once.
async fn remove(ctx: &Context, name: &str) {
    let mut gone = ctx.watch_child(name);
    if ctx.remove_child(name).await.is_ok() {
        // Once the removal is published the name is free: a replacement may start at once.
        let _ = gone.until(|e| e.removed).await;
    }
}

/// A lifecycle group's members as an `arbor-lifecycle` task group.
fn task_group(
    plan: &GroupPlan,
    dn: &str,
    shared: &Arc<Shared>,
) -> Result<TaskGroup, arbor_lifecycle::Error> {
    let tasks = plan.members.iter().filter_map(|member| {
        let Member::Program(p) = member else {
            return None; // refused by the check
        };
        let cmd = command(p, &format!("{dn}.{}", p.name), shared, true);
        let mut task = Task::new(p.name.clone(), cmd)
            .hook(match p.hook {
                Hook::Prestart => arbor_lifecycle::Hook::Prestart,
                Hook::Main => arbor_lifecycle::Hook::Main,
                Hook::Poststart => arbor_lifecycle::Hook::Poststart,
                Hook::Poststop => arbor_lifecycle::Hook::Poststop,
            })
            .kill_timeout(p.grace + Duration::from_secs(2));
        if p.sidecar {
            task = task.sidecar();
        }
        if p.leader {
            task = task.leader();
        }
        let mut policy = RestartPolicy::default().delay(p.backoff.initial);
        if let Some(intensity) = p.intensity {
            policy = policy
                .attempts(intensity.max)
                .interval(intensity.period)
                .mode(match intensity.exceeded {
                    Exceeded::Fail => Mode::Fail,
                    Exceeded::Wait => Mode::Delay,
                });
        }
        Some(task.restart(policy))
    });
    TaskGroup::new(tasks)
}
