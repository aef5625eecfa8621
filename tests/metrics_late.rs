//! A recorder installed after the supervisor started still gets the tree's metrics: the
//! processor keeps its metric handles, and registers them again after a second.

use std::time::Duration;

use arbor::{Group, NodeState};
use arbor_test_kit::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// What a snapshot said of one metric.
#[derive(Debug, PartialEq)]
enum Reading {
    Counter(u64),
    Gauge(f64),
    Other(String),
}

/// The metric `name` with `label` (or none) in a snapshot, which counts counters from the
/// snapshot before.
fn value(snapshotter: &Snapshotter, name: &str, label: Option<(&str, &str)>) -> Option<Reading> {
    values(snapshotter, &[(name, label)]).pop().flatten()
}

/// Each of `metrics` in one snapshot.
fn values(
    snapshotter: &Snapshotter,
    metrics: &[(&str, Option<(&str, &str)>)],
) -> Vec<Option<Reading>> {
    let snapshot = snapshotter.snapshot().into_vec();
    metrics
        .iter()
        .map(|&(name, label)| {
            snapshot
                .iter()
                .find(|(key, _, _, _)| {
                    let key = key.key();
                    key.name() == name && key.labels().map(|l| (l.key(), l.value())).eq(label)
                })
                .map(|(_, _, _, value)| match value {
                    DebugValue::Counter(n) => Reading::Counter(*n),
                    DebugValue::Gauge(g) => Reading::Gauge(g.0),
                    other => Reading::Other(format!("{other:?}")),
                })
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_recorder_installed_late_gets_the_metrics_within_a_second() {
    // The only test of this binary: the recorder is global.
    let kills = Kills::new();
    let k = kills.clone();
    let sup = builder()
        .spawn(root_with(move || {
            Group::new().add("a", worker(&k)).add("b", worker(&k))
        }))
        .unwrap();
    // root.a dies once before there is a recorder: it gets its handles then (to no recorder).
    let (_, mut events) = settled(&sup, |s| s.node_count() == 3 && all_healthy(s)).await;
    kills.kill("root.a");
    record(&mut events, |seen| healthy_again(seen, "root.a")).await;

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("no other recorder in this test binary");
    sup.counts().await; // a batch, handed over with the handles made before the recorder
    assert_eq!(
        value(&snapshotter, "arbor_nodes", Some(("state", "healthy"))),
        None,
        "the handles kept from before the recorder are not its own"
    );

    tokio::time::advance(Duration::from_secs(2)).await;
    sup.counts().await; // the first batch after a second registers the handles again
    match value(&snapshotter, "arbor_nodes", Some(("state", "healthy"))) {
        Some(Reading::Gauge(n)) => assert_eq!(n, 3.0),
        other => panic!("arbor_nodes{{state=healthy}}: {other:?}"),
    }

    // root.a's own handles are stale now: its next death registers them again.
    kills.kill("root.a");
    record(&mut events, |seen| healthy_again(seen, "root.a")).await;
    sup.counts().await;
    let names = ["arbor_failures_total", "arbor_restarts_total"];
    let wanted = names.map(|name| (name, Some(("dn", "root.a"))));
    for (name, found) in names.iter().zip(values(&snapshotter, &wanted)) {
        match found {
            Some(Reading::Counter(n)) => assert_eq!(n, 1, "{name}: the death since the recorder"),
            other => panic!("{name}{{dn=root.a}}: {other:?}"),
        }
    }
    sup.shutdown().await.into_result().unwrap();
}

/// `dn` has died and is Healthy again.
fn healthy_again(seen: &[arbor::Event], dn: &str) -> bool {
    let mine = || seen.iter().filter(move |e| e.dn == dn);
    let died = mine().position(|e| e.to == NodeState::Dead);
    died.is_some_and(|at| mine().skip(at).any(|e| e.to == NodeState::Healthy))
}
