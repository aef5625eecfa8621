//! Group strategies: all together (OTP's one_for_all) and rest for one, with restart types.

use std::sync::Arc;
use std::time::Duration;

use arbor::{Child, Context, Event, Group, NodeState, Restart, Runnable, Signal, Strategy};
use arbor_test_kit::*;
use tokio::sync::Notify;

/// A leaf that, once told to stop, returns only when `release` is notified.
fn slow_to_stop(release: &Arc<Notify>) -> impl Runnable {
    let release = release.clone();
    move |ctx: Context| {
        let release = release.clone();
        async move {
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            release.notified().await;
            Ok(())
        }
    }
}

#[tokio::test(start_paused = true)]
async fn all_together_waits_for_the_slowest_member_then_restarts_everyone_in_one_step() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let release = Arc::new(Notify::new());
    let (k, t, r) = (kills.clone(), tracker.clone(), release.clone());
    let sup = supervisor(root_with(move || {
        Group::new()
            .strategy(Strategy::AllTogether)
            .add("a", t.track(worker(&k)))
            .add("slow", t.track(slow_to_stop(&r)))
            .add("c", t.track(worker(&k)))
    }));
    let (_, mut events) = settled(&sup, all_healthy).await;

    kills.kill("root.a");
    expect(&mut events, entered("root.c", NodeState::Canceled)).await;
    // Long past the backoff, nobody has restarted: the group waits for `slow`, and says so.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let status = sup.status().await;
    for dn in ["root.a", "root.c"] {
        let member = status.get(dn).unwrap();
        assert_eq!(member.restarts, 0, "{status}");
        assert_eq!(
            member.waiting_for.as_ref().unwrap(),
            "root.slow",
            "{status}"
        );
    }
    assert!(status.get("root.slow").unwrap().stopping);
    assert!(
        status.to_string().contains("waiting_for=root.slow"),
        "{status}"
    );

    release.notify_one();
    let seen = record(&mut events, |seen| {
        seen.iter().filter(|e| e.to == NodeState::New).count() == 3
    })
    .await;
    // slow's own end, then the three restarts one after another, nothing in between.
    let transitions: Vec<String> = seen.iter().map(Event::to_string).collect();
    assert_eq!(
        transitions,
        [
            "root.slow: Healthy -> Canceled",
            "root.a: Dead -> New at once",
            "root.slow: Canceled -> New at once",
            "root.c: Canceled -> New at once",
        ]
    );
    until_status(&sup, &mut events, all_healthy).await;
    release.notify_one(); // for the shutdown
    sup.shutdown().await.into_result().unwrap();
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn all_together_restarts_a_done_transient_member_and_drops_a_temporary_one() {
    let kills = Kills::new();
    let k = kills.clone();
    let sup = supervisor(root_with(move || {
        Group::new()
            .strategy(Strategy::AllTogether)
            .add("a", worker(&k))
            .child(Child::new("job", |_ctx: Context| async { Ok(()) }).restart(Restart::Transient))
            .child(Child::new("once", worker(&k)).restart(Restart::Temporary))
    }));
    let (_, mut events) = settled(&sup, |s| {
        s.node_count() == 4
            && s.get("root.job")
                .is_some_and(|n| n.state == NodeState::Done)
    })
    .await;
    kills.kill("root.a");
    let seen = record(&mut events, |seen| {
        seen.iter().filter(|e| e.to == NodeState::New).count() == 2
    })
    .await;
    assert!(
        seen.iter().any(|e| e.dn == "root.once" && e.removed),
        "{seen:#?}"
    );
    assert!(seen
        .iter()
        .any(|e| e.dn == "root.job" && e.to == NodeState::New));
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_restarts_the_dead_member_and_those_after_it() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let (k, t) = (kills.clone(), tracker.clone());
    let sup = supervisor(root_with(move || {
        ["m1", "m2", "m3", "m4"].into_iter().fold(
            Group::new().strategy(Strategy::RestForOne),
            |group, name| group.add(name, t.track(worker(&k))),
        )
    }));
    let (_, mut events) = settled(&sup, all_healthy).await;

    kills.kill("root.m2");
    for dn in ["root.m2", "root.m3", "root.m4"] {
        expect(&mut events, restarted(dn)).await;
    }
    let status = until_status(&sup, &mut events, all_healthy).await;
    let restarts: Vec<u32> = ["root.m1", "root.m2", "root.m3", "root.m4"]
        .iter()
        .map(|dn| status.get(dn).unwrap().restarts)
        .collect();
    assert_eq!(restarts, [0, 1, 1, 1]);
    assert_eq!(
        tracker.entries("root.m1"),
        1,
        "the member before the dead one kept running"
    );

    // The last member's death restarts only itself.
    kills.kill("root.m4");
    expect(&mut events, restarted("root.m4")).await;
    let status = until_status(&sup, &mut events, all_healthy).await;
    assert_eq!(status.get("root.m3").unwrap().restarts, 1);
    sup.shutdown().await.into_result().unwrap();
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn rest_for_one_drops_a_temporary_member_after_the_dead_one() {
    let kills = Kills::new();
    let k = kills.clone();
    let sup = supervisor(root_with(move || {
        Group::new()
            .strategy(Strategy::RestForOne)
            .add("m1", worker(&k))
            .child(Child::new("once", worker(&k)).restart(Restart::Temporary))
            .add("m3", worker(&k))
    }));
    let (_, mut events) = settled(&sup, all_healthy).await;
    kills.kill("root.m1");
    expect(&mut events, |e: &Event| e.dn == "root.once" && e.removed).await;
    expect(&mut events, restarted("root.m3")).await;
    let status = until_status(&sup, &mut events, |s| s.node_count() == 3 && all_healthy(s)).await;
    assert!(status.get("root.once").is_none());
    sup.shutdown().await.into_result().unwrap();
}
