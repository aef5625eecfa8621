//! Ordered groups: members start one after another, each once the one before it is Healthy,
//! and stop in reverse order.

use std::sync::Arc;
use std::time::Duration;

use arbor::{Context, Group, NodeState, Runnable, Signal};
use arbor_test_kit::*;
use parking_lot::Mutex;

/// What the members did, in order, as `"m2 entered"`, `"m2 healthy"`, `"m2 told to stop"`,
/// `"m2 returned"`.
type Log = Arc<Mutex<Vec<String>>>;

/// A member that takes a while to become Healthy and a while to stop (so that, were the group
/// not ordered, the members' steps would interleave), and dies when killed.
fn member(log: &Log, kills: &Arc<Kills>) -> impl Runnable {
    let (log, kills) = (log.clone(), kills.clone());
    move |ctx: Context| {
        let (log, name) = (log.clone(), ctx.dn().name().to_owned());
        let killed = kills.killed(&ctx.dn().to_string());
        async move {
            let note = |what: &str| log.lock().push(format!("{name} {what}"));
            note("entered");
            tokio::time::sleep(Duration::from_millis(10)).await;
            tokio::select! {
                biased;
                () = ctx.cancelled() => {}
                () = killed => anyhow::bail!("killed before Healthy"),
                () = std::future::ready(()) => {
                    note("healthy");
                    ctx.signal(Signal::Healthy)?;
                    ctx.cancelled().await;
                }
            }
            note("told to stop");
            tokio::time::sleep(Duration::from_millis(10)).await;
            note("returned");
            Ok(())
        }
    }
}

fn ordered_three(log: &Log, kills: &Arc<Kills>) -> arbor::Supervisor {
    let (log, kills) = (log.clone(), kills.clone());
    supervisor(root_with(move || {
        ["m1", "m2", "m3"]
            .into_iter()
            .fold(Group::new().ordered(), |group, name| {
                group.add(name, member(&log, &kills))
            })
    }))
}

fn position(log: &[String], entry: &str) -> usize {
    log.iter()
        .position(|e| e == entry)
        .unwrap_or_else(|| panic!("{entry:?} not in {log:#?}"))
}

#[tokio::test(start_paused = true)]
async fn each_member_is_entered_only_once_the_one_before_it_is_healthy() {
    let (log, kills) = (Log::default(), Kills::new());
    let sup = ordered_three(&log, &kills);
    let mut events = sup.events();
    // Before m1 is Healthy, m2 and m3 exist, New, and wait for the member before them.
    expect(&mut events, entered("root.m1", NodeState::New)).await;
    let status = sup.status().await;
    assert_eq!(
        status.get("root.m2").unwrap().waiting_for.as_ref().unwrap(),
        "root.m1"
    );
    until_status(&sup, &mut events, all_healthy).await;

    let log = log.lock().clone();
    for (earlier, later) in [("m1 healthy", "m2 entered"), ("m2 healthy", "m3 entered")] {
        assert!(position(&log, earlier) < position(&log, later), "{log:#?}");
    }
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn members_stop_in_reverse_order() {
    let (log, kills) = (Log::default(), Kills::new());
    let sup = ordered_three(&log, &kills);
    let (_, _events) = settled(&sup, all_healthy).await;
    sup.shutdown().await.into_result().unwrap();

    let log = log.lock().clone();
    let stops: Vec<&String> = log
        .iter()
        .filter(|e| !e.contains("entered") && !e.contains("healthy"))
        .collect();
    assert_eq!(
        stops,
        [
            "m3 told to stop",
            "m3 returned",
            "m2 told to stop",
            "m2 returned",
            "m1 told to stop",
            "m1 returned",
        ],
        "{log:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_member_that_dies_before_healthy_stops_the_sequence_and_the_group_restarts_in_order() {
    let (log, kills) = (Log::default(), Kills::new());
    // m2 is killed as soon as it waits: before it is Healthy.
    kills.kill("root.m2");
    let sup = ordered_three(&log, &kills);
    let mut events = sup.events();
    expect(&mut events, entered("root.m2", NodeState::Dead)).await;
    // m3 never began: its held run ends Canceled.
    let never = expect(&mut events, entered("root.m3", NodeState::Canceled)).await;
    assert_eq!(never.from, Some(NodeState::New));
    until_status(&sup, &mut events, |s| s.node_count() == 4 && all_healthy(s)).await;

    let log = log.lock().clone();
    let m3_first = position(&log, "m3 entered");
    assert!(position(&log, "m2 healthy") < m3_first, "{log:#?}");
    assert_eq!(
        log.iter().filter(|e| *e == "m3 entered").count(),
        1,
        "{log:#?}"
    );
    // The group restarted after m2's death: m1 was stopped, after m2 had returned.
    assert!(
        position(&log, "m1 told to stop") > position(&log, "m2 entered"),
        "{log:#?}"
    );
    sup.shutdown().await.into_result().unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_shutdown_while_members_wait_their_turn_starts_none_of_them() {
    let (log, kills) = (Log::default(), Kills::new());
    let sup = ordered_three(&log, &kills);
    let mut events = sup.events();
    expect(&mut events, entered("root", NodeState::Healthy)).await;
    // m1 takes 10 ms to be Healthy; m2 and m3 wait for their turn. Shut down now.
    sup.shutdown().await.into_result().unwrap();
    let log = log.lock().clone();
    assert!(
        !log.iter()
            .any(|e| e.starts_with("m2") || e.starts_with("m3")),
        "{log:#?}"
    );
    let status = sup.status().await;
    for dn in ["root.m2", "root.m3"] {
        assert_eq!(
            status.get(dn).unwrap().state,
            NodeState::Canceled,
            "{status}"
        );
    }
}
