//! Orders by DN from the `Supervisor` handle: restart, stop and start one node.

use std::sync::Arc;

use arbor::{Context, Error, Event, Group, NodeState, Runnable, Signal};
use arbor_test_kit::*;

/// A node that starts `child` as `name` and serves; dies when killed.
fn parent_of(name: &'static str, child: Arc<dyn Runnable>, kills: &Arc<Kills>) -> impl Runnable {
    let kills = kills.clone();
    move |ctx: Context| {
        let child = child.clone();
        let killed = kills.killed(&ctx.dn().to_string());
        async move {
            ctx.run_group(Group::new().add_shared(name, child))?;
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => Ok(()),
                () = killed => anyhow::bail!("killed by the test"),
            }
        }
    }
}

struct Fixture {
    kills: Arc<Kills>,
    tracker: Arc<Tracker>,
    sup: arbor::Supervisor,
}

/// root ─ group { deep ─ mid ─ leaf, peer }
async fn fixture() -> (Fixture, arbor::EventStream) {
    let (kills, tracker) = (Kills::new(), Tracker::new());
    let leaf: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let mid: Arc<dyn Runnable> = Arc::new(tracker.track(parent_of("leaf", leaf, &kills)));
    let deep: Arc<dyn Runnable> = Arc::new(tracker.track(parent_of("mid", mid, &kills)));
    let peer: Arc<dyn Runnable> = Arc::new(tracker.track(worker(&kills)));
    let sup = supervisor(root_with(move || {
        Group::new()
            .add_shared("deep", deep.clone())
            .add_shared("peer", peer.clone())
    }));
    let (_, events) = settled(&sup, |s| s.node_count() == 5 && all_healthy(s)).await;
    (
        Fixture {
            kills,
            tracker,
            sup,
        },
        events,
    )
}

const DEEP: [&str; 3] = ["root.deep", "root.deep.mid", "root.deep.mid.leaf"];

#[tokio::test(start_paused = true)]
async fn restart_by_dn_bounces_exactly_the_subtree_at_once() {
    let (f, mut events) = fixture().await;
    f.sup.restart_node("root.deep").await.unwrap();
    let seen = record(&mut events, |seen| {
        seen.iter().filter(|e| e.to == NodeState::Healthy).count() == 3
    })
    .await;
    let bounced = seen
        .iter()
        .find(|e| e.dn == "root.deep" && e.to == NodeState::Canceled)
        .expect("root.deep was told to stop");
    assert_eq!(bounced.bounce.as_deref(), Some("restarted by order"));
    let back = seen.iter().find(|e| restarted("root.deep")(e)).unwrap();
    assert_eq!(back.delay, Some(std::time::Duration::ZERO), "no backoff");
    assert!(
        seen.iter().all(|e| e.dn != "root.peer"),
        "its group is left alone: {seen:#?}"
    );
    for dn in DEEP {
        assert_eq!(f.tracker.entries(dn), 2, "{dn}");
    }
    assert_eq!(f.tracker.entries("root.peer"), 1);
    f.sup.shutdown().await.into_result().unwrap();
    f.tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn a_stopped_node_stays_stopped_across_its_groups_restart_until_started() {
    let (f, mut events) = fixture().await;
    f.sup.stop_node("root.deep").await.unwrap();
    expect(&mut events, entered("root.deep", NodeState::Stopped)).await;
    let status = f.sup.status().await;
    assert_eq!(
        status.get("root.peer").unwrap().state,
        NodeState::Healthy,
        "{status}"
    );
    for dn in &DEEP[1..] {
        assert_eq!(
            status.get(dn).unwrap().state,
            NodeState::Canceled,
            "{status}"
        );
    }
    assert_eq!(f.sup.counts().await.stopped, 1);

    // Its group restarts: it stays stopped, and is not even told again.
    f.kills.kill("root.peer");
    expect(&mut events, restarted("root.peer")).await;
    let status = until_status(&f.sup, &mut events, |s| {
        s.get("root.peer")
            .is_some_and(|n| n.state == NodeState::Healthy)
    })
    .await;
    assert_eq!(status.get("root.deep").unwrap().state, NodeState::Stopped);
    assert_eq!(f.tracker.entries("root.deep"), 1);

    f.sup.start_node("root.deep").await.unwrap();
    let seen = record(&mut events, |seen| {
        seen.iter().filter(|e| e.to == NodeState::Healthy).count() == 3
    })
    .await;
    let started = seen.iter().find(|e| restarted("root.deep")(e)).unwrap();
    assert_eq!(started.from, Some(NodeState::Stopped));
    for dn in DEEP {
        assert_eq!(f.tracker.entries(dn), 2, "{dn}");
    }
    f.sup.shutdown().await.into_result().unwrap();
    f.tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn every_bad_order_gets_its_error() {
    let (f, mut events) = fixture().await;
    let sup = &f.sup;
    assert_eq!(
        sup.restart_node("root.nope").await,
        Err(Error::NoSuchNode {
            dn: "root.nope".into()
        })
    );
    assert!(matches!(
        sup.stop_node("nope").await,
        Err(Error::NoSuchNode { .. })
    ));
    assert!(matches!(
        sup.start_node("root.peer").await,
        Err(Error::NotStopped { dn, state: NodeState::Healthy }) if dn == "root.peer"
    ));
    sup.stop_node("root.peer").await.unwrap();
    expect(&mut events, |e: &Event| {
        e.dn == "root.peer" && e.to == NodeState::Stopped
    })
    .await;
    for result in [
        sup.stop_node("root.peer").await,
        sup.restart_node("root.peer").await,
    ] {
        assert!(
            matches!(&result, Err(Error::AlreadyStopped { dn }) if dn == "root.peer"),
            "{result:?}"
        );
    }
    sup.shutdown().await.into_result().unwrap();
    for result in [
        sup.restart_node("root.deep").await,
        sup.stop_node("root.deep").await,
        sup.start_node("root.peer").await,
    ] {
        assert_eq!(result, Err(Error::ShuttingDown));
    }
}
