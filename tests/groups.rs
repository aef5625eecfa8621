//! Groups: a member's death cancels its siblings (and their subtrees), and all restart.

use std::sync::Arc;

use arbor::{Context, Group, NodeState, Runnable, Signal};
use arbor_test_kit::*;

/// A root running the group {a, b} of tracked workers, settled with both Healthy.
async fn pair(
    kills: &Arc<Kills>,
    tracker: &Arc<Tracker>,
) -> (arbor::Supervisor, arbor::EventStream) {
    let a: Arc<dyn Runnable> = Arc::new(tracker.track(worker(kills)));
    let b: Arc<dyn Runnable> = Arc::new(tracker.track(worker(kills)));
    let sup = supervisor(root_with(move || {
        Group::new()
            .add_shared("a", a.clone())
            .add_shared("b", b.clone())
    }));
    let (_, events) = settled(&sup, |s| s.node_count() == 3 && all_healthy(s)).await;
    (sup, events)
}

#[tokio::test(start_paused = true)]
async fn group_sibling_death_cancels_the_other_then_both_restart() {
    let (kills, tracker) = (Kills::new(), Tracker::new());
    let (sup, mut events) = pair(&kills, &tracker).await;
    assert_eq!(
        (tracker.entries("root.a"), tracker.entries("root.b")),
        (1, 1)
    );

    kills.kill("root.b");
    let both_healthy_again = |seen: &[arbor::Event]| {
        ["root.a", "root.b"].iter().all(|dn| {
            seen.iter()
                .rev()
                .find(|e| e.dn == *dn)
                .is_some_and(|e| e.to == NodeState::Healthy)
        })
    };
    let seen = record(&mut events, both_healthy_again).await;

    let b_dead = position(&seen, "b Dead", entered("root.b", NodeState::Dead));
    let a_canceled = position(&seen, "a Canceled", entered("root.a", NodeState::Canceled));
    let a_new = position(&seen, "a restarted", restarted("root.a"));
    let b_new = position(&seen, "b restarted", restarted("root.b"));
    assert!(b_dead < a_canceled && a_canceled < a_new);
    assert!(seen[b_dead]
        .error
        .as_deref()
        .unwrap()
        .contains("killed by the test"));
    assert_eq!(
        seen[a_new].delay,
        Some(ms(500)),
        "a node cancelled by its sibling's death waits out the same backoff"
    );
    assert_eq!(
        seen[b_new].delay,
        Some(ms(500)),
        "a dead node waits its backoff"
    );
    assert_eq!(
        (tracker.entries("root.a"), tracker.entries("root.b")),
        (2, 2)
    );
    assert_eq!(
        tracker.entries("root"),
        0,
        "the root was not tracked and not restarted"
    );

    sup.shutdown().await.into_result().unwrap();
    assert_eq!(tracker.live(), 0);
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn member_with_deep_subtree_restarts_whole_when_sibling_dies() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    // a and four levels of descendants below it: 1 + 2 + 4 + 8 + 16 = 31 nodes.
    let a = binary(4, &kills, &tracker);
    let b: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let sup = supervisor(root_with(move || {
        Group::new()
            .add_shared("a", a.clone())
            .add_shared("b", b.clone())
    }));
    let (status, mut events) = settled(&sup, |s| s.node_count() == 33 && all_healthy(s)).await;
    let subtree: Vec<String> = status
        .iter()
        .map(|n| n.dn.to_string())
        .filter(|dn| dn.starts_with("root.a"))
        .collect();
    assert_eq!(subtree.len(), 31);

    kills.kill("root.b");
    let seen = record(&mut events, |seen| {
        seen.iter().filter(|e| e.to == NodeState::Healthy).count() == 32
    })
    .await;

    let a_restart = position(&seen, "a restarted", restarted("root.a"));
    for dn in &subtree {
        let canceled = position(&seen, "Canceled", |e| {
            e.dn == dn.as_str() && e.to == NodeState::Canceled
        });
        assert!(
            canceled <= a_restart,
            "{dn} stopped before a restarted: a restarts only once its subtree has stopped"
        );
        assert_eq!(tracker.entries(dn), 2, "{dn} ran again");
    }
    let status = until_status(&sup, &mut events, |s| {
        s.node_count() == 33 && all_healthy(s)
    })
    .await;
    assert_eq!(
        status.get("root.a.l.r.l.r").unwrap().restarts,
        0,
        "recreated, not restarted"
    );
    assert_eq!(status.get("root.a").unwrap().restarts, 1);

    sup.shutdown().await.into_result().unwrap();
    assert_eq!(tracker.live(), 0);
    tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn done_member_is_restarted_with_its_group() {
    let kills = Kills::new();
    let tracker = Tracker::new();
    let one_shot: Arc<dyn Runnable> = Arc::new(tracker.track(|ctx: Context| async move {
        ctx.signal(Signal::Healthy)?;
        ctx.signal(Signal::Done)?;
        Ok(())
    }));
    let w: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let sup = supervisor(root_with(move || {
        Group::new()
            .add_shared("once", one_shot.clone())
            .add_shared("w", w.clone())
    }));
    let (_, mut events) = settled(&sup, |s| {
        s.get("root.once")
            .is_some_and(|n| n.state == NodeState::Done)
            && s.get("root.w")
                .is_some_and(|n| n.state == NodeState::Healthy)
    })
    .await;

    kills.kill("root.w");
    expect(&mut events, entered("root.once", NodeState::Canceled)).await;
    let again = expect(&mut events, restarted("root.once")).await;
    assert_eq!(again.delay, Some(ms(500)), "with w, after w's backoff");
    expect(&mut events, entered("root.once", NodeState::Done)).await;
    expect(&mut events, entered("root.w", NodeState::Healthy)).await;
    assert_eq!(tracker.entries("root.once"), 2);

    sup.shutdown().await.into_result().unwrap();
    tracker.assert_never_two_at_once();
}

/// {a, b, slow}: b dies, and while a and b wait out b's backoff, slow (still stopping) panics.
/// The cancelled waits are still owed: nobody starts before the later of the two backoffs.
#[tokio::test(start_paused = true)]
async fn a_cancelled_backoff_is_still_owed() {
    let (kills, tracker) = (Kills::new(), Tracker::new());
    let a: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let b: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let slow: Arc<dyn Runnable> = Arc::new(tracker.track(|ctx: Context| async move {
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        tokio::time::sleep(ms(100)).await;
        panic!("slow panicked while stopping");
    }));
    let sup = arbor::Supervisor::builder()
        .backoff(exact_backoff())
        .spawn(root_with(move || {
            Group::new()
                .add_shared("a", a.clone())
                .add_shared("b", b.clone())
                .add_shared("slow", slow.clone())
        }))
        .unwrap();
    let (_, mut events) = settled(&sup, |s| s.node_count() == 4 && all_healthy(s)).await;

    let t0 = tokio::time::Instant::now();
    kills.kill("root.b");
    let mut restarted_at = std::collections::HashMap::new();
    while restarted_at.len() < 3 {
        let e = expect(&mut events, |e| e.dn != "root").await;
        if e.to == NodeState::New && e.from.is_some() {
            restarted_at.insert(e.dn.to_string(), tokio::time::Instant::now() - t0);
        }
    }
    for dn in ["root.a", "root.b", "root.slow"] {
        assert_eq!(
            restarted_at[dn],
            ms(600),
            "{dn}: slow died at 100 ms and owes 500 ms; b's 500 ms ended earlier"
        );
        assert_eq!(tracker.entries(dn), 2, "{dn}: a cancelled wait never ran");
    }
    let status = sup.status().await;
    for dn in ["root.a", "root.b", "root.slow"] {
        assert_eq!(
            status.get(dn).unwrap().restarts,
            1,
            "{dn}: a restart counts when the runnable is entered, not when it is scheduled"
        );
    }

    sup.shutdown().await.into_result().unwrap();
    tracker.assert_never_two_at_once();
}

/// A group of any size is checked and started in linear time (the duplicate check once compared
/// every name with all earlier ones: 100,000 members took 78 s in release).
#[tokio::test(start_paused = true)]
async fn a_group_of_a_hundred_thousand_members_starts_and_refuses_a_repeat() {
    const MEMBERS: usize = 100_000;
    // Room for every transition: this test reads them all.
    let sup = arbor::Supervisor::builder()
        .backoff(exact_backoff())
        .propagate_panics(true)
        .event_capacity(4 * MEMBERS)
        .spawn(|ctx: Context| async move {
        let serve = Arc::new(|ctx: Context| async move {
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }) as Arc<dyn Runnable>;
        let mut repeated = Group::new();
        for i in 0..MEMBERS {
            repeated = repeated.add_shared(format!("m{i}"), serve.clone());
        }
        let repeated = repeated.add_shared("m77777", serve.clone());
        let refused = ctx.run_group(repeated);
        assert!(
            matches!(refused, Err(arbor::Error::DuplicateName { ref name, .. }) if name == "m77777"),
            "{refused:?}"
        );
        let mut group = Group::new();
        for i in 0..MEMBERS {
            group = group.add_shared(format!("m{i}"), serve.clone());
        }
        ctx.run_group(group)?;
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        Ok(())
    })
        .unwrap();
    let mut events = sup.events();
    let mut healthy = 0;
    while healthy < MEMBERS + 1 {
        let e = expect(&mut events, |e| e.to == NodeState::Healthy).await;
        healthy += usize::from(e.from.is_some());
    }
    assert_eq!(sup.counts().await.healthy, MEMBERS + 1);
    sup.shutdown().await.into_result().unwrap();
}
