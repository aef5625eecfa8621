//! Done nodes keep their children; the root's own death restarts the root.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arbor::{Context, Group, NodeState, Runnable, Signal};
use arbor_test_kit::*;

#[tokio::test(start_paused = true)]
async fn done_node_keeps_its_children_running_and_is_not_restarted() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let kid: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let setup: Arc<dyn Runnable> = Arc::new(tracker.track(move |ctx: Context| {
        let kid = kid.clone();
        async move {
            ctx.run_group(Group::new().add_shared("kid", kid))?;
            ctx.signal(Signal::Healthy)?;
            ctx.signal(Signal::Done)?;
            Ok(())
        }
    }));
    let sup = supervisor(root_with(move || {
        Group::new().add_shared("setup", setup.clone())
    }));
    let (_, mut events) = settled(&sup, |s| {
        s.get("root.setup")
            .is_some_and(|n| n.state == NodeState::Done)
            && s.get("root.setup.kid")
                .is_some_and(|n| n.state == NodeState::Healthy)
    })
    .await;

    // The kid dies: it restarts on its own, under its Done parent.
    kills.kill("root.setup.kid");
    expect(&mut events, entered("root.setup.kid", NodeState::Dead)).await;
    let back = expect(&mut events, restarted("root.setup.kid")).await;
    assert_eq!(back.delay, Some(ms(500)));
    expect(&mut events, entered("root.setup.kid", NodeState::Healthy)).await;
    let status = sup.status().await;
    assert_eq!(status.get("root.setup").unwrap().state, NodeState::Done);
    assert_eq!(
        tracker.entries("root.setup"),
        1,
        "a Done node is not restarted"
    );
    assert_eq!(tracker.entries("root.setup.kid"), 2);

    sup.shutdown().await.into_result().unwrap();
    assert_eq!(tracker.live(), 0);
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn root_death_restarts_the_root_and_its_children() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let child: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let root = tracker.track({
        let kills = kills.clone();
        let runs = runs.clone();
        move |ctx: Context| {
            let child = child.clone();
            let killed = kills.killed("root");
            runs.fetch_add(1, Ordering::SeqCst);
            async move {
                ctx.run_group(Group::new().add_shared("child", child))?;
                ctx.signal(Signal::Healthy)?;
                tokio::select! {
                    () = ctx.cancelled() => Ok(()),
                    () = killed => anyhow::bail!("root killed"),
                }
            }
        }
    });
    let sup = supervisor(root);
    let (_, mut events) = settled(&sup, |s| s.node_count() == 2 && all_healthy(s)).await;

    kills.kill("root");
    let seen = record(&mut events, |seen| {
        seen.iter().filter(|e| e.to == NodeState::Healthy).count() == 2
    })
    .await;
    let root_dead = position(&seen, "root Dead", entered("root", NodeState::Dead));
    let child_canceled = position(
        &seen,
        "child Canceled",
        entered("root.child", NodeState::Canceled),
    );
    let root_new = position(&seen, "root restarted", restarted("root"));
    assert!(root_dead < child_canceled && child_canceled < root_new);
    assert_eq!(seen[root_new].delay, Some(ms(500)));
    let child_again = position(&seen, "child created again", |e| {
        e.dn == "root.child" && e.from.is_none()
    });
    assert!(
        child_again > root_new,
        "the restarted root creates its child anew"
    );
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert_eq!(tracker.entries("root.child"), 2);

    sup.shutdown().await.into_result().unwrap();
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn returning_ok_without_done_is_a_death() {
    let sup = supervisor(root_with(|| {
        Group::new().add("quitter", |ctx: Context| async move {
            ctx.signal(Signal::Healthy)?;
            Ok(())
        })
    }));
    let mut events = sup.events();
    let dead = expect(&mut events, entered("root.quitter", NodeState::Dead)).await;
    assert!(dead.error.unwrap().contains("without signalling Done"));
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn returning_an_error_after_cancellation_is_canceled_not_dead() {
    let kills = Kills::new();
    let sup = supervisor(root_with({
        let kills = kills.clone();
        move || {
            Group::new()
                .add("grumpy", |ctx: Context| async move {
                    ctx.signal(Signal::Healthy)?;
                    ctx.cancelled().await;
                    anyhow::bail!("cancelled, and unhappy about it")
                })
                .add("w", worker(&kills))
        }
    }));
    let (_, mut events) = settled(&sup, |s| s.node_count() == 3 && all_healthy(s)).await;
    kills.kill("root.w");
    let stopped = expect(&mut events, |e| {
        e.dn == "root.grumpy" && e.from == Some(NodeState::Healthy)
    })
    .await;
    assert_eq!(stopped.to, NodeState::Canceled);
    assert_eq!(
        expect(&mut events, restarted("root.grumpy")).await.delay,
        Some(ms(500)),
        "a Canceled node restarts with its group, after the backoff of w's death"
    );
    sup.shutdown().await.into_result().unwrap();
}
