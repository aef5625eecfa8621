//! Misbehaving runnables next to a healthy group do not stop it from serving and co-restarting.

use std::sync::Arc;
use std::time::Duration;

use arbor::{Backoff, Context, Group, NodeState, Runnable, Signal, Supervisor};
use arbor_test_kit::*;

/// Signals Healthy twice, ignores the error, and serves on until the supervisor stops it.
async fn misuser(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    let _ = ctx.signal(Signal::Healthy);
    ctx.cancelled().await;
    Ok(())
}

/// Becomes Healthy and returns at once, without signalling Done.
async fn quitter(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    Ok(())
}

/// Starts children as fast as it can, then gives up (a death), and on each restart starts again.
/// It stops when told to (ignoring cancellation is `stubborn`'s part): a run still spawning at
/// the shutdown deadline would rightly be named stuck.
async fn spawner(ctx: Context) -> anyhow::Result<()> {
    for i in 0..2_000 {
        if ctx.is_cancelled() {
            return Ok(());
        }
        ctx.run(format!("c{i}"), |ctx: Context| async move {
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        })?;
        tokio::task::yield_now().await;
    }
    ctx.signal(Signal::Healthy)?;
    // Keeps trying after Healthy: every call is refused, none is fatal.
    for i in 0..100 {
        assert!(ctx.run(format!("late{i}"), quitter).is_err());
        tokio::task::yield_now().await;
    }
    anyhow::bail!("spawner gives up")
}

/// Serves while ignoring cancellation, in a loop with awaits.
async fn stubborn(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    loop {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Dies shortly after starting.
async fn dier(ctx: Context) -> anyhow::Result<()> {
    ctx.signal(Signal::Healthy)?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    anyhow::bail!("dier dies")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_group_keeps_co_restarting_beside_misbehaving_runnables() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let x: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let y: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let bad: [(&str, Arc<dyn Runnable>); 3] = [
        ("misuser", Arc::new(tracker.track(misuser))),
        ("quitter", Arc::new(tracker.track(quitter))),
        ("spawner", Arc::new(tracker.track(spawner))),
    ];
    let stubborn: Arc<dyn Runnable> = Arc::new(tracker.track(stubborn));
    let dier: Arc<dyn Runnable> = Arc::new(tracker.track(dier));
    let root = move |ctx: Context| {
        let (x, y, bad) = (x.clone(), y.clone(), bad.clone());
        let (stubborn, dier) = (stubborn.clone(), dier.clone());
        async move {
            ctx.run_group(Group::new().add_shared("x", x).add_shared("y", y))?;
            for (name, runnable) in bad {
                ctx.run_group(Group::new().add_shared(name, runnable))?;
            }
            ctx.run_group(
                Group::new()
                    .add_shared("stubborn", stubborn)
                    .add_shared("dier", dier),
            )?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    };
    let sup = Supervisor::builder()
        .backoff(
            Backoff::default()
                .initial(Duration::from_millis(20))
                .max_interval(Duration::from_millis(100))
                .randomization(0.0),
        )
        // Long enough for the processor to catch up with the spawner's flood at shutdown. In
        // this build (the `invariants` feature) it takes a flood's news four at a time and
        // walks the whole tree after each turn, and a child whose addition still waits in the
        // queue is told to stop only once it is added: a run that is not stuck must not be
        // named stuck for that. Only `stubborn` waits for the deadline.
        .shutdown_timeout(Duration::from_secs(4))
        .propagate_panics(true)
        .spawn(root)
        .unwrap();
    let mut events = sup.events();
    until_status(&sup, &mut events, |s| {
        ["root.x", "root.y"]
            .iter()
            .all(|dn| s.get(dn).is_some_and(|n| n.state == NodeState::Healthy))
    })
    .await;

    for round in 1..=5 {
        kills.kill("root.x");
        // Events of earlier rounds may still be buffered: look from x's death on.
        let x_dead = |e: &arbor::Event| e.dn == "root.x" && e.to == NodeState::Dead;
        let ours = |e: &arbor::Event| e.dn == "root.x" || e.dn == "root.y";
        let seen = record_matching(&mut events, ours, |seen| {
            seen.iter().position(x_dead).is_some_and(|d| {
                ["root.x", "root.y"].iter().all(|dn| {
                    seen[d..]
                        .iter()
                        .any(|e| e.dn == *dn && e.to == NodeState::Healthy)
                })
            })
        })
        .await;
        let d = position(&seen, "x Dead", x_dead);
        let states: Vec<_> = seen[d..]
            .iter()
            .filter(|e| e.dn == "root.x" || e.dn == "root.y")
            .map(|e| (e.dn.to_string(), e.to))
            .collect();
        let has = |dn: &str, to| states.iter().any(|(d, t)| d == dn && *t == to);
        assert!(
            has("root.y", NodeState::Canceled),
            "round {round}: {states:?}"
        );
        assert!(has("root.x", NodeState::New), "round {round}: {states:?}");
        assert_eq!(tracker.entries("root.x"), round + 1);
        assert_eq!(tracker.entries("root.y"), round + 1);
    }

    // The others really did misbehave all along.
    let status = sup.status().await;
    assert!(status.get("root.misuser").unwrap().restarts >= 1);
    assert!(status.get("root.quitter").unwrap().restarts >= 1);
    // Each member restarts once its own subtree has stopped, so dier keeps cycling even though
    // its sibling never returns.
    assert!(status.get("root.dier").unwrap().restarts >= 1);
    assert_eq!(
        status.get("root.stubborn").unwrap().state,
        NodeState::Healthy,
        "cancelled, but it never returns, so it is never restarted; nothing else cares"
    );
    assert!(status.get("root.stubborn").unwrap().stopping);
    assert!(!status.get("root.x").unwrap().stopping);
    assert!(
        status.to_string().contains("stubborn Healthy") && status.to_string().contains("stopping")
    );

    let report = sup.shutdown().await;
    assert_eq!(report.stuck.len(), 1, "{:?}", report.stuck);
    assert_eq!(report.stuck[0], "root.stubborn");
    tracker.assert_never_two_at_once();
}
