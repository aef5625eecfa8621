//! One run of a task group: the seed's coordinator as a sequence of stages, in which the tree
//! does all the starting, restarting and stopping, and the run only waits (with the core's
//! [`Watch`](arbor::Watch), the one "until A is Healthy / Done" in the project) and orders.
//!
//! The run stops its children itself ([`Context::defer_children_stop`]), so that when it is
//! told to stop (a shutdown, its parent's death, a task that used up its restarts) it can stop
//! them in the seed's order and then run the poststop tasks, which the tree starts uncancelled.

use std::sync::Arc;
use std::time::Duration;

use arbor::{Child, Context, Event, Group, NodeState, Restart, Signal, StopTimeout, Watch};

use crate::group::Inner;
use crate::task::Role;
use crate::{Stage, StageChange, Task};

/// How the group's tasks came to an end, before the stop.
enum Ending {
    /// The leader exited: `Ok` if it succeeded, else its error.
    Leader(String, Result<(), String>),
    /// Every main task ended cleanly.
    MainDone,
    /// The group was told to stop.
    Told,
}

struct Run {
    group: Arc<Inner>,
    ctx: Context,
    /// The tasks started in this run, so that only those are stopped.
    started: Vec<usize>,
}

pub(crate) async fn run(group: Arc<Inner>, ctx: Context) -> anyhow::Result<()> {
    ctx.defer_children_stop()?;
    ctx.allow_late_children()?;
    let mut run = Run {
        group,
        ctx,
        started: Vec::new(),
    };
    run.enter(Stage::Init);
    let ending = match run.up().await {
        Ok(ending) => ending,
        Err(err) => {
            // A task the tree refused (a bad name): stop what began, then fail.
            run.stop_in_order().await;
            return Err(err);
        }
    };
    run.stop_in_order().await;
    run.poststop().await?;
    match ending {
        Ending::Leader(_, Ok(())) | Ending::MainDone => {
            run.ctx.signal(Signal::Done)?;
            Ok(())
        }
        Ending::Leader(name, Err(error)) => anyhow::bail!("leader {name:?} failed: {error}"),
        Ending::Told => Ok(()),
    }
}

impl Run {
    fn tasks(&self) -> &[Task] {
        &self.group.tasks
    }

    /// The indices of the tasks in `roles`.
    fn of(&self, roles: &[Role]) -> Vec<usize> {
        (0..self.tasks().len())
            .filter(|&i| roles.contains(&self.tasks()[i].role()))
            .collect()
    }

    fn name(&self, i: usize) -> &str {
        self.tasks()[i].name()
    }

    /// Announces `stage`: in the node's status, the log and the stage channel.
    fn enter(&self, stage: Stage) {
        self.ctx.annotate("stage", stage);
        tracing::info!(group = %self.ctx.dn(), %stage, "stage");
        let _ = self.group.stages.send(StageChange {
            group: self.ctx.dn().to_string(),
            stage,
        });
    }

    /// Init to Wait: starts each stage once the one before allows it, and waits for the end.
    async fn up(&mut self) -> anyhow::Result<Ending> {
        let prestart = self.of(&[Role::PrestartEphemeral, Role::PrestartSidecar]);
        if !prestart.is_empty() {
            self.enter(Stage::Prestart);
            self.start(&prestart)?;
            for &i in &prestart {
                // Ephemeral: succeeded (a failure is retried, or fails the group). Sidecar: up.
                let want = if self.tasks()[i].sidecar {
                    NodeState::Healthy
                } else {
                    NodeState::Done
                };
                let mut watch = self.ctx.watch_child(self.name(i));
                if !self.until(&mut watch, |e| e.to == want && !e.removed).await {
                    return Ok(Ending::Told);
                }
            }
        }
        self.enter(Stage::Main);
        let main = self.of(&[Role::Main]);
        // Watched from before they start: a leader that ends at once leaves the tree at once.
        let leader = main.iter().copied().find(|&i| self.tasks()[i].leader);
        let leader_exit = leader.map(|i| (i, self.ctx.watch_child(self.name(i))));
        let mut running: Vec<Watch> = main
            .iter()
            .map(|&i| self.ctx.watch_child(self.name(i)))
            .collect();
        self.start(&main)?;
        for watch in &mut running {
            // Running, or already past it.
            if !self.until(watch, |e| e.to != NodeState::New).await {
                return Ok(Ending::Told);
            }
        }
        self.ctx.signal(Signal::Healthy)?;
        let poststart = self.of(&[Role::PoststartEphemeral, Role::PoststartSidecar]);
        if !poststart.is_empty() {
            self.enter(Stage::Poststart);
            self.start(&poststart)?;
            for &i in &poststart {
                let ephemeral = !self.tasks()[i].sidecar;
                let ended = |e: &Event| {
                    if ephemeral {
                        e.to == NodeState::Done
                    } else {
                        e.to == NodeState::Healthy
                    }
                };
                let mut watch = self.ctx.watch_child(self.name(i));
                if !self.until(&mut watch, ended).await {
                    return Ok(Ending::Told);
                }
            }
        }
        self.enter(Stage::Wait);
        Ok(self.wait(&main, leader_exit).await)
    }

    /// The wait stage: until the leader exits, every main task has ended cleanly, or the
    /// group is told to stop.
    async fn wait(&self, main: &[usize], leader: Option<(usize, Watch)>) -> Ending {
        let leader_index = leader.as_ref().map(|(i, _)| *i);
        let leader_exit = async {
            let Some((_, mut watch)) = leader else {
                return std::future::pending().await;
            };
            let exit = watch
                .until(|e| matches!(e.to, NodeState::Done | NodeState::Dead))
                .await;
            match exit {
                Ok(e) if e.to == NodeState::Done => Some(Ok(())),
                Ok(e) => Some(Err(e
                    .error
                    .map_or_else(|| "it died".to_owned(), |e| e.to_string()))),
                Err(_) => None,
            }
        };
        let main_done = async {
            for &i in main {
                let done = self
                    .ctx
                    .watch_child(self.name(i))
                    .until(|e| e.to == NodeState::Done && !e.removed)
                    .await;
                if done.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::select! {
            biased;
            () = self.ctx.cancelled() => Ending::Told,
            Some(exit) = leader_exit => {
                let name = self.name(leader_index.expect("a leader exited")).to_owned();
                tracing::info!(group = %self.ctx.dn(), leader = %name, ok = exit.is_ok(), "the leader exited; the group ends");
                Ending::Leader(name, exit)
            }
            true = main_done => Ending::MainDone,
        }
    }

    /// Waits until an event the task's `watch` sees satisfies `condition`; false if the group
    /// is told to stop first.
    async fn until(&self, watch: &mut Watch, condition: impl FnMut(&Event) -> bool) -> bool {
        tokio::select! {
            biased;
            () = self.ctx.cancelled() => false,
            seen = watch.until(condition) => seen.is_ok(),
        }
    }

    /// Starts tasks `which`, each in a group of its own whose restart limit is the task's.
    fn start(&mut self, which: &[usize]) -> Result<(), arbor::Error> {
        for &i in which {
            let task = &self.group.tasks[i];
            let restart = if task.leader {
                Restart::Temporary // its exit ends the group: never restarted
            } else if task.sidecar {
                Restart::Permanent
            } else {
                Restart::Transient
            };
            let child = Child::shared(task.name.clone(), task.runnable.clone())
                .restart(restart)
                .backoff(task.restart.backoff())
                .stop_timeout(StopTimeout::After(task.kill_timeout));
            self.ctx.run_group(
                Group::new()
                    .child(child)
                    .restart_limit(task.restart.limit()),
            )?;
            self.started.push(i);
        }
        Ok(())
    }

    /// The seed's stop order: the leader, then the other main and poststart tasks (and
    /// prestart jobs still retrying), then the sidecars, each batch once the one before has
    /// stopped.
    async fn stop_in_order(&self) {
        let started = |roles: &[Role], leader: bool| -> Vec<usize> {
            self.started
                .iter()
                .copied()
                .filter(|&i| {
                    let task = &self.tasks()[i];
                    roles.contains(&task.role()) && task.leader == leader
                })
                .collect()
        };
        let batches = [
            started(&[Role::Main], true),
            started(
                &[
                    Role::Main,
                    Role::PoststartEphemeral,
                    Role::PoststartSidecar,
                    Role::PrestartEphemeral,
                ],
                false,
            ),
            started(&[Role::PrestartSidecar], false),
        ];
        for batch in batches {
            self.stop(&batch).await;
        }
    }

    /// Stops tasks `which` together, and waits until all have.
    async fn stop(&self, which: &[usize]) {
        let mut stopping = Vec::new();
        for &i in which {
            let name = self.name(i);
            let watch = self.ctx.watch_child(name);
            stopping.push((name, watch, self.ctx.stop_child(name)));
        }
        for (name, mut watch, order) in stopping {
            match order.await {
                Ok(()) => {
                    let _ = watch
                        .until(|e| e.to == NodeState::Stopped || e.removed)
                        .await;
                }
                // Gone already (a leader that exited), or stopped before.
                Err(err) => {
                    tracing::debug!(group = %self.ctx.dn(), task = name, %err, "not stopped")
                }
            }
        }
    }

    /// Runs the poststop tasks to their end. While the group is being told to stop, each has
    /// its kill timeout to finish (and is not restarted), then is stopped.
    async fn poststop(&mut self) -> Result<(), arbor::Error> {
        let poststop = self.of(&[Role::Poststop]);
        if poststop.is_empty() {
            return Ok(());
        }
        self.enter(Stage::Poststop);
        self.start(&poststop)?;
        for &i in &poststop {
            let kill_timeout = self.tasks()[i].kill_timeout;
            let mut watch = self.ctx.watch_child(self.name(i));
            let told = self.ctx.is_cancelled();
            let finished = watch.until(|e| {
                e.to == NodeState::Done
                    || (told && matches!(e.to, NodeState::Dead | NodeState::Canceled))
            });
            let deadline = async {
                self.ctx.cancelled().await;
                tokio::time::sleep(kill_timeout.max(Duration::from_millis(1))).await;
            };
            tokio::select! {
                biased;
                _ = finished => {}
                () = deadline => {
                    tracing::warn!(group = %self.ctx.dn(), task = self.name(i), ?kill_timeout, "poststop task did not finish in time; stopping it");
                    self.stop(&[i]).await;
                }
            }
        }
        Ok(())
    }
}
