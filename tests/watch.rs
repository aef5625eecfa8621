//! Watches: waiting on one node's state, across restarts, with a deadline.

use std::time::Duration;

use arbor::{Context, Error, Group, NodeState, Signal};
use arbor_test_kit::*;

#[tokio::test(start_paused = true)]
async fn a_watch_sees_the_new_run_of_a_node_that_restarts_while_watched() {
    let kills = Kills::new();
    let k = kills.clone();
    let sup = supervisor(root_with(move || Group::new().add("db", worker(&k))));
    let mut watch = sup.watch("root.db").within(Duration::from_secs(60));
    let first = watch.until_state(NodeState::Healthy).await.unwrap();
    assert_eq!(first.run, 0);

    kills.kill("root.db");
    let died = watch.until(|e| e.to == NodeState::Dead).await.unwrap();
    assert_eq!(died.run, 0, "the death ended the first run");
    let again = watch.until_state(NodeState::Healthy).await.unwrap();
    assert_eq!(again.run, 1, "the second run, told apart from the first");
    // A state reached before the watch began is seen too: from the snapshot.
    let late = sup
        .watch("root.db")
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    assert_eq!((late.from, late.run), (None, 1));
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_watch_on_a_node_that_never_appears_times_out() {
    let sup = supervisor(root_with(|| Group::new().add("db", worker(&Kills::new()))));
    let result = sup
        .watch("root.ghost")
        .within(Duration::from_secs(5))
        .until_state(NodeState::Healthy)
        .await;
    assert_eq!(
        result,
        Err(Error::WatchTimedOut {
            dn: "root.ghost".into(),
            last: None
        })
    );
    // A node that exists but never gets there says where it was.
    let result = sup
        .watch("root.db")
        .within(Duration::from_secs(5))
        .until_state(NodeState::Done)
        .await;
    assert_eq!(
        result,
        Err(Error::WatchTimedOut {
            dn: "root.db".into(),
            last: Some(NodeState::Healthy)
        })
    );
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_watch_ends_with_the_supervisor() {
    let sup = supervisor(root_with(|| Group::new().add("db", worker(&Kills::new()))));
    let mut watch = sup.watch("root.db");
    watch.until_state(NodeState::Healthy).await.unwrap();
    let waiting = tokio::spawn(async move { watch.until_state(NodeState::Done).await });
    sup.shutdown().await.into_result().unwrap();
    assert_eq!(waiting.await.unwrap(), Err(Error::ShuttingDown));
}

#[tokio::test(start_paused = true)]
async fn a_runnable_waits_for_its_own_child_to_be_done() {
    let sup = supervisor(|ctx: Context| async move {
        ctx.run("migrate", |ctx: Context| async move {
            ctx.signal(Signal::Healthy)?;
            tokio::time::sleep(Duration::from_secs(3)).await; // the work
            ctx.signal(Signal::Done)?;
            Ok(())
        })?;
        let done = ctx
            .watch_child("migrate")
            .until_state(NodeState::Done)
            .await?;
        ctx.annotate("migrated_in_run", done.run);
        ctx.signal(Signal::Healthy)?;
        ctx.cancelled().await;
        Ok(())
    });
    let status = sup
        .watch("root")
        .within(Duration::from_secs(60))
        .until_state(NodeState::Healthy)
        .await
        .unwrap();
    assert_eq!(status.run, 0);
    let tree = sup.status().await;
    assert_eq!(tree.get("root.migrate").unwrap().state, NodeState::Done);
    assert_eq!(tree.root().notes["migrated_in_run"], "0");
    sup.shutdown().await.into_result().unwrap();
}
