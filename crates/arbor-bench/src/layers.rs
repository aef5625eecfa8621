//! The hot paths of the layers above the core (the dependency engine's bounce is in
//! [`engine`](crate::engine)):
//!
//! - `watch_wake_p50/p99` (µs): a [`Watch`](arbor::Watch) on a node, from the moment the node
//!   signals Healthy (the time taken just before the signal) until the watch's wait returns;
//!   what `depends_on = { x = "healthy" }` and `arbor-lifecycle`'s stages wait through;
//! - `stage_change_p50/p99` (µs): an `arbor-lifecycle` group's prestart job returns, and its
//!   main task is entered: one stage change (the job's Done, its watch waking, the main task's
//!   spawn). Each rep restarts the group by order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor::{Context, NodeState, Signal, Supervisor};
use arbor_lifecycle::{Hook, Task, TaskGroup};
use tokio::sync::{mpsc, Notify};

use crate::percentile::percentile;
use crate::report::Metric;
use crate::restart::tiny_backoff;

const LIMIT: Duration = Duration::from_secs(60);

/// Both figures, `reps` samples each.
///
/// # Errors
///
/// When a step does not happen within a minute.
pub async fn measure(reps: usize) -> anyhow::Result<Vec<Metric>> {
    let mut metrics = Vec::new();
    for (name, samples) in [
        ("watch_wake", watch_wake(reps).await?),
        ("stage_change", stage_change(reps).await?),
    ] {
        for (p, label) in [(0.50, "p50"), (0.99, "p99")] {
            let value = percentile(&samples, p).unwrap_or_default();
            metrics.push(Metric::us(format!("{name}_{label}"), value));
        }
    }
    Ok(metrics)
}

async fn watch_wake(reps: usize) -> anyhow::Result<Vec<Duration>> {
    let (signalled_tx, mut signalled) = mpsc::unbounded_channel::<Instant>();
    let kill = Arc::new(Notify::new());
    let node_kill = kill.clone();
    let sup = Supervisor::builder()
        .backoff(tiny_backoff())
        .spawn(move |ctx: Context| {
            let (signalled, kill) = (signalled_tx.clone(), node_kill.clone());
            async move {
                ctx.run("x", move |ctx: Context| {
                    let (signalled, kill) = (signalled.clone(), kill.clone());
                    async move {
                        let _ = signalled.send(Instant::now());
                        ctx.signal(Signal::Healthy)?;
                        tokio::select! {
                            () = ctx.cancelled() => Ok(()),
                            () = kill.notified() => Err(anyhow::anyhow!("killed on command")),
                        }
                    }
                })?;
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            }
        })?;
    sup.watch("root.x")
        .within(LIMIT)
        .until_state(NodeState::Healthy)
        .await?;
    signalled.recv().await;
    let mut samples = Vec::with_capacity(reps);
    for run in 1..=u32::try_from(reps)? {
        // Made before the kill: it sees the death, then the new run's Healthy.
        let mut watch = sup.watch("root.x").within(LIMIT);
        kill.notify_one();
        let healthy = watch
            .until(|e| e.to == NodeState::Healthy && e.run == run && !e.removed)
            .await;
        let woke = Instant::now();
        healthy?;
        let at = signalled
            .recv()
            .await
            .ok_or_else(|| anyhow::anyhow!("x is gone"))?;
        samples.push(woke.saturating_duration_since(at));
    }
    sup.shutdown().await.into_result()?;
    Ok(samples)
}

async fn stage_change(reps: usize) -> anyhow::Result<Vec<Duration>> {
    let (done_tx, mut done) = mpsc::unbounded_channel::<Instant>();
    let (main_tx, mut main) = mpsc::unbounded_channel::<Instant>();
    let migrate = move |_ctx: Context| {
        let done = done_tx.clone();
        async move {
            let _ = done.send(Instant::now());
            Ok(())
        }
    };
    let server = move |ctx: Context| {
        let main = main_tx.clone();
        async move {
            let _ = main.send(Instant::now());
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    };
    let group = TaskGroup::new([
        Task::new("migrate", migrate).hook(Hook::Prestart),
        Task::new("server", server),
    ])?;
    let sup = Supervisor::builder()
        .backoff(tiny_backoff())
        .spawn(move |ctx: Context| {
            let group = group.clone();
            async move {
                ctx.run("web", group)?;
                ctx.signal(Signal::Healthy)?;
                ctx.cancelled().await;
                Ok(())
            }
        })?;
    let mut samples = Vec::with_capacity(reps + 1);
    for rep in 0..=reps {
        if rep > 0 {
            sup.restart_node("root.web").await?;
        }
        let job_done = tokio::time::timeout(LIMIT, done.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the job is gone"))?;
        let entered = tokio::time::timeout(LIMIT, main.recv())
            .await?
            .ok_or_else(|| anyhow::anyhow!("the main task is gone"))?;
        if rep > 0 {
            samples.push(entered.saturating_duration_since(job_done));
        }
    }
    sup.shutdown().await.into_result()?;
    Ok(samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn both_hot_paths_are_measured() {
        let metrics = measure(5).await.unwrap();
        let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "watch_wake_p50",
                "watch_wake_p99",
                "stage_change_p50",
                "stage_change_p99"
            ]
        );
    }
}
