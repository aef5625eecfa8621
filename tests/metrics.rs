//! The metrics, read by a real recorder, match the events of a scripted scenario.

use std::collections::HashMap;

use arbor::{Event, Group, NodeState};
use arbor_test_kit::*;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// Each metric of a snapshot (the change since the last one, for counters), by name and labels.
fn read(snapshotter: &Snapshotter) -> HashMap<(String, Vec<(String, String)>), DebugValue> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let mut labels: Vec<(String, String)> = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            labels.sort();
            ((key.name().to_owned(), labels), value)
        })
        .collect()
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<_> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    labels.sort();
    labels
}

#[tokio::test(start_paused = true)]
async fn a_real_recorder_sees_what_the_events_say() {
    // The only test of this binary: the recorder is global.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("no other recorder in this test binary");

    let kills = Kills::new();
    let k = kills.clone();
    let sup = builder()
        .metric_dns(1)
        .spawn(root_with(move || {
            Group::new().add("a", worker(&k)).add("b", worker(&k))
        }))
        .unwrap();
    let (_, mut events) = settled(&sup, |s| s.node_count() == 3 && all_healthy(s)).await;
    read(&snapshotter); // from here on, counters count what follows

    // Two deaths of `a`: each restarts the group {a, b}.
    let mut seen: Vec<Event> = Vec::new();
    for _ in 0..2 {
        kills.kill("root.a");
        seen.extend(
            record(&mut events, |seen| {
                seen.iter().filter(|e| e.to == NodeState::Healthy).count() == 2
            })
            .await,
        );
    }
    sup.counts().await; // the last batch has been handed over
    let metrics = read(&snapshotter);
    let counter =
        |name: &str, pairs: &[(&str, &str)]| match metrics.get(&(name.to_owned(), labels(pairs))) {
            Some(DebugValue::Counter(n)) => *n,
            None => 0,
            other => panic!("{name} {pairs:?}: {other:?}"),
        };

    // Transitions, by from and to, as the events count them.
    let mut by_pair: HashMap<(NodeState, NodeState), u64> = HashMap::new();
    for e in &seen {
        *by_pair.entry((e.from.unwrap(), e.to)).or_default() += 1;
    }
    for ((from, to), n) in &by_pair {
        let pair = [("from", from.metric_label()), ("to", to.metric_label())];
        assert_eq!(
            counter("arbor_transitions_total", &pair),
            *n,
            "{from:?} -> {to:?}"
        );
    }
    let total: u64 = metrics
        .iter()
        .filter(|((name, _), _)| name == "arbor_transitions_total")
        .map(|(_, v)| match v {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum();
    assert_eq!(
        total,
        seen.len() as u64,
        "no transition counted that no event shows"
    );

    // Restarts and failures per DN: one DN gets a label of its own, the other is `other`.
    assert_eq!(counter("arbor_failures_total", &[("dn", "root.a")]), 2);
    assert_eq!(counter("arbor_restarts_total", &[("dn", "root.a")]), 2);
    assert_eq!(
        counter("arbor_restarts_total", &[("dn", "other")]),
        2,
        "root.b, unlabelled"
    );

    // The backoffs drawn: 500 ms each (the exact backoff; Healthy in between resets it).
    match &metrics[&("arbor_backoff_seconds".to_owned(), vec![])] {
        DebugValue::Histogram(values) => {
            let values: Vec<f64> = values.iter().map(|v| v.0).collect();
            assert_eq!(values, [0.5, 0.5]);
        }
        other => panic!("{other:?}"),
    }
    // Gauges: the nodes per state now.
    match &metrics[&("arbor_nodes".to_owned(), labels(&[("state", "healthy")]))] {
        DebugValue::Gauge(n) => assert_eq!(n.0, 3.0),
        other => panic!("{other:?}"),
    }
    assert!(metrics.contains_key(&("arbor_processor_queue".to_owned(), vec![])));
    sup.shutdown().await.into_result().unwrap();
}
