//! Restart types: permanent (the default), transient and temporary, alone and in groups.

use std::sync::Arc;

use arbor::{Child, Context, Group, NodeState, Restart, Runnable, Signal};
use arbor_test_kit::*;

/// A leaf that serves until cancelled; it fails when `kills` kills it and ends cleanly, with
/// `Ok(())` and without signalling Done, when `ends` does.
fn leaf(kills: &Arc<Kills>, ends: &Arc<Kills>) -> impl Runnable {
    let (kills, ends) = (kills.clone(), ends.clone());
    move |ctx: Context| {
        let dn = ctx.dn().to_string();
        let (killed, ended) = (kills.killed(&dn), ends.killed(&dn));
        async move {
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => Ok(()),
                () = killed => anyhow::bail!("killed by the test"),
                () = ended => Ok(()),
            }
        }
    }
}

struct Fixture {
    kills: Arc<Kills>,
    ends: Arc<Kills>,
    tracker: Arc<Tracker>,
}

impl Fixture {
    fn new() -> Self {
        Fixture {
            kills: Kills::new(),
            ends: Kills::new(),
            tracker: Tracker::new(),
        }
    }

    fn child(&self, name: &'static str, restart: Restart) -> Child {
        Child::new(name, self.tracker.track(leaf(&self.kills, &self.ends))).restart(restart)
    }
}

/// A root that starts `members` as one group, once all are Healthy.
async fn group_of(
    members: &[(&'static str, Restart)],
) -> (Arc<Fixture>, arbor::Supervisor, arbor::EventStream) {
    let f = Arc::new(Fixture::new());
    let (fx, members) = (f.clone(), members.to_vec());
    let sup = supervisor(root_with(move || {
        members
            .iter()
            .fold(Group::new(), |group, &(name, restart)| {
                group.child(fx.child(name, restart))
            })
    }));
    let (_, events) = settled(&sup, all_healthy).await;
    (f, sup, events)
}

#[tokio::test(start_paused = true)]
async fn a_transient_child_that_ends_cleanly_stays_done() {
    let f = Arc::new(Fixture::new());
    let fx = f.clone();
    // `other` is a permanent child in a group of its own, to show that time and restarts go on.
    let sup = supervisor(move |ctx: Context| {
        let (job, other) = (
            fx.child("job", Restart::Transient),
            fx.child("other", Restart::Permanent),
        );
        async move {
            ctx.run_child(job)?;
            ctx.run_child(other)?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    });
    let (_, mut events) = settled(&sup, |s| s.node_count() == 3 && all_healthy(s)).await;

    f.ends.kill("root.job");
    let done = expect(&mut events, entered("root.job", NodeState::Done)).await;
    assert_eq!(done.from, Some(NodeState::Healthy));
    assert!(done.error.is_none(), "a clean end is not an error");

    // A restart elsewhere, with its backoff: the clean end stays final.
    f.kills.kill("root.other");
    expect(&mut events, restarted("root.other")).await;
    expect(&mut events, entered("root.other", NodeState::Healthy)).await;
    let status = sup.status().await;
    assert_eq!(status.get("root.job").unwrap().state, NodeState::Done);
    assert_eq!(f.tracker.entries("root.job"), 1);

    sup.shutdown().await.into_result().unwrap();
    f.tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn a_transient_child_that_fails_is_restarted_with_backoff() {
    let (f, sup, mut events) = group_of(&[("job", Restart::Transient)]).await;

    f.kills.kill("root.job");
    expect(&mut events, entered("root.job", NodeState::Dead)).await;
    let back = expect(&mut events, restarted("root.job")).await;
    assert_eq!(back.delay, Some(ms(500)));
    expect(&mut events, entered("root.job", NodeState::Healthy)).await;
    assert_eq!(f.tracker.entries("root.job"), 2);
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_done_transient_member_restarts_when_its_group_does() {
    let (f, sup, mut events) =
        group_of(&[("job", Restart::Transient), ("peer", Restart::Permanent)]).await;

    f.ends.kill("root.job");
    expect(&mut events, entered("root.job", NodeState::Done)).await;
    assert_eq!(
        sup.status().await.get("root.peer").unwrap().restarts,
        0,
        "a clean end does not restart the group"
    );

    // The group restarts for another reason: the Done transient member goes with it.
    f.kills.kill("root.peer");
    expect(&mut events, entered("root.job", NodeState::Canceled)).await;
    expect(&mut events, restarted("root.job")).await;
    expect(&mut events, restarted("root.peer")).await;
    assert_eq!(f.tracker.entries("root.job"), 2);
    sup.shutdown().await.into_result().unwrap();
    f.tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn a_temporary_child_is_removed_when_it_fails_and_its_group_keeps_running() {
    let (f, sup, mut events) =
        group_of(&[("once", Restart::Temporary), ("peer", Restart::Permanent)]).await;

    f.kills.kill("root.once");
    let dead = expect(&mut events, entered("root.once", NodeState::Dead)).await;
    assert!(dead.error.unwrap().contains("killed by the test"));
    expect(&mut events, removed("root.once")).await;
    let status = sup.status().await;
    assert!(status.get("root.once").is_none(), "{status}");
    let peer = status.get("root.peer").unwrap();
    assert_eq!(
        (peer.state, peer.restarts, peer.stopping),
        (NodeState::Healthy, 0, false),
        "a temporary child's death leaves its group alone"
    );
    assert_eq!(sup.counts().await.nodes, 2);
    assert_eq!(f.tracker.entries("root.once"), 1);
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_temporary_child_that_ends_cleanly_is_removed() {
    let (f, sup, mut events) = group_of(&[("once", Restart::Temporary)]).await;

    f.ends.kill("root.once");
    expect(&mut events, entered("root.once", NodeState::Done)).await;
    let gone = expect(&mut events, removed("root.once")).await;
    assert_eq!(gone.to, NodeState::Done);
    assert_eq!(sup.status().await.node_count(), 1);
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_temporary_member_is_not_restarted_with_its_group() {
    let (f, sup, mut events) = group_of(&[
        ("once", Restart::Temporary),
        ("peer", Restart::Permanent),
        ("job", Restart::Transient),
    ])
    .await;

    f.kills.kill("root.peer");
    expect(&mut events, entered("root.once", NodeState::Canceled)).await;
    expect(&mut events, removed("root.once")).await;
    expect(&mut events, restarted("root.peer")).await;
    expect(&mut events, restarted("root.job")).await;
    let status = until_status(&sup, &mut events, |s| s.node_count() == 3 && all_healthy(s)).await;
    assert!(status.get("root.once").is_none());
    assert_eq!(f.tracker.entries("root.once"), 1);
    assert_eq!(
        f.tracker.entries("root.job"),
        2,
        "a transient member is cancelled, not failed: it restarts"
    );
    sup.shutdown().await.into_result().unwrap();
    f.tracker.assert_never_two_at_once();
}

#[tokio::test(start_paused = true)]
async fn a_new_run_of_the_parent_starts_a_temporary_child_anew() {
    let f = Arc::new(Fixture::new());
    let fx = f.clone();
    let parent = f.tracker.track(move |ctx: Context| {
        let child = fx.child("once", Restart::Temporary);
        let killed = fx.kills.killed(&ctx.dn().to_string());
        async move {
            ctx.run_child(child)?;
            ctx.signal(Signal::Healthy)?;
            tokio::select! {
                () = ctx.cancelled() => Ok(()),
                () = killed => anyhow::bail!("killed by the test"),
            }
        }
    });
    let sup = supervisor(root_with({
        let parent: Arc<dyn Runnable> = Arc::new(parent);
        move || Group::new().add_shared("parent", parent.clone())
    }));
    let (_, mut events) = settled(&sup, all_healthy).await;

    f.kills.kill("root.parent");
    expect(&mut events, removed("root.parent.once")).await;
    expect(&mut events, restarted("root.parent")).await;
    until_status(&sup, &mut events, |s| s.node_count() == 3 && all_healthy(s)).await;
    assert_eq!(f.tracker.entries("root.parent.once"), 2);
    sup.shutdown().await.into_result().unwrap();
    f.tracker.assert_never_two_at_once();
}
