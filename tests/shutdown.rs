//! Shutdown ends every runnable; one that ignores cancellation is reported and aborted.

use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, Group, NodeState, Signal, Supervisor};
use arbor_test_kit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_of_a_32767_node_tree_ends_every_runnable() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let tree = binary(14, &kills, &tracker);
    let sup = Supervisor::builder()
        .propagate_panics(true)
        .spawn(move |ctx: Context| {
            let tree = tree.clone();
            async move { tree.run(ctx).await }
        });
    let sup = sup.unwrap();
    let mut events = sup.events();
    until_status(&sup, &mut events, |s| {
        s.node_count() == 32_767 && all_healthy(s)
    })
    .await;
    assert_eq!(tracker.live(), 32_767);

    let report = sup.shutdown().await;
    assert_eq!(report.clone().into_result(), Ok(()));
    assert_eq!(tracker.live(), 0, "every runnable has returned");
    let status = sup.status().await;
    assert_eq!(status.node_count(), 32_767);
    assert!(status.iter().all(|n| n.state == arbor::NodeState::Canceled));
    assert!(
        events.next().await.is_some(),
        "buffered events are still readable"
    );
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn a_runnable_that_ignores_cancellation_is_reported_stuck_and_the_rest_end() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let stubborn = Arc::new(tracker.track(|ctx: Context| async move {
        ctx.signal(Signal::Healthy)?;
        loop {
            // Awaits, but never looks at its context.
            tokio::time::sleep(ms(10)).await;
        }
    }));
    let polite = binary(3, &kills, &tracker);
    let sup = Supervisor::builder()
        .shutdown_timeout(Duration::from_secs(3))
        .propagate_panics(true)
        .spawn(root_with(move || {
            Group::new()
                .add_shared("polite", polite.clone())
                .add_shared("stubborn", stubborn.clone())
        }))
        .unwrap();
    let (_, _events) = settled(&sup, |s| s.node_count() == 17 && all_healthy(s)).await;

    let began = tokio::time::Instant::now();
    let report = sup.shutdown().await;
    assert_eq!(report.stuck.len(), 1);
    assert_eq!(report.stuck[0], "root.stubborn");
    assert_eq!(
        report.elapsed,
        Duration::from_secs(3),
        "it waited exactly the timeout"
    );
    assert_eq!(tokio::time::Instant::now() - began, Duration::from_secs(3));
    assert!(matches!(
        report.into_result(),
        Err(arbor::Error::ShutdownTimedOut { stuck }) if stuck.len() == 1
    ));
    // The aborted node does not go on looking Healthy in the final tree.
    let status = sup.status().await;
    let stubborn = status.get("root.stubborn").unwrap();
    assert_eq!(stubborn.state, NodeState::Canceled);
    assert!(!stubborn.stopping);
    // Everything else had returned; the stuck one is dropped at its next await.
    tokio::time::timeout(DEADLINE, async {
        while tracker.live() > 0 {
            tokio::time::sleep(ms(1)).await;
        }
    })
    .await
    .expect("the aborted runnable was dropped");
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn dropping_the_supervisor_shuts_the_tree_down() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let w = Arc::new(tracker.track(worker(&kills)));
    let sup = supervisor(root_with(move || Group::new().add_shared("w", w.clone())));
    let (_, mut events) = settled(&sup, |s| s.node_count() == 2 && all_healthy(s)).await;
    drop(sup);
    while events.next().await.is_some() {}
    assert_eq!(
        tracker.live(),
        0,
        "the stream ends once the processor has stopped"
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_restarts_during_shutdown() {
    let tracker = Tracker::new();
    let dies_on_cancel = Arc::new(tracker.track(|ctx: Context| async move {
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        panic!("dies while shutting down");
    }));
    let sup = Supervisor::builder()
        .spawn(root_with(move || {
            Group::new().add_shared("d", dies_on_cancel.clone())
        }))
        .unwrap();
    let (_, _events) = settled(&sup, |s| s.node_count() == 2 && all_healthy(s)).await;
    sup.shutdown().await.into_result().unwrap();
    assert_eq!(tracker.entries("root.d"), 1);
    let status = sup.status().await;
    assert_eq!(status.get("root.d").unwrap().state, arbor::NodeState::Dead);
}

/// On a current-thread runtime a runnable that blocks the thread also blocks the deadline's
/// timer; when it finally returns, past the deadline, it is named stuck all the same.
#[test]
fn a_runnable_that_blocks_its_thread_past_the_deadline_is_named_stuck() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let sup = Supervisor::builder()
            .shutdown_timeout(ms(20))
            .spawn(root_with(|| {
                Group::new()
                    .add("blocker", |ctx: Context| async move {
                        ctx.signal(Signal::Healthy)?;
                        ctx.cancelled().await;
                        // Blocks the only thread (a bug in real code, simulated here).
                        #[allow(clippy::disallowed_methods)]
                        std::thread::sleep(ms(100));
                        Ok(())
                    })
                    .add("polite", |ctx: Context| async move {
                        ctx.signal(Signal::Healthy)?;
                        ctx.cancelled().await;
                        Ok(())
                    })
            }))
            .unwrap();
        settled(&sup, |s| s.node_count() == 3 && all_healthy(s)).await;
        let report = sup.shutdown().await;
        assert_eq!(report.stuck, ["root.blocker"], "{report:?}");
        assert!(
            report.elapsed >= ms(100),
            "the blocked time counts: {report:?}"
        );
    });
}
