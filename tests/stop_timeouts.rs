//! Per-child stop timeouts (OTP's `shutdown`): a child that ignores cancellation is aborted,
//! on every cancellation, not only at shutdown.

use std::sync::Arc;
use std::time::Duration;

use arbor::{Child, Context, Group, NodeState, Runnable, Signal, StopTimeout};
use arbor_test_kit::*;
use tracing::Level;

/// A leaf that signals Healthy and then never returns, even when told to stop.
fn stubborn() -> impl Runnable {
    |ctx: Context| async move {
        ctx.signal(Signal::Healthy)?;
        std::future::pending::<()>().await;
        Ok(())
    }
}

async fn group_with_stubborn(stop: StopTimeout) -> (Arc<Kills>, Arc<Tracker>, arbor::Supervisor) {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let (k, t) = (kills.clone(), tracker.clone());
    let sup = supervisor(root_with(move || {
        Group::new()
            .child(Child::new("stubborn", t.track(stubborn())).stop_timeout(stop))
            .add("peer", t.track(worker(&k)))
    }));
    (kills, tracker, sup)
}

#[tokio::test(start_paused = true)]
async fn a_child_that_ignores_cancellation_is_aborted_after_its_timeout_and_its_group_restarts() {
    let mut logs = Logs::capture();
    let (kills, tracker, sup) =
        group_with_stubborn(StopTimeout::After(Duration::from_secs(2))).await;
    let (_, mut events) = settled(&sup, all_healthy).await;

    kills.kill("root.peer");
    let aborted = expect(&mut events, entered("root.stubborn", NodeState::Canceled)).await;
    let why = aborted.error.as_deref().unwrap();
    assert!(why.contains("stop timeout of 2s"), "{why}");
    // (The peer restarted meanwhile: each member restarts once its own subtree has stopped.)
    expect(&mut events, restarted("root.stubborn")).await;
    let status = until_status(&sup, &mut events, all_healthy).await;
    assert_eq!(status.get("root.peer").unwrap().restarts, 1);
    assert_eq!(tracker.entries("root.stubborn"), 2);
    assert!(logs.received().iter().any(|l| l.level == Level::ERROR
        && l.dn.as_deref() == Some("root.stubborn")
        && l.message.contains("stop timeout")));

    // At shutdown its timeout ends it long before the supervisor's 10 s, and it is named.
    let report = sup.shutdown().await;
    assert_eq!(report.stuck, ["root.stubborn"]);
    assert!(report.elapsed < Duration::from_secs(10), "{report:?}");
    tracker.assert_never_two_at_once();
    assert_eq!(tracker.live(), 0, "the aborted runs are gone");
}

#[tokio::test(start_paused = true)]
async fn abort_ends_a_child_as_soon_as_it_is_told_to_stop() {
    let (kills, tracker, sup) = group_with_stubborn(StopTimeout::Abort).await;
    let (_, mut events) = settled(&sup, all_healthy).await;
    kills.kill("root.peer");
    let aborted = expect(&mut events, entered("root.stubborn", NodeState::Canceled)).await;
    assert_eq!(aborted.error.as_deref(), Some("aborted when told to stop"));
    // Its group owes the peer's backoff: both return together after it.
    let back = expect(&mut events, restarted("root.stubborn")).await;
    assert_eq!(back.delay, Some(ms(500)));
    until_status(&sup, &mut events, all_healthy).await;
    sup.shutdown().await;
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn without_a_stop_timeout_a_stubborn_child_holds_only_itself() {
    // The default waits for ever: the stubborn member never restarts (its peer does).
    let (kills, _tracker, sup) = group_with_stubborn(StopTimeout::Never).await;
    let (_, mut events) = settled(&sup, all_healthy).await;
    kills.kill("root.peer");
    expect(&mut events, restarted("root.peer")).await;
    let status = until_status(&sup, &mut events, |s| {
        s.get("root.peer")
            .is_some_and(|n| n.state == NodeState::Healthy)
    })
    .await;
    let stubborn = status.get("root.stubborn").unwrap();
    assert!(stubborn.stopping, "{status}");
    assert_eq!(stubborn.restarts, 0);
    let report = sup.shutdown().await;
    assert_eq!(
        report.stuck,
        ["root.stubborn"],
        "the shutdown deadline still aborts it"
    );
}
