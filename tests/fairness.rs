//! A storm under one parent does not hold up the rest of the tree (the processor's
//! invariant 5): a failure elsewhere is handled after a turn of the busy parent, not after
//! the whole storm.

use std::sync::Arc;

use arbor::{Context, Event, NodeState, Runnable, Signal};
use arbor_test_kit::*;

/// Enough leaves for a backlog in any build (the processor's threshold is 256 messages).
const LEAVES: usize = 300;

/// A parent of `LEAVES` workers, each in a group of its own: a leaf's death concerns it
/// alone.
fn storm_parent(kills: &Arc<Kills>) -> impl Runnable {
    let kills = kills.clone();
    move |ctx: Context| {
        let kills = kills.clone();
        async move {
            for i in 0..LEAVES {
                ctx.run(format!("leaf{i}"), worker(&kills))?;
            }
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    }
}

fn leaf_dn(i: usize) -> String {
    format!("root.storm.leaf{i}")
}

fn died(event: &Event) -> bool {
    event.to == NodeState::Dead
}

/// On the current-thread runtime the order is exact: every death below is sent before the
/// processor runs again, so all of them reach it in one batch, the unrelated one last.
#[tokio::test]
async fn a_failure_elsewhere_is_handled_during_a_storm_not_after_it() {
    let kills = Kills::new();
    let storm: Arc<dyn Runnable> = Arc::new(storm_parent(&kills));
    let other: Arc<dyn Runnable> = Arc::new(worker(&kills));
    // Two groups of their own: the unrelated death must not cancel the storm's parent.
    let sup = supervisor(move |ctx: Context| {
        let (storm, other) = (storm.clone(), other.clone());
        async move {
            ctx.run("storm", storm)?;
            ctx.run("other", other)?;
            ctx.signal(Signal::Healthy)?;
            ctx.cancelled().await;
            Ok(())
        }
    });
    let (_, mut events) = settled(&sup, |s| s.node_count() == LEAVES + 3 && all_healthy(s)).await;

    for i in 0..LEAVES {
        kills.kill(&leaf_dn(i));
    }
    kills.kill("root.other");
    let deaths = record_matching(&mut events, died, |seen| seen.len() == LEAVES + 1).await;

    let other_at = position(&deaths, "of root.other", |e| e.dn == "root.other");
    assert!(
        other_at < LEAVES / 2,
        "root.other's death was handled after {other_at} of the storm's {LEAVES}: it waited \
         behind the storm"
    );
    // The storm itself is handled in the order its leaves died.
    let storm_order: Vec<String> = deaths
        .iter()
        .filter(|e| e.dn != "root.other")
        .map(|e| e.dn.to_string())
        .collect();
    let sent: Vec<String> = (0..LEAVES).map(leaf_dn).collect();
    assert_eq!(storm_order, sent);
    shutdown(&sup).await;
}
